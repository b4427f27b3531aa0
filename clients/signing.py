"""Signers: ECDSA P-256 over SHA-256 with low-S signatures, as Fabric's MSP requires.

A signer is any callable taking the message bytes and returning a DER signature, so a
hardware key, a meter or a browser can sign instead (see ``proposal.py`` for offline
signing). ``private_key_signer`` covers keys held in files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .identity import IdentityError

Signer = Callable[[bytes], bytes]

# Order of the P-256 group. Fabric rejects signatures whose S is above half of it
# (ECDSA malleability), so high-S results are folded to N - S.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def to_low_s(der: bytes) -> bytes:
    """Return the DER signature with S in the lower half of the P-256 order."""
    r, s = decode_dss_signature(der)
    if s > P256_ORDER // 2:
        s = P256_ORDER - s
    return encode_dss_signature(r, s)


def private_key_signer(key: ec.EllipticCurvePrivateKey) -> Signer:
    """A signer over an in-memory P-256 key."""
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise IdentityError("Fabric signing keys must be ECDSA P-256")

    def sign(message: bytes) -> bytes:
        return to_low_s(key.sign(message, ec.ECDSA(hashes.SHA256())))

    return sign


def load_private_key(pem: bytes, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """Parse a PEM private key (PKCS#8 or SEC1, optionally encrypted)."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except TypeError as exc:  # encrypted without password, or password for a plain key
        raise IdentityError(f"private key: {exc}") from None
    except ValueError as exc:
        raise IdentityError(f"not a usable PEM private key (wrong passphrase?): {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise IdentityError("Fabric signing keys must be ECDSA")
    return key


def file_signer(path: str | Path, password: bytes | None = None) -> Signer:
    """A signer over a PEM key file (e.g. an MSP's keystore/priv_sk)."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read private key {path}: {exc.strerror}") from None
    return private_key_signer(load_private_key(pem, password))
