"""The Wattcoin address of a meter's key, as the demo finds the meter's account with it.

(``gridledger.formats.wattcoin_address``; the test sits with its first user, the demo,
until formats has a test folder of its own.)
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.formats.errors import FormatError
from gridledger.formats.ids import is_id
from gridledger.formats.wattcoin_address import address_of_pem_key, address_of_public_key

# A fixed P-256 key, and the address the metering chaincode gives it (taken from the
# chaincode's own wattcoin.address when this module was written).
KEY = ec.derive_private_key(0x1234567890ABCDEF, ec.SECP256R1()).public_key()
ADDRESS = "f8025bb2c00eba3be36723c7e0f26bec502169a5"


def test_the_address_of_a_known_key() -> None:
    pem = KEY.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert address_of_pem_key(pem) == address_of_public_key(KEY) == ADDRESS
    assert is_id(ADDRESS)           # an address is usable wherever an id is


def test_not_a_key_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="not a PEM public key"):
        address_of_pem_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
