"""What the market's settlement checks delivery against: a meter's energy per delivery
interval, kept privately by the reading path for the meters enrolled in the market.

    mktmeter~<meterId>               private: {"pseudonym", "marketId", "intervalSeconds"},
                                     written once by the market's EnrolParticipant
    mktiv~<pseudonym>~<intervalId>   private: {"importWh", "exportWh"} of the meter in the
                                     delivery interval, salted like every private value

Keyed by the pseudonym, not the meter, so that the settlement (which the Aggregator's
peer endorses) names no meter: it is handed the record's exact stored bytes in the
transient map and checks them against ``GetPrivateDataHash`` (chaincode/README.md,
"Market"). A reading's energy belongs to the interval that contains ``intervalEnd - 1 s``
(as with hours); a reading that spans an interval boundary counts wholly in the later one,
so meters report at least as often as the interval length, on its boundaries.

Constant write pattern: every accepted reading of an enrolled meter rewrites its interval
record, with zero energy too, so which keys a batch writes does not tell an interval
without consumption or export.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridledger.formats.market import interval_id
from gridledger.formats.utc import parse_utc

from ..common.keys import key
from ..common.overlay import Overlay
from ..shim import ChaincodeError

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def enrolment_key(meter_id: str) -> str:
    """Private key of a meter's market enrolment."""
    return key("mktmeter", meter_id)


def record_key(pseudonym: str, interval: str) -> str:
    """Private key of a pseudonym's energy in one delivery interval."""
    return key("mktiv", pseudonym, interval)


def interval_of(interval_end: str, market_id: str, interval_seconds: int) -> str:
    """The id of the market's delivery interval a reading ending at ``interval_end``
    belongs to."""
    when = parse_utc(interval_end, "intervalEnd") - dt.timedelta(seconds=1)
    offset = int((when - _EPOCH).total_seconds()) // interval_seconds * interval_seconds
    return interval_id(market_id, _EPOCH + dt.timedelta(seconds=offset))


def enrol(ov: Overlay, meter_id: str, pseudonym: str, market_id: str,
          interval_seconds: int) -> None:
    """Start keeping the meter's interval records of ``market_id`` under ``pseudonym``
    (409 if the meter is enrolled already)."""
    if ov.get(enrolment_key(meter_id)) is not None:
        raise ChaincodeError(f"meter {meter_id} is already enrolled in the market", status=409)
    ov.put_json(enrolment_key(meter_id), {"pseudonym": pseudonym, "marketId": market_id,
                                          "intervalSeconds": interval_seconds})


def record_key_for(enrolment: dict[str, Any], interval_end: str) -> str:
    """The record a reading of an enrolled meter adds to."""
    return record_key(enrolment["pseudonym"], interval_of(
        interval_end, enrolment["marketId"], enrolment["intervalSeconds"]))


def add(ov: Overlay, enrolment: dict[str, Any], interval_end: str, import_wh: int,
        export_wh: int) -> None:
    """Add one accepted reading's energy (zero too) to its interval record."""
    rkey = record_key_for(enrolment, interval_end)
    record = ov.get_json(rkey) or {"importWh": 0, "exportWh": 0}
    record["importWh"] += import_wh
    record["exportWh"] += export_wh
    ov.put_json(rkey, record)


def stored_bytes(ov: Overlay, pseudonym: str, interval: str) -> bytes | None:
    """The record exactly as stored, salt included (on a Utility or Regulator peer)."""
    return ov.get(record_key(pseudonym, interval))
