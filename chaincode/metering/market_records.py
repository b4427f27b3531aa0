"""What the market's settlement checks delivery against: a meter's energy per delivery
interval, kept privately by the reading path for the meters enrolled in the market.

    mktmeter~<meterId>               private: {"pseudonym", "marketId", "intervalSeconds",
                                     "enrolledAt"}, written by the market's
                                     LinkParticipant (energy channel), marked retired by
                                     UnlinkParticipant
    mktiv~<pseudonym>~<intervalId>   private: {"importWh", "exportWh", "complete"} of the
                                     meter in the delivery interval, salted like every
                                     private value

Keyed by the pseudonym, not the meter, so that settlement names no meter (and, like every
key of customerData that names a person or a meter, stored under a keyed name: nobody
outside the collection can compute or confirm which key hash is whose).

A reading covers the span from the meter's previous reading to its ``intervalEnd``; its
energy is spread over the delivery intervals that span overlaps, pro rata to the seconds
of each (largest remainder, ties to the earlier interval), so a meter that stayed silent
for a while cannot pile its energy into one interval of its choosing. A record is
``complete`` once a reading has reached its interval's end: the evidence settlement waits
for, so that a missing reading never counts as zero delivered while it may still arrive
(chaincode/README.md, "Settlement"). Of a span of more than :data:`MAX_SPAN` intervals,
only the last :data:`MAX_SPAN` get records (their share of the energy, and complete); the
intervals before them stay incomplete and settle only after the market's evidence grace
period.

Constant write pattern: every accepted reading of an enrolled meter rewrites at least its
own interval's record, with zero energy too, so which keys a batch writes does not tell
an interval without consumption or export.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridledger.formats.market import interval_id
from gridledger.formats.utc import format_utc, parse_utc

from ..common.keys import key
from ..common.overlay import Overlay
from ..shim import ChaincodeError

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_SPAN = 96  # delivery intervals one reading's energy is spread over, at most


def enrolment_key(meter_id: str) -> str:
    """Private key of a meter's market enrolment."""
    return key("mktmeter", meter_id)


def record_key(pseudonym: str, interval: str) -> str:
    """Private key of a pseudonym's energy in one delivery interval."""
    return key("mktiv", pseudonym, interval)


def _seconds(when: dt.datetime) -> int:
    return int((when - _EPOCH).total_seconds())


def interval_of(interval_end: str, market_id: str, interval_seconds: int) -> str:
    """The id of the market's delivery interval a reading ending at ``interval_end``
    ends in (the one containing ``intervalEnd - 1 s``)."""
    end = _seconds(parse_utc(interval_end, "intervalEnd")) - 1
    return interval_id(market_id, _EPOCH + dt.timedelta(seconds=end // interval_seconds
                                                        * interval_seconds))


def enrol(ov: Overlay, meter_id: str, pseudonym: str, market_id: str,
          interval_seconds: int) -> None:
    """Start keeping the meter's interval records of ``market_id`` under ``pseudonym``
    from the transaction time on (409 if the meter is enrolled already: a participant
    retires first, and may then enrol the meter under a new pseudonym)."""
    if enrolment(ov, meter_id) is not None:
        raise ChaincodeError(f"meter {meter_id} is already enrolled in the market: retire "
                             "its participant first", status=409)
    ov.put_json(enrolment_key(meter_id), {
        "pseudonym": pseudonym, "marketId": market_id, "intervalSeconds": interval_seconds,
        "enrolledAt": format_utc(ov.stub.tx_timestamp)})


def retire(ov: Overlay, meter_id: str, pseudonym: str) -> None:
    """End the meter's enrolment under ``pseudonym``: its readings stop feeding records
    (those kept stay, for the settlements still to come)."""
    current = enrolment(ov, meter_id)
    if current is None or current["pseudonym"] != pseudonym:
        raise ChaincodeError(f"meter {meter_id} is not enrolled under {pseudonym}", 409)
    ov.put_json(enrolment_key(meter_id), {**current, "retiredAt":
                                          format_utc(ov.stub.tx_timestamp)})


def enrolment(ov: Overlay, meter_id: str) -> dict[str, Any] | None:
    """The meter's current market enrolment, or None (never enrolled, or retired)."""
    record = ov.get_json(enrolment_key(meter_id))
    return None if record is None or record.get("retiredAt") else record


def _span(enrolment_: dict[str, Any], previous_end: str | None,
          interval_end: str) -> tuple[list[tuple[str, int, bool]], int]:
    """The intervals a reading's energy goes to: (interval id, seconds of the reading's
    span in it, completed by it), and the seconds of its span that fall outside them
    (more than :data:`MAX_SPAN` intervals back)."""
    seconds = enrolment_["intervalSeconds"]
    end = _seconds(parse_utc(interval_end, "intervalEnd"))
    start = end - 1
    if previous_end is not None:
        start = min(start, _seconds(parse_utc(previous_end, "previous intervalEnd")))
    kept = start
    last = (end - 1) // seconds
    first = max(min(kept, end - 1) // seconds, last - MAX_SPAN + 1)
    kept = max(kept, first * seconds)
    out = []
    for n in range(first, last + 1):
        lo, hi = max(kept, n * seconds), min(end, (n + 1) * seconds)
        iv = interval_id(enrolment_["marketId"], _EPOCH + dt.timedelta(seconds=n * seconds))
        out.append((iv, max(0, hi - lo), end >= (n + 1) * seconds))
    return out, max(0, min(kept, end) - start)


def record_keys_for(enrolment_: dict[str, Any], previous_end: str | None,
                    interval_end: str) -> list[str]:
    """The records a reading of an enrolled meter writes (to read them in one go)."""
    return [record_key(enrolment_["pseudonym"], iv)
            for iv, _, _ in _span(enrolment_, previous_end, interval_end)[0]]


def _shares(total: int, weights: list[int]) -> list[int]:
    """``total`` split by ``weights``, largest remainder first (ties: the earlier); all of
    it to the last when every weight is zero."""
    whole = sum(weights)
    if whole == 0:
        return [total if i == len(weights) - 1 else 0 for i in range(len(weights))]
    shares = [total * w // whole for w in weights]
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def add(ov: Overlay, enrolment_: dict[str, Any], previous_end: str | None,
        interval_end: str, import_wh: int, export_wh: int) -> None:
    """Spread one accepted reading's energy (zero too) over the intervals its span covers,
    pro rata to seconds, and mark those whose end it reached complete. The share of a span
    too far back gets no record."""
    span, outside = _span(enrolment_, previous_end, interval_end)
    weights = [covered for _, covered, _ in span]
    if outside:
        weights = [outside, *weights]
    imports, exports = _shares(import_wh, weights), _shares(export_wh, weights)
    if outside:
        imports, exports = imports[1:], exports[1:]
    for (iv, _, completed), imp, exp in zip(span, imports, exports, strict=True):
        rkey = record_key(enrolment_["pseudonym"], iv)
        record = ov.get_json(rkey) or {"importWh": 0, "exportWh": 0, "complete": False}
        record["importWh"] += imp
        record["exportWh"] += exp
        record["complete"] = record.get("complete", False) or completed
        ov.put_json(rkey, record)
