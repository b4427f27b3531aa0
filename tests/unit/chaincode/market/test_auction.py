"""The double auction with hand-computed results: crossing curves, no cross, ties, partial
fills, both market types; and paging never changes what it matches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.chaincode.market.auction import Entry, match, trade_price, uniform_price

from .helpers import MarketWorld, at


def _bids(*orders: tuple[int, int]) -> list[Entry]:
    """Bids (price, Wh) already in priority order: key order is priority."""
    return [Entry(f"b{i:03d}", f"buyer{i}", f"b{i}", p, wh) for i, (p, wh) in enumerate(orders)]


def _offers(*orders: tuple[int, int]) -> list[Entry]:
    return [Entry(f"s{i:03d}", f"seller{i}", f"s{i}", p, wh)
            for i, (p, wh) in enumerate(orders)]


def _trades(page) -> list[tuple[str, str, int]]:
    return [(f.bid.order_id, f.offer.order_id, f.wh) for f in page.fills]


def test_crossing_curves_trade_until_they_part_with_partial_fills() -> None:
    # Demand 10 kWh at 2000, 5 at 1800, 5 at 1500; supply 6 at 1200, 6 at 1600, 10 at 1900.
    # b0 takes all of s0 (6) and 4 of s1; b1 takes s1's last 2, then wants 3 more at 1800
    # but s2 asks 1900: the curves part. 12 kWh; marginal pair b1/s1: (1800 + 1600) / 2.
    page = match(iter(_bids((2000, 10_000), (1800, 5000), (1500, 5000))),
                 iter(_offers((1200, 6000), (1600, 6000), (1900, 10_000))))
    assert _trades(page) == [("b0", "s0", 6000), ("b0", "s1", 4000), ("b1", "s1", 2000)]
    assert page.done and page.bid.order_id == "b1" and page.bid.remaining == 3000
    assert page.offer.order_id == "s2" and page.offer.remaining == 10_000
    last = page.fills[-1]
    assert uniform_price(last.bid_price, last.offer_price) == 1700
    # Pay-as-bid: each trade at its bid.
    assert [trade_price("pay-as-bid", f.bid_price, None) for f in page.fills] == [2000, 2000,
                                                                                  1800]
    assert [trade_price("uniform", f.bid_price, 1700) for f in page.fills] == [1700] * 3


def test_curves_that_do_not_cross_trade_nothing() -> None:
    page = match(iter(_bids((1000, 5000), (900, 5000))), iter(_offers((1100, 5000))))
    assert page.fills == [] and page.done
    assert page.bid.order_id == "b0" and page.offer.order_id == "s0"


def test_an_empty_side_trades_nothing() -> None:
    assert match(iter([]), iter(_offers((1100, 5000)))).fills == []
    assert match(iter(_bids((1100, 5000))), iter([])).fills == []


def test_equal_prices_trade_at_that_price() -> None:
    page = match(iter(_bids((1500, 2000))), iter(_offers((1500, 3000))))
    assert _trades(page) == [("b0", "s0", 2000)]
    assert uniform_price(1500, 1500) == 1500
    assert page.offer.remaining == 1000


def test_a_tie_goes_to_the_earlier_order_then_the_smaller_id_through_the_ledger() -> None:
    # Two bids at the same price: the earlier one fills first; at the same time (one
    # transaction time for both), the smaller trader/order id. Key order is that order.
    w = MarketWorld()
    seller, early, late = w.join("c-s"), w.join("c-e"), w.join("c-l")
    iv = w.open(at(10))
    start = at(10)
    assert w.order("offer", seller, iv, "o1", 3000, 1000).status == 200
    del start
    assert w.order("bid", late, iv, "b-late", 2000, 1500, when=at(9)).status == 200
    assert w.order("bid", early, iv, "b-early", 2000, 1500, when=at(8)).status == 200
    trades = [t for page in w.clear(iv) for t in page["trades"]]
    assert [(t["buyer"], t["wh"]) for t in trades] == [(early.pseudonym, 2000),
                                                       (late.pseudonym, 1000)]


def test_at_the_same_price_and_time_the_smaller_trader_then_order_id_fills_first() -> None:
    w = MarketWorld()
    seller, a, b = w.join("c-s"), w.join("c-a"), w.join("c-b")
    iv = w.open(at(10))
    assert w.order("offer", seller, iv, "o1", 3000, 1000).status == 200
    for p in (a, b):
        for order_id in ("z", "y"):
            assert w.order("bid", p, iv, order_id, 1000, 1500, when=at(9)).status == 200
    trades = [t for page in w.clear(iv) for t in page["trades"]]
    first = min(a.pseudonym, b.pseudonym)
    assert [(t["buyer"], t["bidId"]) for t in trades] == [(first, "y"), (first, "z"),
                                                          (max(a.pseudonym, b.pseudonym), "y")]


def test_partial_fill_of_the_marginal_offer() -> None:
    page = match(iter(_bids((2000, 1000), (1900, 1000))), iter(_offers((1000, 5000))))
    assert _trades(page) == [("b0", "s0", 1000), ("b1", "s0", 1000)]
    assert page.bid is None and page.offer.remaining == 3000
    assert uniform_price(1900, 1000) == 1450


def test_cancelled_entries_are_read_and_passed_over() -> None:
    bids = _bids((2000, 1000), (1900, 0), (1800, 1000))  # the 0: a cancelled bid
    page = match(iter(bids), iter(_offers((1000, 5000))))
    assert _trades(page) == [("b0", "s0", 1000), ("b2", "s0", 1000)]


# -- paging -----------------------------------------------------------------------------------

orders_ = st.lists(st.tuples(st.integers(800, 2000), st.integers(1, 5)), max_size=25)


def _book(bids: list[tuple[int, int]], offers: list[tuple[int, int]]
          ) -> tuple[list[Entry], list[Entry]]:
    # Sort into priority order (price, then insertion index) and key them in that order,
    # as the book does; Wh in kWh x 1000.
    b = sorted(enumerate(bids), key=lambda t: (-t[1][0], t[0]))
    o = sorted(enumerate(offers), key=lambda t: (t[1][0], t[0]))
    return ([Entry(f"b{r:03d}", "x", f"b{i}", p, wh * 1000) for r, (i, (p, wh)) in enumerate(b)],
            [Entry(f"s{r:03d}", "y", f"s{i}", p, wh * 1000) for r, (i, (p, wh)) in enumerate(o)])


@settings(max_examples=200, deadline=None)
@given(orders_, orders_, st.integers(1, 6))
def test_paging_never_changes_the_result(bids: list, offers: list, budget: int) -> None:
    whole = match(*map(iter, _book(bids, offers)))
    b_all, o_all = _book(bids, offers)
    fills, bid, offer, after_b, after_o = [], None, None, None, None
    for _ in range(1000):
        rest_b = iter([e for e in b_all if (bid is None and (after_b is None or e.key > after_b))
                       or (bid is not None and e.key > bid.key)])
        rest_o = iter([e for e in o_all if (offer is None
                                            and (after_o is None or e.key > after_o))
                       or (offer is not None and e.key > offer.key)])
        page = match(rest_b, rest_o, bid, offer, budget=budget)
        fills += page.fills
        assert page.reads <= budget + 2
        bid, offer = page.bid, page.offer
        after_b = page.bid_after or after_b
        after_o = page.offer_after or after_o
        if page.done:
            break
    assert [(f.bid.key, f.offer.key, f.wh) for f in fills] == [
        (f.bid.key, f.offer.key, f.wh) for f in whole.fills]
    # Every matched bid pays at most its limit, every matched offer gets at least its own.
    if whole.fills:
        last = whole.fills[-1]
        price = uniform_price(last.bid_price, last.offer_price)
        assert all(f.offer_price <= price <= f.bid_price for f in whole.fills)
