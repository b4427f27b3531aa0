"""The market's part of the authorization matrix on the real network
(tests/integration/test_authorization.py): market records of every kind, and arguments for
every market function that get an allowed caller past its check and succeed.

The matrix has a market of its own (one-minute intervals, gate closure 20 s before each;
market_world.py says why). Around this minute M: DONE M-8 and DONE2 M-9 settled (its VPP
sold in both), CLEARED and CLEARED2 M-6 and M-5 cleared and delivered, GATE, GATE2 and
GATE3 M-2 to M gate closed and not cleared, OPEN M+14 open for orders (the matrix must be
done within its gate closure), NEW M+15 not opened. Functions several kinds of caller may
call and that can succeed once only (Clear, Settle, PayoutVpp) get an interval or a payee
of each caller's own, so that every allowed cell really succeeds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.market import MarketKey
from gridledger.formats.market import interval_id, pseudonym_for
from gridledger.network.consortium import Consortium

from .market_world import (
    MINUTE,
    SECRET,
    Orgs,
    Participant,
    consent_of,
    join,
    meter_record,
    minute_start,
    new_market,
    now,
    submit_readings,
)

COMMISSION_BP = 1000


@dataclass
class MatrixMarket:
    market_id: str
    people: list[Participant]
    fresh: Participant  # pseudonym issued, not linked
    linked: Participant  # linked on the energy channel, not enrolled on the market channel
    retired: Participant  # retired on the market channel, still linked
    vpp: str
    ivs: dict[str, str]
    audit_id: str
    records: str  # the pseudonyms of CLEARED's first settlement page
    plans: dict[str, str]  # SettlementPlan of CLEARED's and CLEARED2's first page
    voucher: str = ""  # p1's deposit funded on the energy channel, not credited
    payout: str = ""  # p1's withdrawal paid out on the market channel, not redeemed
    # Signed messages whose flows span both channels and that the world or the matrix
    # leaves half done, by flow (deposit, withdraw, retire): finish() completes them.
    halves: dict[str, list[str]] = field(default_factory=dict)
    cells: dict[str, str] = field(default_factory=dict)  # the matrix's message per flow

    def _half(self, flow: str, make: Callable[[], str]) -> str:
        """One signed message per flow for every caller kind's cell: only the allowed
        caller's call writes, and finish() completes what it left."""
        if flow not in self.cells:
            self.cells[flow] = make()
            self.halves.setdefault(flow, []).append(self.cells[flow])
        return self.cells[flow]

    def finish(self, orgs: Orgs) -> None:
        """Complete every cross-channel flow the world and the matrix left half done, so
        the modules after this one find the channels' money agreeing: the tokens out of
        the accounts (``toMarket - fromMarket``) equal the wallets' deposits less their
        withdrawals (test_market checks it)."""
        util = orgs.market("utility")
        for flow in ("deposit", "withdraw", "retire"):
            for signed in self.halves.get(flow, []):
                getattr(util, flow)(signed)

    def args(self, function: str, kind: str) -> tuple[str, ...]:
        p1, p2, p4, p5, p6 = self.people
        iv = self.ivs
        own = {"regulator-operator": "2", "aggregator-operator": "3"}.get(kind, "")
        settles = {"regulator-operator": "CLEARED2"}.get(kind, "CLEARED")
        payout = {"utility-operator": (iv["DONE"], p4.pseudonym),
                  "regulator-operator": (iv["DONE"], self.vpp),
                  "aggregator-operator": (iv["DONE2"], p4.pseudonym)}.get(
            kind, (iv["DONE"], p4.pseudonym))
        order = {"intervalId": iv["OPEN"], "orderId": "m" + uuid.uuid4().hex[:8],
                 "quantityWh": 1000, "pricePerKwh": 1000}
        newcomer = "C-AZ-NEW-" + uuid.uuid4().hex[:6]
        return {
            "ConfigureMarket": (json.dumps({"marketId": self.market_id, "intervalSeconds": 60,
                                            "gateClosureSeconds": 20, "tariffId": "MKT-IT"}),),
            "RecordPseudonym": (pseudonym_for(SECRET, "UtilityMSP", newcomer), newcomer),
            "LinkParticipant": (self.fresh.key.enrolment(self.market_id, self.fresh.meter_id,
                                                         consent_of(self.fresh.customer)),),
            "EnrolParticipant": (self.linked.key.enrolment(
                self.market_id, self.linked.meter_id, consent_of(self.linked.customer)),),
            "UnlinkParticipant": (self.retired.pseudonym,),
            "FundMarket": (self._half("deposit", lambda: p1.key.deposit(10)),),
            "RedeemPayout": (p1.pseudonym, self.payout),
            "Link": (p1.pseudonym,),
            "Voucher": (p1.pseudonym, self.voucher),
            "HoldsCustomerData": (),
            "PseudonymHolder": (p1.pseudonym,),
            "TariffVersion": ("MKT-IT", "2025-06-01T00:00:00Z"),
            "Participant": (p1.pseudonym,),
            "Payout": (p1.pseudonym, self.payout),
            "RetireParticipant": (self._half("retire", p6.key.retirement),),
            "Deposit": (p1.pseudonym, self.voucher),
            "Withdraw": (self._half("withdraw", lambda: p1.key.withdrawal(10)),),
            "OpenInterval": (iv["NEW"], "uniform"),
            "PlaceOffer": (p1.key.sign("offer", **order),),
            "PlaceBid": (p2.key.sign("bid", **order),),
            "CancelOrder": (p2.key.cancel(iv["OPEN"], "open-bid"),),
            "Clear": (iv["GATE" + own],),
            "SettlementNeeds": (iv["CLEARED"],),
            "DeliveryRecords": (iv["CLEARED"], self.records),
            "SettlementPlan": (iv["CLEARED"],),
            "Settle": (iv[settles], self.plans[settles]),
            "RequestResolution": (p1.pseudonym, "quarterly audit"),
            "ResolvePseudonym": (self.audit_id,),
            "CreateVpp": (json.dumps({"vppId": "vpp-az-" + uuid.uuid4().hex[:6],
                                      "marketId": self.market_id, "name": "New",
                                      "commissionBp": 500}),),
            "EnrolVppMember": (self.vpp, p5.key.vpp_consent(self.vpp, 2000, COMMISSION_BP)),
            "LeaveVpp": (self.vpp, p4.key.vpp_leave(self.vpp)),
            "PlaceVppOffer": (self.vpp, iv["OPEN"], "v" + uuid.uuid4().hex[:8], "1000", "1000"),
            "PayoutVpp": (self.vpp, *payout),
            "VppMembers": (self.vpp,),
            "PostStandingOffer": (p1.key.sign(
                "standing-offer", offerId="so-" + uuid.uuid4().hex[:8], buyer="*",
                pricePerKwh=1200, quantityWh=1000, fromInterval=iv["OPEN"],
                untilInterval=iv["NEW"]),),
            "AcceptStandingOffer": (p2.key.sign(
                "accept", offerId="so-" + self.vpp, acceptId="ax" + uuid.uuid4().hex[:6],
                intervalId=iv["OPEN"], quantityWh=500),),
            "WithdrawStandingOffer": (p1.key.sign("withdraw-offer", offerId="so-" + self.vpp),),
            "MarketConfig": (self.market_id,),
            "GetInterval": (iv["DONE"],),
            "OrderBook": (iv["OPEN"],),
            "ClearingPrices": (iv["DONE"], iv["OPEN"]),
            "OrdersOf": (p1.pseudonym, ""),
            "TradesOf": (p2.pseudonym, iv["DONE"]),
            "VppPayouts": (self.vpp, iv["DONE"]),
            "MarketWallet": (p1.pseudonym,),
            "MarketTotals": (),
            "AuditLog": (),
        }[function]


def matrix_market(net: Consortium, orgs: Orgs) -> MatrixMarket:
    """Build the market's part of the matrix world on the ledger."""
    market_id = new_market(orgs, "az")
    p1, p2, p4, p5, p6, p7 = (join(net, orgs, market_id, prefix="AZ") for _ in range(6))
    fresh = _issued_only(orgs, p5)
    linked = _issued_only(orgs, p6)
    orgs.market("regulator").link_submit("LinkParticipant", linked.key.enrolment(
        market_id, linked.meter_id, consent_of(linked.customer)))
    util_ = orgs.market("utility")
    retirement = p7.key.retirement()
    util_.submit("RetireParticipant", retirement)
    voucher = p1.key.deposit(10)
    util_.link_submit("FundMarket", voucher)
    payout = p1.key.withdrawal(10)
    util_.submit("Withdraw", payout)
    agg, util = orgs.market("aggregator"), orgs.market("utility")
    m = minute_start(now())
    starts = {"DONE2": m - 9 * MINUTE, "DONE": m - 8 * MINUTE, "CLEARED": m - 6 * MINUTE,
              "CLEARED2": m - 5 * MINUTE, "GATE": m - 2 * MINUTE, "GATE2": m - MINUTE,
              "GATE3": m, "OPEN": m + 14 * MINUTE, "NEW": m + 15 * MINUTE}
    ivs = {k: interval_id(market_id, v) for k, v in starts.items()}
    for name, start in starts.items():
        if name != "NEW":
            agg.open_interval(ivs[name], "uniform", at=min(start - MINUTE, now()))
    vpp = "vpp-az-" + uuid.uuid4().hex[:6]
    agg.create_vpp(vpp, market_id, "Matrix", COMMISSION_BP)
    agg.submit("EnrolVppMember", vpp, p4.key.vpp_consent(vpp, 3000, COMMISSION_BP),
               at=starts["DONE2"] - 2 * MINUTE)
    for name in ("DONE2", "DONE", "CLEARED", "CLEARED2"):
        at, iv = starts[name] - MINUTE / 2, ivs[name]
        agg.place_offer(p1.key.order("offer", iv, "o", 1000, 900), at=at)
        agg.place_bid(p2.key.order("bid", iv, "b", 3000, 1500), at=at)
        if name.startswith("DONE"):
            agg.place_vpp_offer(vpp, iv, "v", 2000, 1000, at=at)
        agg.clear(iv)
        submit_readings(orgs, [
            p1.reading(starts[name] + MINUTE, 0, 1000),
            p2.reading(starts[name] + MINUTE, 3000, 0),
            p4.reading(starts[name] + MINUTE, 0, 2000)])
    for name in ("DONE2", "DONE"):
        util.settle(ivs[name])
    for name in ("GATE", "GATE2", "GATE3"):
        agg.place_offer(p1.key.order("offer", ivs[name], "g", 1000, 900),
                        at=starts[name] - MINUTE / 2)
    agg.place_bid(p2.key.order("bid", ivs["OPEN"], "open-bid", 1000, 1500))
    agg.post_standing_offer(p1.key.sign(
        "standing-offer", offerId="so-" + vpp, buyer="*", pricePerKwh=1200, quantityWh=2000,
        fromInterval=ivs["OPEN"], untilInterval=ivs["NEW"]))
    audit_id = orgs.market("regulator").request_resolution(p2.pseudonym,
                                                           "complaint 17")["auditId"]
    orgs.sync()
    need = util.evaluate("SettlementNeeds", ivs["CLEARED"])
    plans = {name: json.dumps(util.plan(ivs[name]), separators=(",", ":"))
             for name in ("CLEARED", "CLEARED2")}
    return MatrixMarket(market_id, [p1, p2, p4, p5, p6], fresh, linked, p7, vpp, ivs,
                        audit_id, json.dumps(sorted(need["pseudonyms"])), plans,
                        json.loads(voucher)["message"]["requestId"],
                        json.loads(payout)["message"]["requestId"],
                        {"deposit": [voucher], "withdraw": [payout], "retire": [retirement]})


def _issued_only(orgs: Orgs, p: Participant) -> Participant:
    """For EnrolParticipant: a second meter of ``p``'s customer, and a second pseudonym,
    issued by the Regulator, never enrolled."""
    meter_key = ec.generate_private_key(ec.SECP256R1())
    meter_id = "AZ-M2-" + uuid.uuid4().hex[:8]
    orgs.metering().register_meter(meter_record(meter_id, p.customer.customer_id, meter_key))
    pseudonym = pseudonym_for(SECRET, "UtilityMSP", p.customer.customer_id + "-2")
    orgs.market("regulator").record_pseudonym(pseudonym, p.customer.customer_id)
    return Participant(p.customer, meter_id, meter_key, MarketKey.generate(pseudonym),
                       p.address, p.minted)
