"""A market on the in-memory ledger: participants with meters, Wattcoin accounts and market
keys, intervals, orders, clearing and settlement, driven as the real clients drive them."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.formats.market import (
    interval_id,
    message_bytes,
    parse_interval_id,
    pseudonym_for,
    sign_message,
)
from gridledger.formats.reading import sign as sign_bytes
from tests.unit.chaincode.channels import Channels
from tests.unit.chaincode.metering.helpers import T0, Meter, cert_of, submit
from tests.unit.chaincode.support import KEYS

SECRET = b"regulator-pseudonym-secret-for-tests"
UTILITY = {"msp": "UtilityMSP", "name": "utility-admin"}
REGULATOR = {"msp": "RegulatorMSP", "name": "regulator-admin"}
AGGREGATOR = {"msp": "AggregatorMSP", "name": "aggregator-admin"}
RETAIL, FEED_IN = 2000, 800  # the test tariff: one tier, no taxes, no time-of-use
HOUR = dt.timedelta(hours=1)
MARKET_ID = "mkt1"
DAY1 = T0 + dt.timedelta(days=10)  # 2025-03-11: the day the intervals are in


def tariff(**overrides: Any) -> str:
    body = {"tariffId": "MKT", "effectiveFrom": "2025-01-01T00:00:00Z", "currency": "VND",
            "currencyExponent": 0, "utcOffsetMinutes": 0,
            "tiers": [{"upToKwh": None, "pricePerKwh": RETAIL}],
            "feedInPricePerKwh": FEED_IN, "taxes": []}
    body.update(overrides)
    return json.dumps(body)


@dataclass
class Participant:
    """A prosumer or consumer: a customer of the Utility with a meter and a market key."""

    customer_id: str
    meter: Meter = field(init=False)
    key: ec.EllipticCurvePrivateKey = field(init=False)
    address: str = ""
    requests: int = 0

    def __post_init__(self) -> None:
        self.meter = Meter("m-" + self.customer_id, self.customer_id)
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def pseudonym(self) -> str:
        return pseudonym_for(SECRET, "UtilityMSP", self.customer_id)

    @property
    def identity(self) -> dict[str, Any]:
        return {"name": self.customer_id, "attrs": {"role": "customer",
                                                    "customerId": self.customer_id}}

    @property
    def pem(self) -> str:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, action: str, **members: Any) -> str:
        """A signed market message of this participant, as argument text."""
        return json.dumps(sign_message(self.key, {"action": action,
                                                  "pseudonym": self.pseudonym, **members}))

    @property
    def account_key(self) -> ec.EllipticCurvePrivateKey:
        """The key of the customer's own identity: it opened, and controls, its account."""
        return KEYS[cert_of(self.customer_id)]

    def consent(self, envelope_text: str, key: ec.EllipticCurvePrivateKey | None = None
                ) -> str:
        """The envelope with the customer's consent: the same message signed by the key
        controlling its paying account (or ``key``, to forge one)."""
        envelope = json.loads(envelope_text)
        key = key or self.account_key
        envelope["consent"] = {
            "publicKeyPem": key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode("ascii"),
            "signature": sign_bytes(key, message_bytes(envelope["message"]))}
        return json.dumps(envelope)

    def request(self, action: str, amount: int) -> str:
        self.requests += 1
        return self.sign(action, amount=amount, requestId=f"r{self.requests}")


class MarketWorld:
    """Both channels, the market configured, and helpers that act as each organisation
    as the real clients do (a step across channels: its energy half, then its market
    half)."""

    def __init__(self, *, gate_minutes: int = 15, now: dt.datetime = DAY1,
                 tariff_doc: str | None = None) -> None:
        self.ledger = Channels.make(now=now)
        self.ledger.ok("SetTariff", tariff_doc or tariff(), **REGULATOR)
        self.ledger.ok("market:ConfigureMarket", json.dumps({
            "marketId": MARKET_ID, "intervalSeconds": 3600,
            "gateClosureSeconds": gate_minutes * 60, "tariffId": "MKT"}), **AGGREGATOR)
        self.people: dict[str, Participant] = {}

    # -- participants --------------------------------------------------------------------

    def join(self, customer_id: str, tokens: int = 100_000) -> Participant:
        """Register the meter, open and fund the account, issue the pseudonym, enrol, and
        deposit ``tokens`` into the market."""
        p = Participant(customer_id)
        led = self.ledger
        led.ok("RegisterMeter", p.meter.registration("MKT"))
        p.address = led.ok("wattcoin:OpenAccount", **p.identity)["address"]
        led.ok("wattcoin:BindCustomer", customer_id, p.address, **p.identity)
        led.ok("wattcoin:Mint", p.address, str(tokens + 50_000), f"PAY-{customer_id}")
        led.ok("marketlink:RecordPseudonym", p.pseudonym, customer_id, **REGULATOR)
        self.enrol(p)
        if tokens:
            self.deposit(p, tokens)
        self.people[customer_id] = p
        return p

    def enrolment(self, p: Participant) -> str:
        """The participant's signed enrolment with its customer's consent."""
        return p.consent(p.sign("enrol", marketId=MARKET_ID, meterId=p.meter.meter_id,
                                publicKeyPem=p.pem))

    def enrol(self, p: Participant, **kw: Any) -> None:
        """Link on the energy channel, then publish on the market channel (the
        Regulator relays both)."""
        text = self.enrolment(p)
        self.ledger.ok("marketlink:LinkParticipant", text, **{**REGULATOR, **kw})
        self.ledger.ok("market:EnrolParticipant", text, **{**REGULATOR, **kw})

    def deposit(self, p: Participant, amount: int, **kw: Any) -> str:
        """Fund on the energy channel, credit on the market channel (the Utility relays
        both); the request id."""
        text = p.request("deposit", amount)
        request_id = json.loads(text)["message"]["requestId"]
        self.ledger.ok("marketlink:FundMarket", text, **kw)
        self.ledger.ok("market:Deposit", p.pseudonym, request_id, **kw)
        return request_id

    def withdraw(self, p: Participant, amount: int, **kw: Any) -> str:
        """Pay out on the market channel, redeem on the energy channel; the request id."""
        text = p.request("withdraw", amount)
        request_id = json.loads(text)["message"]["requestId"]
        self.ledger.ok("market:Withdraw", text, **kw)
        self.ledger.ok("marketlink:RedeemPayout", p.pseudonym, request_id, **kw)
        return request_id

    # -- intervals and orders ------------------------------------------------------------

    def open(self, start: dt.datetime, market_type: str = "uniform") -> str:
        iv = interval_id(MARKET_ID, start)
        self.ledger.ok("market:OpenInterval", iv, market_type, **AGGREGATOR,
                       when=start - 2 * HOUR)
        return iv

    def order(self, kind: str, p: Participant, iv: str, order_id: str, wh: int, price: int,
              **kw: Any) -> Any:
        """Place a signed offer or bid, relayed by the Aggregator, before gate closure."""
        start = parse_interval_id(iv)[1]
        kw.setdefault("when", start - HOUR)
        text = p.sign(kind, intervalId=iv, orderId=order_id, quantityWh=wh, pricePerKwh=price)
        function = "market:PlaceOffer" if kind == "offer" else "market:PlaceBid"
        return self.ledger.call(function, text, **{**AGGREGATOR, **kw})

    def clear(self, iv: str, **kw: Any) -> list[dict[str, Any]]:
        """Clear to the end, as the Aggregator, after gate closure; the pages' answers."""
        start = parse_interval_id(iv)[1]
        kw.setdefault("when", start - dt.timedelta(minutes=1))
        pages = []
        while True:
            pages.append(self.ledger.ok("market:Clear", iv, **{**AGGREGATOR, **kw}))
            if pages[-1]["done"]:
                return pages

    # -- delivery --------------------------------------------------------------------------

    def deliver(self, start: dt.datetime, flows: dict[str, tuple[int, int]]) -> None:
        """Each participant's meter reports (import, export) Wh for the hour at ``start``."""
        for customer_id, (imp, exp) in flows.items():
            meter = self.people[customer_id].meter
            res = submit(self.ledger, meter.reading(start + HOUR, imp, exp),
                         when=start + 2 * HOUR)
            assert res.status == 200 and res.payload["accepted"] == 1, res.payload

    def settle(self, iv: str, **kw: Any) -> list[dict[str, Any]]:
        """Settle to the end as the Utility: each page's plan from its own peer, then
        Settle with it."""
        start = parse_interval_id(iv)[1]
        kw.setdefault("when", start + 3 * HOUR)
        pages = []
        while True:
            plan = self.ledger.ok("market:SettlementPlan", iv, **{**UTILITY, **kw})
            pages.append(self.ledger.ok("market:Settle", iv, json.dumps(plan),
                                        **{**UTILITY, **kw}))
            if pages[-1]["done"]:
                return pages

    # -- reading the outcome ---------------------------------------------------------------

    def wallet(self, p: Participant | str) -> int:
        trader = p.pseudonym if isinstance(p, Participant) else p
        return self.ledger.ok("market:MarketWallet", trader)["available"]

    def balance(self, p: Participant) -> int:
        return self.ledger.ok("wattcoin:Balance", p.address)["balance"]

    def totals(self) -> dict[str, Any]:
        return self.ledger.ok("market:MarketTotals")


def at(hour: int, day: dt.datetime = DAY1) -> dt.datetime:
    """The start of ``hour`` of the test day."""
    return day + dt.timedelta(hours=hour)


__all__ = ["AGGREGATOR", "DAY1", "FEED_IN", "HOUR", "MARKET_ID", "REGULATOR", "RETAIL",
           "T0", "UTILITY", "MarketWorld", "Participant", "at"]
