"""Clearing on the ledger: bounded pages give the result of one, escrow comes back for what
did not match, the event says the outcome, and gate closure is kept."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from gridledger.chaincode.market import clearing
from gridledger.formats import events
from tests.unit.chaincode.metering.helpers import TxStub

from .helpers import AGGREGATOR, HOUR, REGULATOR, UTILITY, MarketWorld, at


def _book(world: MarketWorld, seed: int, n: int = 30, market_type: str = "uniform") -> str:
    rng = random.Random(seed)
    sellers = [world.join(f"c-s{i}") for i in range(4)]
    buyers = [world.join(f"c-b{i}") for i in range(4)]
    iv = world.open(at(10), market_type)
    for i in range(n):
        minutes = rng.randrange(60, 600)
        seller, buyer = rng.choice(sellers), rng.choice(buyers)
        when = at(10) - HOUR - minutes * (HOUR / 600)
        assert world.order("offer", seller, iv, f"o{i}", rng.randrange(1, 8) * 500,
                           rng.randrange(900, 1900), when=when).status == 200
        assert world.order("bid", buyer, iv, f"b{i}", rng.randrange(1, 8) * 500,
                           rng.randrange(900, 1900), when=when).status == 200
    return iv


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count the book entries each transaction's range queries read."""
    plain = TxStub.get_state_by_range

    def counting(self: TxStub, start: str, end: str):  # type: ignore[no-untyped-def]
        inner = plain(self, start, end)
        stub = self

        class Counting:
            def __iter__(self) -> Iterator:
                for kv in inner:
                    stub.range_reads = getattr(stub, "range_reads", 0) + 1
                    yield kv

            def __enter__(self):  # type: ignore[no-untyped-def]
                return self

            def __exit__(self, *exc: object) -> None:
                inner.close()

        return Counting()

    monkeypatch.setattr(TxStub, "get_state_by_range", counting)


@pytest.mark.parametrize("market_type", ["uniform", "pay-as-bid"])
def test_pages_of_seven_entries_clear_exactly_as_one_page(monkeypatch: pytest.MonkeyPatch,
                                                           counted: None,
                                                           market_type: str) -> None:
    whole, paged = MarketWorld(), MarketWorld()
    iv = _book(whole, seed=7, market_type=market_type)
    assert _book(paged, seed=7, market_type=market_type) == iv
    res = whole.ledger.call("market:Clear", iv, **AGGREGATOR, when=at(10))
    one, whole_reads = [res.payload], getattr(res.stub, "range_reads", 0)
    monkeypatch.setattr(clearing, "PAGE", 7)
    many, reads = [], []
    while not (many and many[-1]["done"]):
        res = paged.ledger.call("market:Clear", iv, **AGGREGATOR, when=at(10))
        assert res.status == 200, res.message
        many.append(res.payload)
        reads.append(getattr(res.stub, "range_reads", 0))
    assert len(one) == 1 and len(many) > 6
    flat = [t for page in many for t in page["trades"]]
    assert flat == one[0]["trades"] and flat
    assert ({**many[-1]["outcome"], "tradePages": 0}
            == {**one[0]["outcome"], "tradePages": 0})
    people = list(whole.people)
    assert [whole.wallet(whole.people[c]) for c in people] == [
        paged.wallet(paged.people[c]) for c in people]
    # Each page read at most PAGE entries of the book, plus one per side that told it to
    # stop; the single page read the whole book.
    assert one[0]["done"] and max(reads) <= 7 + 2 < whole_reads


def test_clearing_releases_all_escrow_the_fills_will_not_cost_price_improvement_included(
        ) -> None:
    w = MarketWorld()
    seller, b1, b2, b3 = (w.join(c) for c in ("c-s", "c-1", "c-2", "c-3"))
    iv = w.open(at(10))
    assert w.order("offer", seller, iv, "o", 3000, 1000).status == 200
    assert w.order("bid", b1, iv, "x", 2000, 1600).status == 200  # filled
    assert w.order("bid", b2, iv, "x", 2000, 1400).status == 200  # 1000 of 2000 filled
    assert w.order("bid", b3, iv, "x", 2000, 900).status == 200  # below the offer: none
    assert [w.wallet(p) for p in (b1, b2, b3)] == [100_000 - 3200, 100_000 - 2800,
                                                   100_000 - 1800]
    w.clear(iv)
    # The uniform price is (1400 + 1000) / 2 = 1200, below both matched bids' limits: each
    # keeps what its fills cost at 1200 (b1: 2000 Wh -> 2400, b2: 1000 Wh -> 1200, released
    # at once, price improvement included); b3 gets all of its 1800 back.
    assert w.ledger.ok("market:GetInterval", iv)["clearingPrice"] == 1200
    assert [w.wallet(p) for p in (b1, b2, b3)] == [100_000 - 2400, 100_000 - 1200, 100_000]
    statuses = {p.customer_id: w.ledger.ok("market:OrdersOf", p.pseudonym, iv)[0]["status"]
                for p in (b1, b2, b3, seller)}
    assert statuses == {"c-1": "matched", "c-2": "partial", "c-3": "unmatched",
                        "c-s": "matched"}


def test_the_event_and_the_interval_say_the_outcome() -> None:
    w = MarketWorld()
    s, b = w.join("c-s"), w.join("c-b")
    iv = w.open(at(10))
    w.order("offer", s, iv, "o", 2000, 1000)
    w.order("bid", b, iv, "x", 1500, 1700)
    pages = w.clear(iv)
    name, payload = w.ledger.events[-1]
    assert name == events.MARKET_CLEARED
    assert payload == pages[-1]["outcome"] == {
        "intervalId": iv, "marketType": "uniform", "clearingPrice": 1350,
        "averagePrice": None, "volumeWh": 1500, "bilateralWh": 0, "trades": 1,
        "tradePages": 1}
    record = w.ledger.ok("market:GetInterval", iv)
    assert record["status"] == "cleared" and record["clearingPrice"] == 1350
    history = w.ledger.ok("market:ClearingPrices", iv, iv)
    assert [(h["intervalId"], h["clearingPrice"], h["volumeWh"]) for h in history] == [
        (iv, 1350, 1500)]


def test_pay_as_bid_reports_the_volume_weighted_average_price() -> None:
    w = MarketWorld()
    s, b1, b2 = w.join("c-s"), w.join("c-1"), w.join("c-2")
    iv = w.open(at(10), "pay-as-bid")
    w.order("offer", s, iv, "o", 3000, 1000)
    w.order("bid", b1, iv, "x", 1000, 1900)
    w.order("bid", b2, iv, "x", 2000, 1300)
    outcome = w.clear(iv)[-1]["outcome"]
    # (1000 x 1900 + 2000 x 1300) / 3000 = 1500
    assert outcome["clearingPrice"] is None and outcome["averagePrice"] == 1500


def test_any_members_operator_clears_from_gate_closure_on_and_never_before() -> None:
    w = MarketWorld()
    s = w.join("c-s")
    iv = w.open(at(10))
    w.order("offer", s, iv, "o", 2000, 1000)
    gate = at(10) - 15 * HOUR / 60
    for who in (AGGREGATOR, UTILITY, REGULATOR):
        early = w.ledger.call("market:Clear", iv, **who, when=gate - HOUR / 3600)
        assert early.status == 409 and "too early" in early.message
    # An aggregator that dates its Clear after gate closure while every endorser's clock
    # says it is a minute before is refused by them: the time is trusted to 30 s only.
    skewed = w.ledger.call("market:Clear", iv, **AGGREGATOR, when=gate,
                           clock=gate - HOUR / 60)
    assert skewed.status == 409 and "ahead of this endorser's clock" in skewed.message
    res = w.ledger.call("market:Clear", iv, **s.identity, when=gate)
    assert res.status == 403 and "Clear" in res.message  # a customer: no
    # Clearing is deterministic: the Regulator may run it (the Aggregator cannot stall it).
    page = w.ledger.ok("market:Clear", iv, **REGULATOR, when=gate)
    assert page["done"]
    again = w.ledger.call("market:Clear", iv, **AGGREGATOR, when=at(10))
    assert again.status == 409 and "cleared already" in again.message


def test_no_order_after_gate_closure_nor_once_clearing_began() -> None:
    w = MarketWorld()
    s, b = w.join("c-s"), w.join("c-b")
    iv = w.open(at(10))
    late = w.order("bid", b, iv, "x", 1000, 1500, when=at(10) - 15 * HOUR / 60)
    assert late.status == 409 and "gate closed" in late.message
    monkey = w.order("offer", s, iv, "o", 1000, 1000)
    assert monkey.status == 200
    before = w.ledger.snapshot()
    w.ledger.ok("market:Clear", iv, **AGGREGATOR, when=at(10))
    # A relay back-dating an order to before gate closure meets the interval's status.
    res = w.order("bid", b, iv, "y", 1000, 1500, when=at(9))
    assert res.status == 409 and "no more orders" in res.message
    assert w.ledger.snapshot() != before
    # ... and, before clearing began, every endorser's own clock.
    iv2 = w.open(at(11))
    gate2 = at(11) - 15 * HOUR / 60
    res = w.order("bid", b, iv2, "z", 1000, 1500, when=gate2 - HOUR / 60, clock=gate2 + HOUR / 60)
    assert res.status == 409 and "behind this endorser's clock" in res.message
