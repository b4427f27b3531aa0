"""Clearing at gate closure, by the Aggregator, as a sequence of bounded transactions.

``Clear(intervalId)`` does one page of work and may be called until it answers
``done``. Each page reads at most :data:`PAGE` book entries (lazily, closing the range
early, so Fabric's read set and phantom check cover only those) plus the records they
touch, however large the book:

1. ``match``: the auction (chaincode/market/auction.py) from where the last page stopped;
   its fills become one page of trades ``mkttr~<iv>~<n>`` and each order's ``filledWh``.
   The first page turns the interval to ``clearing``: an order simulated before gate
   closure that commits after it fails its read check on the interval.
2. ``release``: every bid gets back, at once, all of its escrow its fills will not cost:
   it keeps ``ceil(filled x price / 1000)``, the price it pays (the clearing price of a
   uniform interval, which may be below its limit, or its own bid price, pay-as-bid); an
   unfilled bid keeps nothing. What the delivered energy does not cost comes back at
   settlement.
3. ``bilateral``: the standing offers accepted for the interval join the trades, at their
   prices, on pages of their own.

Then the interval is ``cleared``: its uniform price (pay-as-clear) or, pay-as-bid, the
volume-weighted average of the trades' prices, its volume and trade count, and the event
``MarketCleared``. Cursor: ``mktclr~<iv>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gridledger.formats import events
from gridledger.formats.market import UNIFORM, escrow_of

from ..common import clock
from ..common.keys import key
from ..shim import ChaincodeError, canonical_json
from . import auction, intervals, orders
from .ledger import Market, credit

PAGE = 200  # book entries one clearing transaction reads


def cursor_key(iv: str) -> str:
    """Key of an interval's clearing cursor."""
    return key("mktclr", iv)


def trades_key(iv: str, page: int) -> str:
    """Key of one page of an interval's trades."""
    return key("mkttr", iv, f"{page:06d}")


def _side(m: Market, iv: str, side: str, state: dict[str, Any]) -> tuple[
        Iterator[auction.Entry], auction.Entry | None]:
    """The book side from where the cursor left it: the iterator, and the carried entry."""
    carried = None
    start = None
    if state["open"] is not None:
        entry = m.get(state["open"]["key"])
        carried = auction.Entry(state["open"]["key"], entry["trader"], entry["orderId"],
                                entry["pricePerKwh"], state["open"]["remaining"])
        start = state["open"]["key"] + "\x00"
    elif state["after"] is not None:
        start = state["after"] + "\x00"

    def entries() -> Iterator[auction.Entry]:
        for k, e in m.scan("mktbook", iv, side, start=start):
            left = e["quantityWh"] if e["status"] == orders.OPEN else 0
            yield auction.Entry(k, e["trader"], e["orderId"], e["pricePerKwh"], left)

    return entries(), carried


def _state(entry: auction.Entry | None, after: str | None,
           old: dict[str, Any]) -> dict[str, Any]:
    """Where a side resumes: the entry carried over, or after the last one used up."""
    if entry is not None:
        return {"open": {"key": entry.key, "remaining": entry.remaining}, "after": None}
    return {"open": None, "after": after or old["after"]}


def _fill_order(m: Market, iv: str, entry: auction.Entry, wh: int) -> None:
    okey = orders.order_key(entry.trader, iv, entry.order_id)
    order = m.get(okey)
    order["filledWh"] += wh
    order["status"] = "matched" if order["filledWh"] == order["quantityWh"] else "partial"
    m.put(okey, order)


def _match(m: Market, iv: str, cur: dict[str, Any], budget: int,
           trades: list[dict[str, Any]]) -> int:
    bids, carried_bid = _side(m, iv, orders.BID, cur["bid"])
    offers, carried_offer = _side(m, iv, orders.OFFER, cur["offer"])
    page = auction.match(bids, offers, carried_bid, carried_offer, budget=budget)
    for fill in page.fills:
        cur["trades"] += 1
        trades.append({"n": cur["trades"], "kind": "auction", "wh": fill.wh,
                       "buyer": fill.bid.trader, "bidId": fill.bid.order_id,
                       "seller": fill.offer.trader, "offerId": fill.offer.order_id,
                       "bidPrice": fill.bid_price, "offerPrice": fill.offer_price})
        _fill_order(m, iv, fill.bid, fill.wh)
        _fill_order(m, iv, fill.offer, fill.wh)
        cur["volumeWh"] += fill.wh
        cur["valueMilli"] += fill.wh * fill.bid_price
        cur["lastBidPrice"], cur["lastOfferPrice"] = fill.bid_price, fill.offer_price
    cur["bid"] = _state(page.bid, page.bid_after, cur["bid"])
    cur["offer"] = _state(page.offer, page.offer_after, cur["offer"])
    if page.done:
        # Every bid, from the top of the book: the price each pays is known now.
        cur["phase"], cur["releaseFrom"] = "release", None
        cur["clearingPrice"] = (auction.uniform_price(cur["lastBidPrice"],
                                                      cur["lastOfferPrice"])
                                if cur["volumeWh"] else None)
    return page.reads


def _start(state: dict[str, Any] | None) -> str | None:
    if state is None:
        return None
    if state["open"] is not None:
        return state["open"]["key"]
    return state["after"] + "\x00" if state["after"] is not None else None


def _release(m: Market, iv: str, cur: dict[str, Any], budget: int,
             trades: list[dict[str, Any]]) -> int:
    read = 0
    for k, entry in m.scan("mktbook", iv, orders.BID, start=_start(cur["releaseFrom"])):
        if read >= budget:
            cur["releaseFrom"] = {"open": {"key": k, "remaining": 0}, "after": None}
            return read
        read += 1
        if entry["status"] != orders.OPEN:
            continue
        okey = orders.order_key(entry["trader"], iv, entry["orderId"])
        order = m.get(okey)
        price = (cur["clearingPrice"] if cur.get("marketType") == UNIFORM
                 else order["pricePerKwh"])
        keep = escrow_of(order["filledWh"], price) if order["filledWh"] else 0
        if order["escrow"] > keep:
            credit(m, entry["trader"], order["escrow"] - keep)
            order["released"] = order.get("released", 0) + order["escrow"] - keep
            order["escrow"] = keep
        if order["filledWh"] == 0:
            order["status"] = "unmatched"
        m.put(okey, order)
    cur["phase"] = "bilateral"
    return read


def _bilateral(m: Market, iv: str, cur: dict[str, Any], budget: int,
               trades: list[dict[str, Any]]) -> int:
    read = 0
    start = cur["bilateralAfter"] + "\x00" if cur["bilateralAfter"] else None
    for k, accepted in m.scan("mktbil", iv, start=start):
        if read >= budget:
            return read
        read += 1
        cur["trades"] += 1
        cur["bilateralAfter"] = k
        cur["bilateralWh"] += accepted["quantityWh"]
        trades.append({"n": cur["trades"], "kind": "bilateral", "wh": accepted["quantityWh"],
                       "buyer": accepted["buyer"], "acceptId": accepted["acceptId"],
                       "seller": accepted["seller"], "offerId": accepted["offerId"],
                       "price": accepted["pricePerKwh"]})
    cur["phase"] = "done"
    return read


_PHASES = {"match": _match, "release": _release, "bilateral": _bilateral}


def _new_cursor() -> dict[str, Any]:
    side = {"open": None, "after": None}
    return {"phase": "match", "bid": dict(side), "offer": dict(side), "releaseFrom": None,
            "bilateralAfter": None, "trades": 0, "pages": 0, "volumeWh": 0, "valueMilli": 0,
            "bilateralWh": 0, "lastBidPrice": None, "lastOfferPrice": None}


def clear(m: Market, iv: str) -> dict[str, Any]:
    """One page of the interval's clearing (at most :data:`PAGE` book entries read, the
    phases run in turn); the trades it made; ``done`` once the interval is cleared."""
    record = intervals.get(m, iv)
    if record["status"] == intervals.OPEN:
        clock.not_before(m.stub, intervals.gate_of(record), "Clear",
                         f"interval {iv} clears at its gate closure,",
                         intervals.tolerance(record))
        record["status"] = intervals.CLEARING
        intervals.save(m, record)  # later orders fail their read of the interval
        cur = {**_new_cursor(), "marketType": record["marketType"]}
        m.create(cursor_key(iv), cur)
    elif record["status"] == intervals.CLEARING:
        cur = m.get(cursor_key(iv))
    else:
        raise ChaincodeError(f"interval {iv} is {record['status']}: cleared already",
                             status=409)
    trades: list[dict[str, Any]] = []
    phases = []
    left = PAGE
    while cur["phase"] != "done" and left > 0:
        phases.append(cur["phase"])
        left -= _PHASES[cur["phase"]](m, iv, cur, left, trades)
    if trades:
        cur["pages"] += 1
        m.create(trades_key(iv, cur["pages"]), {"intervalId": iv, "page": cur["pages"],
                                                "trades": trades})
    answer: dict[str, Any] = {"intervalId": iv, "phases": phases, "done": False,
                              "trades": trades}
    if cur["phase"] == "done":
        _finish(m, record, cur)
        answer.update(done=True, outcome=_outcome(record))
    m.put(cursor_key(iv), cur)
    return answer


def _finish(m: Market, record: dict[str, Any], cur: dict[str, Any]) -> None:
    volume = cur["volumeWh"]
    if volume and record["marketType"] == UNIFORM:
        record["clearingPrice"] = auction.uniform_price(cur["lastBidPrice"],
                                                        cur["lastOfferPrice"])
    elif volume:
        record["averagePrice"] = cur["valueMilli"] // volume
    record.update(status=intervals.CLEARED, volumeWh=volume, bilateralWh=cur["bilateralWh"],
                  trades=cur["trades"], tradePages=cur["pages"], clearedAt=m.now)
    intervals.save(m, record)
    m.stub.set_event(events.MARKET_CLEARED, canonical_json(_outcome(record)))


def _outcome(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("intervalId", "marketType", "clearingPrice",
                                       "averagePrice", "volumeWh", "bilateralWh", "trades",
                                       "tradePages")}
