"""Fire, flood and gas alarms from meters (seed 003): recorded privately, raised as events.

An alarm arrives either inside a signed reading (member ``alarms``) or on its own through
RaiseAlarm, signed by the meter over the canonical JSON of {"at", "kind", "meterId"}
(same rules as readings). Private state (customerData: it names the home and the
customer): ``alarm~<meterId>~<at>~<kind>``; the same alarm recorded twice is a no-op. The
event names meter, kind and time only; nothing acts on an event alone (a forged one
records nothing: the portals read alarms from this state).
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.canonical import canonical_json
from gridledger.formats.ids import check_id
from gridledger.formats.reading import ALARM_KINDS, decode_signature, verify_signature
from gridledger.formats.utc import format_utc, parse_utc

from ..common.clock import DEFAULT_TOLERANCE
from ..common.keys import key, prefix_range
from ..common.overlay import Overlay, load_json
from ..shim import ChaincodeError


def alarm_key(meter_id: str, at: str, kind: str) -> str:
    """Ledger key of one alarm."""
    return key("alarm", meter_id, at, kind)


def record(ov: Overlay, meter: dict[str, Any], kind: str, at: str,
           source: str) -> dict[str, Any] | None:
    """Record an alarm; return the event entry, or None if it was already recorded."""
    akey = alarm_key(meter["meterId"], at, kind)
    if ov.get(akey) is not None:
        return None
    entry = {"meterId": meter["meterId"], "kind": kind, "at": at,
             "customerId": meter["customerId"], "location": meter["location"],
             "source": source, "txId": ov.stub.tx_id}
    ov.put_json(akey, entry)
    return entry


def parse_signed_alarm(obj: Any) -> tuple[dict[str, Any], bytes, bytes]:
    """Validate {"alarm": {...}, "signature"}; return (alarm, canonical bytes, DER sig)."""
    if not isinstance(obj, dict) or set(obj) != {"alarm", "signature"}:
        raise ChaincodeError('alarm argument must be {"alarm": {...}, "signature": "..."}',
                             status=400)
    alarm = obj["alarm"]
    if not isinstance(alarm, dict) or set(alarm) != {"at", "kind", "meterId"}:
        raise ChaincodeError("alarm must have exactly at, kind, meterId", status=400)
    check_id(alarm["meterId"], "meterId")
    parse_utc(alarm["at"], "at")
    if alarm["kind"] not in ALARM_KINDS:
        raise ChaincodeError(f"alarm kind must be one of {', '.join(ALARM_KINDS)}", status=400)
    return alarm, canonical_json(alarm), decode_signature(obj["signature"])


def raise_signed(ov: Overlay, meter: dict[str, Any], alarm: dict[str, Any], canonical: bytes,
                 signature: bytes) -> dict[str, Any] | None:
    """Check the meter's status, signature (with the key of its private record) and time,
    then record the alarm. A suspended or decommissioned meter raises none (409), as its
    readings are refused: its key may be compromised, or the device gone."""
    if meter["status"] != "active":
        raise ChaincodeError(f"meter {meter['meterId']} is {meter['status']}: its alarms "
                             "are not recorded (resume it first)", status=409)
    if not verify_signature(meter["publicKeyPem"], meter["curve"], canonical, signature):
        raise ChaincodeError(
            f"alarm signature does not verify with meter {meter['meterId']}'s key", status=403
        )
    latest = min(ov.stub.tx_timestamp, ov.stub.endorser_time() + DEFAULT_TOLERANCE)
    if alarm["at"] > format_utc(latest):
        raise ChaincodeError("alarm time is in the future of the transaction (or of the "
                             "endorser's clock, beyond the consortium's tolerance)",
                             status=400)
    return record(ov, meter, alarm["kind"], alarm["at"], "RaiseAlarm")


def by_meter(ov: Overlay, meter_id: str) -> list[dict[str, Any]]:
    """Alarms of a meter, oldest first."""
    start, end = prefix_range("alarm", check_id(meter_id, "meterId"))
    return [load_json(kv.value) for kv in ov.scan(start, end)]
