"""The market's shared formats: pseudonyms, delivery interval ids, signed messages, money.

Chaincode ``market`` (served by chaincode ``metering``), its clients and the Regulator's
pseudonym tool agree on these bytes and rules.

- **Pseudonym**: ``p-`` and 24 lowercase hex digits, the first 12 bytes of
  HMAC-SHA-256(secret, ``"<msp>|<customerId>"`` and, from the second epoch on,
  ``"|<epoch>"``) under a secret only the Regulator holds (:func:`pseudonym_for`). Without
  the secret nobody can compute or confirm one from an identity; the Regulator keeps
  pseudonym -> identity in its own private collection. A customer gets a new pseudonym per
  epoch (it retires the old one), so that one name does not link every interval of its
  life.
- **VPP id**: ``vpp-`` and 1-60 id characters; a VPP trades under its id.
- **Market id**: 1-24 of ``A-Z a-z 0-9 _ -``; a ledger may hold several markets (local
  grid areas), each with its own interval length and gate closure.
- **Interval id**: ``<marketId>.<start>``, the start in UTC as ``YYYYMMDDTHHMMZ`` (within a
  market, ids sort by time).
- **Signed message**: ``{"message": {...}, "signature": "<base64 DER>"}``; the participant
  signs the canonical JSON of ``message`` (sorted members, no whitespace) with its market
  key, ECDSA P-256 with SHA-256 (the same signature format as meter readings). Every
  message names its ``action`` and the signer's ``pseudonym``.
- **Money**: prices are whole minor units (tokens) per kWh, energy whole Wh. The value of
  ``wh`` at ``price`` is ``floor(wh x price / 1000)`` (:func:`value_of`, in the payer's
  favour, less than one token); a bid escrows ``ceil(wh x max price / 1000)``
  (:func:`escrow_of`), so whatever it is charged fits in its escrow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from .canonical import canonical_json
from .errors import FormatError
from .ids import check_id
from .reading import decode_signature, sign, verify_signature

PSEUDONYM_RE = re.compile(r"p-[0-9a-f]{24}")
VPP_RE = re.compile(r"vpp-[A-Za-z0-9._-]{1,60}")
MARKET_RE = re.compile(r"[A-Za-z0-9_-]{1,24}", re.ASCII)
_INTERVAL_RE = re.compile(r"([A-Za-z0-9_-]{1,24})\.(\d{8}T\d{4}Z)", re.ASCII)
CURVE = "P-256"

# Actions a participant signs; the chaincode refuses a message signed for another.
ACTIONS = frozenset({
    "enrol", "deposit", "withdraw", "offer", "bid", "cancel", "vpp-join", "vpp-leave",
    "standing-offer", "accept", "withdraw-offer", "retire",
})
# Market types of a delivery interval.
UNIFORM, PAY_AS_BID = "uniform", "pay-as-bid"
MARKET_TYPES = (UNIFORM, PAY_AS_BID)


def pseudonym_for(secret: bytes, msp_id: str, customer_id: str, epoch: int = 1) -> str:
    """The pseudonym of customer ``customer_id`` of ``msp_id`` in ``epoch`` (1, 2, ...)
    under the Regulator's secret."""
    if len(secret) < 16:
        raise FormatError("the pseudonym secret must be at least 16 bytes")
    check_id(customer_id, "customerId")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise FormatError("the pseudonym epoch is a whole number from 1")
    name = f"{msp_id}|{customer_id}" + (f"|{epoch}" if epoch > 1 else "")
    digest = hmac.new(secret, name.encode(), hashlib.sha256).digest()
    return "p-" + digest[:12].hex()


def check_pseudonym(value: Any, what: str = "pseudonym") -> str:
    """``value`` if it is a participant pseudonym, else FormatError."""
    if not isinstance(value, str) or not PSEUDONYM_RE.fullmatch(value):
        raise FormatError(f"{what} must be p- and 24 lowercase hex digits, got {value!r}")
    return value


def check_vpp_id(value: Any, what: str = "vppId") -> str:
    """``value`` if it is a VPP id (``vpp-...``), else FormatError."""
    if not isinstance(value, str) or not VPP_RE.fullmatch(value):
        raise FormatError(f"{what} must be vpp- and 1-60 of A-Z a-z 0-9 . _ -, got {value!r}")
    return value


def check_trader(value: Any, what: str) -> str:
    """A pseudonym or a VPP id: who may hold a market wallet."""
    if isinstance(value, str) and value.startswith("vpp-"):
        return check_vpp_id(value, what)
    return check_pseudonym(value, what)


def check_market_id(value: Any, what: str = "marketId") -> str:
    """``value`` if it is a market id, else FormatError."""
    if not isinstance(value, str) or not MARKET_RE.fullmatch(value):
        raise FormatError(f"{what} must be 1-24 of A-Z a-z 0-9 _ -, got {value!r}")
    return value


def interval_id(market_id: str, start: dt.datetime) -> str:
    """The id of ``market_id``'s interval starting at ``start`` (UTC, whole minutes)."""
    check_market_id(market_id)
    start = start.astimezone(dt.UTC)
    if start.second or start.microsecond:
        raise FormatError("a delivery interval starts on a whole minute")
    return f"{market_id}.{start:%Y%m%dT%H%MZ}"


def parse_interval_id(text: Any, what: str = "intervalId") -> tuple[str, dt.datetime]:
    """(market id, start) of interval ``text`` (``<marketId>.YYYYMMDDTHHMMZ``)."""
    found = _INTERVAL_RE.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise FormatError(f"{what} must be <marketId>.<start> like hue-1.20260105T1015Z, "
                          f"got {text!r}")
    try:
        when = dt.datetime.strptime(found[2], "%Y%m%dT%H%MZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise FormatError(f"{what} is not a valid date and time: {text!r}") from None
    if when.year < 1970:
        raise FormatError(f"{what} is before 1970: {text!r}")
    return found[1], when


def value_of(wh: int, price_per_kwh: int) -> int:
    """Tokens for ``wh`` at ``price_per_kwh``, rounded down."""
    return wh * price_per_kwh // 1000


def escrow_of(wh: int, price_per_kwh: int) -> int:
    """Tokens a bid of ``wh`` at most ``price_per_kwh`` escrows, rounded up."""
    return -(-wh * price_per_kwh // 1000)


def message_bytes(message: dict[str, Any]) -> bytes:
    """The bytes a participant signs."""
    return canonical_json(message)


def sign_message(key: ec.EllipticCurvePrivateKey, message: dict[str, Any]) -> dict[str, Any]:
    """A signed message, as the market functions take it."""
    action = message.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise FormatError(f"action must be one of {', '.join(sorted(ACTIONS))}")
    return {"message": message, "signature": sign(key, message_bytes(message))}


def open_signed(envelope: Any, action: str) -> tuple[dict[str, Any], bytes, bytes]:
    """Check the envelope's shape: (message, signed bytes, DER signature). The signature is
    verified by :func:`verifies` once the signer's key is known."""
    if not isinstance(envelope, dict) or set(envelope) != {"message", "signature"}:
        raise FormatError('a signed market message is {"message": {...}, "signature": "..."}')
    message = envelope["message"]
    if not isinstance(message, dict):
        raise FormatError("message must be a JSON object")
    if message.get("action") != action:
        raise FormatError(f"message action must be {action!r}, got {message.get('action')!r}")
    try:
        raw = message_bytes(message)
    except (TypeError, ValueError):
        raise FormatError("message must hold only JSON text, integers and objects") from None
    return message, raw, decode_signature(envelope["signature"])


def verifies(public_key_pem: str, raw: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``raw`` verifies with the participant's key."""
    return verify_signature(public_key_pem, CURVE, raw, signature)
