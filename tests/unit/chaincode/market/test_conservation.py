"""Tokens are never created or destroyed: Wattcoin's invariant with market wallets beside
the accounts, after long random sequences of deposits, withdrawals, offers, bids, cancels,
standing offers, VPP offers, clearing, delivery, settlement and payouts.

    accounts:  sum(minted) + sum(returned) + sum(fromMarket) == sum(balance) + sum(paid)
                                                                + sum(toMarket)
    market:    deposited - withdrawn + utilityReturned - utilityPaid
                   == available + escrow + VPP proceeds not paid out
    between:   sum(toMarket) - sum(fromMarket) == deposited - withdrawn
                   + vouchers funded, not yet credited + payouts made, not yet redeemed

(a deposit and a withdrawal are two transactions, one per channel: the random runs leave
some halfway, then finish them)
and once every interval is settled and paid out, no token is held anywhere but in an
account or a market wallet.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import AGGREGATOR, FEED_IN, MARKET_ID, RETAIL, MarketWorld, at

PEOPLE = ("c-0", "c-1", "c-2", "c-3")
MEMBERS = ("c-4", "c-5")
VPP = "vpp-prop"
HOURS = (10, 11, 12)

prices = st.integers(FEED_IN, RETAIL)
amounts = st.integers(1, 60_000)
ops = st.lists(st.one_of(
    st.tuples(st.just("deposit"), st.sampled_from(PEOPLE), amounts),
    st.tuples(st.just("withdraw"), st.sampled_from(PEOPLE), amounts),
    st.tuples(st.just("offer"), st.sampled_from(PEOPLE), st.sampled_from(HOURS),
              st.integers(1, 9000), prices),
    st.tuples(st.just("bid"), st.sampled_from(PEOPLE), st.sampled_from(HOURS),
              st.integers(1, 9000), prices),
    st.tuples(st.just("cancel"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("vpp"), st.sampled_from(HOURS), st.integers(1, 4000), prices),
    st.tuples(st.just("accept"), st.sampled_from(PEOPLE), st.sampled_from(HOURS),
              st.integers(1, 3000)),
    st.tuples(st.just("advance"),),
    st.tuples(st.just("finish"),),
), min_size=10, max_size=45)


def _check(w: MarketWorld, in_flight: int = 0) -> dict:
    """The invariants; ``in_flight``: tokens between the channels (vouchers not yet
    credited, payouts not yet redeemed: out of the accounts, not in a wallet)."""
    wc = w.ledger.ok("wattcoin:UtilityAccount")
    assert (wc["minted"] + wc["returned"] + wc["fromMarket"]
            == wc["balance"] + wc["paid"] + wc["toMarket"])
    assert wc["charged"] - wc["refunded"] == wc["paid"] - wc["returned"] + wc["arrears"]
    mk = w.totals()
    assert mk["balanced"], mk
    assert (wc["toMarket"] - wc["fromMarket"]
            == mk["deposited"] - mk["withdrawn"] + in_flight)
    for state_key, raw in w.ledger.state.items():
        if state_key.startswith(("mktpo~", "mktbil~")):
            assert json.loads(raw)["escrow"] >= 0, state_key
    for p in w.people.values():
        assert w.wallet(p) >= 0
    return {"wattcoin": wc, "market": mk}


class Run:
    """The random run: intervals go open -> cleared -> delivered -> settled -> paid."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.w = MarketWorld()
        for c in PEOPLE + MEMBERS:
            self.w.join(c, tokens=40_000)
        self.w.ledger.ok("market:CreateVpp", json.dumps({
            "vppId": VPP, "marketId": MARKET_ID, "name": "prop", "commissionBp": 1500}),
            **AGGREGATOR, when=at(0))
        for c in MEMBERS:
            self.w.ledger.ok("market:EnrolVppMember", VPP, self.w.people[c].sign(
                "vpp-join", vppId=VPP, capacityWh=4000, commissionBp=1500, sharesExport=True),
                **AGGREGATOR, when=at(0))
        self.ivs = {h: self.w.open(at(h), data.draw(st.sampled_from(["uniform",
                                                                     "pay-as-bid"])))
                    for h in HOURS}
        self.stage = dict.fromkeys(HOURS, 0)
        self.n = 0
        # Halves still to run on the other channel: (function, pseudonym, request id,
        # amount), a voucher to credit or a payout to redeem.
        self.pending: list[tuple[str, str, str, int]] = []
        self.orders: dict[str, list[tuple[str, str]]] = {c: [] for c in PEOPLE}
        self.w.ledger.ok("market:PostStandingOffer", self.w.people["c-0"].sign(
            "standing-offer", offerId="so", buyer="*", pricePerKwh=1500, quantityWh=5000,
            fromInterval=self.ivs[10], untilInterval=self.ivs[12]), **AGGREGATOR, when=at(1))

    def apply(self, op: tuple) -> None:
        w, kind = self.w, op[0]
        self.n += 1
        if kind in ("deposit", "withdraw"):
            p = w.people[op[1]]
            text = p.request(kind, op[2])
            first = "marketlink:FundMarket" if kind == "deposit" else "market:Withdraw"
            res = w.ledger.call(first, text)
            assert res.status in (200, 409), res.message
            if res.status == 200:
                second = "market:Deposit" if kind == "deposit" else "marketlink:RedeemPayout"
                self.pending.append((second, p.pseudonym, json.loads(text)["message"][
                    "requestId"], op[2]))
        elif kind == "finish":
            self.finish()
        elif kind in ("offer", "bid"):
            res = w.order(kind, w.people[op[1]], self.ivs[op[2]], f"o{self.n}", op[3], op[4],
                          when=at(op[2]) - 2 * (at(1) - at(0)) / 3)
            assert res.status in (200, 409), res.message
            if res.status == 200:
                self.orders[op[1]].append((self.ivs[op[2]], f"o{self.n}"))
        elif kind == "cancel" and self.orders[op[1]]:
            iv, order_id = self.orders[op[1]].pop()
            res = w.ledger.call("market:CancelOrder", w.people[op[1]].sign(
                "cancel", intervalId=iv, orderId=order_id), **AGGREGATOR,
                when=at(int(iv[9:11])) - (at(1) - at(0)) / 2)
            assert res.status in (200, 409), res.message
        elif kind == "vpp":
            res = w.ledger.call("market:PlaceVppOffer", VPP, self.ivs[op[1]], f"v{self.n}",
                                str(op[2]), str(op[3]), **AGGREGATOR, when=at(op[1] - 1))
            assert res.status in (200, 409), res.message
        elif kind == "accept":
            res = w.ledger.call("market:AcceptStandingOffer", w.people[op[1]].sign(
                "accept", offerId="so", acceptId=f"a{self.n}", intervalId=self.ivs[op[2]],
                quantityWh=op[3]), **AGGREGATOR, when=at(op[2] - 1))
            assert res.status in (200, 409), res.message
        elif kind == "advance":
            self.advance()

    @property
    def in_flight(self) -> int:
        return sum(amount for _, _, _, amount in self.pending)

    def finish(self) -> None:
        """Run the pending halves on their channels, each once."""
        for fn, pseudonym, request_id, _ in self.pending:
            self.w.ledger.ok(fn, pseudonym, request_id)
        self.pending.clear()

    def advance(self) -> bool:
        """Move the first unfinished interval one stage on; False when all are done."""
        hour = next((h for h in HOURS if self.stage[h] < 4), None)
        if hour is None:
            return False
        w, iv, stage = self.w, self.ivs[hour], self.stage[hour]
        if stage == 0:
            w.clear(iv)
        elif stage == 1:
            flows = {c: (self.data.draw(st.integers(0, 8000)), self.data.draw(
                st.integers(0, 8000))) for c in PEOPLE + MEMBERS}
            w.deliver(at(hour), flows)
        elif stage == 2:
            w.settle(iv, when=at(14))
        else:
            payouts = w.ledger.ok("market:VppPayouts", VPP, iv)
            for who in [*payouts["members"], VPP] if payouts["members"] else []:
                w.ledger.ok("market:PayoutVpp", VPP, iv, who, **AGGREGATOR, when=at(15))
        self.stage[hour] += 1
        return True


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops, st.data())
def test_no_token_is_created_or_destroyed(sequence: list[tuple], data: st.DataObject) -> None:
    run = Run(data)
    for op in sequence:
        run.apply(op)
        _check(run.w, run.in_flight)
    while run.advance():
        _check(run.w, run.in_flight)
    run.finish()
    sums = _check(run.w)
    wc, mk = sums["wattcoin"], sums["market"]
    assert mk["escrow"] == 0 and mk["vppUnpaid"] == 0
    # Every token minted is in an account or a market wallet, or was paid to the utility
    # (net of what it paid back, on either side).
    utility = wc["paid"] - wc["returned"] + mk["utilityPaid"] - mk["utilityReturned"]
    assert wc["minted"] == wc["balance"] + mk["available"] + utility
