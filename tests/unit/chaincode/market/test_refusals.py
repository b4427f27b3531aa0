"""What the issue lists as refused: each with a clear reason, and nothing changed."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.unit.chaincode.channels import Channels
from tests.unit.chaincode.metering.helpers import Result

from .helpers import AGGREGATOR, MARKET_ID, REGULATOR, UTILITY, MarketWorld, Participant, at

VPP = "vpp-refusals"


@dataclass
class World:
    market: MarketWorld
    seller: Participant
    buyer: Participant
    stranger: Participant
    member: Participant
    open_iv: str  # orders allowed
    settled_iv: str  # cleared and settled, the VPP sold in it


@functools.cache
def _world() -> World:
    w = MarketWorld()
    seller, buyer, stranger, member = (w.join(c) for c in ("c-s", "c-b", "c-x", "c-m"))
    w.ledger.ok("market:CreateVpp", json.dumps({"vppId": VPP, "marketId": MARKET_ID,
                                                "name": "V", "commissionBp": 0}),
                **AGGREGATOR, when=at(0))
    w.ledger.ok("market:EnrolVppMember", VPP, member.sign(
        "vpp-join", vppId=VPP, capacityWh=5000, commissionBp=0, sharesExport=True),
        **AGGREGATOR, when=at(0))
    done = w.open(at(10))
    w.ledger.ok("market:PlaceVppOffer", VPP, done, "v", "2000", "1000", **AGGREGATOR,
                when=at(8))
    assert w.order("bid", buyer, done, "b", 2000, 1500).status == 200
    w.clear(done)
    w.deliver(at(10), {"c-m": (0, 2000), "c-b": (2000, 0), "c-x": (0, 0)})
    w.settle(done)
    open_iv = w.open(at(20))
    assert w.order("bid", buyer, open_iv, "mine", 1000, 1500, when=at(18)).status == 200
    return World(w, seller, buyer, stranger, member, open_iv, done)


def _fork(w: World) -> Channels:
    return w.market.ledger.fork()


def _order(w: World, p: Participant, iv: str, kind: str, wh: int, price: int, when) -> str:
    del w, when
    return p.sign(kind, intervalId=iv, orderId="new", quantityWh=wh, pricePerKwh=price)


CASES: dict[str, tuple[Callable[[World, Channels], Result], int, str]] = {
    "an order after gate closure": (
        lambda w, led: led.call("market:PlaceOffer", _order(
            w, w.seller, w.open_iv, "offer", 1000, 1000, None), **AGGREGATOR,
            when=at(20) - (at(20) - at(19)) / 6),  # 19:50, gate closed at 19:45
        409, "gate closed"),
    "a bid beyond the buyer's balance": (
        lambda w, led: led.call("market:PlaceBid", _order(
            w, w.buyer, w.open_iv, "bid", 90_000_000, 1500, None), **AGGREGATOR, when=at(18)),
        409, "needs 135000000 tokens"),
    "clearing by a customer": (
        lambda w, led: led.call("market:Clear", w.open_iv, **w.buyer.identity, when=at(20)),
        403, "is not an operator of AggregatorMSP or UtilityMSP or RegulatorMSP"),
    "clearing before gate closure": (
        lambda w, led: led.call("market:Clear", w.open_iv, **REGULATOR, when=at(19)),
        409, "too early"),
    "an order dated before gate closure when every endorser's clock says it is later": (
        lambda w, led: led.call("market:PlaceBid", _order(
            w, w.buyer, w.open_iv, "bid", 1000, 1500, None), **AGGREGATOR, when=at(19),
            clock=at(20)),
        409, "behind this endorser's clock"),
    "settlement submitted by the aggregator": (
        lambda w, led: led.call("market:Settle", w.settled_iv, "{}", **AGGREGATOR,
                                when=at(14)),
        403, "is not an operator of UtilityMSP or RegulatorMSP"),
    "a second settlement of the same interval": (
        lambda w, led: led.call("market:Settle", w.settled_iv, "{}", **UTILITY, when=at(14)),
        409, "settled already"),
    "a VPP payout to a member who never consented": (
        lambda w, led: led.call("market:PayoutVpp", VPP, w.settled_iv, w.stranger.pseudonym,
                                **AGGREGATOR, when=at(14)),
        409, "never consented"),
    "a cancel of someone else's order": (
        lambda w, led: led.call("market:CancelOrder", json.dumps({
            **json.loads(w.seller.sign("cancel", intervalId=w.open_iv, orderId="mine")),
            "message": {"action": "cancel", "pseudonym": w.buyer.pseudonym,
                        "intervalId": w.open_iv, "orderId": "mine"}}),
            **AGGREGATOR, when=at(18)),
        403, "not signed by"),
    "a cancel naming one's own pseudonym and another's order id": (
        lambda w, led: led.call("market:CancelOrder", w.seller.sign(
            "cancel", intervalId=w.open_iv, orderId="mine"), **AGGREGATOR, when=at(18)),
        404, "does not exist"),
    "an order for an interval that does not exist": (
        lambda w, led: led.call("market:PlaceBid", _order(
            w, w.buyer, "mkt1.20250311T1500Z", "bid", 1000, 1500, None), **AGGREGATOR, when=at(1)),
        404, "delivery interval mkt1.20250311T1500Z does not exist"),
    "clearing an interval that does not exist": (
        lambda w, led: led.call("market:Clear", "mkt1.20250311T1500Z", **AGGREGATOR, when=at(16)),
        404, "does not exist"),
    "settling an interval that does not exist": (
        lambda w, led: led.call("market:Settle", "mkt1.20250311T1500Z", "{}", **UTILITY,
                                when=at(16)),
        404, "does not exist"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_a_clear_reason_and_nothing_changed(case: str) -> None:
    w = _world()
    led = _fork(w)
    before, events = led.snapshot(), list(led.events)
    act, status, reason = CASES[case]
    res = act(w, led)
    assert (res.status, reason in res.message) == (status, True), (res.status, res.message)
    assert led.snapshot() == before and led.events == events


def test_the_same_calls_done_right_succeed() -> None:
    # The refusals are about what they name, not the world: the right caller, in time,
    # on its own order, with enough tokens, succeeds.
    w = _world()
    led = _fork(w)
    assert led.call("market:CancelOrder", w.buyer.sign(
        "cancel", intervalId=w.open_iv, orderId="mine"), **AGGREGATOR, when=at(18)).status == 200
    assert led.call("market:PlaceBid", _order(w, w.buyer, w.open_iv, "bid", 1000, 1500, None),
                    **AGGREGATOR, when=at(18)).status == 200
    assert led.call("market:Clear", w.open_iv, **AGGREGATOR, when=at(20)).status == 200
    assert led.call("market:PayoutVpp", VPP, w.settled_iv, w.member.pseudonym, **AGGREGATOR,
                    when=at(14)).status == 200
