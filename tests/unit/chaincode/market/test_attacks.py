"""The market attacked, on the in-memory ledger: each test performs one attack of issue 17
(or one a review found) and shows it refused, with a reason and no state change, or
harmless. The same attacks run on the real network in
tests/integration/test_market_attacks.py where the network is what stops them (endorsement
policies, the endorsers' own clocks).

The tariff (helpers.py): retail 2000 per kWh, feed-in 800; hourly intervals, gate closure
15 minutes before each.
"""

from __future__ import annotations

import json

from gridledger.chaincode.market import ledger as market_ledger
from gridledger.chaincode.shim import satisfied_by

from .helpers import AGGREGATOR, HOUR, MARKET_ID, REGULATOR, MarketWorld, Participant, at

VPP = "vpp-att"
MINUTE = HOUR / 60


def _vpp(w: MarketWorld, *members: Participant) -> None:
    """The VPP (made once), with ``members`` joined at midnight."""
    if w.ledger.call("market:VppMembers", VPP).status == 404:
        w.ledger.ok("market:CreateVpp", json.dumps({"vppId": VPP, "marketId": MARKET_ID,
                                                    "name": "A", "commissionBp": 0}),
                    **AGGREGATOR, when=at(0))
    for p in members:
        w.ledger.ok("market:EnrolVppMember", VPP, _join(p), **AGGREGATOR, when=at(0))


def _join(p: Participant) -> str:
    return p.sign("vpp-join", vppId=VPP, capacityWh=5000, commissionBp=0, sharesExport=True)


# -- hole 2: a VPP member's export sold twice -----------------------------------------------


def test_a_vpp_member_posting_a_standing_offer_is_refused() -> None:
    w = MarketWorld()
    m = w.join("c-m")
    _vpp(w, m)
    iv = w.open(at(10))
    before = w.ledger.snapshot()
    res = w.ledger.call("market:PostStandingOffer", m.sign(
        "standing-offer", offerId="so-m", buyer="*", pricePerKwh=1200, quantityWh=1000,
        fromInterval=iv, untilInterval=iv), **AGGREGATOR, when=at(8))
    assert res.status == 409 and "its export is the VPP's" in res.message
    assert w.ledger.snapshot() == before


def test_joining_a_vpp_with_a_standing_offer_or_an_open_offer_ahead_is_refused() -> None:
    w = MarketWorld()
    seller, buyer = w.join("c-s"), w.join("c-b")
    iv = w.open(at(10))
    w.ledger.ok("market:PostStandingOffer", seller.sign(
        "standing-offer", offerId="so-s", buyer="*", pricePerKwh=1200, quantityWh=1000,
        fromInterval=iv, untilInterval=iv), **AGGREGATOR, when=at(8))
    w.ledger.ok("market:AcceptStandingOffer", buyer.sign(
        "accept", offerId="so-s", acceptId="a1", intervalId=iv, quantityWh=1000),
        **AGGREGATOR, when=at(8))
    _vpp(w)
    before = w.ledger.snapshot()
    res = w.ledger.call("market:EnrolVppMember", VPP, _join(seller), **AGGREGATOR, when=at(8))
    assert res.status == 409 and "standing offer so-s is not withdrawn" in res.message
    w.ledger.ok("market:WithdrawStandingOffer", seller.sign("withdraw-offer", offerId="so-s"),
                **AGGREGATOR, when=at(8))
    # Withdrawn, but 1000 Wh of it are still to be delivered at 10:00: not yet.
    res = w.ledger.call("market:EnrolVppMember", VPP, _join(seller), **AGGREGATOR, when=at(8))
    assert res.status == 409 and "volume accepted" in res.message
    # An auction offer ahead holds it back too.
    other = w.join("c-o")
    iv2 = w.open(at(11))
    assert w.order("offer", other, iv2, "o", 1000, 1000, when=at(8)).status == 200
    res = w.ledger.call("market:EnrolVppMember", VPP, _join(other), **AGGREGATOR, when=at(8))
    assert res.status == 409 and "open offer o" in res.message
    # Once those intervals are past, they join.
    assert w.ledger.call("market:EnrolVppMember", VPP, _join(seller), **AGGREGATOR,
                         when=at(12)).status == 200
    del before


def test_a_post_dated_leave_does_not_free_the_members_export_for_that_interval() -> None:
    # Reviewer finding: a relay dates the member's leave just after gate closure (within
    # the tolerance), then sells the member's export alone before gate closure: the VPP
    # still counts the member at gate closure, so its own offer is refused.
    w = MarketWorld()
    m = w.join("c-m")
    _vpp(w, m)
    iv = w.open(at(10))
    gate = at(10) - 15 * MINUTE
    w.ledger.ok("market:LeaveVpp", VPP, m.sign("vpp-leave", vppId=VPP), **AGGREGATOR,
                when=gate + 20 * MINUTE / 60, clock=gate - 5 * MINUTE / 60)
    before = w.ledger.snapshot()
    res = w.order("offer", m, iv, "alone", 3000, 1000, when=gate - MINUTE / 6)
    assert res.status == 409 and "sells through VPP" in res.message
    assert w.ledger.snapshot() == before
    # The next interval is its own again.
    assert w.order("offer", m, w.open(at(11)), "alone", 3000, 1000).status == 200


def test_a_leave_dated_beyond_the_tolerance_is_refused() -> None:
    w = MarketWorld()
    m = w.join("c-m")
    _vpp(w, m)
    res = w.ledger.call("market:LeaveVpp", VPP, m.sign("vpp-leave", vppId=VPP), **AGGREGATOR,
                        when=at(9), clock=at(9) - 10 * MINUTE)
    assert res.status == 409 and "ahead of this endorser's clock" in res.message


# -- reviewer: self-trades and floods --------------------------------------------------------


def test_a_trader_bidding_against_its_own_offer_is_refused() -> None:
    w = MarketWorld()
    p = w.join("c-p")
    iv = w.open(at(10))
    assert w.order("offer", p, iv, "o", 4000, 800).status == 200
    before = w.ledger.snapshot()
    res = w.order("bid", p, iv, "b", 4000, 800)
    assert res.status == 409 and "may not trade with itself" in res.message
    assert w.ledger.snapshot() == before
    # The other way round, too.
    q = w.join("c-q")
    assert w.order("bid", q, iv, "b", 1000, 1500).status == 200
    res = w.order("offer", q, iv, "o", 1000, 800)
    assert res.status == 409 and "may not trade with itself" in res.message


def test_a_trader_flooding_the_book_is_stopped_at_the_cap() -> None:
    w = MarketWorld()
    p = w.join("c-p")
    iv = w.open(at(10))
    for n in range(100):
        assert w.order("offer", p, iv, f"o{n}", 10, 800).status == 200
    res = w.order("offer", p, iv, "o100", 10, 800)
    assert res.status == 409 and "100 orders" in res.message


# -- hole 5: whoever clears or settles decides the outcome --------------------------------


def test_settlement_cannot_be_valid_without_all_three_organisations() -> None:
    w = MarketWorld()
    iv = w.open(at(10))
    policy = w.ledger.metadata[f"mktstl~{iv}"]
    assert policy == market_ledger.SETTLE  # set when the interval opened
    for two in (("AggregatorMSP", "UtilityMSP"), ("AggregatorMSP", "RegulatorMSP"),
                ("UtilityMSP", "RegulatorMSP")):
        assert not satisfied_by(policy, set(two)), two
    assert satisfied_by(policy, {"AggregatorMSP", "UtilityMSP", "RegulatorMSP"})


def test_opening_an_interval_far_ahead_to_lock_in_todays_prices_is_refused() -> None:
    w = MarketWorld()
    res = w.ledger.call("market:OpenInterval", f"{MARKET_ID}.20250315T1000Z", "uniform",
                        **AGGREGATOR, when=at(1))
    assert res.status == 409 and "at most 86400 s before its start" in res.message


def test_a_market_of_intervals_across_hours_or_an_unbounded_tolerance_is_refused() -> None:
    w = MarketWorld()
    for body, reason in (
            ({"intervalSeconds": 7200}, "[60, 3600]"),
            ({"intervalSeconds": 2400}, "dividing an hour"),
            ({"intervalSeconds": 900, "clockToleranceSeconds": 3600},
             "clockToleranceSeconds"),
    ):
        res = w.ledger.call("market:ConfigureMarket", json.dumps({
            "marketId": "m2", "gateClosureSeconds": 60, "tariffId": "MKT", **body}),
            **AGGREGATOR)
        assert res.status == 400 and reason in res.message, (body, res.message)


def test_settlement_refunds_at_the_tariff_in_force_not_the_prices_known_at_opening() -> None:
    # Reviewer finding: prices fixed when an interval opens may not be those the retail
    # path charged; settlement reads the version in force at the interval's start again.
    from .helpers import tariff

    w = MarketWorld()
    s, b = w.join("c-s"), w.join("c-b")
    iv = w.open(at(10))  # retail 2000, feed-in 800
    w.ledger.ok("SetTariff", tariff(effectiveFrom="2025-03-11T10:00:00Z", tiers=[
        {"upToKwh": None, "pricePerKwh": 2500}], feedInPricePerKwh=900), **REGULATOR,
        when=at(5))
    assert w.order("offer", s, iv, "o", 4000, 1000).status == 200
    assert w.order("bid", b, iv, "b", 4000, 1600).status == 200
    w.clear(iv)
    w.deliver(at(10), {"c-s": (0, 4000), "c-b": (4000, 0)})
    (page,) = w.settle(iv)
    (trade,) = page["trades"]
    assert trade["retailRefund"] == 4000 * 2500 // 1000
    assert trade["feedInReturned"] == 4000 * 900 // 1000
    # The buyer paid the trade price for the delivered energy, net, and nothing else.
    buyer_net = (w.wallet(b) - 100_000) + (w.balance(b) - 50_000)
    assert buyer_net == -trade["paid"]


# -- retirement: a fresh pseudonym ----------------------------------------------------------


def test_retiring_with_an_order_ahead_is_refused_then_a_new_pseudonym_takes_the_meter() -> None:
    w = MarketWorld()
    p = w.join("c-1")
    iv = w.open(at(10))
    assert w.order("bid", p, iv, "b", 1000, 1500, when=at(8)).status == 200
    before = w.ledger.snapshot()
    res = w.ledger.call("market:RetireParticipant", p.sign("retire", requestId="r-1"),
                        when=at(8))
    assert res.status == 409 and "order b" in res.message and w.ledger.snapshot() == before
    w.ledger.ok("market:CancelOrder", p.sign("cancel", intervalId=iv, orderId="b"),
                **AGGREGATOR, when=at(8))
    balance = w.balance(p)
    # The energy channel unlinks only what the market channel retired.
    early = w.ledger.call("marketlink:UnlinkParticipant", p.pseudonym, when=at(8))
    assert early.status == 409 and "not retired" in early.message
    done = w.ledger.ok("market:RetireParticipant", p.sign("retire", requestId="r-2"),
                       when=at(8))
    assert done == {"pseudonym": p.pseudonym, "retired": True, "requestId": "r-2",
                    "amount": 100_000}
    assert w.wallet(p) == 0 and w.balance(p) == balance  # a payout, not redeemed yet
    w.ledger.ok("marketlink:UnlinkParticipant", p.pseudonym, when=at(8))
    w.ledger.ok("marketlink:RedeemPayout", p.pseudonym, "r-2", when=at(8))
    assert w.wallet(p) == 0 and w.balance(p) == balance + 100_000
    # Retired: no more trading under that name, no more deposits, but the meter takes a
    # new one.
    res = w.order("bid", p, w.open(at(11)), "b2", 1000, 1500, when=at(8))
    assert res.status == 409 and "retired" in res.message
    res = w.ledger.call("marketlink:FundMarket", p.request("deposit", 10), when=at(8))
    assert res.status == 409 and "retired" in res.message

    class Next(Participant):
        @property
        def pseudonym(self) -> str:
            from gridledger.formats.market import pseudonym_for

            from .helpers import SECRET

            return pseudonym_for(SECRET, "UtilityMSP", self.customer_id, epoch=2)

    nxt = Next("c-1")
    nxt.meter = p.meter
    w.ledger.ok("marketlink:RecordPseudonym", nxt.pseudonym, "c-1", **REGULATOR)
    w.enrol(nxt, when=at(9))
    assert nxt.pseudonym != p.pseudonym


def test_utility_settles_only_with_the_other_two_and_the_aggregator_cannot_submit() -> None:
    w = MarketWorld()
    s, b = w.join("c-s"), w.join("c-b")
    iv = w.open(at(10))
    w.order("offer", s, iv, "o", 1000, 1000)
    w.order("bid", b, iv, "b", 1000, 1500)
    w.clear(iv)
    w.deliver(at(10), {"c-s": (0, 1000), "c-b": (1000, 0)})
    plan = w.ledger.ok("market:SettlementPlan", iv, **REGULATOR, when=at(12))
    res = w.ledger.call("market:Settle", iv, json.dumps(plan), **AGGREGATOR, when=at(12))
    assert res.status == 403
    # The Regulator may submit it too (the Utility cannot stall settlement).
    assert w.ledger.ok("market:Settle", iv, json.dumps(plan), **REGULATOR,
                       when=at(12))["done"]

