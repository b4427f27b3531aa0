"""SubmitReadings: verify a batch of device-signed readings, one verdict per reading.

Per reading, in this order (the first failing check refuses it, with ``code``/``reason``):
  invalid            not a well-formed reading/signature envelope
  unknown-meter      meter not registered
  meter-suspended / meter-decommissioned
  duplicate          seq <= head and identical bytes to the recorded reading: a no-op
  replay             seq <= head with different bytes
  skip               seq > head + 1
  bad-signature      signature does not verify with the meter's current key
  future             intervalEnd after the transaction timestamp
  out-of-order       intervalEnd not strictly after the previous reading's
  register-backwards importWh or exportWh below the previous reading's
  no-tariff          prepaid meter, but no tariff version in force at the reading's hour
Refusals write nothing; the rest of the batch still counts.

What an accepted reading writes (public = on the channel, private = ``intervalDetail``):
  public  meterhead~<m>          seq, hash, intervalEnd, importWh, exportWh (chain head)
  public  reading~<m>~<seq>      intervalEnd, prevHash, hash, quality, import/export delta
  public  usage~<m>~<YYYYMMDD>   per-UTC-hour import/export Wh and quality counts (bills)
  private reading~<m>~<seq>      the canonical bytes and signature (voltage, current, power,
                                 raw registers)
Nothing here reads private data, so any peer (a non-member too) can endorse a batch.
Energy of a reading is attributed to the UTC hour containing intervalEnd - 1 s.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from ..shim import ChaincodeError, canonical_json
from ..wattcoin import accounts, exhaustion
from . import alarms, tariff
from .chain import link_hash
from .encoding import QUALITIES, decode_signature, encode_reading, verify_signature
from .ledger import DETAIL_COLLECTION, Overlay, key, seq_part
from .meters import ACTIVE, head_key, meter_key
from .numbers import format_utc, parse_utc

MAX_BATCH = 1000
EVENT = "ReadingsProcessed"


class Refused(Exception):
    """One reading's refusal (never escapes this module)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def reading_key(meter_id: str, seq: int) -> str:
    """Public and private key of one reading."""
    return key("reading", meter_id, seq_part(seq))


def usage_key(meter_id: str, day: str) -> str:
    """Public key of a meter's hourly usage for one UTC day (YYYYMMDD)."""
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


def _envelope(item: Any) -> tuple[dict[str, Any], bytes, bytes]:
    try:
        if not isinstance(item, dict) or set(item) != {"reading", "signature"}:
            raise ChaincodeError('item must be {"reading": {...}, "signature": "..."}', 400)
        canonical = encode_reading(item["reading"])
        return item["reading"], canonical, decode_signature(item["signature"])
    except ChaincodeError as exc:
        raise Refused("invalid", exc.message) from None


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
    ov.prefetch([meter_key(m) for m in meter_ids] + [head_key(m) for m in meter_ids])
    meters = {m: ov.get_json(meter_key(m)) for m in meter_ids}
    heads = {m: ov.get_json(head_key(m)) for m in meter_ids}
    ov.prefetch(
        reading_key(r["meterId"], r["seq"])
        for r, _, _ in well_formed
        if heads.get(r["meterId"]) and r["seq"] <= heads[r["meterId"]]["seq"]
    )
    # Round trip 2: tariffs, payer bindings, usage days.
    known = [m for m in meter_ids if meters[m] is not None]
    ov.prefetch(
        [tariff.REGISTRY_KEY]
        + [tariff.tariff_key(meters[m]["tariffId"]) for m in known]
        + [accounts.customer_key(meters[m]["customerId"]) for m in known]
        + [usage_key(r["meterId"], hour_of(r["intervalEnd"]).strftime("%Y%m%d"))
           for r, _, _ in well_formed if meters.get(r["meterId"])]
    )
    # Round trip 3: the paying accounts.
    payers = {m: accounts.address_of_customer(ov, meters[m]["customerId"]) for m in known}
    ov.prefetch(accounts.account_key(a) for a in payers.values() if a)

    tx_time = format_utc(ov.stub.tx_timestamp)
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
        try:
            outcome = _accept(ov, meters[reading["meterId"]], heads, reading, canonical,
                              signature, tx_time, bool(payers.get(reading["meterId"])))
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
        results.append({**base, "status": "accepted", "hash": outcome["hash"]})
        counts["accepted"] += 1
        if outcome["tamper"]:
            tampered.append({"meterId": reading["meterId"], "seq": reading["seq"],
                             "detail": outcome["tamper"]})
        meter = meters[reading["meterId"]]
        for kind in reading.get("alarms", []):
            recorded = alarms.record(ov, meter, kind, reading["intervalEnd"], "reading")
            if recorded is not None:
                raised.append(recorded)
        payer = payers.get(meter["meterId"])
        if payer and outcome["importDeltaWh"] > 0:
            due = exhaustion.reading_due(ov, meter["meterId"], outcome["version"],
                                         hour_of(reading["intervalEnd"]),
                                         outcome["importDeltaWh"])
            exhaustion.add_due(dues, payer, meter["customerId"], meter["meterId"], due)
    signals = exhaustion.settle(ov, dues)
    event = {**counts, "alarms": raised, **signals}
    if tampered:
        event["tamper"] = tampered
    ov.stub.set_event(EVENT, canonical_json(event))
    ov.flush()
    return {**counts, "results": results, "event": event}


def _accept(ov: Overlay, meter: dict[str, Any] | None, heads: dict[str, Any],
            reading: dict[str, Any], canonical: bytes, signature: bytes,
            tx_time: str, prepaid: bool) -> dict[str, Any] | None:
    """Check one reading against its meter's head; record it. None means duplicate.

    ``prepaid``: the meter's customer pays by Wattcoin, so a tariff version must be in
    force at the reading's hour (refused as "no-tariff" otherwise, before any write).
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
        raise Refused("replay", f"sequence {seq} is already recorded (meter is at "
                      f"{head['seq']}) with different content")
    if seq != head["seq"] + 1:
        raise Refused("skip", f"sequence {seq} skips ahead: expected {head['seq'] + 1}")
    if not verify_signature(meter["publicKeyPem"], meter["curve"], canonical, signature):
        raise Refused("bad-signature",
                      f"signature does not verify with meter {meter_id}'s registered key")
    end = reading["intervalEnd"]
    if end > tx_time:
        raise Refused("future", f"intervalEnd {end} is after the transaction time {tx_time}")
    if head["intervalEnd"] is not None and end <= head["intervalEnd"]:
        raise Refused("out-of-order",
                      f"intervalEnd {end} is not after the previous {head['intervalEnd']}")
    quality = reading.get("quality", QUALITIES[0])
    backwards = [f"{register} runs backwards: {reading[register]} < {head[register]}"
                 for register in ("importWh", "exportWh") if reading[register] < head[register]]
    if backwards and quality != "suspect":
        raise Refused("register-backwards", "; ".join(backwards) + " (a bridge that suspects "
                      "tampering submits such a reading with quality \"suspect\")")
    version = None
    if prepaid:
        try:
            version = tariff.version_at(tariff.get_doc(ov, meter["tariffId"]), hour_of(end))
        except ChaincodeError as exc:
            raise Refused("no-tariff", exc.message) from None
    new_hash = link_hash(head["hash"], canonical)
    # A suspect reading whose register ran backwards is recorded (tamper evidence on the
    # chain) but bills nothing for that register; later readings bill from its value.
    deltas = {"importDeltaWh": max(0, reading["importWh"] - head["importWh"]),
              "exportDeltaWh": max(0, reading["exportWh"] - head["exportWh"])}
    record = {"meterId": meter_id, "seq": seq, "intervalEnd": end, "prevHash": head["hash"],
              "hash": new_hash, "quality": quality, "txId": ov.stub.tx_id, **deltas}
    if backwards:
        record["tamper"] = backwards
    if "alarms" in reading:
        record["alarms"] = reading["alarms"]
    rkey = reading_key(meter_id, seq)
    ov.put_json(rkey, record)
    ov.stub.put_private_data(DETAIL_COLLECTION, rkey, canonical_json(
        {"canonical": canonical.decode("utf-8"), "signature": _b64(signature)}))
    heads[meter_id] = {"seq": seq, "hash": new_hash, "intervalEnd": end,
                       "importWh": reading["importWh"], "exportWh": reading["exportWh"]}
    ov.put_json(head_key(meter_id), heads[meter_id])
    _add_usage(ov, meter_id, end, quality, deltas)
    return {"hash": new_hash, "version": version, "tamper": backwards, **deltas}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _add_usage(ov: Overlay, meter_id: str, interval_end: str, quality: str,
               deltas: dict[str, int]) -> None:
    hour = hour_of(interval_end)
    ukey = usage_key(meter_id, hour.strftime("%Y%m%d"))
    day = ov.get_json(ukey) or {"importWh": [0] * 24, "exportWh": [0] * 24, "quality": {}}
    day["importWh"][hour.hour] += deltas["importDeltaWh"]
    day["exportWh"][hour.hour] += deltas["exportDeltaWh"]
    day["quality"].setdefault(quality, [0] * 24)[hour.hour] += 1
    ov.put_json(ukey, day)
