"""Wattcoin addresses: the account address that belongs to a public key (seed 004's wallets).

address = lower-case hex of the last 20 bytes of SHA-256 over the public key's bytes - the
uncompressed SEC1 point (``04 || X || Y``) for an EC key (Fabric identities, meters), the
DER SubjectPublicKeyInfo for any other kind - so 40 characters, which the identifier rule
(:mod:`.ids`) admits. Seed 004 hashes with Keccak-256, as Ethereum does; SHA-256 is used
because ``cryptography`` offers no Keccak (SHA3-256 is a different function).

The chaincode derives the address of a caller or a registered meter this way; a client
derives the same address from the same key, to find an account before it exists.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from .errors import FormatError


def _key_bytes(public_key: PublicKeyTypes) -> bytes:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(serialization.Encoding.X962,
                                       serialization.PublicFormat.UncompressedPoint)
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def address_of_public_key(public_key: PublicKeyTypes) -> str:
    """The 40-hex-character Wattcoin address of ``public_key``."""
    return hashlib.sha256(_key_bytes(public_key)).digest()[-20:].hex()


def address_of_pem_key(pem: str) -> str:
    """The address of a PEM public key (e.g. a meter's registered ``publicKeyPem``)."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError):
        raise FormatError("not a PEM public key") from None
    return address_of_public_key(key)
