"""Keys the bridge holds for meters that cannot sign, and passing through those that can.

One P-256 private key per meter, as a PEM file ``<meterId>.pem`` (mode 0600, written with
``gridledger.network.layout.write_private``) in a key directory (mode 0700), created the
first time the meter is seen. The meter's *public* key is what an operator registers on
the ledger (RegisterMeter). Signing uses the shared reading format
(:mod:`gridledger.formats.reading`), the one the chaincode verifies with, so the bytes
signed are exactly the bytes the chaincode checks.

Creating a key is safe against a second bridge process doing the same at the same moment:
the new key is written under a temporary name and hard-linked into place, which fails if
the other process got there first - then its key is used.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.formats import reading as reading_format
from gridledger.formats.errors import FormatError
from gridledger.formats.ids import is_id
from gridledger.network.layout import write_private

from .errors import KeyStoreError


@dataclasses.dataclass(frozen=True)
class SignedReading:
    """A reading and its signature, as the chaincode's batch item wants them."""

    reading: dict[str, Any]
    signature: str            # base64 DER ECDSA-SHA256
    signed_by_bridge: bool

    def item(self) -> dict[str, Any]:
        """``{"reading": {...}, "signature": "..."}``."""
        return {"reading": self.reading, "signature": self.signature}


def canonical_bytes(reading: dict[str, Any]) -> bytes:
    """The canonical encoding (what is signed); raises KeyStoreError for an invalid reading."""
    try:
        return reading_format.encode_reading(reading)
    except FormatError as exc:
        raise KeyStoreError(f"reading is not valid: {exc}") from None


def pass_through(reading: dict[str, Any], signature: str) -> SignedReading:
    """A meter that signs itself: keep its reading and signature exactly as given."""
    canonical_bytes(reading)
    try:
        reading_format.decode_signature(signature)
    except FormatError as exc:
        raise KeyStoreError(f"meter signature: {exc}") from None
    return SignedReading(reading, signature, signed_by_bridge=False)


class KeyStore:
    """A directory of bridge-held meter keys."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._cache: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._lock = threading.Lock()

    def path(self, meter_id: str) -> Path:
        """Where the meter's private key lives."""
        if not is_id(meter_id):
            raise KeyStoreError(f"meter id {meter_id!r} is not a valid meterId")
        return self.directory / f"{meter_id}.pem"

    def private_key(self, meter_id: str) -> ec.EllipticCurvePrivateKey:
        """The meter's key, created on first use."""
        with self._lock:
            key = self._cache.get(meter_id)
            if key is None:
                key = self._load_or_create(meter_id)
                self._cache[meter_id] = key
            return key

    def _load_or_create(self, meter_id: str) -> ec.EllipticCurvePrivateKey:
        path = self.path(meter_id)
        if not path.exists():
            self._create(path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise KeyStoreError(f"cannot load {path}: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise KeyStoreError(f"{path} is not a P-256 private key")
        return key

    def _create(self, path: Path) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            temporary = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.new")
            write_private(temporary, pem)
            try:
                os.link(temporary, path)   # atomic, and never overwrites another's key
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        except OSError as exc:
            raise KeyStoreError(f"cannot create {path}: {exc}") from None

    def public_key_pem(self, meter_id: str) -> str:
        """The PEM public key to register on the ledger for this meter."""
        public = self.private_key(meter_id).public_key()
        return public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, reading: dict[str, Any]) -> SignedReading:
        """Sign a reading for its meter with the bridge-held key."""
        message = canonical_bytes(reading)
        signature = reading_format.sign(self.private_key(reading["meterId"]), message)
        return SignedReading(reading, signature, signed_by_bridge=True)
