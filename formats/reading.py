"""The canonical reading a meter signs (specified in chaincode/README.md).

A reading is a JSON object with exactly these members (optional ones omitted when unset):

    meterId     string, an id (see :mod:`.ids`)
    seq         integer >= 1, the meter's reading counter (1, 2, 3, ...)
    intervalEnd string YYYY-MM-DDTHH:MM:SSZ (UTC, second precision)
    importWh    integer >= 0, cumulative import register in watt-hours
    exportWh    integer >= 0, cumulative export register in watt-hours
    voltageDv   integer >= 0, voltage in decivolts (2301 = 230.1 V)
    currentMa   integer >= 0, current in milliamperes
    powerW      integer, active power in watts (negative while exporting)
    quality     optional: "measured" | "estimated" | "substituted" | "suspect"
    alarms      optional: non-empty, sorted, distinct list of "fire" | "flood" | "gas"

Canonical bytes: UTF-8 JSON, members sorted by name, no whitespace, integers in plain
decimal (all within +-(2**53-1)). The signature is ECDSA (P-256 or secp256k1) with SHA-256,
DER-encoded, standard base64, over exactly those bytes; high-S and low-S both verify.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .canonical import canonical_json
from .errors import FormatError
from .ids import check_id
from .numbers import MAX_INT, check_int, check_object
from .utc import parse_utc

QUALITIES = ("measured", "estimated", "substituted", "suspect")
ALARM_KINDS = ("fire", "flood", "gas")
CURVES: dict[str, type[ec.EllipticCurve]] = {"P-256": ec.SECP256R1, "secp256k1": ec.SECP256K1}

REQUIRED_MEMBERS = ("meterId", "seq", "intervalEnd", "importWh", "exportWh", "voltageDv",
                    "currentMa", "powerW")
OPTIONAL_MEMBERS = ("quality", "alarms")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def validate_reading(obj: Any) -> dict[str, Any]:
    """Check a reading object's members and types; return it."""
    check_object(obj, "reading", {*REQUIRED_MEMBERS, *OPTIONAL_MEMBERS})
    missing = [f for f in REQUIRED_MEMBERS if f not in obj]
    if missing:
        raise FormatError(f"reading lacks {', '.join(missing)}")
    check_id(obj["meterId"], "meterId")
    check_int(obj["seq"], "seq", minimum=1)
    parse_utc(obj["intervalEnd"], "intervalEnd")
    for f in ("importWh", "exportWh", "voltageDv", "currentMa"):
        check_int(obj[f], f)
    check_int(obj["powerW"], "powerW", minimum=-MAX_INT)
    if "quality" in obj and obj["quality"] not in QUALITIES:
        raise FormatError(f"quality must be one of {', '.join(QUALITIES)}, got {obj['quality']!r}")
    if "alarms" in obj:
        check_alarms(obj["alarms"])
    return obj


def check_alarms(alarms: Any) -> list[str]:
    """A non-empty, sorted list of distinct alarm kinds."""
    if (
        not isinstance(alarms, list)
        or not alarms
        or any(not isinstance(a, str) or a not in ALARM_KINDS for a in alarms)
        or alarms != sorted(set(alarms))
    ):
        raise FormatError(
            f"alarms must be a non-empty sorted list of distinct {'/'.join(ALARM_KINDS)}"
        )
    return alarms


def encode_reading(obj: dict[str, Any]) -> bytes:
    """Validate a reading and return its canonical bytes (what the meter signs)."""
    return canonical_json(validate_reading(obj))


def decode_signature(text: Any) -> bytes:
    """Standard base64 (with padding) to DER bytes."""
    if not isinstance(text, str) or not text:
        raise FormatError("signature must be a non-empty base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError("signature is not valid base64") from None


@functools.lru_cache(maxsize=4096)
def load_public_key(pem: str, curve: str) -> ec.EllipticCurvePublicKey:
    """Parse a meter's PEM public key and check it is on ``curve`` (cached: keys are hot)."""
    if curve not in CURVES:
        raise FormatError(f"curve must be one of {', '.join(CURVES)}, got {curve!r}")
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError):
        raise FormatError("publicKeyPem is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, CURVES[curve]):
        raise FormatError(f"publicKeyPem is not an EC key on {curve}")
    return key


def verify_signature(pem: str, curve: str, message: bytes, signature_der: bytes) -> bool:
    """True when ``signature_der`` is a valid ECDSA/SHA-256 signature of ``message``.

    A key that is not a PEM EC key on ``curve`` raises :class:`FormatError`: that is a
    wrong key, not a wrong signature.
    """
    # Outside the try: FormatError is a ValueError, and must not read as "does not verify".
    key = load_public_key(pem, curve)
    try:
        key.verify(signature_der, message, _ECDSA_SHA256)
    except (InvalidSignature, ValueError):
        return False
    return True


def sign(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    """Sign ``message`` the way a meter must (base64 DER)."""
    return base64.b64encode(private_key.sign(message, _ECDSA_SHA256)).decode("ascii")
