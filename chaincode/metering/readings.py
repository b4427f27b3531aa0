"""SubmitReadings: verify a batch of device-signed readings, one verdict per reading.

Per reading, in this order (the first failing check refuses it, with ``code``/``reason``):
  invalid            not a well-formed reading/signature envelope
  unknown-meter      meter not registered
  meter-suspended / meter-decommissioned
  duplicate          seq <= head and identical bytes to the recorded reading: a no-op
  replay             seq <= head with different bytes
  skip               seq > head + 1
  bad-signature      signature does not verify with the meter's current key (the copy in
                     its private record: metering/meters.py)
  future             intervalEnd after the transaction timestamp, or after this
                     endorser's clock plus the consortium's tolerance (common/clock.py)
  out-of-order       intervalEnd not strictly after the previous reading's
  register-backwards importWh or exportWh below the previous reading's
  no-tariff          prepaid meter, but no trusted tariff version in force at the
                     reading's hour (the tariff its meter's history assigns to that hour)
Refusals write nothing; the rest of the batch still counts. A reason names no private
value (the response is in the block): no previous interval end, head seq, register value
or tariff id, only what is wrong.

What an accepted reading writes, all of it in the private collection (common/privacy.py):
  meterhead~<m>          seq, hash, intervalEnd, importWh, exportWh (chain head)
  reading~<m>~<seq>      the canonical bytes and signature (voltage, current, power, raw
                         registers), intervalEnd, prevHash, hash, quality, import/export delta
  usage~<m>~<YYYYMMDD>   per-UTC-hour import/export Wh and quality counts (bills) and, for
                         a prepaid meter, the tokens charged per hour (IssueBill's true-up)
                         - or, for a late reading (its hour already billed), instead:
  billadj~<c>~<m>~<seq>  its energy, for the customer's next bill (metering/adjustments.py)
and, for a prepaid meter, its month-to-date charge and its paying account (wattcoin); for
a meter enrolled in the market, its delivery interval's energy (metering/market_records.py:
  mktiv~<pseudonym>~<intervalId>  import/export Wh of the interval, for settlement).
A late reading is charged nothing now: the next bill's true-up charges its adjustment.
The batch arrives in the transient map, so no block holds it; the response and the event,
which blocks do hold, carry verdicts, counts, meter ids and relay signals, never a value.
A prepaid meter's account is charged for every accepted reading, a zero charge included,
so which keys a batch writes does not tell an hour without consumption.
Energy of a reading is attributed to the UTC hour containing intervalEnd - 1 s.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from gridledger.formats import events
from gridledger.formats.canonical import canonical_json
from gridledger.formats.errors import FormatError
from gridledger.formats.reading import (
    QUALITIES,
    decode_signature,
    encode_reading,
    verify_signature,
)
from gridledger.formats.utc import format_utc, parse_utc

from ..common.clock import DEFAULT_TOLERANCE
from ..common.keys import key, seq_part
from ..common.overlay import Overlay
from ..shim import ChaincodeError
from ..wattcoin import api as wattcoin
from . import adjustments, alarms, market_records, periods, tariff
from .chain import link_hash
from .meters import ACTIVE, head_key, info_key, merged, meter_key, tariff_at

MAX_BATCH = 1000
# Head members: the highest register billed so far, per register (see _accept).
_HIGH = {"importWh": "highImportWh", "exportWh": "highExportWh"}


class Refused(Exception):
    """One reading's refusal (never escapes this module)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def reading_key(meter_id: str, seq: int) -> str:
    """Ledger key of one reading (private)."""
    return key("reading", meter_id, seq_part(seq))


def usage_key(meter_id: str, day: str) -> str:
    """Ledger key of a meter's hourly usage for one UTC day (YYYYMMDD; private)."""
    return key("usage", meter_id, day)


def hour_of(interval_end: str) -> dt.datetime:
    """Start of the UTC hour a reading's energy is attributed to."""
    when = parse_utc(interval_end, "intervalEnd") - dt.timedelta(seconds=1)
    return when.replace(minute=0, second=0)


def _parse_items(batch: Any) -> list[Any]:
    if not isinstance(batch, list):
        raise ChaincodeError(
            'batch must be a JSON array of {"reading": {...}, "signature": "..."}', status=400
        )
    if not 1 <= len(batch) <= MAX_BATCH:
        raise ChaincodeError(f"batch must hold 1 to {MAX_BATCH} readings", status=400)
    return batch


def without_values(message: str) -> str:
    """A format error's message without the value it quotes (``..., got 1234``, ``...:
    '2025-...'``): what was wrong, for a reason that goes into the block."""
    for marker in (", got ", ": '", ': "'):
        if marker in message:
            message = message.split(marker, 1)[0]
    return message


def _envelope(item: Any) -> tuple[dict[str, Any], bytes, bytes]:
    if not isinstance(item, dict) or set(item) != {"reading", "signature"}:
        raise Refused("invalid", 'item must be {"reading": {...}, "signature": "..."}')
    try:
        canonical = encode_reading(item["reading"])
        return item["reading"], canonical, decode_signature(item["signature"])
    except FormatError as exc:
        raise Refused("invalid", without_values(str(exc))) from None


def submit_readings(ov: Overlay, batch: Any) -> dict[str, Any]:
    """Process a batch; return per-reading results and the event payload (already set)."""
    items = _parse_items(batch)
    parsed: list[tuple[dict[str, Any], bytes, bytes] | Refused] = []
    for item in items:
        try:
            parsed.append(_envelope(item))
        except Refused as refusal:
            parsed.append(refusal)
    well_formed = [p for p in parsed if not isinstance(p, Refused)]

    # Round trip 1: meter records, heads, and recorded readings a replay could duplicate.
    meter_ids = sorted({r["meterId"] for r, _, _ in well_formed})
    ov.prefetch([meter_key(m) for m in meter_ids] + [info_key(m) for m in meter_ids]
                + [head_key(m) for m in meter_ids]
                + [market_records.enrolment_key(m) for m in meter_ids])
    meters = {m: merged(ov.get_json(meter_key(m)), ov.get_json(info_key(m))) for m in meter_ids}
    heads = {m: ov.get_json(head_key(m)) for m in meter_ids}
    # Meters enrolled in the market (issue 12): their interval records, in round trip 2.
    enrolled = {m: e for m in meter_ids
                if (e := market_records.enrolment(ov, m)) is not None}
    ov.prefetch(
        reading_key(r["meterId"], r["seq"])
        for r, _, _ in well_formed
        if heads.get(r["meterId"]) and r["seq"] <= heads[r["meterId"]]["seq"]
    )
    # Round trip 2: tariffs, payer bindings, usage days.
    known = [m for m in meter_ids if meters[m] is not None]
    ov.prefetch(
        [tariff.REGISTRY_KEY]
        + [tariff.tariff_key(e["tariffId"]) for m in known for e in meters[m]["tariffs"]]
        + [wattcoin.customer_key(meters[m]["customerId"]) for m in known]
        + [usage_key(r["meterId"], hour_of(r["intervalEnd"]).strftime("%Y%m%d"))
           for r, _, _ in well_formed if meters.get(r["meterId"])]
        + [k for r, _, _ in well_formed if r["meterId"] in enrolled
           for k in market_records.record_keys_for(
               enrolled[r["meterId"]], (heads.get(r["meterId"]) or {}).get("intervalEnd"),
               r["intervalEnd"])]
    )
    # Round trip 3: the paying accounts.
    payers = {m: wattcoin.address_of_customer(ov, meters[m]["customerId"]) for m in known}
    ov.prefetch(wattcoin.account_key(a) for a in payers.values() if a)

    # A reading may end neither after its transaction's time nor after this endorser's
    # clock plus the tolerance: so no recorded reading reaches past first_unmetered()
    # (tariff.py), however far ahead a submitter dates its proposal.
    tx_time = format_utc(min(ov.stub.tx_timestamp, ov.stub.endorser_time() + DEFAULT_TOLERANCE))
    tariffs = tariff.Tariffs(ov)  # each tariff key's policy read once per batch
    results: list[dict[str, Any]] = []
    counts = {"accepted": 0, "duplicate": 0, "refused": 0}
    raised: list[dict[str, Any]] = []
    tampered: list[dict[str, Any]] = []
    dues: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(parsed):
        if isinstance(entry, Refused):
            results.append({"index": index, "status": "refused", "code": entry.code,
                            "reason": entry.reason})
            counts["refused"] += 1
            continue
        reading, canonical, signature = entry
        base = {"index": index, "meterId": reading["meterId"], "seq": reading["seq"]}
        # Where the meter's previous reading ended: a market record spreads the energy
        # of a reading over the delivery intervals it spans (metering/market_records.py).
        previous_end = (heads.get(reading["meterId"]) or {}).get("intervalEnd")
        try:
            outcome = _accept(ov, meters[reading["meterId"]], heads, reading, canonical,
                              signature, tx_time, bool(payers.get(reading["meterId"])),
                              tariffs)
        except Refused as refusal:
            results.append({**base, "status": "refused", "code": refusal.code,
                            "reason": refusal.reason})
            counts["refused"] += 1
            continue
        if outcome is None:
            results.append({**base, "status": "duplicate",
                            "reason": "duplicate: no-op, already recorded"})
            counts["duplicate"] += 1
            continue
        results.append({**base, "status": "accepted"})
        counts["accepted"] += 1
        if outcome["tamper"]:
            tampered.append({"meterId": reading["meterId"], "seq": reading["seq"]})
        meter = meters[reading["meterId"]]
        if meter["meterId"] in enrolled:
            # Every accepted reading, zero energy too (constant write pattern).
            market_records.add(ov, enrolled[meter["meterId"]], previous_end,
                               reading["intervalEnd"], outcome["importDeltaWh"],
                               outcome["exportDeltaWh"])
        for kind in reading.get("alarms", []):
            recorded = alarms.record(ov, meter, kind, reading["intervalEnd"], "reading")
            if recorded is not None:
                raised.append(recorded)
        payer = payers.get(meter["meterId"])
        if payer:
            # Exhaustion (wattcoin) on the same overlay, hence in the same transaction:
            # the charge commits exactly when the reading does. A late reading's energy is
            # charged by the next bill's true-up, not now (a zero due keeps the writes).
            late = outcome["late"]
            hour = hour_of(reading["intervalEnd"])
            due = wattcoin.reading_due(ov, meter["meterId"], outcome["version"], hour,
                                       0 if late else outcome["importDeltaWh"],
                                       0 if late else outcome["exportDeltaWh"])
            if not late:
                _add_charge(ov, meter["meterId"], hour, due)
            wattcoin.add_due(dues, payer, meter["customerId"], meter["meterId"], due, index)
    signals = wattcoin.settle(ov, dues)
    event = {**counts, "alarms": [public_alarm(a) for a in raised],
             **{name: public_signal(entries) for name, entries in signals.items()}}
    if tampered:
        event["tamper"] = tampered
    ov.stub.set_event(events.READINGS_PROCESSED, canonical_json(event))
    ov.flush()
    return {**counts, "results": results, "event": event}


def public_alarm(entry: dict[str, Any]) -> dict[str, Any]:
    """What every member may see of an alarm: which meter, what, when (no place, no owner)."""
    return {k: entry[k] for k in ("meterId", "kind", "at", "source", "txId")}


def public_signal(entries: list[dict[str, Any]]) -> list[int]:
    """What every member may see of the exhausted / low-balance signals: the batch
    indices of the readings whose paying account this batch exhausted (or took below its
    owner's threshold), sorted; no meter beyond the batch's own (the bridge that sent the
    batch knows which reading it sent where and asks its peer which meters to switch:
    SupplyStatus), no account, customer, policy or amount."""
    return sorted(i for entry in entries for i in entry["indices"])


def _accept(ov: Overlay, meter: dict[str, Any] | None, heads: dict[str, Any],
            reading: dict[str, Any], canonical: bytes, signature: bytes,
            tx_time: str, prepaid: bool, tariffs: tariff.Tariffs) -> dict[str, Any] | None:
    """Check one reading against its meter's head; record it. None means duplicate.

    ``prepaid``: the meter's customer pays by Wattcoin, so a tariff version must be in
    force at the reading's hour (refused as "no-tariff" otherwise, before any write):
    the version of the tariff the meter's history assigns to that hour.
    """
    meter_id, seq = reading["meterId"], reading["seq"]
    if meter is None:
        raise Refused("unknown-meter", f"meter {meter_id} is not registered")
    if meter["status"] != ACTIVE:
        raise Refused(f"meter-{meter['status']}", f"meter {meter_id} is {meter['status']}")
    head = heads[meter_id]
    if seq <= head["seq"]:
        recorded = ov.get_json(reading_key(meter_id, seq))
        if recorded and link_hash(recorded["prevHash"], canonical) == recorded["hash"]:
            return None
        raise Refused("replay", f"sequence {seq} is already recorded with different "
                      "content")
    if seq != head["seq"] + 1:
        raise Refused("skip", f"sequence {seq} skips ahead of the meter's next sequence "
                      "number (GetMeter tells it)")
    if not verify_signature(meter["publicKeyPem"], meter["curve"], canonical, signature):
        raise Refused("bad-signature",
                      f"signature does not verify with meter {meter_id}'s registered key")
    end = reading["intervalEnd"]
    if end > tx_time:
        raise Refused("future", "intervalEnd is after the transaction time (or after the "
                      "endorser's clock plus the consortium's tolerance)")
    if head["intervalEnd"] is not None and end <= head["intervalEnd"]:
        raise Refused("out-of-order", "intervalEnd is not after the previous reading's")
    quality = reading.get("quality", QUALITIES[0])
    backwards = [register for register in ("importWh", "exportWh")
                 if reading[register] < head[register]]
    if backwards and quality != "suspect":
        # No register values in the reason: it is in the transaction's response, in a block.
        raise Refused("register-backwards", f"{' and '.join(backwards)} below the previous "
                      "reading's (a bridge that suspects tampering submits such a reading "
                      "with quality \"suspect\")")
    version = None
    if prepaid:
        try:
            hour = hour_of(end)
            version = tariffs.version_at(tariff_at(meter, hour), hour)
        except (ChaincodeError, FormatError) as exc:
            raise Refused("no-tariff", _no_tariff_reason(exc)) from None
    new_hash = link_hash(head["hash"], canonical)
    # A suspect reading whose register ran backwards is recorded (tamper evidence on the
    # chain) and bills nothing. The head keeps two registers each: the last one the meter
    # gave (the next reading continues from it, so a reset meter is never blocked) and the
    # highest one ever billed, which never goes down: energy is billed only above it, so a
    # spurious low value can never make a later reading bill the whole jump back up.
    high = {r: head.get(_HIGH[r], head[r]) for r in _HIGH}
    deltas = {"importDeltaWh": max(0, reading["importWh"] - high["importWh"]),
              "exportDeltaWh": max(0, reading["exportWh"] - high["exportWh"])}
    record = {"meterId": meter_id, "seq": seq, "intervalEnd": end, "prevHash": head["hash"],
              "hash": new_hash, "quality": quality, "txId": ov.stub.tx_id, **deltas,
              "canonical": canonical.decode("utf-8"), "signature": _b64(signature)}
    if backwards:
        record["tamper"] = [f"{r} runs backwards: {reading[r]} < {head[r]}" for r in backwards]
    if "alarms" in reading:
        record["alarms"] = reading["alarms"]
    ov.put_json(reading_key(meter_id, seq), record)
    heads[meter_id] = {"seq": seq, "hash": new_hash, "intervalEnd": end,
                       "importWh": reading["importWh"], "exportWh": reading["exportWh"],
                       **{_HIGH[r]: max(reading[r], high[r]) for r in _HIGH}}
    ov.put_json(head_key(meter_id), heads[meter_id])
    late = _add_usage(ov, meter, seq, end, quality, deltas)
    return {"hash": new_hash, "version": version, "tamper": backwards, "late": late,
            **deltas}


def _no_tariff_reason(exc: Exception) -> str:
    """Why a prepaid reading has no tariff, without naming the tariff (which tariff a meter
    is on is in its private record) or the hour."""
    if isinstance(exc, ChaincodeError) and exc.status == 409:
        return ("the meter's tariff is not trusted for pricing: its ledger records lack the "
                "Regulator's key-level endorsement policy or are not what SetTariff writes "
                "(GetTariff tells which)")
    return ("the meter's tariff has no version in force at the reading's hour (GetMeter and "
            "GetTariff tell which)")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _add_usage(ov: Overlay, meter: dict[str, Any], seq: int, interval_end: str, quality: str,
               deltas: dict[str, int]) -> bool:
    """Add a reading's energy to its hour's usage; True (and a bill adjustment instead) when
    an issued bill already covers that hour: the reading is late."""
    hour = hour_of(interval_end)
    stamp = format_utc(hour)
    if periods.covers(meter["billedPeriods"], stamp):
        adjustments.record(ov, meter, seq, stamp, deltas["importDeltaWh"],
                           deltas["exportDeltaWh"])
        return True
    ukey = usage_key(meter["meterId"], hour.strftime("%Y%m%d"))
    day = ov.get_json(ukey) or {"importWh": [0] * 24, "exportWh": [0] * 24, "quality": {}}
    day["importWh"][hour.hour] += deltas["importDeltaWh"]
    day["exportWh"][hour.hour] += deltas["exportDeltaWh"]
    day["quality"].setdefault(quality, [0] * 24)[hour.hour] += 1
    ov.put_json(ukey, day)
    return False


def _add_charge(ov: Overlay, meter_id: str, hour: dt.datetime, due: int) -> None:
    """Keep a prepaid reading's charge (negative: refund) with its hour's usage, so that
    IssueBill sums exactly the charges of the period's hours."""
    ukey = usage_key(meter_id, hour.strftime("%Y%m%d"))
    day = ov.get_json(ukey)  # written by _add_usage in this transaction
    day.setdefault("prepaid", [0] * 24)[hour.hour] += due
    ov.put_json(ukey, day)
