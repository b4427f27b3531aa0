"""VPPs: consent, capacity, bundled offers, and proceeds split pro rata to what each member's
meter exported, with the commission each consented to."""

from __future__ import annotations

import json

from gridledger.chaincode.market.vpp import pro_rata

from .helpers import AGGREGATOR, HOUR, MARKET_ID, UTILITY, MarketWorld, Participant, at

VPP = "vpp-sun"


def test_pro_rata_gives_the_largest_remainders_the_leftover_tokens() -> None:
    assert pro_rata(100, {"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert pro_rata(10, {"a": 3, "b": 7}) == {"a": 3, "b": 7}
    # 500 x 333 / 1000 = 166.5 twice, 500 x 334 / 1000 = 167: one token left, for the
    # larger remainder; between equal remainders, the smaller key.
    assert pro_rata(500, {"x": 333, "y": 333, "z": 334}) == {"x": 167, "y": 166, "z": 167}
    assert pro_rata(7, {"a": 0, "b": 0}) == {"a": 0, "b": 0}
    assert pro_rata(0, {"a": 5}) == {"a": 0}
    assert sum(pro_rata(999_999, {"a": 7, "b": 11, "c": 13}).values()) == 999_999


def _consent(p: Participant, capacity: int = 3000, commission: int = 1000,
             vpp: str = VPP) -> str:
    return p.sign("vpp-join", vppId=vpp, capacityWh=capacity, commissionBp=commission,
                  sharesExport=True)


def _vpp(w: MarketWorld, *members: Participant) -> None:
    w.ledger.ok("market:CreateVpp", json.dumps({"vppId": VPP, "marketId": MARKET_ID,
                                                "name": "Sunny Street", "commissionBp": 1000}),
                **AGGREGATOR, when=at(0))
    for p in members:
        w.ledger.ok("market:EnrolVppMember", VPP, _consent(p), **AGGREGATOR, when=at(0))


def _vpp_offer(w: MarketWorld, iv: str, order_id: str, wh: int, price: int, **kw):
    return w.ledger.call("market:PlaceVppOffer", VPP, iv, order_id, str(wh), str(price),
                         **{**AGGREGATOR, "when": at(8), **kw})


def test_a_vpp_sells_its_members_export_and_pays_each_pro_rata() -> None:
    w = MarketWorld()
    m1, m2, m3, buyer = (w.join(c) for c in ("c-m1", "c-m2", "c-m3", "c-b"))
    _vpp(w, m1, m2, m3)
    iv = w.open(at(10))
    assert _vpp_offer(w, iv, "bundle", 6000, 1000).status == 200
    assert w.order("bid", buyer, iv, "b", 6000, 1600).status == 200
    w.clear(iv)  # price (1600 + 1000) / 2 = 1300
    w.deliver(at(10), {"c-m1": (0, 333), "c-m2": (0, 333), "c-m3": (0, 334),
                       "c-b": (6000, 0)})
    (page,) = w.settle(iv)
    # Delivered: the members' 1000 Wh; paid 1300, feed-in returned 800: proceeds 500.
    assert page["trades"][0]["deliveredWh"] == 1000 and page["trades"][0]["paid"] == 1300
    payouts = w.ledger.ok("market:VppPayouts", VPP, iv)
    assert payouts["proceeds"] == 500
    members = payouts["members"]
    # 500 split 333 : 333 : 334 -> 166.5, 166.5, 167: the spare token to the smaller of the
    # two equal remainders; each share less floor(share x 10 %).
    first, second = sorted([m1.pseudonym, m2.pseudonym])
    assert {p: members[p]["share"] for p in members} == {first: 167, second: 166,
                                                          m3.pseudonym: 167}
    assert {p: members[p]["payout"] for p in members} == {first: 151, second: 150,
                                                           m3.pseudonym: 151}
    assert payouts["commission"] == 16 + 16 + 16
    for p in (m1, m2, m3):
        paid = w.ledger.ok("market:PayoutVpp", VPP, iv, p.pseudonym, **AGGREGATOR,
                           when=at(14))
        assert paid["amount"] == members[p.pseudonym]["payout"]
        assert w.wallet(p) == 100_000 + members[p.pseudonym]["payout"]
    w.ledger.ok("market:PayoutVpp", VPP, iv, VPP, **AGGREGATOR, when=at(14))
    assert w.wallet(VPP) == 48
    done = w.ledger.ok("market:VppPayouts", VPP, iv)
    assert all(e["paid"] for e in done["members"].values()) and done["commissionPaid"]
    totals = w.totals()
    assert totals["balanced"] and totals["vppUnpaid"] == 0 and totals["escrow"] == 0


def test_a_payout_to_a_member_who_never_consented_is_refused_and_changes_nothing() -> None:
    w = MarketWorld()
    m1, stranger, buyer = w.join("c-m1"), w.join("c-x"), w.join("c-b")
    _vpp(w, m1)
    iv = w.open(at(10))
    _vpp_offer(w, iv, "bundle", 3000, 1000)
    w.order("bid", buyer, iv, "b", 3000, 1600)
    early = w.ledger.call("market:PayoutVpp", VPP, iv, m1.pseudonym, **AGGREGATOR,
                          when=at(9))
    assert early.status == 409 and "after settlement" in early.message
    w.clear(iv)
    w.deliver(at(10), {"c-m1": (0, 3000), "c-x": (0, 3000), "c-b": (3000, 0)})
    w.settle(iv)
    before = w.ledger.snapshot()
    res = w.ledger.call("market:PayoutVpp", VPP, iv, stranger.pseudonym, **AGGREGATOR,
                        when=at(14))
    assert res.status == 409 and "never consented" in res.message
    assert w.ledger.snapshot() == before and w.wallet(stranger) == 100_000
    assert w.ledger.call("market:PayoutVpp", VPP, iv, m1.pseudonym, **AGGREGATOR,
                         when=at(14)).status == 200
    twice = w.ledger.call("market:PayoutVpp", VPP, iv, m1.pseudonym, **AGGREGATOR,
                          when=at(14))
    assert twice.status == 409 and "paid" in twice.message
    # Any member's operator may pay out (the Aggregator cannot hold members' proceeds
    # back); a customer may not.
    assert w.ledger.call("market:PayoutVpp", VPP, iv, VPP, **UTILITY,
                         when=at(14)).status == 200
    res = w.ledger.call("market:PayoutVpp", VPP, iv, m1.pseudonym, **m1.identity,
                        when=at(14))
    assert res.status == 403


def test_consent_must_be_the_members_own_and_on_the_vpps_terms() -> None:
    w = MarketWorld()
    m1, m2 = w.join("c-m1"), w.join("c-m2")
    _vpp(w)
    before = w.ledger.snapshot()
    forged = json.loads(_consent(m1))
    forged["message"]["pseudonym"] = m2.pseudonym  # m1's key, m2's name
    res = w.ledger.call("market:EnrolVppMember", VPP, json.dumps(forged), **AGGREGATOR)
    assert res.status == 403 and "not signed by" in res.message
    res = w.ledger.call("market:EnrolVppMember", VPP, _consent(m1, commission=500),
                        **AGGREGATOR)
    assert res.status == 409 and "commission" in res.message
    assert w.ledger.snapshot() == before
    consent = _consent(m1)
    member = w.ledger.ok("market:EnrolVppMember", VPP, consent, **AGGREGATOR)
    # The consent is on the ledger as the member signed it.
    assert member["consent"] == json.loads(consent)
    assert member["consent"]["message"]["sharesExport"] is True
    listed = w.ledger.ok("market:VppMembers", VPP)
    assert [m["pseudonym"] for m in listed["members"]] == [m1.pseudonym]
    again = w.ledger.call("market:EnrolVppMember", VPP, _consent(m1), **AGGREGATOR)
    assert again.status == 409


def test_capacity_bounds_bundled_offers_and_members_do_not_sell_alone() -> None:
    w = MarketWorld()
    m1, m2 = w.join("c-m1"), w.join("c-m2")
    _vpp(w, m1, m2)  # 2 x 3000 Wh
    iv = w.open(at(10))
    assert _vpp_offer(w, iv, "a", 4000, 1000).status == 200
    res = _vpp_offer(w, iv, "b", 2001, 1000)
    assert res.status == 409 and "capacity, 6000 Wh" in res.message
    assert _vpp_offer(w, iv, "b", 2000, 1000).status == 200
    alone = w.order("offer", m1, iv, "mine", 1000, 1000)
    assert alone.status == 409 and "sells through VPP" in alone.message


def test_a_member_who_left_before_gate_closure_is_not_paid_for_that_interval() -> None:
    w = MarketWorld()
    m1, m2, buyer = w.join("c-m1"), w.join("c-m2"), w.join("c-b")
    _vpp(w, m1, m2)
    iv = w.open(at(10))
    _vpp_offer(w, iv, "bundle", 3000, 1000)
    w.order("bid", buyer, iv, "b", 3000, 1600)
    w.ledger.ok("market:LeaveVpp", VPP, m2.sign("vpp-leave", vppId=VPP), **UTILITY,
                when=at(9))
    twice = w.ledger.call("market:LeaveVpp", VPP, m2.sign("vpp-leave", vppId=VPP),
                          **UTILITY, when=at(9))
    assert twice.status == 409 and "left" in twice.message
    w.clear(iv)
    w.deliver(at(10), {"c-m1": (0, 1000), "c-m2": (0, 5000), "c-b": (3000, 0)})
    (page,) = w.settle(iv)
    assert page["trades"][0]["deliveredWh"] == 1000  # m1's export only
    payouts = w.ledger.ok("market:VppPayouts", VPP, iv)
    assert set(payouts["members"]) == {m1.pseudonym}
    res = w.ledger.call("market:PayoutVpp", VPP, iv, m2.pseudonym, **AGGREGATOR,
                        when=at(14))
    assert res.status == 409 and "gate closure" in res.message
    # Once out, its export is its own again.
    iv2 = w.open(at(12))
    assert w.order("offer", m2, iv2, "mine", 1000, 1000, when=at(12) - HOUR).status == 200
    rejoin = w.ledger.call("market:EnrolVppMember", VPP, _consent(m2), **AGGREGATOR)
    assert rejoin.status == 409
