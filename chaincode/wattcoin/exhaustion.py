"""Exhaustion (seed 004): each accepted reading's energy cost moves between the customer's
account and the utility in the reading's own transaction; IssueBill trues it up.

Per meter and local calendar month (of the tariff version pricing the reading's hour):

    wcptd~<meterId>~<YYYYMM>  {"importWh", "exportWh", "exact", "charged"}   (private)

``exact`` is the month-to-date exact cost in ten-millionths of a minor unit. Each reading
adds, with the version in force at its hour (tax rate, ToU band, tiers, feed-in price):

    (tiered_milli(month importWh, import Wh) + import Wh x adjustPerKwh) x (10000 + tax bp)
      - export Wh x feedInPricePerKwh x 10000

(tiers by the month-to-date kWh, not pro-rated; taxes per interval at the rate then in
force; ToU adjustments may be negative; export credited untaxed, as on the bill). Then

    due = round_half_away_from_zero(exact / 10**7) - charged;   charged += due

so a month's charges always equal its rounded exact cost to date, down as well as up: a
negative ``due`` is refunded (``accounts.refund``). The reading path keeps each due in
its hour's usage record, and IssueBill charges or credits the difference between the
bill total and the dues of the period's hours (:func:`true_up`): after it, a prepaid
customer has been charged exactly the bill.

Customers without a bound account are postpaid: no exhaustion, bills only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..common.amounts import div_round
from ..common.keys import key
from ..common.overlay import Overlay
from ..metering import api as metering
from . import accounts

EXACT_PER_MINOR = 10**7  # ``exact`` unit: thousandths of a minor unit x basis points


def period_key(meter_id: str, version: dict[str, Any], hour_start: dt.datetime) -> str:
    """Key of the meter's period-to-date record for the local month containing the hour."""
    local = hour_start + dt.timedelta(minutes=version["utcOffsetMinutes"])
    return key("wcptd", meter_id, local.strftime("%Y%m"))


def reading_due(ov: Overlay, meter_id: str, version: dict[str, Any], hour_start: dt.datetime,
                import_wh: int, export_wh: int) -> int:
    """Advance the meter's month-to-date cost by one reading; return the tokens now due
    (negative: to refund). Zero energy still rewrites the record (constant write pattern)."""
    pkey = period_key(meter_id, version, hour_start)
    ptd = ov.get_json(pkey) or {"importWh": 0, "exportWh": 0, "exact": 0, "charged": 0}
    _, adjust = metering.band_of(version, hour_start.hour)
    milli = metering.tiered_milli(ptd["importWh"], import_wh, version) + import_wh * adjust
    ptd["exact"] += (milli * (10_000 + metering.tax_basis_points(version))
                     - export_wh * version["feedInPricePerKwh"] * 10_000)
    ptd["importWh"] += import_wh
    ptd["exportWh"] += export_wh
    target = div_round(ptd["exact"], EXACT_PER_MINOR)
    due = target - ptd["charged"]
    ptd["charged"] = target
    ov.put_json(pkey, ptd)
    return due


def _apply(account: dict[str, Any], amount: int) -> dict[str, Any]:
    """Charge a positive amount, refund a negative one; the history entry's detail."""
    if amount >= 0:
        outcome = accounts.charge(account, amount)
        return {"paidNow": outcome["paid"], "unpaid": outcome["unpaid"],
                "exhausted": outcome["exhausted"], "low": outcome["low"]}
    return {**accounts.refund(account, -amount), "exhausted": False, "low": False}


def settle(ov: Overlay, dues: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Charge (or refund) each account its batch total once; return Exhausted and
    LowBalance signals.

    ``dues`` maps address -> {"customerId", "amount", "meters": set, "readings": int,
    "indices": set}; each signal names the batch indices of the account's readings (the
    bridge that sent the batch knows which reading it sent where; the event names no
    meter: chaincode/README.md, "Events").
    """
    exhausted: list[dict[str, Any]] = []
    low: list[dict[str, Any]] = []
    for address in sorted(dues):  # sorted: identical writes and event on every endorser
        due = dues[address]
        account = accounts.get(ov, address)
        outcome = _apply(account, due["amount"])
        signals = {k: outcome.pop(k) for k in ("exhausted", "low")}
        accounts.add_history(ov, account, "exhaustion", due["amount"], **outcome,
                             readings=due["readings"], meters=sorted(due["meters"]))
        accounts.save(ov, account)
        summary = {"customerId": due["customerId"], "account": address,
                   "indices": sorted(due["indices"]), "balance": account["balance"],
                   "arrears": account["arrears"]}
        if signals["exhausted"]:
            exhausted.append(summary)
        if signals["low"]:
            low.append({**summary, "threshold": account["lowBalanceThreshold"],
                        "policy": account["policy"]})
    return {"exhausted": exhausted, "lowBalance": low}


def add_due(dues: dict[str, dict[str, Any]], address: str, customer_id: str, meter_id: str,
            amount: int, index: int = -1) -> None:
    """Accumulate one reading's charge (``index``: its place in the batch) into the
    batch's per-account totals."""
    entry = dues.setdefault(address, {"customerId": customer_id, "amount": 0,
                                      "meters": set(), "readings": 0, "indices": set()})
    entry["amount"] += amount
    entry["meters"].add(meter_id)
    entry["readings"] += 1
    if index >= 0:
        entry["indices"].add(index)


def true_up(ov: Overlay, address: str, amount: int, **detail: Any) -> dict[str, Any]:
    """Settle a bill against the account paying for its customer: charge ``amount``
    (a shortfall; arrears for what the balance cannot pay) or credit ``-amount`` (an
    excess), recorded as a "true-up" history entry even when zero. The account's
    ``exhausted`` flag is set by a charge that empties it (the bridge learns it from the
    next reading's charge; IssueBill has no event) and cleared only by a top-up."""
    account = accounts.get(ov, address)
    outcome = _apply(account, amount)
    for signal in ("exhausted", "low"):
        outcome.pop(signal)
    entry = accounts.add_history(ov, account, "true-up", amount, **outcome, **detail)
    accounts.save(ov, account)
    return entry
