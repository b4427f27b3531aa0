"""The market attacked on the real network (issue 17): each test performs one attack, as a
member organisation, a relay or a customer would, and shows it refused (or, where the
network cannot refuse it, harmless), with the ledger unchanged.

The market here runs in real time: its configuration accepts transaction times within the
default 30 s of each endorser's clock. One delivery interval of one minute is traded
through the module, the tests following its life: before gate closure, after it, before
the interval's end and after it. Each test waits for its moment (the whole module: about
three minutes, most of it waiting).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.errors import EndorseError, EvaluateError, GatewayError
from gridledger.clients.market import CustomerConsent, MarketKey
from gridledger.clients.signing import private_key_signer
from gridledger.formats.market import escrow_of, interval_id, pseudonym_for

from .customers import Customer, open_prepaid_account, register_customer
from .gateways import connect
from .market_world import (
    MINUTE,
    SECRET,
    Orgs,
    Participant,
    consent_of,
    join_many,
    meter_record,
    minute_start,
    new_market,
    now,
    submit_readings,
)
from .rogue import modified_chaincode

pytestmark = pytest.mark.integration

SECOND = dt.timedelta(seconds=1)
TOLERANCE = 30  # the market's clockToleranceSeconds: the default
HONEST = "metering,wattcoin,access,market"


@pytest.fixture(scope="module")
def orgs(consortium, utility, regulator) -> Iterator[Orgs]:
    with connect(consortium, "aggregator") as aggregator:
        yield Orgs(utility, regulator, aggregator, consortium.topology.channel)


@dataclass
class Scene:
    market_id: str
    seller: Participant
    buyer: Participant
    member: Participant
    other: Participant
    vpp: str
    iv: str
    start: dt.datetime

    @property
    def gate(self) -> dt.datetime:
        return self.start - 20 * SECOND

    @property
    def end(self) -> dt.datetime:
        return self.start + MINUTE


def _until(when: dt.datetime) -> None:
    """Sleep until ``when`` (the market's moments are real time here)."""
    time.sleep(max(0.0, (when - now()).total_seconds()))


def _reserve(order: dict, interval: dict) -> int:
    """What a bid must hold in escrow, from its state alone: all of it at its limit while
    open; what its fills cost at the price it pays, less what it paid, once cleared;
    nothing once settled, cancelled or unmatched."""
    if order["side"] != "B" or order["status"] in ("cancelled", "unmatched", "settled"):
        return 0
    if order["status"] == "open" and interval["status"] == "open":
        return escrow_of(order["quantityWh"], order["pricePerKwh"])
    price = (interval["clearingPrice"] if interval["marketType"] == "uniform"
             else order["pricePerKwh"])
    return escrow_of(order["filledWh"], price) - order["paid"]


def _assert_escrow_is_the_reserve(orgs: Orgs, scene: Scene) -> None:
    """Issue 17's invariant: escrow = the open orders' reserve, order by order."""
    market = orgs.market("aggregator")
    interval = market.interval(scene.iv)
    for p in (scene.seller, scene.buyer, scene.member, scene.other):
        for order in market.orders_of(p.pseudonym, scene.iv):
            if order.get("side") in ("S", "B"):
                assert order["escrow"] == _reserve(order, interval), (order, interval)


def _refused(call, status: int, reason: str,  # type: ignore[no-untyped-def]
             error: type[GatewayError] = EndorseError) -> GatewayError:
    with pytest.raises(error) as info:
        call()
    assert info.value.chaincode_status == status, info.value
    assert reason in str(info.value), info.value
    return info.value


@pytest.fixture(scope="module")
def scene(consortium, orgs: Orgs) -> Scene:
    market_id = new_market(orgs, "att", tolerance=TOLERANCE)
    seller, buyer, member, other = join_many(consortium, orgs, market_id, 4, prefix="ATT")
    agg = orgs.market("aggregator")
    vpp = "vpp-" + market_id
    agg.create_vpp(vpp, market_id, "Attack Street", 0)
    agg.enrol_vpp_member(vpp, member.key.vpp_consent(vpp, 5000, 0))
    # An interval whose gate closure is at least 70 s away: the first test needs a Clear
    # dated after it to be more than the tolerance ahead of every clock.
    start = minute_start(now() + 90 * SECOND) + MINUTE
    iv = interval_id(market_id, start)
    agg.open_interval(iv, "uniform")
    agg.place_offer(seller.key.order("offer", iv, "sun", 4000, 1000))
    agg.place_bid(buyer.key.order("bid", iv, "use", 4000, 1600))
    orgs.sync()
    return Scene(market_id, seller, buyer, member, other, vpp, iv, start)


# -- before gate closure ---------------------------------------------------------------------


def test_a_clear_dated_after_gate_closure_while_every_clock_says_before_is_refused(
        scene: Scene, orgs: Orgs) -> None:
    # Issue 17, hole 5: the Aggregator clearing early by dating its proposal after gate
    # closure (peers accept 15 minutes of skew; the market accepts 30 s).
    agg = orgs.market("aggregator")
    assert (scene.gate - now()).total_seconds() > TOLERANCE + 5, "the scene took too long"
    _refused(lambda: agg.submit("Clear", scene.iv, at=scene.gate + SECOND), 409,
             "ahead of this endorser's clock")
    _refused(lambda: agg.submit("Clear", scene.iv), 409, "too early")
    assert agg.interval(scene.iv)["status"] == "open"


def test_a_bid_against_ones_own_offer_is_refused(scene: Scene, orgs: Orgs) -> None:
    _assert_escrow_is_the_reserve(orgs, scene)
    agg = orgs.market("aggregator")
    wallet = agg.wallet(scene.seller.pseudonym)
    _refused(lambda: agg.place_bid(scene.seller.key.order("bid", scene.iv, "self", 4000,
                                                          1000)),
             409, "may not trade with itself")
    assert agg.wallet(scene.seller.pseudonym) == wallet


def test_a_vpp_member_selling_its_export_alone_is_refused(scene: Scene, orgs: Orgs) -> None:
    # Issue 17, hole 2: the VPP sells its members' export; a member's own offer or
    # standing offer would sell the same energy a second time.
    agg = orgs.market("aggregator")
    book = agg.book(scene.iv)
    _refused(lambda: agg.place_offer(scene.member.key.order("offer", scene.iv, "alone", 3000,
                                                            1000)),
             409, "sells through VPP")
    _refused(lambda: agg.post_standing_offer(scene.member.key.sign(
        "standing-offer", offerId="so-" + uuid.uuid4().hex[:8], buyer="*", pricePerKwh=1200,
        quantityWh=1000, fromInterval=scene.iv, untilInterval=scene.iv)),
        409, "its export is the VPP's")
    assert agg.book(scene.iv) == book


def test_joining_a_vpp_while_a_standing_offer_is_out_is_refused(scene: Scene,
                                                                 orgs: Orgs) -> None:
    agg = orgs.market("aggregator")
    ahead = interval_id(scene.market_id, scene.start + 5 * MINUTE)
    offer_id = "so-" + uuid.uuid4().hex[:8]
    agg.post_standing_offer(scene.other.key.sign(
        "standing-offer", offerId=offer_id, buyer="*", pricePerKwh=1200, quantityWh=1000,
        fromInterval=scene.iv, untilInterval=ahead))
    members = agg.vpp_members(scene.vpp)["members"]
    _refused(lambda: agg.enrol_vpp_member(scene.vpp, scene.other.key.vpp_consent(
        scene.vpp, 5000, 0)), 409, f"standing offer {offer_id} is not withdrawn")
    assert agg.vpp_members(scene.vpp)["members"] == members


# -- enrolment: the customer's consent, the Regulator's pseudonym -----------------------------


@dataclass
class Newcomer:
    customer: Customer
    meter_id: str
    key: MarketKey
    address: str


def _newcomer(consortium, orgs: Orgs, market_id: str) -> Newcomer:
    """A customer with a meter on the market's tariff and a prepaid account, its pseudonym
    issued by the Regulator, not enrolled."""
    customer = register_customer(consortium, "C-ATT-" + uuid.uuid4().hex[:8])
    meter_id = "ATT-N-" + uuid.uuid4().hex[:8]
    key = ec.generate_private_key(ec.SECP256R1())
    orgs.metering().register_meter(meter_record(meter_id, customer.customer_id, key))
    address = open_prepaid_account(consortium, customer)
    orgs.sync()
    orgs.wattcoin().mint(address, 50_000, "PAY-" + meter_id)
    pseudonym = pseudonym_for(SECRET, "UtilityMSP", customer.customer_id)
    orgs.market("regulator").record_pseudonym(pseudonym, customer.customer_id)
    orgs.sync()
    return Newcomer(customer, meter_id, MarketKey.generate(pseudonym), address)


def test_enrolling_a_customers_meter_without_its_consent_is_refused(
        consortium, scene: Scene, orgs: Orgs) -> None:
    # Issue 17, hole 7: a market key signs anything its holder likes; only the customer's
    # own key (the one that controls its paying account) consents.
    reg = orgs.market("regulator")
    new = _newcomer(consortium, orgs, scene.market_id)
    bare = json.loads(new.key.sign("enrol", marketId=scene.market_id, meterId=new.meter_id,
                                   publicKeyPem=new.key.public_pem))
    _refused(lambda: reg.enrol(json.dumps(bare)), 400, "consent")
    # The Utility's own operator "consenting" for the customer, or any other key: no.
    with connect(consortium, "utility") as utility_admin:
        operator = CustomerConsent.of_identity(utility_admin.identity.certificate,
                                               utility_admin.sign)
    for consent in (operator, CustomerConsent.of_identity(
            new.customer.enrollment.certificate,
            private_key_signer(ec.generate_private_key(ec.SECP256R1())))):
        _refused(lambda c=consent: reg.enrol(new.key.enrolment(scene.market_id, new.meter_id,
                                                               c)),
                 403, "consent of the meter's customer")
    # None of it linked the meter: no deposit can be funded for the pseudonym, and the
    # market channel knows nothing of it.
    _refused(lambda: orgs.market("utility").deposit(new.key.deposit(10)), 404,
             f"{new.key.pseudonym} is not linked to a meter")
    _refused(lambda: orgs.market("aggregator").participant(new.key.pseudonym), 404,
             f"market participant {new.key.pseudonym} does not exist", EvaluateError)
    # With its consent, it is enrolled.
    reg.enrol(new.key.enrolment(scene.market_id, new.meter_id, consent_of(new.customer)))


def test_a_pseudonym_issued_to_another_customer_cannot_carry_this_meter(
        consortium, scene: Scene, orgs: Orgs) -> None:
    # Reviewer finding: the Regulator's peer, the only one that reads to whom it issued a
    # pseudonym, refuses a meter of someone else under it.
    reg = orgs.market("regulator")
    new = _newcomer(consortium, orgs, scene.market_id)
    somebody = "C-ATT-OTHER-" + uuid.uuid4().hex[:6]
    theirs = pseudonym_for(SECRET, "UtilityMSP", somebody)
    reg.record_pseudonym(theirs, somebody)
    orgs.sync()
    stolen = MarketKey(theirs, new.key.key)
    _refused(lambda: reg.enrol(stolen.enrolment(scene.market_id, new.meter_id,
                                                consent_of(new.customer))),
             403, "issued to another customer")


# -- after gate closure ---------------------------------------------------------------------


def test_an_order_back_dated_to_before_gate_closure_after_it_passed_is_refused(
        scene: Scene, orgs: Orgs) -> None:
    # Issue 17, hole 5: a relay slipping an order into the book after gate closure by
    # dating it just before.
    _until(scene.gate + (TOLERANCE + 5) * SECOND)
    agg = orgs.market("aggregator")
    book = agg.book(scene.iv)
    _refused(lambda: agg.place_bid(scene.other.key.order("bid", scene.iv, "late", 1000, 1600),
                                   at=scene.gate - 5 * SECOND),
             409, "behind this endorser's clock")
    _refused(lambda: agg.place_bid(scene.other.key.order("bid", scene.iv, "late", 1000, 1600)),
             409, "too late")
    assert agg.book(scene.iv) == book
    # Clearing is anyone's now: the Regulator's operator clears it.
    orgs.market("regulator").clear(scene.iv)
    assert agg.interval(scene.iv)["status"] == "cleared"
    _assert_escrow_is_the_reserve(orgs, scene)


def test_settling_before_delivery_ends_is_refused(scene: Scene, orgs: Orgs) -> None:
    util = orgs.market("utility")
    assert (scene.end - now()).total_seconds() > TOLERANCE + 2, "too late for this test"
    plan = json.dumps(util.plan(scene.iv), separators=(",", ":"))
    _refused(lambda: util.submit("Settle", scene.iv, plan), 409, "too early")
    _refused(lambda: util.submit("Settle", scene.iv, plan, at=scene.end + SECOND), 409,
             "ahead of this endorser's clock")
    assert orgs.market("aggregator").interval(scene.iv)["status"] == "cleared"


# -- after delivery ----------------------------------------------------------------------------


SELLER_EXPORT, BUYER_IMPORT = 2467, 3911  # Wh: numbers nothing else on the ledger has


def test_settling_before_the_sellers_meter_reported_is_refused_even_by_a_modified_utility(
        consortium, scene: Scene, orgs: Orgs) -> None:
    # Issue 17, hole 5: a missing record would count as nothing delivered, and the Utility
    # would keep the retail price of the buyer's whole import. The Regulator's peer checks
    # the same evidence on its own records, so a Utility running modified code cannot
    # settle either.
    _until(scene.end + 2 * SECOND)
    submit_readings(orgs, [scene.buyer.reading(scene.end, BUYER_IMPORT, 0)])
    util = orgs.market("utility")
    plan = util.plan(scene.iv)
    assert plan["incomplete"] == [scene.seller.pseudonym]
    _refused(lambda: util.settle(scene.iv), 409, "have not reported through the end")
    with modified_chaincode(consortium, "utility", "tests.integration.rogue_market_eager",
                            chaincode="market"):
        err = _refused(lambda: util.settle(scene.iv), 409, "have not reported through the end")
        assert "RegulatorMSP" in str(err)  # the Regulator's endorser said it
    assert orgs.market("aggregator").interval(scene.iv)["status"] == "cleared"


def test_the_aggregators_chaincode_gets_what_the_trades_delivered_and_no_meter_record(
        consortium, scene: Scene, orgs: Orgs, tmp_path: Path) -> None:
    # Issue 17, hole 4: whatever reaches the Aggregator's chaincode server it may keep. An
    # Aggregator running code that keeps every settlement's transient data finds the
    # delivered energy of each trade, and no import or export of any meter.
    submit_readings(orgs, [scene.seller.reading(scene.end, 0, SELLER_EXPORT)])
    log = tmp_path / "aggregator-kept.jsonl"
    with modified_chaincode(consortium, "aggregator", "tests.integration.rogue_market",
                            chaincode="market", env={"GRIDLEDGER_ROGUE_LOG": str(log)}):
        (page,) = orgs.market("utility").settle(scene.iv)
    (trade,) = page["trades"]
    assert trade["deliveredWh"] == min(4000, SELLER_EXPORT, BUYER_IMPORT)
    kept = [json.loads(line) for line in log.read_text().splitlines()]
    assert kept, "the modified chaincode saw no settlement"
    seen = b"".join(base64.b64decode(v) for entry in kept
                    for v in entry["transient"].values())
    assert b"importWh" not in seen and b"exportWh" not in seen
    assert str(BUYER_IMPORT).encode() not in seen  # the buyer's import stayed private
    assert orgs.market("aggregator").interval(scene.iv)["status"] == "settled"
    _assert_escrow_is_the_reserve(orgs, scene)


# -- pseudonyms that change --------------------------------------------------------------------


def test_a_customer_retires_its_pseudonym_and_trades_on_under_a_new_one(
        consortium, scene: Scene, orgs: Orgs) -> None:
    # Issue 17, hole 3: one pseudonym need not link every interval of a customer's life.
    reg, util = orgs.market("regulator"), orgs.market("utility")
    new = _newcomer(consortium, orgs, scene.market_id)
    reg.enrol(new.key.enrolment(scene.market_id, new.meter_id, consent_of(new.customer)))
    util.deposit(new.key.deposit(5_000))
    ahead = interval_id(scene.market_id, minute_start(now()) + 10 * MINUTE)
    orgs.market("aggregator").open_interval(ahead, "uniform")
    orgs.market("aggregator").place_bid(new.key.order("bid", ahead, "b", 1000, 1500))
    # Not while an order of it is still to come: its meter would stop feeding its records.
    _refused(lambda: util.retire(new.key.retirement()), 409, "still to come")
    orgs.market("aggregator").cancel(new.key.cancel(ahead, "b"))
    balance = orgs.wattcoin().balance(new.address)["balance"]
    steps = util.retire(new.key.retirement())
    assert list(steps) == ["RetireParticipant", "UnlinkParticipant", "RedeemPayout"]
    assert util.wallet(new.key.pseudonym)["available"] == 0
    # Its 5,000 free tokens went back into the customer's account, across the channels.
    assert orgs.wattcoin().balance(new.address)["balance"] == balance + 5_000
    _refused(lambda: util.deposit(new.key.deposit(10)), 409, "retired")
    # The Regulator issues the customer's next pseudonym; the meter trades under it.
    second = pseudonym_for(SECRET, "UtilityMSP", new.customer.customer_id, epoch=2)
    reg.record_pseudonym(second, new.customer.customer_id)
    orgs.sync()
    key2 = MarketKey.generate(second)
    reg.enrol(key2.enrolment(scene.market_id, new.meter_id, consent_of(new.customer)))
    assert second != new.key.pseudonym and util.wallet(second)["available"] == 0
