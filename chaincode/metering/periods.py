"""Issued bills, and the hours they cover: what makes a reading late.

    bill~<customerId>~<periodStart>   an issued bill (private; metering/billing.py)
    custbills~<customerId>            {"periodStarts": [...]}: which bills there are (one
                                      record, read by key: a transaction that writes may
                                      not range-scan private data)

Each meter's private record (``meterinfo``) keeps ``billedPeriods``, the hours an issued
bill of its customer covers, as sorted, disjoint, non-adjacent [from, to) runs of UTC
instants (``YYYY-MM-DDTHH:MM:SSZ`` strings, which sort as the instants do). IssueBill adds
its period to every meter of the customer; RegisterMeter starts a meter with the
customer's bills so far. The reading path reads the record anyway, so telling a late
reading costs no extra read.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.ids import check_id

from ..common.keys import key
from ..common.overlay import Overlay


def bill_key(customer_id: str, period_start: str) -> str:
    """Ledger key of an issued bill."""
    return key("bill", customer_id, period_start)


def bills_index_key(customer_id: str) -> str:
    """Ledger key of the list of a customer's issued bills."""
    return key("custbills", customer_id)


def issued(ov: Overlay, customer_id: str) -> list[dict[str, Any]]:
    """Bills issued to a customer, by period start."""
    index = ov.get_json(bills_index_key(check_id(customer_id, "customerId")))
    keys = [bill_key(customer_id, start) for start in (index or {}).get("periodStarts", [])]
    ov.prefetch(keys)
    return [ov.get_json(k) for k in keys]


def record_issued(ov: Overlay, bill: dict[str, Any]) -> None:
    """Write an issued bill and list it in its customer's index."""
    index_key = bills_index_key(bill["customerId"])
    starts = (ov.get_json(index_key) or {}).get("periodStarts", [])
    ov.put_json(index_key, {"periodStarts": sorted({*starts, bill["periodStart"]})})
    ov.put_json(bill_key(bill["customerId"], bill["periodStart"]), bill)


def add_period(periods: list[dict[str, str]], start: str, end: str) -> list[dict[str, str]]:
    """``periods`` with [start, end) added, overlapping and adjacent runs merged."""
    runs = sorted([(p["from"], p["to"]) for p in periods] + [(start, end)])
    merged: list[list[str]] = []
    for low, high in runs:
        if merged and low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return [{"from": low, "to": high} for low, high in merged]


def billed_periods(bills: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The runs of hours a list of issued bills covers."""
    periods: list[dict[str, str]] = []
    for bill in bills:
        periods = add_period(periods, bill["periodStart"], bill["periodEnd"])
    return periods


def covers(periods: list[dict[str, str]], stamp: str) -> bool:
    """True when the instant ``stamp`` lies in one of the runs."""
    return any(p["from"] <= stamp < p["to"] for p in periods)


def covering(bills: list[dict[str, Any]], stamp: str) -> dict[str, Any] | None:
    """The issued bill whose period contains the instant ``stamp`` (None if none)."""
    for bill in bills:
        if bill["periodStart"] <= stamp < bill["periodEnd"]:
            return bill
    return None
