"""Late readings: energy for hours that an issued bill already covers.

A reading is late when its hour (the UTC hour containing intervalEnd - 1 s) lies in its
meter's ``billedPeriods`` (metering/periods.py). Its energy does not go into ``usage~``,
from which the issued bill was computed (so that bill stays reproducible), but into

    billadj~<customerId>~<meterId>~<seq>   {"customerId", "meterId", "seq", "hour",
                                            "importWh", "exportWh", "consumedBy"}

(private). The customer's next IssueBill prices the pending ones as adjustment lines and
marks them consumed (``consumedBy``: that bill's id); ComputeBill shows them.

Pricing: as the bill covering the hour would have priced the energy. Late energy is
grouped by (covering bill, meter, segment: the run of hours of one tariff version in
that bill's period, from the meter's tariff history). A group is repriced on top of what
the covering bill billed for that segment plus the late energy earlier bills already
adjusted for it, with the segment's version and tier bounds (pro-rated to its share of
each calendar month, pricing.prorated_bounds_wh), its ToU band per
hour and every line rounded as a bill rounds it; the line is the difference:

    adjustment = lines(billed + earlier late + this late) - lines(billed + earlier late)

So a segment's bill plus all its adjustments is exactly the bill it would have been had
every reading arrived on time.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.utc import format_utc, parse_hour

from ..common.keys import key, seq_part
from ..common.overlay import Overlay
from ..shim import ChaincodeError
from . import meters, periods, pricing
from .tariff import Tariffs

_AMOUNTS = ("energyCharge", "touCharge", "total")


def adjustment_key(customer_id: str, meter_id: str, seq: int) -> str:
    """Ledger key of one late reading's energy."""
    return key("billadj", customer_id, meter_id, seq_part(seq))


def index_key(customer_id: str) -> str:
    """Ledger key of the list of a customer's late readings (one record, read by key: a
    transaction that writes may not range-scan private data)."""
    return key("custadj", customer_id)


def record(ov: Overlay, meter: dict[str, Any], seq: int, hour: str, import_wh: int,
           export_wh: int) -> None:
    """Keep a late reading's energy for the customer's next bill."""
    customer_id = meter["customerId"]
    ov.put_json(adjustment_key(customer_id, meter["meterId"], seq), {
        "customerId": customer_id, "meterId": meter["meterId"], "seq": seq,
        "hour": hour, "importWh": import_wh, "exportWh": export_wh, "consumedBy": None})
    listed = (ov.get_json(index_key(customer_id)) or {}).get("readings", [])
    ov.put_json(index_key(customer_id),
                {"readings": sorted({*map(tuple, listed), (meter["meterId"], seq)})})


def _records(ov: Overlay, customer_id: str) -> list[dict[str, Any]]:
    listed = (ov.get_json(index_key(customer_id)) or {}).get("readings", [])
    keys = [adjustment_key(customer_id, meter_id, seq) for meter_id, seq in listed]
    ov.prefetch(keys)
    return [ov.get_json(k) for k in keys]


def _empty() -> dict[str, Any]:
    return {"importWh": 0, "exportWh": 0, "byBand": {}}


def _add(usage: dict[str, Any], import_wh: int, export_wh: int, band: str) -> None:
    usage["importWh"] += import_wh
    usage["exportWh"] += export_wh
    usage["byBand"][band] = usage["byBand"].get(band, 0) + import_wh


def _sum(*parts: dict[str, Any]) -> dict[str, Any]:
    total = _empty()
    for p in parts:
        total["importWh"] += p["importWh"]
        total["exportWh"] += p["exportWh"]
        for band, wh in p["byBand"].items():
            total["byBand"][band] = total["byBand"].get(band, 0) + wh
    return total


class _Groups:
    """Late energy by (covering bill, meter, segment), with each segment's pricing."""

    def __init__(self, ov: Overlay, tariffs: Tariffs, bills: list[dict[str, Any]]) -> None:
        self.ov, self.tariffs, self.bills = ov, tariffs, bills
        self.groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._segments: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def _segments_of(self, bill: dict[str, Any], meter_id: str) -> list[dict[str, Any]]:
        """The meter's segments of a bill's period, with what the bill billed in each."""
        cache_key = (bill["billId"], meter_id)
        if cache_key not in self._segments:
            meter = meters.get(self.ov, meter_id)
            start = parse_hour(bill["periodStart"], "periodStart")
            end = parse_hour(bill["periodEnd"], "periodEnd")
            hours = int((end - start) / pricing.HOUR)
            billed = {s["from"]: s for part in bill["meters"] if part["meterId"] == meter_id
                      for s in part["segments"]}

            def version_for(when: Any) -> dict[str, Any]:
                return self.tariffs.version_at(meters.tariff_at(meter, when), when)

            found = []
            for version, seg_start, seg_hours in pricing.segments(version_for, start, hours):
                stamp = format_utc(seg_start)
                base = _empty()
                seg = billed.get(stamp)  # None: the meter was not on that bill yet
                if seg is not None:
                    base = {"importWh": seg["importWh"], "exportWh": seg["exportWh"],
                            "byBand": {t["band"]: t["energyWh"] for t in seg["tou"]}}
                found.append({
                    "from": stamp, "to": format_utc(seg_start + seg_hours * pricing.HOUR),
                    "version": version, "base": base,
                    "bounds": pricing.prorated_bounds_wh(version, seg_start, seg_hours)})
            self._segments[cache_key] = found
        return self._segments[cache_key]

    def add(self, adj: dict[str, Any]) -> None:
        """File one late reading's energy under its group (earlier, or pending)."""
        bill = periods.covering(self.bills, adj["hour"])
        if bill is None:
            raise ChaincodeError(f"late energy of meter {adj['meterId']} at {adj['hour']} "
                                 "lies in no issued bill", status=500)
        seg = next(s for s in self._segments_of(bill, adj["meterId"])
                   if s["from"] <= adj["hour"] < s["to"])
        group = self.groups.setdefault((bill["billId"], adj["meterId"], seg["from"]), {
            "bill": bill, "meterId": adj["meterId"], "segment": seg, "earlier": _empty(),
            "late": _empty(), "readings": []})
        band, _ = pricing.band_of(seg["version"], parse_hour(adj["hour"], "hour").hour)
        if adj["consumedBy"] is None:
            _add(group["late"], adj["importWh"], adj["exportWh"], band)
            group["readings"].append(adj["seq"])
        else:
            _add(group["earlier"], adj["importWh"], adj["exportWh"], band)

    def lines(self) -> list[dict[str, Any]]:
        """One adjustment line per group with pending energy, in key order."""
        return [_price(g) for _, g in sorted(self.groups.items()) if g["readings"]]


def _price(group: dict[str, Any]) -> dict[str, Any]:
    seg, version = group["segment"], group["segment"]["version"]
    before_usage = _sum(seg["base"], group["earlier"])
    after_usage = _sum(before_usage, group["late"])
    before, after = (
        pricing.price_usage(version, seg["bounds"], u["importWh"], u["byBand"], u["exportWh"])
        for u in (before_usage, after_usage))
    taxes: dict[str, int] = {}
    for old, new in zip(before["taxes"], after["taxes"], strict=True):
        taxes[new["name"]] = taxes.get(new["name"], 0) + new["amount"] - old["amount"]
    return {
        "meterId": group["meterId"],
        "coveredBy": group["bill"]["billId"],
        "from": seg["from"],
        "to": seg["to"],
        "tariffId": version["tariffId"],
        "tariffVersion": version["version"],
        "readings": sorted(group["readings"]),
        "importWh": group["late"]["importWh"],
        "exportWh": group["late"]["exportWh"],
        **{k: after[k] - before[k] for k in _AMOUNTS},
        "taxes": taxes,
        "exportCredit": after["exportCredit"]["amount"] - before["exportCredit"]["amount"],
        "currency": version["currency"],
        "currencyExponent": version["currencyExponent"],
    }


def pending(ov: Overlay, tariffs: Tariffs, customer_id: str,
            bills: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The customer's pending late energy, priced as adjustment lines."""
    groups = _Groups(ov, tariffs, bills)
    for adj in _records(ov, customer_id):
        groups.add(adj)
    return groups.lines()


def consume(ov: Overlay, customer_id: str, lines: list[dict[str, Any]], bill_id: str) -> None:
    """Mark the late readings of ``lines`` as billed by ``bill_id``."""
    for line in lines:
        for seq in line["readings"]:
            akey = adjustment_key(customer_id, line["meterId"], seq)
            adj = ov.get_json(akey)
            adj["consumedBy"] = bill_id
            ov.put_json(akey, adj)
