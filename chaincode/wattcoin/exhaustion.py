"""Exhaustion (seed 004): each accepted reading's energy cost moves from the customer's
account to the utility, in the reading's own transaction.

Cost of a reading = the tiered price of its energy at the meter's period-to-date position
(marginal: the tier its kWh fall in this month), plus the time-of-use adjustment of its
hour, plus taxes. To keep rounding from drifting, the exact cost of the month so far is
kept per meter in thousandths of a minor unit (``milli``), and the amount charged so far
is ``charged``; a reading charges

    round_half_up(milli_after x (10000 + tax basis points) / 10**7) - charged

so the month's deductions always equal the rounded exact cost of the month to date. The
month is the calendar month in the tariff's local time; prepaid tier thresholds are not
pro-rated when a tariff changes mid-month (the bill is; the two may differ by that and by
per-line rounding: the bill is the statement, the deductions are the payments).

Public state: ``wcptd~<meterId>~<YYYYMM>`` {"importWh", "milli", "charged"}.
Customers without a bound account are postpaid: no exhaustion, bills only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..metering import tariff
from ..metering.ledger import Overlay, key
from ..metering.numbers import div_round
from . import accounts


def period_key(meter_id: str, version: dict[str, Any], hour_start: dt.datetime) -> str:
    """Key of the meter's period-to-date record for the local month containing the hour."""
    local = hour_start + dt.timedelta(minutes=version["utcOffsetMinutes"])
    return key("wcptd", meter_id, local.strftime("%Y%m"))


def reading_due(ov: Overlay, meter_id: str, version: dict[str, Any], hour_start: dt.datetime,
                energy_wh: int) -> int:
    """Advance the meter's period-to-date record by ``energy_wh``; return tokens now due."""
    pkey = period_key(meter_id, version, hour_start)
    ptd = ov.get_json(pkey) or {"importWh": 0, "milli": 0, "charged": 0}
    _, adjust = tariff.band_of(version, hour_start.hour)
    ptd["milli"] += tariff.tiered_milli(ptd["importWh"], energy_wh, version) + energy_wh * adjust
    ptd["importWh"] += energy_wh
    target = div_round(ptd["milli"] * (10_000 + tariff.tax_basis_points(version)), 10_000_000)
    due = max(0, target - ptd["charged"])
    ptd["charged"] = max(ptd["charged"], target)
    ov.put_json(pkey, ptd)
    return due


def settle(ov: Overlay, dues: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Charge each account its batch total once; return Exhausted and LowBalance signals.

    ``dues`` maps address -> {"customerId", "amount", "meters": set, "readings": int}.
    """
    exhausted: list[dict[str, Any]] = []
    low: list[dict[str, Any]] = []
    for address in sorted(dues):  # sorted: identical writes and event on every endorser
        due = dues[address]
        account = accounts.get(ov, address)
        outcome = accounts.charge(account, due["amount"])
        accounts.add_history(
            ov, account, "exhaustion", due["amount"], paidNow=outcome["paid"],
            unpaid=outcome["unpaid"], readings=due["readings"], meters=sorted(due["meters"]),
        )
        accounts.save(ov, account)
        summary = {"customerId": due["customerId"], "account": address,
                   "meters": sorted(due["meters"]), "balance": account["balance"],
                   "arrears": account["arrears"]}
        if outcome["exhausted"]:
            exhausted.append(summary)
        if outcome["low"]:
            low.append({**summary, "threshold": account["lowBalanceThreshold"],
                        "policy": account["policy"]})
    return {"exhausted": exhausted, "lowBalance": low}


def add_due(dues: dict[str, dict[str, Any]], address: str, customer_id: str, meter_id: str,
            amount: int) -> None:
    """Accumulate one reading's charge into the batch's per-account totals."""
    entry = dues.setdefault(
        address, {"customerId": customer_id, "amount": 0, "meters": set(), "readings": 0}
    )
    entry["amount"] += amount
    entry["meters"].add(meter_id)
    entry["readings"] += 1

