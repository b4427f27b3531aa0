"""Bills: per customer and period, per meter, from the hourly usage and the tariffs.

Rules (also in chaincode/README.md, "Bills: the arithmetic"):
- The period is [periodStart, periodEnd), whole UTC hours, at most 366 days.
- Each hour is priced by the tariff the meter's history assigns to it (metering/meters.py)
  and that tariff's version in force at the hour's start. The period is split into
  segments where either changes; tier thresholds are per local calendar month (EVN's),
  so each segment's are the monthly ones times its share of each month it covers
  (pricing.month_share: hours in the month / hours of the month, summed), rounded half
  up to a whole Wh. So the tiers do not depend on how a span is cut into bills: a
  three-month bill has three months' thresholds, a day's bill a day's share.
- Per segment: tier lines (Wh x price / 1000), time-of-use lines per band (Wh x adjust /
  1000), taxes on (tiers + ToU) per tax (base x basis points / 10000), export credit
  (export Wh x feed-in price / 1000). Each line is rounded half away from zero once; the
  totals are sums of rounded lines. total = energy + ToU + taxes - export credit.
- Late energy (metering/adjustments.py) pending for the customer is added as adjustment
  lines; the bill's totals include them.
- All amounts are integers in minor units of the tariff currency; all meters and
  adjustments of a bill must share one currency.
- A prepaid customer's charges for the period's hours are trued up to the bill total by
  IssueBill, both ways (wattcoin/api.py ``true_up``).
- IssueBill's transaction must be timely and at or after the period's end (common/clock
  .py ``not_before``): a bill is never issued ahead of its period by a submitter's clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.reading import QUALITIES
from gridledger.formats.utc import format_utc, parse_hour

from ..common.clock import not_before
from ..common.overlay import Overlay, load_json
from ..shim import ChaincodeError
from ..wattcoin import api as wattcoin
from . import adjustments, meters, periods, pricing
from .readings import usage_key
from .tariff import Tariffs

MAX_PERIOD_HOURS = 366 * 24
HOUR = pricing.HOUR
bill_key = periods.bill_key
issued = periods.issued


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
                  end: dt.datetime) -> dict[dt.datetime, dict[str, Any]]:
    """Per hour with usage: importWh, exportWh, quality counts, prepaid tokens charged."""
    # Counted, not stepped past the last day: 9999-12-31 has no next day (OverflowError).
    first, last = start.date(), (end - HOUR).date()
    days = [(first + dt.timedelta(days=i)).strftime("%Y%m%d")
            for i in range((last - first).days + 1)]
    usage: dict[dt.datetime, dict[str, Any]] = {}
    for name, raw in zip(days, ov.get_many([usage_key(meter_id, d) for d in days]), strict=True):
        record = load_json(raw)
        if record is None:
            continue
        base = dt.datetime.strptime(name, "%Y%m%d").replace(tzinfo=dt.UTC)
        charged = record.get("prepaid", [0] * 24)
        for h in range(24):
            when = base + h * HOUR
            if start <= when < end:
                usage[when] = {
                    "importWh": record["importWh"][h], "exportWh": record["exportWh"][h],
                    "quality": {q: c[h] for q, c in record["quality"].items() if c[h]},
                    "prepaid": charged[h]}
    return usage


def _price_segment(version: dict[str, Any], seg_start: dt.datetime, seg_hours: int,
                   usage: dict[dt.datetime, Any]) -> dict[str, Any]:
    import_wh = export_wh = 0
    by_band: dict[str, int] = {}
    for i in range(seg_hours):
        when = seg_start + i * HOUR
        hour = usage.get(when)
        if hour is None:
            continue
        import_wh += hour["importWh"]
        export_wh += hour["exportWh"]
        band, _ = pricing.band_of(version, when.hour)
        by_band[band] = by_band.get(band, 0) + hour["importWh"]
    bounds = pricing.prorated_bounds_wh(version, seg_start, seg_hours)
    return {
        "tariffId": version["tariffId"],
        "tariffVersion": version["version"],
        "from": format_utc(seg_start),
        "to": format_utc(seg_start + seg_hours * HOUR),
        "hours": seg_hours,
        **pricing.price_usage(version, bounds, import_wh, by_band, export_wh),
        "currency": version["currency"],
        "currencyExponent": version["currencyExponent"],
    }


def bill_meter(ov: Overlay, tariffs: Tariffs, meter: dict[str, Any], start: dt.datetime,
               end: dt.datetime, hours: int) -> dict[str, Any]:
    """One meter's part of a bill."""
    usage = _hourly_usage(ov, meter["meterId"], start, end)

    def version_for(when: dt.datetime) -> dict[str, Any]:
        return tariffs.version_at(meters.tariff_at(meter, when), when)

    segments = [_price_segment(v, s, n, usage)
                for v, s, n in pricing.segments(version_for, start, hours)]
    quality = dict.fromkeys(QUALITIES, 0)
    for hour in usage.values():
        for q, c in hour["quality"].items():
            quality[q] += c
    return {
        "meterId": meter["meterId"],
        "segments": segments,
        "importWh": sum(s["importWh"] for s in segments),
        "exportWh": sum(s["exportWh"] for s in segments),
        "energyCharge": sum(s["energyCharge"] for s in segments),
        "touCharge": sum(s["touCharge"] for s in segments),
        "taxes": _sum_taxes({t["name"]: t["amount"]} for s in segments for t in s["taxes"]),
        "exportCredit": sum(s["exportCredit"]["amount"] for s in segments),
        "total": sum(s["total"] for s in segments),
        "quality": quality,
        "readings": sum(quality.values()),
        "prepaidCharged": sum(h["prepaid"] for h in usage.values()),
    }


def _sum_taxes(items: Any) -> dict[str, int]:
    taxes: dict[str, int] = {}
    for item in items:
        for name, amount in item.items():
            taxes[name] = taxes.get(name, 0) + amount
    return taxes


def compute(ov: Overlay, customer_id: str, start_text: str, end_text: str,
            bills: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The bill of a customer for a period (not recorded), with the pending adjustments
    and, for a prepaid customer, its charges so far and the true-up IssueBill would make.
    ``bills``: the customer's issued bills, when the caller has read them already."""
    check_id(customer_id, "customerId")
    start, end, hours = parse_period(start_text, end_text)
    meter_ids = meters.by_customer(ov, customer_id)
    if not meter_ids:
        raise ChaincodeError(f"customer {customer_id} has no meters", status=404)
    tariffs = Tariffs(ov)
    if bills is None:
        bills = periods.issued(ov, customer_id)
    parts = [bill_meter(ov, tariffs, meters.get(ov, m), start, end, hours) for m in meter_ids]
    late = adjustments.pending(ov, tariffs, customer_id, bills)
    currencies = ({(s["currency"], s["currencyExponent"]) for p in parts for s in p["segments"]}
                  | {(a["currency"], a["currencyExponent"]) for a in late})
    if len(currencies) != 1:
        raise ChaincodeError(f"meters of {customer_id} are billed in several currencies",
                             status=409)
    (currency, exponent), = currencies
    versions = sorted({(s["tariffId"], s["tariffVersion"]) for p in parts for s in p["segments"]}
                      | {(a["tariffId"], a["tariffVersion"]) for a in late})
    lines = [*parts, *late]
    bill: dict[str, Any] = {
        "customerId": customer_id,
        "periodStart": format_utc(start),
        "periodEnd": format_utc(end),
        "currency": currency,
        "currencyExponent": exponent,
        "meters": parts,
        "adjustments": late,
        "importWh": sum(p["importWh"] for p in parts),
        "exportWh": sum(p["exportWh"] for p in parts),
        "energyCharge": sum(x["energyCharge"] for x in lines),
        "touCharge": sum(x["touCharge"] for x in lines),
        "taxes": _sum_taxes(x["taxes"] for x in lines),
        "exportCredit": sum(x["exportCredit"] for x in lines),
        "adjustmentTotal": sum(a["total"] for a in late),
        "total": sum(x["total"] for x in lines),
        "tariffVersions": [{"tariffId": t, "version": v} for t, v in versions],
    }
    address = wattcoin.address_of_customer(ov, customer_id)
    if address is not None:
        charged = sum(p["prepaidCharged"] for p in parts)
        bill["prepaid"] = {"account": address, "charged": charged,
                           "trueUp": bill["total"] - charged}
    return bill


def issue(ov: Overlay, customer_id: str, start_text: str, end_text: str) -> dict[str, Any]:
    """Compute and record a bill; refuse an unfinished or overlapping period (409).

    In the same transaction: the pending adjustments it includes are marked consumed, its
    period is added to each meter's billed hours (later readings for them are late), and
    a prepaid customer's account is trued up to the bill total.
    """
    _, end, _ = parse_period(start_text, end_text)
    not_before(ov.stub, end, "IssueBill", "the period's end")
    bills = periods.issued(ov, check_id(customer_id, "customerId"))
    bill = compute(ov, customer_id, start_text, end_text, bills)
    for other in bills:
        if other["periodStart"] < bill["periodEnd"] and bill["periodStart"] < other["periodEnd"]:
            raise ChaincodeError(
                f"period overlaps bill {other['billId']} ({other['periodStart']} to "
                f"{other['periodEnd']})", status=409)
    bill["billId"] = bill_key(customer_id, bill["periodStart"])
    bill["issuedAt"] = format_utc(ov.stub.tx_timestamp)
    bill["txId"] = ov.stub.tx_id
    adjustments.consume(ov, customer_id, bill["adjustments"], bill["billId"])
    for part in bill["meters"]:
        meters.add_billed(ov, part["meterId"], bill["periodStart"], bill["periodEnd"])
    if "prepaid" in bill:
        wattcoin.true_up(ov, bill["prepaid"]["account"], bill["prepaid"]["trueUp"],
                         billId=bill["billId"], periodStart=bill["periodStart"],
                         periodEnd=bill["periodEnd"])
    periods.record_issued(ov, bill)
    return bill
