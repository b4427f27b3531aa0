"""Wattcoin addresses, derived from public keys as seed 004's wallets do.

address = lowercase hex of the LAST 20 bytes of SHA-256(public key bytes), 40 characters,
where the public key bytes are the uncompressed SEC1 point (0x04 || X || Y) for EC keys
(Fabric identities and meters) and the DER SubjectPublicKeyInfo for any other key type.
Seed 004 (like Ethereum) hashes with Keccak-256; SHA-256 is used here because Keccak is
not in the standard library or ``cryptography`` (SHA3-256 is a different function).
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..shim import ChaincodeError

_PublicKey = ec.EllipticCurvePublicKey | object


def _key_bytes(public_key: _PublicKey) -> bytes:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def address_of_key(public_key: _PublicKey) -> str:
    """The 40-hex-character address of a public key."""
    return hashlib.sha256(_key_bytes(public_key)).digest()[-20:].hex()


def address_of_cert(cert_pem: bytes) -> str:
    """Address of the key in an X.509 certificate (a Fabric identity); 403 if unreadable."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ChaincodeError("caller certificate cannot be read", status=403) from None
    return address_of_key(cert.public_key())


def address_of_pem_key(pem: str) -> str:
    """Address of a PEM public key (a meter's registered key)."""
    return address_of_key(serialization.load_pem_public_key(pem.encode("ascii")))
