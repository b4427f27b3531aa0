"""The market's part of the authorization-matrix world (tests/unit/chaincode/callers_world.py):
something in every market record kind, and arguments for every market function that get
an allowed caller past its caller check and succeed.

Timeline around the world's NOW (hourly intervals, gate closure 15 minutes before):
    DONE     NOW-6h  cleared, delivered, settled; the VPP sold in it
    CLEARED  NOW-4h  cleared, delivered, not settled yet
    GATE     NOW     gate closed at NOW-15min, not cleared yet
    OPEN     NOW+12h open for orders
    NEW      NOW+20h not opened (within the market's one-day opening horizon)
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from gridledger.formats.market import interval_id
from tests.unit.chaincode.channels import Channels
from tests.unit.chaincode.metering.helpers import submit

from .helpers import Participant

MARKET_ID = "w1"

H = dt.timedelta(hours=1)
VPP = "vpp-w"
AGG = {"msp": "AggregatorMSP", "name": "aggregator-admin", "ous": ("admin",), "attrs": {}}
REG = {"msp": "RegulatorMSP", "name": "regulator-admin", "ous": ("admin",), "attrs": {}}


@dataclass
class MarketMatrixWorld:
    people: dict[str, Participant]
    ivs: dict[str, str]
    audit_id: str
    records: str  # the pseudonyms CLEARED's first settlement page needs
    plan: str  # SettlementPlan of CLEARED's first settlement page

    def args(self, function: str, kind: str) -> tuple[str, ...]:
        """Arguments for ``function``; every allowed caller gets the same."""
        del kind
        p1, p2, p3, p4, p5, p6, p7 = (self.people[f"mc-{i}"] for i in range(1, 8))
        iv = self.ivs
        new = Participant("mc-new")
        enrol3 = p3.consent(p3.sign("enrol", marketId=MARKET_ID, meterId=p3.meter.meter_id,
                                    publicKeyPem=p3.pem))
        p6_enrol = p6.consent(p6.sign("enrol", marketId=MARKET_ID, meterId=p6.meter.meter_id,
                                      publicKeyPem=p6.pem))
        order = {"intervalId": iv["OPEN"], "orderId": "mx", "quantityWh": 1000,
                 "pricePerKwh": 1000}
        return {
            "ConfigureMarket": (json.dumps({"marketId": MARKET_ID, "intervalSeconds": 3600,
                                            "gateClosureSeconds": 900,
                                            "tariffId": "EVN-RES"}),),
            "RecordPseudonym": (new.pseudonym, "mc-new"),
            "LinkParticipant": (enrol3,),
            "EnrolParticipant": (p6_enrol,),
            "UnlinkParticipant": (p7.pseudonym,),
            "FundMarket": (p1.sign("deposit", amount=10, requestId="fund-x"),),
            "RedeemPayout": (p1.pseudonym, "payout-1"),
            "Link": (p1.pseudonym,),
            "Voucher": (p1.pseudonym, "voucher-1"),
            "HoldsCustomerData": (),
            "PseudonymHolder": (p1.pseudonym,),
            "TariffVersion": ("EVN-RES", "2025-04-01T00:00:00Z"),
            "RetireParticipant": (p5.sign("retire", requestId="retire-1"),),
            "Deposit": (p1.pseudonym, "voucher-1"),
            "Withdraw": (p1.request("withdraw", 10),),
            "Participant": (p1.pseudonym,),
            "Payout": (p1.pseudonym, "payout-1"),
            "OpenInterval": (iv["NEW"], "uniform"),
            "PlaceOffer": (p1.sign("offer", **order),),
            "PlaceBid": (p2.sign("bid", **order),),
            "CancelOrder": (p2.sign("cancel", intervalId=iv["OPEN"], orderId="open-bid"),),
            "Clear": (iv["GATE"],),
            "SettlementNeeds": (iv["CLEARED"],),
            "DeliveryRecords": (iv["CLEARED"], self.records),
            "SettlementPlan": (iv["CLEARED"],),
            "Settle": (iv["CLEARED"], self.plan),
            "RequestResolution": (p1.pseudonym, "quarterly audit"),
            "ResolvePseudonym": (self.audit_id,),
            "CreateVpp": (json.dumps({"vppId": "vpp-new", "marketId": MARKET_ID,
                                      "name": "New", "commissionBp": 500}),),
            "EnrolVppMember": (VPP, p5.sign("vpp-join", vppId=VPP, capacityWh=2000,
                                            commissionBp=1000, sharesExport=True)),
            "LeaveVpp": (VPP, p4.sign("vpp-leave", vppId=VPP)),
            "PlaceVppOffer": (VPP, iv["OPEN"], "vx", "1000", "1000"),
            "PayoutVpp": (VPP, iv["DONE"], p4.pseudonym),
            "VppMembers": (VPP,),
            "PostStandingOffer": (p1.sign("standing-offer", offerId="so-new", buyer="*",
                                          pricePerKwh=1200, quantityWh=1000,
                                          fromInterval=iv["OPEN"], untilInterval=iv["NEW"]),),
            "AcceptStandingOffer": (p2.sign("accept", offerId="so-1", acceptId="ax",
                                            intervalId=iv["OPEN"], quantityWh=500),),
            "WithdrawStandingOffer": (p1.sign("withdraw-offer", offerId="so-1"),),
            "MarketConfig": (MARKET_ID,),
            "GetInterval": (iv["DONE"],),
            "OrderBook": (iv["OPEN"],),
            "ClearingPrices": (iv["DONE"], iv["OPEN"]),
            "OrdersOf": (p1.pseudonym, ""),
            "TradesOf": (p2.pseudonym, iv["DONE"]),
            "VppPayouts": (VPP, iv["DONE"]),
            "MarketWallet": (p1.pseudonym,),
            "MarketTotals": (),
            "AuditLog": (),
        }[function]


def _person(ledger: Channels, customer_id: str, steps: str, utility: dict[str, Any],
            ) -> Participant:
    """A participant taken as far as ``steps`` says: ``r`` recorded, ``l`` linked on the
    energy channel, ``e`` enrolled on the market channel, ``d`` with a deposit."""
    p = Participant(customer_id)
    ledger.ok("RegisterMeter", p.meter.registration("EVN-RES"), **utility)
    p.address = ledger.ok("wattcoin:OpenAccount", **p.identity)["address"]
    ledger.ok("wattcoin:BindCustomer", customer_id, p.address, **p.identity)
    ledger.ok("wattcoin:Mint", p.address, "200000", f"PAY-{customer_id}", **utility)
    enrolment = p.consent(p.sign("enrol", marketId=MARKET_ID, meterId=p.meter.meter_id,
                                 publicKeyPem=p.pem))
    if "r" in steps:
        ledger.ok("marketlink:RecordPseudonym", p.pseudonym, customer_id, **REG)
    if "l" in steps:
        ledger.ok("marketlink:LinkParticipant", enrolment, **REG)
    if "e" in steps:
        ledger.ok("market:EnrolParticipant", enrolment, **REG)
    if "d" in steps:
        ledger.ok("marketlink:FundMarket", p.sign("deposit", amount=100_000,
                                                  requestId="first"), **utility)
        ledger.ok("market:Deposit", p.pseudonym, "first", **utility)
    return p


def build(ledger: Channels, identities: dict[str, dict[str, Any]]) -> MarketMatrixWorld:
    """Put a market into the shared world's channels (whose clock is ``ledger.now``):
    mc-1, 2, 4, 5 trading; mc-3 issued a pseudonym, not linked; mc-6 linked, not enrolled
    on the market channel; mc-7 retired on the market channel, still linked; mc-1 with a
    voucher funded and not credited (voucher-1) and a payout not redeemed (payout-1)."""
    now = ledger.now
    utility = identities["utility-operator"]
    ledger.ok("market:ConfigureMarket", json.dumps({
        "marketId": MARKET_ID, "intervalSeconds": 3600, "gateClosureSeconds": 900,
        "tariffId": "EVN-RES"}),
        **AGG, when=now - 30 * H)
    steps = {1: "rled", 2: "rled", 3: "r", 4: "rled", 5: "rled", 6: "rl", 7: "rled"}
    people = {f"mc-{i}": _person(ledger, f"mc-{i}", s, utility) for i, s in steps.items()}
    p1, p2, _, p4, _, _, p7 = people.values()
    ledger.ok("marketlink:FundMarket", p1.sign("deposit", amount=10, requestId="voucher-1"),
              **utility)
    ledger.ok("market:Withdraw", p1.sign("withdraw", amount=10, requestId="payout-1"),
              **utility)
    ledger.ok("market:RetireParticipant", p7.sign("retire", requestId="retire-7"), **utility)
    starts = {"DONE": now - 6 * H, "CLEARED": now - 4 * H, "GATE": now, "OPEN": now + 12 * H,
              "NEW": now + 20 * H}
    ivs = {name: interval_id(MARKET_ID, start) for name, start in starts.items()}
    for name in ("DONE", "CLEARED", "GATE", "OPEN"):
        ledger.ok("market:OpenInterval", ivs[name], "uniform", **AGG,
                  when=starts[name] - 3 * H)
    ledger.ok("market:CreateVpp", json.dumps({"vppId": VPP, "marketId": MARKET_ID, "name": "W",
                                              "commissionBp": 1000}), **AGG, when=now - 29 * H)
    ledger.ok("market:EnrolVppMember", VPP, p4.sign(
        "vpp-join", vppId=VPP, capacityWh=3000, commissionBp=1000, sharesExport=True),
        **AGG, when=now - 29 * H)

    def order(p: Participant, kind: str, iv: str, order_id: str, wh: int, price: int,
              when: dt.datetime) -> None:
        function = "market:PlaceOffer" if kind == "offer" else "market:PlaceBid"
        ledger.ok(function, p.sign(kind, intervalId=iv, orderId=order_id, quantityWh=wh,
                                   pricePerKwh=price), **AGG, when=when)

    for name in ("DONE", "CLEARED"):
        start, iv = starts[name], ivs[name]
        order(p1, "offer", iv, "o", 1000, 900, start - 2 * H)
        order(p2, "bid", iv, "b", 3000, 1500, start - 2 * H)
        if name == "DONE":
            ledger.ok("market:PlaceVppOffer", VPP, iv, "v", "2000", "1000", **AGG,
                      when=start - 2 * H)
        while not ledger.ok("market:Clear", iv, **AGG, when=start)["done"]:
            pass
        for p, imp, exp in ((p1, 0, 1000), (p2, 3000, 0), (p4, 0, 2000)):
            res = submit(ledger, p.meter.reading(start + H, imp, exp), **utility,
                         when=start + 2 * H)
            assert res.payload["accepted"] == 1, res.payload
    settle_at = starts["DONE"] + 3 * H
    plan = ledger.ok("market:SettlementPlan", ivs["DONE"], **utility, when=settle_at)
    assert ledger.ok("market:Settle", ivs["DONE"], json.dumps(plan), **utility,
                     when=settle_at)["done"]
    order(p1, "offer", ivs["GATE"], "g", 1000, 900, now - 2 * H)
    order(p2, "bid", ivs["OPEN"], "open-bid", 1000, 1500, now - H)
    ledger.ok("market:PostStandingOffer", p1.sign(
        "standing-offer", offerId="so-1", buyer="*", pricePerKwh=1200, quantityWh=2000,
        fromInterval=ivs["OPEN"], untilInterval=ivs["NEW"]), **AGG, when=now - H)
    audit_id = ledger.ok("market:RequestResolution", p2.pseudonym, "complaint 17", **REG,
                         when=now - H)["auditId"]
    need = ledger.ok("market:SettlementNeeds", ivs["CLEARED"], **utility)
    plan = ledger.ok("market:SettlementPlan", ivs["CLEARED"], **utility)
    return MarketMatrixWorld(people, ivs, audit_id, json.dumps(sorted(need["pseudonyms"])),
                             json.dumps(plan))
