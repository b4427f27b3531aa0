"""Settlement after delivery, against the meters' private interval records, in pages.

``Settle(intervalId, records)`` settles the next page of trades. The Utility submits it
with, in the transient map, the exact stored bytes of the interval record
(``mktiv~<pseudonym>~<intervalId>``, salt included) of every pseudonym the page needs
(``SettlementNeeds`` names them; ``DeliveryRecords``, an evaluate on the Utility's own
peer, returns the bytes), or null for one whose meter reported nothing. Every endorser,
the Aggregator's too, checks each against ``GetPrivateDataHash(customerData, key)`` (the
hash every peer keeps) and only then reads its import and export: the Aggregator never
reads private data, and its peer stores only what each trade delivered.

Per trade, in page order (so a trader's export or import is used once across trades):

    delivered = min(traded Wh, seller's export left, buyer's import left)
    paid      = floor(delivered x price / 1000)      buyer's escrow -> seller
    refund    = floor(delivered x retail / 1000)     utility -> buyer
    returned  = floor(delivered x feed-in / 1000)    seller -> utility

The retail path (exhaustion and bills, unchanged) charged the buyer's whole import at its
tariff and credited the seller's whole export at feed-in; ``refund`` and ``returned``
take the delivered energy out of it at the interval's reference prices. So, net, the
buyer pays the trade price for what was delivered and the utility's tariff for the rest,
the seller gets the trade price for what it delivered and feed-in for its surplus. The
undelivered part's escrow, and what the price left of it, return to the buyer once its
bid's last trade is settled. A VPP sells its members' export (their records, from the
first page it appears on; its members consented to sharing it with the VPP): its
proceeds, net of ``returned``, wait in ``mktdel~<iv>~<vpp>`` for the payouts.

Tokens: ``paid <= escrow`` (every price is at most the bid's limit, ``floor`` sums to at
most the escrow's ``ceil``) and ``returned <= paid`` (prices are at least feed-in), so no
balance goes negative; the utility's side is counted per page (``utilityReturned``,
``utilityPaid``), so the market's conservation law is checkable (ledger.py, queries.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from gridledger.formats import events
from gridledger.formats.market import value_of

from ..common.keys import key
from ..common.overlay import load_json
from ..metering import api as metering
from ..shim import ChaincodeError, canonical_json, parse_json_arg
from . import auction, bilateral, clearing, intervals, orders, vpp
from .ledger import Market, credit


def cursor_key(iv: str) -> str:
    """Key of an interval's settlement cursor."""
    return key("mktstl", iv)


def page_key(iv: str, page: int) -> str:
    """Key of one settled page."""
    return key("mktsp", iv, f"{page:06d}")


def delivery_key(iv: str, trader: str) -> str:
    """What a trader has delivered (and, a VPP, its members' export) in an interval."""
    return key("mktdel", iv, trader)


def settle_trade(wh: int, price: int, export_left: int, import_left: int, retail: int,
                 feed_in: int) -> dict[str, int]:
    """The money of one trade (pure; see the module docstring)."""
    delivered = max(0, min(wh, export_left, import_left))
    return {"deliveredWh": delivered, "paid": value_of(delivered, price),
            "retailRefund": value_of(delivered, retail),
            "feedInReturned": value_of(delivered, feed_in)}


def _settleable(m: Market, iv: str, *, now: bool = True) -> dict[str, Any]:
    record = intervals.get(m, iv)
    if record["status"] == intervals.SETTLED:
        raise ChaincodeError(f"interval {iv} is settled already", status=409)
    if record["status"] not in (intervals.CLEARED, intervals.SETTLING):
        raise ChaincodeError(f"interval {iv} is {record['status']}: clear it first",
                             status=409)
    if now and m.now < record["end"]:
        raise ChaincodeError(f"delivery in {iv} ends at {record['end']}: settle after it",
                             status=409)
    return record


def _next_page(m: Market, record: dict[str, Any]) -> int:
    cur = m.get(cursor_key(record["intervalId"]))
    return cur["nextPage"] if cur else 1


def _needed(m: Market, record: dict[str, Any], trades: list[dict[str, Any]]) -> list[str]:
    iv = record["intervalId"]
    need: set[str] = set()
    for trade in trades:
        need.add(trade["buyer"])
        seller = trade["seller"]
        if not vpp.is_vpp(seller):
            need.add(seller)
        elif m.get(delivery_key(iv, seller)) is None:
            need.update(vpp.members_at(m, seller, record["gateClosure"]))
    return sorted(need)


def needs(m: Market, iv: str) -> dict[str, Any]:
    """The pseudonyms whose records the next settlement page needs (asked at any time once
    the interval is cleared: the Utility may prepare a settlement before the end)."""
    record = _settleable(m, iv, now=False)
    page = _next_page(m, record)
    if page > record["tradePages"]:
        return {"intervalId": iv, "page": page, "pseudonyms": []}
    trades = m.need(clearing.trades_key(iv, page), f"trade page {page} of {iv}")["trades"]
    return {"intervalId": iv, "page": page, "pseudonyms": _needed(m, record, trades)}


def _records(text: str, need: list[str]) -> dict[str, str | None]:
    records = parse_json_arg(text, "records")
    if not isinstance(records, dict) or not all(
            isinstance(v, str | None) for v in records.values()):
        raise ChaincodeError('records must be {"<pseudonym>": "<stored bytes>" or null}',
                             status=400)
    missing, extra = sorted(set(need) - set(records)), sorted(set(records) - set(need))
    if missing or extra:
        raise ChaincodeError(f"records must be exactly those this page needs: missing "
                             f"{missing}, not needed {extra} (see SettlementNeeds)", status=400)
    return records


def _energy(m: Market, iv: str, pseudonym: str, text: str | None) -> tuple[int, int]:
    """(import, export) Wh of a record whose bytes match the hash on the ledger."""
    onchain = m.ov.private_hash(metering.market_record_key(pseudonym, iv))
    if text is None:
        if onchain is not None:
            raise ChaincodeError(f"{pseudonym} has a delivery record for {iv}: send its "
                                 "stored bytes", status=409)
        return 0, 0
    raw = text.encode("utf-8")
    if onchain is None or hashlib.sha256(raw).digest() != onchain:
        raise ChaincodeError(f"the record given for {pseudonym} does not match the hash of "
                             f"its delivery record for {iv} on the ledger", status=409)
    record = load_json(raw)
    return record["importWh"], record["exportWh"]


class _Page:
    """One settlement page's working state: delivery ledgers, read and written once."""

    def __init__(self, m: Market, record: dict[str, Any], energy: dict[str, tuple[int, int]]):
        self.m, self.record, self.energy = m, record, energy
        self.dels: dict[str, dict[str, Any]] = {}

    def delivery(self, trader: str) -> dict[str, Any]:
        if trader not in self.dels:
            iv = self.record["intervalId"]
            found = self.m.get(delivery_key(iv, trader))
            if found is None:
                found = {"intervalId": iv, "trader": trader, "usedExportWh": 0,
                         "usedImportWh": 0, "new": True}
                if vpp.is_vpp(trader):
                    members = vpp.members_at(self.m, trader, self.record["gateClosure"])
                    found.update(members={p: {"exportWh": self.energy[p][1],
                                              "commissionBp": t["commissionBp"]}
                                          for p, t in members.items()},
                                 proceeds=0)
                    found["exportWh"] = sum(e["exportWh"] for e in found["members"].values())
            self.dels[trader] = found
        return self.dels[trader]

    def export_left(self, trader: str) -> int:
        d = self.delivery(trader)
        total = d["exportWh"] if vpp.is_vpp(trader) else self.energy[trader][1]
        return total - d["usedExportWh"]

    def import_left(self, trader: str) -> int:
        return self.energy[trader][0] - self.delivery(trader)["usedImportWh"]

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
    k = bilateral.accept_key(iv, trade["acceptId"])
    order = m.get(k)
    return k, order, order["quantityWh"]


def _settle(page: _Page, trade: dict[str, Any]) -> dict[str, Any]:
    m, record = page.m, page.record
    iv = record["intervalId"]
    buyer, seller = trade["buyer"], trade["seller"]
    price = (trade["price"] if trade["kind"] == "bilateral"
             else auction.trade_price(record["marketType"], trade["bidPrice"],
                                      record.get("clearingPrice")))
    money = settle_trade(trade["wh"], price, page.export_left(seller), page.import_left(buyer),
                         record["retailPricePerKwh"], record["feedInPricePerKwh"])
    delivered = money["deliveredWh"]
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
    """Settle the interval's next page of trades; ``done`` once the last one is."""
    record = _settleable(m, iv)
    cur = m.get(cursor_key(iv))
    if cur is None:
        cur = {"nextPage": 1, "deliveredWh": 0, "paid": 0, "utilityReturned": 0,
               "utilityPaid": 0}
        m.create(cursor_key(iv), cur)
        record["status"] = intervals.SETTLING
    n = cur["nextPage"]
    outcomes: list[dict[str, Any]] = []
    if n <= record["tradePages"]:
        trades = m.get(clearing.trades_key(iv, n))["trades"]
        need = _needed(m, record, trades)
        records = _records(text, need)
        page = _Page(m, record, {p: _energy(m, iv, p, records[p]) for p in need})
        outcomes = [_settle(page, trade) for trade in trades]
        page.save()
        totals = {"deliveredWh": sum(o["deliveredWh"] for o in outcomes),
                  "paid": sum(o["paid"] for o in outcomes),
                  "utilityReturned": sum(o["retailRefund"] for o in outcomes),
                  "utilityPaid": sum(o["feedInReturned"] for o in outcomes)}
        m.create(page_key(iv, n), {"intervalId": iv, "page": n, "trades": outcomes, **totals})
        for k, v in totals.items():
            cur[k] += v
        cur["nextPage"] = n + 1
    else:
        _records(text, [])
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
