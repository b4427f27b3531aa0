"""Malformed market messages and documents are the caller's mistake: 200 or a 4xx with a
reason, never a 500, and a refusal changes nothing. Each message is mutated (a member
replaced by any JSON value, dropped, or added) and signed again with the participant's
key, so the member's own check is reached, not only the signature's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridledger.formats.market import sign_message

from .helpers import AGGREGATOR, REGULATOR, UTILITY, at
from .test_refusals import VPP, World, _fork, _world

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
    | st.sampled_from(["", "p-" + "a" * 24, "mkt1.20250311T2000Z", "9999-12-31T23:59:59Z",
                       "\ud800", "\x00", "*", "vpp-x", "🙂" * 3]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=3),
    max_leaves=6)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _messages(w: World) -> dict[str, tuple[str, Any, Callable[[dict], tuple[str, ...]]]]:
    """contract:function -> (signer, message, the call's arguments from the signed
    envelope)."""
    b, s, iv = w.buyer, w.seller, w.open_iv
    order = {"intervalId": iv, "orderId": "fuzz", "quantityWh": 1000, "pricePerKwh": 1500}
    one = lambda env: (json.dumps(env),)  # noqa: E731
    enrol = {"action": "enrol", "marketId": "mkt1", "meterId": "m-c-b", "publicKeyPem": b.pem}
    return {
        "market:PlaceOffer": (s, {"action": "offer", **order}, one),
        "market:PlaceBid": (b, {"action": "bid", **order}, one),
        "market:CancelOrder": (b, {"action": "cancel", "intervalId": iv, "orderId": "mine"},
                               one),
        "marketlink:FundMarket": (b, {"action": "deposit", "amount": 5, "requestId": "fz"},
                                  one),
        "market:Withdraw": (b, {"action": "withdraw", "amount": 5, "requestId": "fz"}, one),
        "market:EnrolVppMember": (s, {"action": "vpp-join", "vppId": VPP, "capacityWh": 10,
                                      "commissionBp": 0, "sharesExport": True},
                                  lambda env: (VPP, json.dumps(env))),
        "market:LeaveVpp": (w.member, {"action": "vpp-leave", "vppId": VPP},
                            lambda env: (VPP, json.dumps(env))),
        "market:PostStandingOffer": (s, {"action": "standing-offer", "offerId": "fz",
                                         "buyer": "*", "pricePerKwh": 1200, "quantityWh": 10,
                                         "fromInterval": iv, "untilInterval": iv}, one),
        "market:AcceptStandingOffer": (b, {"action": "accept", "offerId": "fz",
                                           "acceptId": "fz", "intervalId": iv,
                                           "quantityWh": 10}, one),
        "market:WithdrawStandingOffer": (s, {"action": "withdraw-offer", "offerId": "fz"},
                                         one),
        "market:EnrolParticipant": (b, enrol, one),
        "marketlink:LinkParticipant": (b, enrol, one),
    }


FUNCTIONS = sorted(_messages(_world()))
WHO = {"marketlink:FundMarket": UTILITY, "market:Withdraw": UTILITY,
       "market:EnrolParticipant": REGULATOR, "marketlink:LinkParticipant": REGULATOR}


def _mutations(message: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = [*sorted(message), "pseudonym"]
    replace = st.tuples(st.sampled_from(keys), ANY_JSON).map(
        lambda kv: {**message, kv[0]: kv[1]})
    drop = st.sampled_from(keys).map(lambda k: {m: v for m, v in message.items() if m != k})
    add = st.tuples(st.text(max_size=6), ANY_JSON).map(lambda kv: {**message, kv[0]: kv[1]})
    return replace | drop | add


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_mutated_signed_message_is_refused_with_a_reason_never_a_500(function: str) -> None:
    w = _world()
    signer, message, args = _messages(w)[function]

    @SETTINGS
    @given(_mutations({**message, "pseudonym": signer.pseudonym}))
    def check(mutated: dict[str, Any]) -> None:
        led = _fork(w)
        before = led.snapshot()
        try:
            envelope = {"message": mutated,
                        "signature": sign_message(signer.key, mutated)["signature"]}
        except ValueError:  # not signable (a NaN, a lone surrogate, another action)
            envelope = {"message": mutated, "signature": "AAAA"}
        try:
            call_args = args(envelope)
        except ValueError:
            call_args = (json.dumps(envelope, ensure_ascii=True),)
        res = led.call(function, *call_args, **WHO.get(function, AGGREGATOR), when=at(18))
        assert res.status == 200 or (400 <= res.status < 500 and res.message), (
            res.status, res.message, mutated)
        if res.status != 200:
            assert led.snapshot() == before

    check()


@pytest.mark.parametrize(("function", "args", "who"), [
    ("ConfigureMarket", ("{}",), AGGREGATOR),
    ("CreateVpp", ('{"vppId": "vpp-a", "marketId": "mkt1", "name": "", "commissionBp": 1}',),
     AGGREGATOR),
    ("CreateVpp", ('{"vppId": "a", "marketId": "mkt1", "name": "x", "commissionBp": 1}',),
     AGGREGATOR),
    ("CreateVpp", ('{"vppId": "vpp-a", "marketId": "mkt1", "name": "x", '
                   '"commissionBp": 10001}',), AGGREGATOR),
    ("CreateVpp", ('{"vppId": "vpp-a", "marketId": "nowhere", "name": "x", '
                   '"commissionBp": 1}',), AGGREGATOR),
    ("OpenInterval", ("20250311T2300Z", "uniform"), AGGREGATOR),
    ("MarketConfig", ("mkt.1",), AGGREGATOR),
    ("Settle", ("mkt1.20250311T2000Z", "[]"), UTILITY),
    ("Settle", ("mkt1.20250311T1000Z", '{"p": 7}'), UTILITY),
    ("marketlink:DeliveryRecords", ("mkt1.20250311T1000Z", '"p"'), UTILITY),
    ("marketlink:DeliveryRecords", ("mkt1.20250311T1000Z", "[1]"), UTILITY),
    ("market:Deposit", ("p-" + "a" * 24, "no-such-voucher"), UTILITY),
    ("marketlink:RedeemPayout", ("p-" + "a" * 24, "no~payout"), UTILITY),
    ("marketlink:TariffVersion", ("MKT", "yesterday"), AGGREGATOR),
    ("OpenInterval", ("mkt1.20250311T2030Z", "uniform"), AGGREGATOR),
    ("OpenInterval", ("mkt1.20250311T2300Z", "dutch"), AGGREGATOR),
    ("PlaceVppOffer", (VPP, "mkt1.20250311T2000Z", "x", "-1", "1000"), AGGREGATOR),
    ("PlaceVppOffer", (VPP, "mkt1.20250311T2000Z", "x~y", "1", "1000"), AGGREGATOR),
    ("ClearingPrices", ("x", "mkt1.20250311T2000Z"), AGGREGATOR),
    ("OrdersOf", ("nobody", ""), AGGREGATOR),
    ("TradesOf", ("p-" + "a" * 24, "2025"), AGGREGATOR),
    ("MarketWallet", ("vpp-", ), AGGREGATOR),
    ("ResolvePseudonym", ("",), {"msp": "RegulatorMSP", "name": "r"}),
    ("RequestResolution", ("p-" + "a" * 24, "x"), {"msp": "RegulatorMSP", "name": "r"}),
])
def test_malformed_documents_are_400s(function: str, args: tuple[str, ...], who: dict) -> None:
    led = _fork(_world())
    before = led.snapshot()
    name = function if ":" in function else f"market:{function}"
    res = led.call(name, *args, **who, when=at(18))
    assert 400 <= res.status < 500 and res.message, (res.status, res.message)
    assert led.snapshot() == before
