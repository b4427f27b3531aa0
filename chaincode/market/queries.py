"""Market queries: all of it pseudonymous public state, answered on any peer (evaluate).

The book's depth per price level, the clearing prices of a run of intervals, a trader's
orders and trades with their settlement, a VPP's members and payouts, a market wallet,
and the market's token totals (its conservation law, for audits and tests).
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.market import check_trader

from . import clearing, intervals, orders, settlement, vpp
from .ledger import Market, available, fund_key, wallet_key

_DONE = (intervals.CLEARED, intervals.SETTLING, intervals.SETTLED)


def depth(m: Market, iv: str) -> dict[str, Any]:
    """Open quantity per price level and side (bids best first, offers best first)."""
    record = intervals.get(m, iv)
    out: dict[str, Any] = {"intervalId": iv, "status": record["status"]}
    for side, name in ((orders.BID, "bids"), (orders.OFFER, "offers")):
        levels: dict[int, dict[str, int]] = {}
        for _, entry in m.scan("mktbook", iv, side):
            if entry["status"] == orders.OPEN:
                level = levels.setdefault(entry["pricePerKwh"], {"quantityWh": 0, "orders": 0})
                level["quantityWh"] += entry["quantityWh"]
                level["orders"] += 1
        prices = sorted(levels, reverse=side == orders.BID)
        out[name] = [{"pricePerKwh": p, **levels[p]} for p in prices]
    return out


def prices(m: Market, first: str, last: str) -> list[dict[str, Any]]:
    """The outcome of every interval from ``first`` to ``last``."""
    start, end = intervals.ids_between(first, last)
    fields = ("intervalId", "marketType", "status", "clearingPrice", "averagePrice",
              "volumeWh", "bilateralWh", "trades", "deliveredWh", "retailPricePerKwh",
              "feedInPricePerKwh")
    found = []
    for k, record in m.scan("mktint", start=start):
        if k >= end:
            break
        found.append({f: record.get(f) for f in fields})
    return found


def orders_of(m: Market, trader: str, iv: str) -> list[dict[str, Any]]:
    """A trader's orders (in one interval, or all when ``iv`` is ""), and its acceptances
    of standing offers in that interval."""
    check_trader(trader, "trader")
    found = []
    statuses: dict[str, str] = {}
    for _, order in m.scan("mktpo", trader, *([iv] if iv else [])):
        if order["intervalId"] not in statuses:
            statuses[order["intervalId"]] = intervals.get(m, order["intervalId"])["status"]
        shown = orders.public(order)
        if shown["status"] == orders.OPEN and statuses[order["intervalId"]] in _DONE:
            shown["status"] = "unmatched"
        found.append(shown)
    if iv:
        intervals.get(m, iv)
        found += [{"side": "accept", **a} for _, a in m.scan("mktbil", iv)
                  if a["buyer"] == trader]
    return found


def trades_of(m: Market, trader: str, iv: str) -> list[dict[str, Any]]:
    """The trades of ``trader`` in an interval, with their settlement once settled."""
    check_trader(trader, "trader")
    record = intervals.get(m, iv)
    settled: dict[int, dict[str, Any]] = {}
    for _, page in m.scan("mktsp", iv):
        settled.update((t["n"], t) for t in page["trades"])
    found = []
    for page in range(1, record["tradePages"] + 1):
        for trade in m.get(clearing.trades_key(iv, page))["trades"]:
            if trader in (trade["buyer"], trade["seller"]):
                found.append({**trade, "side": "buy" if trade["buyer"] == trader else "sell",
                              "settlement": settled.get(trade["n"])})
    return found


def vpp_payouts(m: Market, vpp_id: str, iv: str) -> dict[str, Any]:
    """A VPP's proceeds in an interval: each member's export, share, commission, payout,
    and whether it was paid."""
    vpp.get(m, vpp_id)
    delivery = m.get(settlement.delivery_key(iv, vpp_id))
    if delivery is None:
        return {"vppId": vpp_id, "intervalId": iv, "proceeds": 0, "members": {}}
    split = vpp.allocation(delivery)
    for who, entry in split.items():
        entry["paid"] = m.get(vpp.payout_key(vpp_id, iv, who)) is not None
    return {"vppId": vpp_id, "intervalId": iv, "proceeds": delivery["proceeds"],
            "deliveredWh": delivery["usedExportWh"], "members": split,
            "commission": sum(s["commission"] for s in split.values()),
            "commissionPaid": m.get(vpp.payout_key(vpp_id, iv, vpp_id)) is not None}


def wallet(m: Market, trader: str) -> dict[str, Any]:
    """A trader's market balance, both sides of it."""
    check_trader(trader, "trader")
    fund = m.get(fund_key(trader)) or {"deposited": 0, "withdrawn": 0}
    side = m.need(wallet_key(trader), f"market wallet of {trader}")
    return {"trader": trader, "deposited": fund["deposited"], "withdrawn": fund["withdrawn"],
            "credited": side["credited"], "debited": side["debited"],
            "available": available(m, trader)}


def totals(m: Market) -> dict[str, Any]:
    """Sums over the whole market, and whether its tokens balance:

        deposited - withdrawn + utilityReturned - utilityPaid
            == available + escrow + vppUnpaid
    """
    sums = dict.fromkeys(("deposited", "withdrawn", "credited", "debited", "escrow",
                          "vppProceeds", "vppPaid", "utilityReturned", "utilityPaid"), 0)
    for _, fund in m.scan("mktfund"):
        sums["deposited"] += fund["deposited"]
        sums["withdrawn"] += fund["withdrawn"]
    for _, side in m.scan("mktwallet"):
        sums["credited"] += side["credited"]
        sums["debited"] += side["debited"]
    for kind in ("mktpo", "mktbil"):
        sums["escrow"] += sum(o.get("escrow", 0) for _, o in m.scan(kind))
    for _, delivery in m.scan("mktdel"):
        sums["vppProceeds"] += delivery.get("proceeds", 0)
    sums["vppPaid"] = sum(p["amount"] for _, p in m.scan("mktpay"))
    for _, page in m.scan("mktsp"):
        sums["utilityReturned"] += page["utilityReturned"]
        sums["utilityPaid"] += page["utilityPaid"]
    sums["available"] = (sums["deposited"] - sums["withdrawn"] + sums["credited"]
                         - sums["debited"])
    sums["vppUnpaid"] = sums["vppProceeds"] - sums["vppPaid"]
    sums["balanced"] = (sums["deposited"] - sums["withdrawn"] + sums["utilityReturned"]
                        - sums["utilityPaid"]
                        == sums["available"] + sums["escrow"] + sums["vppUnpaid"])
    return sums


def audit_log(m: Market) -> list[dict[str, Any]]:
    """Every resolution request the Regulator made, oldest key first."""
    return [entry for _, entry in m.scan("mktaudit")]

