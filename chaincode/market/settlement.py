"""Settlement after delivery, against the meters' private interval records, in pages.

Who decides what: the energy of each trade is a fact of the meters, held privately by
the Utility and the Regulator on the energy channel (``mktiv~<pseudonym>~<intervalId>``,
kept by the reading path: metering/market_records.py); the money is public market
arithmetic. So a page is settled by a transaction that all three organisations endorse
(the cursor ``mktstl~<iv>`` it writes carries the SETTLE policy from the moment the
interval opens, ledger.py):

- the **Utility and the Regulator** each read the records the page needs across
  channels (marketlink ``DeliveryRecords``, at their own endorser: nothing of it enters
  this transaction's read set) and recompute the page's **plan**: what each trade
  delivered, and for a VPP the export of each member (its members consented to disclose
  it to the VPP). Each refuses a plan that differs, and refuses to settle before every
  record is *complete* (its meter reported through the interval's end) unless the
  market's evidence grace period has passed since the end: a reading still on its way
  never counts as nothing delivered;
- the **Aggregator**, which may not read those records, gets the plan and nothing more of
  them (a record's import and export stay with the members: what a trade needs, and no
  more, reaches its chaincode server); it checks what public state tells (self-dealing
  delivers nothing, a VPP's members are those at gate closure).

``SettlementPlan(intervalId)`` (an evaluate, on the caller's own Utility or Regulator peer)
computes the next page's plan; ``Settle(intervalId, plan)`` (a Utility or Regulator
operator; the plan in the transient map) applies it. Per trade, in page order, so a
trader's export and import are used once:

    delivered = min(traded, seller's export left, buyer's import left)
                (0 when the buyer is the seller, or a member of the selling VPP:
                 nobody trades its own export back to itself)
    paid      = floor(delivered x price / 1000)      buyer's escrow -> seller
    refund    = floor(delivered x retail / 1000)     utility -> buyer
    returned  = min(floor(delivered x feed-in / 1000), paid)   seller -> utility

``retail`` and ``feed-in`` are the reference prices of the market's tariff version in
force at the interval's start, read again at settlement (the version the retail path
priced the interval's readings with, whatever was known when the interval opened). The
retail path (exhaustion and bills, unchanged) charged the buyer's whole import at its
tariff and credited the seller's whole export at feed-in; ``refund`` and ``returned``
take the delivered energy out of it. So, net, the buyer pays the trade price for what was
delivered and the tariff for the rest, the seller gets the trade price for what it
delivered and feed-in for its surplus. The undelivered part's escrow, and what the price
left of it, return to the buyer once its bid's last trade is settled. A VPP sells its
members' export (their records, from the first page it appears on): its proceeds, net of
``returned``, wait in ``mktdel~<iv>~<vpp>`` for the payouts.

Tokens: ``paid <= escrow`` (every price is at most the bid's limit, ``floor`` sums to at
most the escrow's ``ceil``) and ``returned <= paid``, so no balance goes negative; the
utility's side is counted per page (``utilityReturned``, ``utilityPaid``), so the market's
conservation law is checkable (ledger.py, queries.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridledger.formats import events
from gridledger.formats.market import value_of
from gridledger.formats.utc import parse_utc

from ..common import clock, crosschannel
from ..common.keys import key
from ..shim import ChaincodeError, canonical_json, parse_json_arg
from . import auction, bilateral, clearing, intervals, orders, vpp
from .ledger import SETTLE, Market, credit


def cursor_key(iv: str) -> str:
    """Key of an interval's settlement cursor."""
    return key("mktstl", iv)


def page_key(iv: str, page: int) -> str:
    """Key of one settled page."""
    return key("mktsp", iv, f"{page:06d}")


def delivery_key(iv: str, trader: str) -> str:
    """What a trader has delivered (and, a VPP, its members' export) in an interval."""
    return key("mktdel", iv, trader)


def prepare(m: Market, record: dict[str, Any]) -> None:
    """Make an interval's settlement cursor when it opens, with the SETTLE policy: from
    then on no settlement page is valid without all three organisations."""
    m.create(cursor_key(record["intervalId"]), {
        "nextPage": 1, "deliveredWh": 0, "paid": 0, "utilityReturned": 0,
        "utilityPaid": 0}, SETTLE)


def settle_trade(price: int, delivered: int, retail: int, feed_in: int) -> dict[str, int]:
    """The money of one trade that delivered ``delivered`` Wh (pure)."""
    paid = value_of(delivered, price)
    return {"deliveredWh": delivered, "paid": paid,
            "retailRefund": value_of(delivered, retail),
            "feedInReturned": min(value_of(delivered, feed_in), paid)}


def _settleable(m: Market, iv: str) -> dict[str, Any]:
    record = intervals.get(m, iv)
    if record["status"] == intervals.SETTLED:
        raise ChaincodeError(f"interval {iv} is settled already", status=409)
    if record["status"] not in (intervals.CLEARED, intervals.SETTLING):
        raise ChaincodeError(f"interval {iv} is {record['status']}: clear it first",
                             status=409)
    return record


def _cursor(m: Market, iv: str) -> dict[str, Any]:
    cur = m.get(cursor_key(iv))
    if cur is None:
        raise ChaincodeError(f"interval {iv} has no settlement cursor: it was opened before "
                             "settlement needed all three organisations; it cannot be "
                             "settled", status=409)
    return cur


def _members(m: Market, record: dict[str, Any], seller: str) -> dict[str, dict[str, Any]]:
    return vpp.members_at(m, seller, record["gateClosure"])


def _needed(m: Market, record: dict[str, Any], trades: list[dict[str, Any]]) -> list[str]:
    """The pseudonyms whose records a page of ``trades`` needs."""
    iv = record["intervalId"]
    need: set[str] = set()
    for trade in trades:
        need.add(trade["buyer"])
        seller = trade["seller"]
        if not vpp.is_vpp(seller):
            need.add(seller)
        elif m.get(delivery_key(iv, seller)) is None:
            need.update(_members(m, record, seller))
    return sorted(need)


def _page_trades(m: Market, record: dict[str, Any], page: int) -> list[dict[str, Any]]:
    iv = record["intervalId"]
    return m.need(clearing.trades_key(iv, page), f"trade page {page} of {iv}")["trades"]


def needs(m: Market, iv: str) -> dict[str, Any]:
    """The pseudonyms whose records the next settlement page needs (asked at any time once
    the interval is cleared: the Utility may prepare a settlement before the end)."""
    record = _settleable(m, iv)
    page = _cursor(m, iv)["nextPage"]
    if page > record["tradePages"]:
        return {"intervalId": iv, "page": page, "pseudonyms": []}
    return {"intervalId": iv, "page": page,
            "pseudonyms": _needed(m, record, _page_trades(m, record, page))}


# -- the plan: what the records say, computed by a member of customerData ------------------


def _self_dealing(m: Market, record: dict[str, Any], trade: dict[str, Any]) -> bool:
    """A trade in which the buyer buys its own export: from itself, or from the VPP that
    counts it as a member at gate closure."""
    seller, buyer = trade["seller"], trade["buyer"]
    if buyer == seller:
        return True
    return vpp.is_vpp(seller) and buyer in _members(m, record, seller)


def _delivery(m: Market, record: dict[str, Any], trader: str,
              known: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A trader's delivery ledger in the interval, as this page starts from it."""
    if trader not in known:
        found = m.get(delivery_key(record["intervalId"], trader))
        known[trader] = found or {"intervalId": record["intervalId"], "trader": trader,
                                  "usedExportWh": 0, "usedImportWh": 0, "new": True}
    return known[trader]


def _plan_page(m: Market, record: dict[str, Any], trades: list[dict[str, Any]],
               energy: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """What each trade of the page delivered, and each new VPP's members' export, from
    the records' (import, export) per pseudonym."""
    known: dict[str, dict[str, Any]] = {}
    exports: dict[str, dict[str, int]] = {}
    deliveries = []
    for trade in trades:
        seller, buyer = trade["seller"], trade["buyer"]
        sold = _delivery(m, record, seller, known)
        if vpp.is_vpp(seller):
            if sold.get("new") and seller not in exports:
                exports[seller] = {p: energy[p][1] for p in _members(m, record, seller)}
            total = (sum(exports[seller].values()) if seller in exports
                     else sold["exportWh"])
        else:
            total = energy[seller][1]
        bought = _delivery(m, record, buyer, known)
        delivered = 0 if _self_dealing(m, record, trade) else max(0, min(
            trade["wh"], total - sold["usedExportWh"],
            energy[buyer][0] - bought["usedImportWh"]))
        sold["usedExportWh"] += delivered
        bought["usedImportWh"] += delivered
        deliveries.append({"n": trade["n"], "deliveredWh": delivered})
    return {"deliveries": deliveries, "vppExports": exports}


def _read_records(m: Market, iv: str, need: list[str]) -> dict[str, dict[str, Any] | None]:
    """The records of ``need``, read across from the energy channel at this (member)
    endorser: {pseudonym: record or None}."""
    if not need:
        return {}
    return crosschannel.energy(m.stub, "marketlink:DeliveryRecords", iv,
                               canonical_json(need).decode())


def _holds_records(m: Market) -> bool:
    """Whether this endorser's peer holds the delivery records (customerData)."""
    return bool(crosschannel.energy(m.stub, "marketlink:HoldsCustomerData")["holds"])


def _incomplete(records: dict[str, dict[str, Any] | None]) -> list[str]:
    return sorted(p for p, r in records.items() if r is None or not r.get("complete"))


def _grace_over(m: Market, record: dict[str, Any]) -> bool:
    grace = dt.timedelta(seconds=record.get("evidenceGraceSeconds",
                                            intervals.DEFAULT_GRACE))
    return m.stub.tx_timestamp >= intervals.end_of(record) + grace


def plan(m: Market, iv: str) -> dict[str, Any]:
    """The next page's plan, from the records on this peer (a Utility or Regulator peer):
    what Settle takes. ``incomplete`` names the pseudonyms whose meters have not yet
    reported through the interval's end (Settle refuses until they have, or until the
    grace period is over)."""
    record = _settleable(m, iv)
    page = _cursor(m, iv)["nextPage"]
    if page > record["tradePages"]:
        return {"intervalId": iv, "page": page, "deliveries": [], "vppExports": {},
                "incomplete": []}
    trades = _page_trades(m, record, page)
    need = _needed(m, record, trades)
    if not _holds_records(m):
        raise ChaincodeError("this peer does not hold the delivery records: ask the "
                             "Utility's or the Regulator's peer for a settlement plan",
                             status=404)
    records = _read_records(m, iv, need)
    energy = {p: (r["importWh"], r["exportWh"]) if r else (0, 0) for p, r in records.items()}
    return {"intervalId": iv, "page": page, **_plan_page(m, record, trades, energy),
            "incomplete": _incomplete(records)}


# -- Settle -------------------------------------------------------------------------------

_PLAN = {"intervalId", "page", "deliveries", "vppExports", "incomplete"}


def _parse_plan(text: str) -> dict[str, Any]:
    body = parse_json_arg(text, "settlement plan")
    if not isinstance(body, dict) or set(body) != _PLAN:
        raise ChaincodeError(f"the settlement plan must be exactly {sorted(_PLAN)} (as "
                             "SettlementPlan answers it)", status=400)
    return body


def _check_shape(plan_: dict[str, Any], trades: list[dict[str, Any]]) -> None:
    """What any endorser checks of a plan: it covers exactly this page's trades, with
    deliveries within what was traded and exports as whole Wh."""
    deliveries = plan_["deliveries"]
    if (not isinstance(deliveries, list) or len(deliveries) != len(trades)
            or any(not isinstance(d, dict) or d.get("n") != t["n"]
                   or not isinstance(d.get("deliveredWh"), int)
                   or not 0 <= d["deliveredWh"] <= t["wh"]
                   for d, t in zip(deliveries, trades, strict=False))):
        raise ChaincodeError("the plan's deliveries must name this page's trades in order, "
                             "each with 0 <= deliveredWh <= the Wh traded", status=400)
    exports = plan_["vppExports"]
    if not isinstance(exports, dict) or not all(
            isinstance(e, dict) and all(isinstance(w, int) and w >= 0 for w in e.values())
            for e in exports.values()):
        raise ChaincodeError("the plan's vppExports must be {vpp: {member: Wh}}", status=400)


def _check_as_member(m: Market, record: dict[str, Any], trades: list[dict[str, Any]],
                     need: list[str], plan_: dict[str, Any]) -> None:
    """A member of customerData recomputes the plan from its own records."""
    iv = record["intervalId"]
    records = _read_records(m, iv, need)
    incomplete = _incomplete(records)
    if incomplete and not _grace_over(m, record):
        raise ChaincodeError(
            f"the meters of {', '.join(incomplete)} have not reported through the end of "
            f"{iv} yet: settlement waits for their readings (until the market's evidence "
            "grace period is over, when what is missing counts as not delivered)", 409)
    energy = {p: (r["importWh"], r["exportWh"]) if r else (0, 0) for p, r in records.items()}
    mine = _plan_page(m, record, trades, energy)
    if (mine["deliveries"], mine["vppExports"]) != (plan_["deliveries"],
                                                    plan_["vppExports"]):
        raise ChaincodeError(f"the plan differs from the delivery records of {iv} on this "
                             "peer: ask SettlementPlan again", status=409)


def _check_as_outsider(m: Market, record: dict[str, Any], trades: list[dict[str, Any]],
                       plan_: dict[str, Any]) -> None:
    """A peer outside customerData cannot read the records; it checks what public state
    tells: self-dealing delivers nothing, a VPP's members are those at gate closure."""
    for trade, d in zip(trades, plan_["deliveries"], strict=True):
        if _self_dealing(m, record, trade) and d["deliveredWh"]:
            raise ChaincodeError(f"trade {trade['n']} sells the buyer its own export: it "
                                 "delivers nothing", status=409)
    for seller, exports in plan_["vppExports"].items():
        if not vpp.is_vpp(seller) or sorted(exports) != sorted(_members(m, record, seller)):
            raise ChaincodeError(f"the plan's exports of {seller} must name its members "
                                 "at gate closure", status=400)


class _Page:
    """One settlement page's working state: delivery ledgers, read and written once."""

    def __init__(self, m: Market, record: dict[str, Any], exports: dict[str, dict[str, int]]):
        self.m, self.record, self.exports = m, record, exports
        self.dels: dict[str, dict[str, Any]] = {}

    def delivery(self, trader: str) -> dict[str, Any]:
        if trader not in self.dels:
            found = _delivery(self.m, self.record, trader, self.dels)
            if vpp.is_vpp(trader) and found.get("new"):
                members = _members(self.m, self.record, trader)
                found.update(members={p: {"exportWh": self.exports[trader][p],
                                          "commissionBp": t["commissionBp"]}
                                      for p, t in members.items()}, proceeds=0)
                found["exportWh"] = sum(e["exportWh"] for e in found["members"].values())
        return self.dels[trader]

    def save(self) -> None:
        for trader, d in self.dels.items():
            k = delivery_key(self.record["intervalId"], trader)
            if d.pop("new", False):
                self.m.create(k, d)
            else:
                self.m.put(k, d)


def _buyer_order(m: Market, iv: str, trade: dict[str, Any]) -> tuple[str, dict, int]:
    if trade["kind"] == "auction":
        k = orders.order_key(trade["buyer"], iv, trade["bidId"])
        order = m.get(k)
        return k, order, order["filledWh"]
    k = bilateral.accept_key(iv, trade["buyer"], trade["acceptId"])
    order = m.get(k)
    return k, order, order["quantityWh"]


def _settle(page: _Page, trade: dict[str, Any], delivered: int, retail: int,
            feed_in: int) -> dict[str, Any]:
    m, record = page.m, page.record
    iv = record["intervalId"]
    buyer, seller = trade["buyer"], trade["seller"]
    price = (trade["price"] if trade["kind"] == "bilateral"
             else auction.trade_price(record["marketType"], trade["bidPrice"],
                                      record.get("clearingPrice")))
    money = settle_trade(price, delivered, retail, feed_in)
    page.delivery(seller)["usedExportWh"] += delivered
    page.delivery(buyer)["usedImportWh"] += delivered
    okey, order, filled = _buyer_order(m, iv, trade)
    order["escrow"] -= money["paid"]
    if order["escrow"] < 0:  # cannot happen (module docstring); never let it pass
        raise ChaincodeError(f"trade {trade['n']} would overdraw its escrow", status=500)
    order["settledWh"] += trade["wh"]
    order["deliveredWh"] += delivered
    order["paid"] += money["paid"]
    if order["settledWh"] == filled:  # the bid's last trade: the rest of its escrow back
        credit(m, buyer, order["escrow"])
        order["released"] = order.get("released", 0) + order["escrow"]
        order.update(escrow=0, status="settled")
    m.put(okey, order)
    credit(m, buyer, money["retailRefund"])
    net = money["paid"] - money["feedInReturned"]
    if vpp.is_vpp(seller):
        page.delivery(seller)["proceeds"] += net
    else:
        credit(m, seller, net)
    if trade["kind"] == "auction":
        skey = orders.order_key(seller, iv, trade["offerId"])
        offer = m.get(skey)
        offer["deliveredWh"] += delivered
        offer["paid"] += money["paid"]
        m.put(skey, offer)
    return {"n": trade["n"], "kind": trade["kind"], "buyer": buyer, "seller": seller,
            "wh": trade["wh"], "price": price, **money}


def settle(m: Market, iv: str, text: str) -> dict[str, Any]:
    """Settle the interval's next page of trades by the plan given; ``done`` once the last
    one is."""
    record = _settleable(m, iv)
    clock.not_before(m.stub, intervals.end_of(record), "Settle",
                     f"settle after delivery in {iv} ends, at", intervals.tolerance(record))
    cur = _cursor(m, iv)
    record["status"] = intervals.SETTLING
    plan_ = _parse_plan(text)
    n = cur["nextPage"]
    if plan_["intervalId"] != iv or plan_["page"] != n:
        raise ChaincodeError(f"the plan is for {plan_['intervalId']} page {plan_['page']}; "
                             f"{iv} settles page {n} next", status=409)
    outcomes: list[dict[str, Any]] = []
    if n <= record["tradePages"]:
        trades = _page_trades(m, record, n)
        need = _needed(m, record, trades)
        _check_shape(plan_, trades)
        if _holds_records(m):
            _check_as_member(m, record, trades, need, plan_)
        else:
            _check_as_outsider(m, record, trades, plan_)
        # The reference prices of the tariff version the retail path priced the interval
        # with (known for good once the interval has begun).
        start = parse_utc(record["start"], "start")
        retail, feed_in = intervals.reference_prices(
            intervals.tariff_version(m, record["tariffId"], start), start)
        page = _Page(m, record, plan_["vppExports"])
        outcomes = [_settle(page, trade, d["deliveredWh"], retail, feed_in)
                    for trade, d in zip(trades, plan_["deliveries"], strict=True)]
        page.save()
        totals = {"deliveredWh": sum(o["deliveredWh"] for o in outcomes),
                  "paid": sum(o["paid"] for o in outcomes),
                  "utilityReturned": sum(o["retailRefund"] for o in outcomes),
                  "utilityPaid": sum(o["feedInReturned"] for o in outcomes)}
        m.create(page_key(iv, n), {"intervalId": iv, "page": n, "trades": outcomes,
                                   "retailPricePerKwh": retail,
                                   "feedInPricePerKwh": feed_in, **totals})
        for k, v in totals.items():
            cur[k] += v
        cur["nextPage"] = n + 1
    elif plan_["deliveries"] or plan_["vppExports"]:
        raise ChaincodeError(f"{iv} has no trades left to settle: the plan must be empty",
                             status=400)
    done = cur["nextPage"] > record["tradePages"]
    if done:
        record.update(status=intervals.SETTLED, settledAt=m.now,
                      deliveredWh=cur["deliveredWh"], paid=cur["paid"])
        m.stub.set_event(events.MARKET_SETTLED, canonical_json(
            {"intervalId": iv, "deliveredWh": cur["deliveredWh"], "paid": cur["paid"],
             "trades": record["trades"]}))
    intervals.save(m, record)
    m.put(cursor_key(iv), cur)
    return {"intervalId": iv, "page": n, "done": done, "trades": outcomes,
            "deliveredWh": cur["deliveredWh"]}
