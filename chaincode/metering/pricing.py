"""Pricing arithmetic of one tariff version: pure functions, integers only.

Prices are integers in minor units of the currency per kWh; energy is in Wh, so an amount
is Wh x price / 1000. Bills round each line once, half away from zero
(common.amounts.div_round); exhaustion keeps exact sums (thousandths of a minor unit, or
ten-millionths once taxed) and rounds only the running total.

A ``version`` is a tariff version record as GetTariff returns it (metering/tariff.py).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from ..common.amounts import div_round

HOUR = dt.timedelta(hours=1)


def tier_bounds_wh(version: dict[str, Any], num: int = 1, den: int = 1) -> list[int | None]:
    """Upper tier bounds in Wh, scaled by num/den (pro-rating), rounded half up."""
    return [
        None if t["upToKwh"] is None else div_round(t["upToKwh"] * 1000 * num, den)
        for t in version["tiers"]
    ]


def _month_days(year: int, month: int) -> int:
    # calendar.monthrange stops at the year 9999; a UTC hour of 9999 can be local 10000.
    return (29 if calendar.isleap(year) else 28) if month == 2 else _DAYS[month - 1]


_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def month_share(version: dict[str, Any], start: dt.datetime, hours: int) -> Fraction:
    """The ``hours`` hours from ``start`` as months: for each local calendar month (the
    version's ``utcOffsetMinutes``) they touch, their hours in it over its hours, summed.
    A whole month is 1, March 1-15 is 15/31, 15 February to 15 March 14/28 + 14/31."""
    # The local start, counted by hand: start + offset may lie beyond datetime's range.
    year, month, day = start.year, start.month, start.day
    hour = start.hour + version["utcOffsetMinutes"] // 60
    while hour >= 24:
        hour -= 24
        day += 1
        if day > _month_days(year, month):
            year, month, day = year + month // 12, month % 12 + 1, 1
    while hour < 0:
        hour += 24
        day -= 1
        if day < 1:
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
            day = _month_days(year, month)
    share, left = Fraction(0), hours
    while left > 0:
        days = _month_days(year, month)
        until_next = (days - day) * 24 + (24 - hour)   # hours to the month's end
        taken = min(left, until_next)
        share += Fraction(taken, days * 24)
        left -= taken
        year, month, day, hour = (year + month // 12, month % 12 + 1, 1, 0)
    return share


def prorated_bounds_wh(version: dict[str, Any], start: dt.datetime,
                       hours: int) -> list[int | None]:
    """Tier bounds in Wh for ``hours`` hours from ``start``: each monthly bound (tiers are
    per month, as EVN's) times :func:`month_share`, rounded half up. So however a span is
    cut into bills (or a bill into segments), its bounds add up to the months' bounds, to
    within a Wh per cut: a three-month bill has three months' tiers, a day's bill a
    day's share of its month's."""
    share = month_share(version, start, hours)
    return tier_bounds_wh(version, share.numerator, share.denominator)


def split_by_tiers(start_wh: int, energy_wh: int, bounds: list[int | None]) -> list[int]:
    """Wh of the span [start_wh, start_wh + energy_wh) that falls in each tier."""
    parts: list[int] = []
    low = 0
    end = start_wh + energy_wh
    for bound in bounds:
        high = end if bound is None else bound
        parts.append(max(0, min(end, high) - max(start_wh, low)))
        low = high if bound is not None else low
    return parts


def tiered_milli(start_wh: int, energy_wh: int, version: dict[str, Any]) -> int:
    """Exact cost of [start_wh, start_wh + energy_wh) in thousandths of a minor unit."""
    parts = split_by_tiers(start_wh, energy_wh, tier_bounds_wh(version))
    return sum(wh * t["pricePerKwh"] for wh, t in zip(parts, version["tiers"], strict=True))


def local_hour(version: dict[str, Any], utc_hour: int) -> int:
    """Hour of day in the tariff's local time for a UTC hour of day."""
    return (utc_hour + version["utcOffsetMinutes"] // 60) % 24


def band_of(version: dict[str, Any], utc_hour: int) -> tuple[str, int]:
    """(band name, adjustPerKwh) for a UTC hour; ("standard", 0) outside every band."""
    hour = local_hour(version, utc_hour)
    for band in version["touBands"]:
        if hour in band["hours"]:
            return band["name"], band["adjustPerKwh"]
    return "standard", 0


def tax_basis_points(version: dict[str, Any]) -> int:
    """Sum of the version's tax rates in basis points."""
    return sum(t["rateBasisPoints"] for t in version["taxes"])


def price_usage(version: dict[str, Any], bounds: list[int | None], import_wh: int,
                by_band: dict[str, int], export_wh: int) -> dict[str, Any]:
    """Bill lines of one segment: ``import_wh`` over the tier ``bounds``, ``by_band`` Wh
    per time-of-use band (bands outside ``version`` ignored), ``export_wh`` credited.

    Each line is rounded half away from zero once; totals are sums of rounded lines:
    total = tiers + ToU + taxes on (tiers + ToU) - export credit.
    """
    parts = split_by_tiers(0, import_wh, bounds)
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
    tax_total = sum(t["amount"] for t in taxes)
    credit = div_round(export_wh * version["feedInPricePerKwh"], 1000)
    return {
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
    }


def segments(version_for: Callable[[dt.datetime], dict[str, Any]], start: dt.datetime,
             hours: int) -> list[tuple[dict[str, Any], dt.datetime, int]]:
    """(version, segment start, segment hours): the runs of the ``hours`` hours from
    ``start`` that ``version_for(hour start)`` prices with one tariff version."""
    runs: list[tuple[dict[str, Any], dt.datetime, int]] = []
    for i in range(hours):
        when = start + i * HOUR
        version = version_for(when)
        if runs and _same(runs[-1][0], version):
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((version, when, 1))
    return runs


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["tariffId"], a["version"]) == (b["tariffId"], b["version"])
