"""Bills: per customer and period, per meter, from the hourly usage and the tariffs.

Rules (also in chaincode/README.md):
- The period is [periodStart, periodEnd), whole UTC hours, at most 366 days.
- Each hour is priced by the meter's tariff version in force at the hour's start. A
  period that spans a tariff change is split into segments at the effective date; tier
  thresholds (per billing period) are pro-rated by hours: bound x segment hours / period
  hours, rounded half up to a whole Wh. With one segment they apply unchanged.
- Per segment: tier lines (Wh x price / 1000), time-of-use lines per band (Wh x adjust /
  1000), taxes on (tiers + ToU) per tax (base x basis points / 10000), export credit
  (export Wh x feed-in price / 1000). Each line is rounded half away from zero once; the
  totals are sums of rounded lines. total = energy + ToU + taxes - export credit.
- All amounts are integers in minor units of the tariff currency; all meters of a bill
  must share one currency.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..shim import ChaincodeError
from . import meters, tariff
from .encoding import QUALITIES
from .ledger import Overlay, check_id, key, load_json, prefix_range
from .numbers import div_round, format_utc, parse_hour
from .readings import usage_key

MAX_PERIOD_HOURS = 366 * 24
HOUR = dt.timedelta(hours=1)


def parse_period(start_text: str, end_text: str) -> tuple[dt.datetime, dt.datetime, int]:
    """Validate a billing period; return (start, end, hours)."""
    start = parse_hour(start_text, "periodStart")
    end = parse_hour(end_text, "periodEnd")
    hours = int((end - start) / HOUR)
    if not 0 < hours <= MAX_PERIOD_HOURS:
        raise ChaincodeError(
            f"period must be 1 hour to {MAX_PERIOD_HOURS // 24} days, got {hours} hours",
            status=400,
        )
    return start, end, hours


def _hourly_usage(ov: Overlay, meter_id: str, start: dt.datetime,
                  end: dt.datetime) -> dict[dt.datetime, tuple[int, int, dict[str, int]]]:
    days: list[str] = []
    day = start.date()
    while day <= (end - HOUR).date():
        days.append(day.strftime("%Y%m%d"))
        day += dt.timedelta(days=1)
    usage: dict[dt.datetime, tuple[int, int, dict[str, int]]] = {}
    for name, raw in zip(days, ov.get_many([usage_key(meter_id, d) for d in days]), strict=True):
        record = load_json(raw)
        if record is None:
            continue
        base = dt.datetime.strptime(name, "%Y%m%d").replace(tzinfo=dt.UTC)
        for h in range(24):
            when = base + h * HOUR
            if start <= when < end:
                quality = {q: c[h] for q, c in record["quality"].items() if c[h]}
                usage[when] = (record["importWh"][h], record["exportWh"][h], quality)
    return usage


def _segments(doc: dict[str, Any], start: dt.datetime,
              hours: int) -> list[tuple[dict[str, Any], dt.datetime, int]]:
    """(version, segment start, segment hours) runs of hours priced by one version."""
    runs: list[tuple[dict[str, Any], dt.datetime, int]] = []
    for i in range(hours):
        when = start + i * HOUR
        version = tariff.version_at(doc, when)
        if runs and runs[-1][0]["version"] == version["version"]:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((version, when, 1))
    return runs


def _price_segment(version: dict[str, Any], seg_start: dt.datetime, seg_hours: int,
                   period_hours: int, usage: dict[dt.datetime, Any]) -> dict[str, Any]:
    import_wh = export_wh = 0
    by_band: dict[str, int] = {}
    for i in range(seg_hours):
        when = seg_start + i * HOUR
        imp, exp, _ = usage.get(when, (0, 0, {}))
        import_wh += imp
        export_wh += exp
        band, _ = tariff.band_of(version, when.hour)
        by_band[band] = by_band.get(band, 0) + imp
    bounds = tariff.tier_bounds_wh(version, seg_hours, period_hours)
    parts = tariff.split_by_tiers(0, import_wh, bounds)
    tiers = [
        {"tier": i + 1, "upToWh": bound, "energyWh": wh, "pricePerKwh": t["pricePerKwh"],
         "amount": div_round(wh * t["pricePerKwh"], 1000)}
        for i, (wh, bound, t) in enumerate(zip(parts, bounds, version["tiers"], strict=True))
    ]
    tou = [
        {"band": b["name"], "energyWh": by_band.get(b["name"], 0),
         "adjustPerKwh": b["adjustPerKwh"],
         "amount": div_round(by_band.get(b["name"], 0) * b["adjustPerKwh"], 1000)}
        for b in version["touBands"]
    ]
    energy_charge = sum(t["amount"] for t in tiers)
    tou_charge = sum(t["amount"] for t in tou)
    base = energy_charge + tou_charge
    taxes = [{"name": t["name"], "rateBasisPoints": t["rateBasisPoints"], "base": base,
              "amount": div_round(base * t["rateBasisPoints"], 10_000)}
             for t in version["taxes"]]
    credit = div_round(export_wh * version["feedInPricePerKwh"], 1000)
    tax_total = sum(t["amount"] for t in taxes)
    return {
        "tariffId": version["tariffId"],
        "tariffVersion": version["version"],
        "from": format_utc(seg_start),
        "to": format_utc(seg_start + seg_hours * HOUR),
        "hours": seg_hours,
        "importWh": import_wh,
        "exportWh": export_wh,
        "tiers": tiers,
        "tou": tou,
        "energyCharge": energy_charge,
        "touCharge": tou_charge,
        "taxes": taxes,
        "taxTotal": tax_total,
        "exportCredit": {"energyWh": export_wh, "pricePerKwh": version["feedInPricePerKwh"],
                         "amount": credit},
        "total": base + tax_total - credit,
        "currency": version["currency"],
        "currencyExponent": version["currencyExponent"],
    }


def bill_meter(ov: Overlay, meter: dict[str, Any], start: dt.datetime, end: dt.datetime,
               hours: int) -> dict[str, Any]:
    """One meter's part of a bill."""
    doc = tariff.get_doc(ov, meter["tariffId"])
    usage = _hourly_usage(ov, meter["meterId"], start, end)
    segments = [_price_segment(v, s, n, hours, usage) for v, s, n in _segments(doc, start, hours)]
    quality = dict.fromkeys(QUALITIES, 0)
    for _, _, counts in usage.values():
        for q, c in counts.items():
            quality[q] += c
    taxes: dict[str, int] = {}
    for seg in segments:
        for t in seg["taxes"]:
            taxes[t["name"]] = taxes.get(t["name"], 0) + t["amount"]
    return {
        "meterId": meter["meterId"],
        "tariffId": meter["tariffId"],
        "segments": segments,
        "importWh": sum(s["importWh"] for s in segments),
        "exportWh": sum(s["exportWh"] for s in segments),
        "energyCharge": sum(s["energyCharge"] for s in segments),
        "touCharge": sum(s["touCharge"] for s in segments),
        "taxes": taxes,
        "exportCredit": sum(s["exportCredit"]["amount"] for s in segments),
        "total": sum(s["total"] for s in segments),
        "quality": quality,
        "readings": sum(quality.values()),
    }


def compute(ov: Overlay, customer_id: str, start_text: str, end_text: str) -> dict[str, Any]:
    """The bill of a customer for a period (not recorded)."""
    check_id(customer_id, "customerId")
    start, end, hours = parse_period(start_text, end_text)
    meter_ids = meters.by_customer(ov, customer_id)
    if not meter_ids:
        raise ChaincodeError(f"customer {customer_id} has no meters", status=404)
    parts = [bill_meter(ov, meters.get(ov, m), start, end, hours) for m in meter_ids]
    currencies = {(s["currency"], s["currencyExponent"]) for p in parts for s in p["segments"]}
    if len(currencies) != 1:
        raise ChaincodeError(f"meters of {customer_id} are billed in several currencies",
                             status=409)
    (currency, exponent), = currencies
    taxes: dict[str, int] = {}
    for p in parts:
        for name, amount in p["taxes"].items():
            taxes[name] = taxes.get(name, 0) + amount
    versions = sorted({(s["tariffId"], s["tariffVersion"]) for p in parts for s in p["segments"]})
    return {
        "customerId": customer_id,
        "periodStart": format_utc(start),
        "periodEnd": format_utc(end),
        "currency": currency,
        "currencyExponent": exponent,
        "meters": parts,
        "importWh": sum(p["importWh"] for p in parts),
        "exportWh": sum(p["exportWh"] for p in parts),
        "energyCharge": sum(p["energyCharge"] for p in parts),
        "touCharge": sum(p["touCharge"] for p in parts),
        "taxes": taxes,
        "exportCredit": sum(p["exportCredit"] for p in parts),
        "total": sum(p["total"] for p in parts),
        "tariffVersions": [{"tariffId": t, "version": v} for t, v in versions],
    }


def bill_key(customer_id: str, period_start: str) -> str:
    """Ledger key of an issued bill."""
    return key("bill", customer_id, period_start)


def issue(ov: Overlay, customer_id: str, start_text: str, end_text: str) -> dict[str, Any]:
    """Compute and record a bill; refuse an unfinished or overlapping period (409)."""
    bill = compute(ov, customer_id, start_text, end_text)
    if bill["periodEnd"] > format_utc(ov.stub.tx_timestamp):
        raise ChaincodeError(f"period ends {bill['periodEnd']}, which has not passed yet",
                             status=409)
    for other in issued(ov, customer_id):
        if other["periodStart"] < bill["periodEnd"] and bill["periodStart"] < other["periodEnd"]:
            raise ChaincodeError(
                f"period overlaps bill {other['billId']} ({other['periodStart']} to "
                f"{other['periodEnd']})", status=409)
    bill["billId"] = bill_key(customer_id, bill["periodStart"])
    bill["issuedAt"] = format_utc(ov.stub.tx_timestamp)
    bill["txId"] = ov.stub.tx_id
    ov.put_json(bill["billId"], bill)
    return bill


def issued(ov: Overlay, customer_id: str) -> list[dict[str, Any]]:
    """Bills issued to a customer, by period start."""
    start, end = prefix_range("bill", check_id(customer_id, "customerId"))
    return [load_json(kv.value) for kv in ov.scan(start, end)]
