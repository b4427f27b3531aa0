"""Settlement against the meters' interval records, with hand-computed money: exact
delivery, shortfall, a buyer who imported less, surplus export, a seller who never
exported, pay-as-bid; and what settlement refuses.

The tariff (helpers.py): retail 2000 per kWh, feed-in 800, no taxes. One trade: an offer
of 4 kWh at 1000 meets a bid of 4 kWh at 1600: uniform price (1600 + 1000) / 2 = 1300;
the bid escrows 4 x 1600 = 6400.
"""

from __future__ import annotations

import json

import pytest

from gridledger.formats import events
from tests.unit.chaincode.channels import Channels

from .helpers import AGGREGATOR, HOUR, UTILITY, MarketWorld, Participant, at

START = 100_000  # tokens each deposits; 50 000 more stay in the private account


def _trade(market_type: str = "uniform") -> tuple[MarketWorld, Participant, Participant, str]:
    w = MarketWorld()
    seller, buyer = w.join("c-s"), w.join("c-b")
    iv = w.open(at(10), market_type)
    assert w.order("offer", seller, iv, "o", 4000, 1000).status == 200
    assert w.order("bid", buyer, iv, "b", 4000, 1600).status == 200
    w.clear(iv)
    return w, seller, buyer, iv


@pytest.mark.parametrize(("case", "seller_export", "buyer_import", "delivered"), [
    ("exact delivery", 4000, 4000, 4000),
    ("shortfall: the seller exported less", 2500, 4000, 2500),
    ("the buyer imported less", 4000, 1000, 1000),
    ("surplus export", 6000, 4000, 4000),
])
def test_delivered_is_the_least_of_sold_exported_and_imported(
        case: str, seller_export: int, buyer_import: int, delivered: int) -> None:
    w, seller, buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (0, seller_export), "c-b": (buyer_import, 0)})
    (page,) = w.settle(iv)
    (trade,) = page["trades"]
    paid, refund, returned = delivered * 1300 // 1000, delivered * 2, delivered * 800 // 1000
    assert trade == {"n": 1, "kind": "auction", "buyer": buyer.pseudonym,
                     "seller": seller.pseudonym, "wh": 4000, "price": 1300,
                     "deliveredWh": delivered, "paid": paid, "retailRefund": refund,
                     "feedInReturned": returned}, case
    # The buyer: its escrow less what it paid comes back, plus the retail price of what was
    # delivered; the seller: the price less the feed-in its export already earned.
    assert w.wallet(buyer) == START - paid + refund
    assert w.wallet(seller) == START + paid - returned
    # With the retail path (every Wh at tariff, every exported Wh at feed-in), net:
    # the buyer paid 1300 per delivered kWh and 2000 per kWh from the grid ...
    buyer_net = (w.wallet(buyer) - START) + (w.balance(buyer) - 50_000)
    assert buyer_net == -(paid + (buyer_import - delivered) * 2)
    # ... and the seller got 1300 per delivered kWh and 800 per kWh of surplus.
    seller_net = (w.wallet(seller) - START) + (w.balance(seller) - 50_000)
    assert seller_net == paid + (seller_export - delivered) * 800 // 1000
    assert w.totals()["balanced"] and w.totals()["escrow"] == 0


def test_settlement_waits_for_every_meters_readings_then_counts_what_never_came_as_nothing(
        ) -> None:
    # Issue 17, hole 5: a Utility settling before the seller's readings arrived would make
    # them count as zero delivered (and keep the retail price of the buyer's import).
    w, seller, _buyer, iv = _trade()
    w.deliver(at(10), {"c-b": (4000, 0)})  # the seller's meter has not reported yet
    plan = w.ledger.ok("market:SettlementPlan", iv, **UTILITY, when=at(13))
    assert plan["incomplete"] == [seller.pseudonym]
    before = w.ledger.snapshot()
    res = w.ledger.call("market:Settle", iv, json.dumps(plan), **UTILITY, when=at(13))
    assert res.status == 409 and "have not reported through the end" in res.message
    assert seller.pseudonym in res.message and w.ledger.snapshot() == before
    # Its readings arrive: settlement goes on with them.
    w.deliver(at(10), {"c-s": (0, 4000)})
    (page,) = w.settle(iv, when=at(14))
    assert page["trades"][0]["deliveredWh"] == 4000


def test_after_the_evidence_grace_period_a_meter_that_never_reported_delivered_nothing(
        ) -> None:
    w, _seller, buyer, iv = _trade()
    w.deliver(at(10), {"c-b": (4000, 0)})
    grace_over = at(11) + 2 * 24 * HOUR  # the market's default grace: two days after the end
    (page,) = w.settle(iv, when=grace_over)
    assert page["trades"][0]["deliveredWh"] == 0 and page["trades"][0]["paid"] == 0
    assert w.wallet(buyer) == START


def test_a_seller_whose_meter_read_zero_export_delivers_nothing() -> None:
    w, _seller, buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (300, 0), "c-b": (4000, 0)})
    assert w.settle(iv)[0]["trades"][0]["deliveredWh"] == 0
    assert w.wallet(buyer) == START


def test_pay_as_bid_settles_at_the_bid() -> None:
    w, seller, buyer, iv = _trade("pay-as-bid")
    w.deliver(at(10), {"c-s": (0, 4000), "c-b": (4000, 0)})
    (trade,) = w.settle(iv)[0]["trades"]
    assert trade["price"] == 1600 and trade["paid"] == 6400
    assert w.wallet(buyer) == START - 6400 + 8000
    assert w.wallet(seller) == START + 6400 - 3200


def test_settlement_event_and_interval() -> None:
    w, _seller, buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (0, 4000), "c-b": (4000, 0)})
    w.settle(iv)
    assert w.ledger.events[-1] == (events.MARKET_SETTLED, {
        "intervalId": iv, "deliveredWh": 4000, "paid": 5200, "trades": 1})
    record = w.ledger.ok("market:GetInterval", iv)
    assert record["status"] == "settled" and record["deliveredWh"] == 4000
    trades = w.ledger.ok("market:TradesOf", buyer.pseudonym, iv)
    assert trades[0]["side"] == "buy" and trades[0]["settlement"]["paid"] == 5200


def test_the_aggregator_endorses_with_the_plan_alone_and_the_same_read_set() -> None:
    # Issue 17, hole 4: the Aggregator's chaincode server gets what the trades delivered,
    # never a record's import and export; its endorsement must still agree with the
    # members' (the same read/write set: the records are read across channels, which
    # leaves nothing in it).
    w, _seller, _buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (0, 4000), "c-b": (3000, 0)})
    plan = w.ledger.ok("market:SettlementPlan", iv, **UTILITY, when=at(13))
    assert set(plan) == {"intervalId", "page", "deliveries", "vppExports", "incomplete"}
    assert plan["deliveries"] == [{"n": 1, "deliveredWh": 3000}]
    assert "importWh" not in json.dumps(plan) and "4000" not in json.dumps(plan)
    # On the Aggregator's peer, asking for a plan is refused: it holds no records.
    res = w.ledger.call("market:SettlementPlan", iv, **UTILITY, when=at(13),
                        outside=("customerData",))
    assert res.status == 404 and "does not hold the delivery records" in res.message
    fork = _fork(w)
    member = w.ledger.call("market:Settle", iv, json.dumps(plan), **UTILITY, when=at(13))
    outsider = fork.call("market:Settle", iv, json.dumps(plan), **UTILITY, when=at(13),
                         outside=("customerData",))
    assert member.status == outsider.status == 200, (member.message, outsider.message)
    assert member.stub.reads == outsider.stub.reads
    assert member.stub.hashed_reads == outsider.stub.hashed_reads == []
    assert (member.stub.state, member.stub.metadata) == (outsider.stub.state,
                                                         outsider.stub.metadata)
    # Hole 3: what the member read of the energy channel is in no read set here.
    assert all(k.startswith("mkt") for k in member.stub.reads), member.stub.reads
    assert not any(k.startswith(("mktiv", "mktlink", "mktmeter")) for k in member.stub.reads)


def _fork(w: MarketWorld) -> Channels:
    return w.ledger.fork()


def test_what_settlement_refuses() -> None:
    w, _seller, _buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (0, 4000), "c-b": (4000, 0)})
    plan = w.ledger.ok("market:SettlementPlan", iv, **UTILITY, when=at(13))
    before = w.ledger.snapshot()

    def settle(p: dict, **kw: object):  # type: ignore[no-untyped-def]
        kw = {**UTILITY, "when": at(13), **kw}
        return w.ledger.call("market:Settle", iv, json.dumps(p), **kw)

    early = settle(plan, when=at(10) + HOUR / 2)
    assert early.status == 409 and "too early" in early.message
    skewed = settle(plan, clock=at(10) + HOUR / 2)  # dated after the end, clocks before it
    assert skewed.status == 409 and "ahead of this endorser's clock" in skewed.message
    # A plan that delivers more than the meters say: both members refuse it ...
    inflated = {**plan, "deliveries": [{"n": 1, "deliveredWh": 4000 - 1}]}
    res = settle(inflated)
    assert res.status == 409 and "differs from the delivery records" in res.message
    # ... and nobody may claim more than was traded.
    res = settle({**plan, "deliveries": [{"n": 1, "deliveredWh": 4001}]},
                 outside=("customerData",))
    assert res.status == 400 and "deliveredWh" in res.message
    # A plan that gives the seller's delivery to nobody: recomputed, it differs.
    res = settle({**plan, "deliveries": [{"n": 1, "deliveredWh": 0}]})
    assert res.status == 409 and "differs from the delivery records" in res.message
    res = settle({**plan, "page": 2})
    assert res.status == 409 and "settles page 1 next" in res.message
    res = settle({k: v for k, v in plan.items() if k != "incomplete"})
    assert res.status == 400 and "settlement plan must be exactly" in res.message
    res = settle(plan, **AGGREGATOR)
    assert res.status == 403 and "Settle" in res.message
    assert w.ledger.snapshot() == before
    assert settle(plan).status == 200
    again = settle(plan)
    assert again.status == 409 and "settled already" in again.message


def test_a_buyer_buying_its_own_export_from_its_vpp_gets_nothing_delivered() -> None:
    # Reviewer finding: netting one's own export against one's own import at the retail
    # price through the market (self-dealing): the trade delivers nothing, on every peer.
    w = MarketWorld()
    member, other = w.join("c-m"), w.join("c-o")
    w.ledger.ok("market:CreateVpp", json.dumps({"vppId": "vpp-self", "marketId": "mkt1",
                                                "name": "S", "commissionBp": 0}),
                **AGGREGATOR, when=at(0))
    w.ledger.ok("market:EnrolVppMember", "vpp-self", member.sign(
        "vpp-join", vppId="vpp-self", capacityWh=5000, commissionBp=0, sharesExport=True),
        **AGGREGATOR, when=at(0))
    iv = w.open(at(10))
    w.ledger.ok("market:PlaceVppOffer", "vpp-self", iv, "v", "4000", "1000", **AGGREGATOR,
                when=at(8))
    assert w.order("bid", member, iv, "b", 4000, 1600).status == 200
    w.clear(iv)
    w.deliver(at(10), {"c-m": (4000, 4000), "c-o": (0, 0)})
    plan = w.ledger.ok("market:SettlementPlan", iv, **UTILITY, when=at(13))
    assert plan["deliveries"] == [{"n": 1, "deliveredWh": 0}]
    forged = {**plan, "deliveries": [{"n": 1, "deliveredWh": 4000}]}
    res = w.ledger.call("market:Settle", iv, json.dumps(forged), **UTILITY, when=at(13),
                        outside=("customerData",))
    assert res.status == 409 and "its own export" in res.message
    (page,) = w.settle(iv)
    assert page["trades"][0]["paid"] == 0 and w.wallet(member) == START
    del other


def test_settling_an_interval_not_cleared_or_unknown() -> None:
    w = MarketWorld()
    w.join("c-s")
    iv = w.open(at(10))
    res = w.ledger.call("market:Settle", iv, "{}", **UTILITY, when=at(13))
    assert res.status == 409 and "clear it first" in res.message
    res = w.ledger.call("market:Settle", "mkt1.20250311T1100Z", "{}", **UTILITY, when=at(13))
    assert res.status == 404 and "does not exist" in res.message


def test_an_interval_without_trades_settles_at_once() -> None:
    w = MarketWorld()
    b = w.join("c-b")
    iv = w.open(at(10))
    w.order("bid", b, iv, "b", 1000, 1500)
    w.clear(iv)
    assert w.wallet(b) == START
    (page,) = w.settle(iv)
    assert page["done"] and page["trades"] == []
