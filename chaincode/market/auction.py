"""The double auction, pure: match a bid curve against an offer curve in priority order.

Bids come highest price first, offers lowest first, each side then by time and id (the
order book's key order, chaincode/market/orders.py). The best bid meets the best offer
while the bid's price is at least the offer's; they trade the smaller remaining quantity
(partial fills: what is left stays for the next counterpart). Matching stops where the
curves stop crossing or a side runs out.

It also pauses after reading ``budget`` book entries, and resumes from the entries it
hands back, so that clearing can run as a sequence of bounded transactions: paging does
not change the result (tests/unit/chaincode/market/test_auction.py proves it).

Prices (tokens per kWh):
- **uniform** (pay-as-clear): every trade at ``floor((b + o) / 2)`` of the last matched
  pair, the marginal bid ``b`` and the marginal offer ``o``: at or below every matched
  bid, at or above every matched offer;
- **pay-as-bid**: each trade at its bid's price.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from gridledger.formats.market import PAY_AS_BID, UNIFORM


@dataclass
class Entry:
    """An order as the auction sees it: ``remaining`` Wh still to match (0: skip it)."""

    key: str
    trader: str
    order_id: str
    price: int
    remaining: int


@dataclass(frozen=True)
class Fill:
    """One trade: ``wh`` between a bid and an offer, with both limit prices."""

    bid: Entry
    offer: Entry
    wh: int
    bid_price: int
    offer_price: int


@dataclass
class Page:
    """What one run matched, and where the next run resumes on each side: from ``bid``
    (an entry read but not used up) or else after ``bid_after`` (the last used up)."""

    fills: list[Fill] = field(default_factory=list)
    bid: Entry | None = None
    offer: Entry | None = None
    bid_after: str | None = None
    offer_after: str | None = None
    done: bool = False
    reads: int = 0


def match(bids: Iterator[Entry], offers: Iterator[Entry], bid: Entry | None = None,
          offer: Entry | None = None, budget: int | None = None) -> Page:
    """Match from the carried entries (or the iterators' next ones); pause once ``budget``
    entries have been read and another is needed (``done`` False). An entry with nothing
    remaining (a cancelled order) is read and passed over."""
    page = Page()
    while True:
        if bid is not None and bid.remaining == 0:
            page.bid_after, bid = bid.key, None
        if offer is not None and offer.remaining == 0:
            page.offer_after, offer = offer.key, None
        if bid is None or offer is None:
            if budget is not None and page.reads >= budget:
                page.bid, page.offer = bid, offer
                return page
            if bid is None:
                bid, page.reads = next(bids, None), page.reads + 1
                if bid is None:
                    return _done(page, None, offer)
            if offer is None:
                offer, page.reads = next(offers, None), page.reads + 1
                if offer is None:
                    return _done(page, bid, None)
            continue
        if bid.price < offer.price:
            return _done(page, bid, offer)
        wh = min(bid.remaining, offer.remaining)
        page.fills.append(Fill(_copy(bid), _copy(offer), wh, bid.price, offer.price))
        bid.remaining -= wh
        offer.remaining -= wh


def _done(page: Page, bid: Entry | None, offer: Entry | None) -> Page:
    page.bid, page.offer, page.done = bid, offer, True
    return page


def _copy(entry: Entry) -> Entry:
    return Entry(entry.key, entry.trader, entry.order_id, entry.price, entry.remaining)


def uniform_price(last_bid_price: int, last_offer_price: int) -> int:
    """The pay-as-clear price of the last matched pair (rounded down)."""
    return (last_bid_price + last_offer_price) // 2


def trade_price(market_type: str, bid_price: int, clearing_price: int | None) -> int:
    """What a matched trade pays per kWh."""
    if market_type == UNIFORM:
        assert clearing_price is not None
        return clearing_price
    if market_type == PAY_AS_BID:
        return bid_price
    raise ValueError(f"unknown market type {market_type!r}")
