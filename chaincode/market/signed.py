"""Messages a participant signs with its market key (gridledger.formats.market).

A participant never submits a market transaction under its own certificate, which every
block carries and which names it: a relay (an Aggregator or Utility operator) submits it,
and the participant's authority is its signature over the message, checked here against
the key registered for its pseudonym. The message's members are fixed per action: each is
checked, and an unknown or missing one is refused (400), before anything is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gridledger.formats.errors import FormatError
from gridledger.formats.ids import check_id
from gridledger.formats.market import (
    check_market_id,
    check_pseudonym,
    check_vpp_id,
    open_signed,
    parse_interval_id,
    verifies,
)
from gridledger.formats.numbers import MAX_INT, check_int
from gridledger.formats.reading import load_public_key

from ..common.keys import key
from ..shim import ChaincodeError, parse_json_arg
from .ledger import Market

MAX_WH = 10**9  # 1 GWh: more than any order of a prosumer or a VPP
MAX_PRICE = 10**9  # tokens per kWh


def _interval(value: Any, what: str) -> str:
    parse_interval_id(value, what)
    return value


def _buyer(value: Any, what: str) -> str:
    return value if value == "*" else check_pseudonym(value, what)


def _pem(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > 4096:
        raise FormatError(f"{what} must be a PEM public key")
    load_public_key(value, "P-256")
    return value


def _true(value: Any, what: str) -> bool:
    if value is not True:
        raise FormatError(f"{what} must be true: the consent must say so")
    return True


def _int(minimum: int, maximum: int) -> Callable[[Any, str], int]:
    return lambda value, what: check_int(value, what, minimum=minimum, maximum=maximum)


CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "pseudonym": check_pseudonym,
    "buyer": _buyer,
    "vppId": check_vpp_id,
    "marketId": check_market_id,
    "intervalId": _interval,
    "fromInterval": _interval,
    "untilInterval": _interval,
    "orderId": check_id,
    "requestId": check_id,
    "offerId": check_id,
    "acceptId": check_id,
    "meterId": check_id,
    "publicKeyPem": _pem,
    "quantityWh": _int(1, MAX_WH),
    "capacityWh": _int(1, MAX_WH),
    "pricePerKwh": _int(0, MAX_PRICE),
    "amount": _int(1, MAX_INT),
    "commissionBp": _int(0, 10_000),
    "sharesExport": _true,
}


def party_key(trader: str) -> str:
    """A trader's public market identity (key for a pseudonym, operator for a VPP)."""
    return key("mktparty", trader)


def read(text: str, action: str, members: tuple[str, ...]) -> tuple[dict[str, Any], bytes,
                                                                    bytes]:
    """Parse a signed message for ``action`` with exactly ``members`` (400 otherwise)."""
    return read_envelope(parse_json_arg(text, f"signed {action} message"), action, members)


def read_envelope(envelope: Any, action: str, members: tuple[str, ...]
                  ) -> tuple[dict[str, Any], bytes, bytes]:
    """:func:`read` of an envelope already parsed."""
    message, raw, signature = open_signed(envelope, action)
    wanted = {"action", *members}
    extra, missing = sorted(set(message) - wanted), sorted(wanted - set(message))
    if extra or missing:
        raise ChaincodeError(f"{action} message: unknown member(s) {extra}, missing {missing}"
                             if extra else f"{action} message: missing member(s) {missing}",
                             status=400)
    for member in members:
        CHECKS[member](message[member], member)
    return message, raw, signature


def verify(m: Market, pseudonym: str, raw: bytes, signature: bytes) -> dict[str, Any]:
    """The participant's record, once its market key verifies the message (403 if not)."""
    party = m.need(party_key(pseudonym), f"market participant {pseudonym}")
    if party["kind"] != "participant":
        raise ChaincodeError(f"{pseudonym} is not a participant with a market key", status=400)
    if not verifies(party["publicKeyPem"], raw, signature):
        raise ChaincodeError(f"the message is not signed by {pseudonym}'s market key",
                             status=403)
    return party


def signed_by(m: Market, text: str, action: str, members: tuple[str, ...]) -> dict[str, Any]:
    """Read a signed message and verify it against its pseudonym's key: the message. A
    retired participant may only withdraw what it still has in the market."""
    message, raw, signature = read(text, action, members)
    party = verify(m, message["pseudonym"], raw, signature)
    if party.get("retiredAt") and action not in ("withdraw", "retire"):
        raise ChaincodeError(f"{message['pseudonym']} retired at {party['retiredAt']}: it may "
                             "only withdraw", status=409)
    return message
