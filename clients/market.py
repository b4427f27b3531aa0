"""Python bindings for contract ``market`` of chaincode ``metering``: trading and VPPs.

Each method is one chaincode function (chaincode/README.md, "Market"); ``clear`` and
``settle`` run an interval's pages to the end. A participant never submits under its own
certificate: its wallet holds a :class:`MarketKey` that signs its messages, and an
operator's gateway (the Aggregator's or the Utility's) relays them.

Who endorses is chosen per function, so every key-level policy is met by the peers asked:
the market's keys need the Aggregator and one other (:data:`MARKET_ENDORSERS`), money in
and out of a private account needs both members of customerData
(:data:`FUNDING_ENDORSERS`, arguments in the transient map with a fresh salt), the
pseudonym register only the Regulator's peer. ``at`` on a submit sets the transaction
time (a replay or a simulated day: Fabric takes the client's clock).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.formats.market import check_pseudonym, message_bytes, sign_message

from .errors import ArgumentError
from .gateway import Commit, Network
from .proposal import private_arguments

CHAINCODE = "metering"
MARKET_ENDORSERS = ("AggregatorMSP", "UtilityMSP")
FUNDING_ENDORSERS = ("UtilityMSP", "RegulatorMSP")
REGULATOR_ENDORSERS = ("RegulatorMSP",)
AUDIT_ENDORSERS = ("RegulatorMSP", "AggregatorMSP")
# A settlement page: the Aggregator (market arithmetic), the Utility and the Regulator
# (each checks the deliveries against its own records).
SETTLE_ENDORSERS = ("AggregatorMSP", "UtilityMSP", "RegulatorMSP")
# Functions whose arguments travel in the transient map, and who endorses what.
PRIVATE = frozenset({"RecordPseudonym", "EnrolParticipant", "RetireParticipant", "Deposit",
                     "Withdraw", "Settle"})
ENDORSERS = {
    "RecordPseudonym": REGULATOR_ENDORSERS,
    "EnrolParticipant": FUNDING_ENDORSERS,
    "RetireParticipant": FUNDING_ENDORSERS,
    "Deposit": FUNDING_ENDORSERS,
    "Withdraw": FUNDING_ENDORSERS,
    "RequestResolution": AUDIT_ENDORSERS,
    "Settle": SETTLE_ENDORSERS,
}


def _json(data: bytes) -> Any:
    return json.loads(data) if data else None


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


class MarketKey:
    """A participant's market key (P-256) and pseudonym: what its wallet app holds."""

    def __init__(self, pseudonym: str, key: ec.EllipticCurvePrivateKey) -> None:
        self.pseudonym = pseudonym
        self.key = key
        self._n = 0

    @classmethod
    def generate(cls, pseudonym: str) -> MarketKey:
        return cls(pseudonym, ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load(cls, path: Path) -> MarketKey:
        """Read a key file written by :meth:`save`."""
        try:
            body = json.loads(Path(path).read_text())
            key = serialization.load_pem_private_key(body["privateKeyPem"].encode(), None)
            pseudonym = check_pseudonym(body["pseudonym"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArgumentError(f"{path} is not a market key file: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ArgumentError(f"{path} does not hold an EC key")
        return cls(pseudonym, key)

    def save(self, path: Path) -> None:
        """Write the key file, readable by its owner only."""
        pem = self.key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"pseudonym": self.pseudonym, "privateKeyPem": pem}, fh)

    @property
    def public_pem(self) -> str:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, action: str, **members: Any) -> str:
        """A signed message of this participant, as the market functions take it."""
        return _dump(sign_message(self.key, {"action": action, "pseudonym": self.pseudonym,
                                             **members}))

    def request_id(self) -> str:
        """A fresh id for a deposit or withdrawal (the chaincode refuses a reused one)."""
        self._n += 1
        return f"{os.urandom(6).hex()}-{self._n}"

    # The messages, one per action.
    def enrolment(self, market_id: str, meter_id: str, consent: CustomerConsent) -> str:
        """The signed enrolment, with the customer's consent: the same message signed by
        the key that controls the customer's paying account (its own identity's key)."""
        envelope = json.loads(self.sign("enrol", marketId=market_id, meterId=meter_id,
                                        publicKeyPem=self.public_pem))
        envelope["consent"] = consent.sign(envelope["message"])
        return _dump(envelope)

    def retirement(self) -> str:
        return self.sign("retire", requestId=self.request_id())

    def deposit(self, amount: int) -> str:
        return self.sign("deposit", amount=amount, requestId=self.request_id())

    def withdrawal(self, amount: int) -> str:
        return self.sign("withdraw", amount=amount, requestId=self.request_id())

    def order(self, kind: str, interval_id: str, order_id: str, wh: int, price: int) -> str:
        return self.sign(kind, intervalId=interval_id, orderId=order_id, quantityWh=wh,
                         pricePerKwh=price)

    def cancel(self, interval_id: str, order_id: str) -> str:
        return self.sign("cancel", intervalId=interval_id, orderId=order_id)

    def vpp_consent(self, vpp_id: str, capacity_wh: int, commission_bp: int) -> str:
        return self.sign("vpp-join", vppId=vpp_id, capacityWh=capacity_wh,
                         commissionBp=commission_bp, sharesExport=True)

    def vpp_leave(self, vpp_id: str) -> str:
        return self.sign("vpp-leave", vppId=vpp_id)


class CustomerConsent:
    """A customer's consent to an enrolment: its signature by the key of its own identity
    (the key that opened, and controls, its paying Wattcoin account). Held by the
    customer's wallet (the portal, a phone): ``signer`` never leaves it."""

    def __init__(self, public_key_pem: str, signer: Callable[[bytes], bytes]) -> None:
        self.public_key_pem = public_key_pem
        self._signer = signer

    @classmethod
    def of_identity(cls, certificate_pem: bytes, signer: Callable[[bytes], bytes]
                    ) -> CustomerConsent:
        """The consent of a Fabric identity: its certificate's key, its signer."""
        key = x509.load_pem_x509_certificate(certificate_pem).public_key()
        pem = key.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
        return cls(pem, signer)

    def sign(self, message: dict[str, Any]) -> dict[str, str]:
        """``{"publicKeyPem", "signature"}`` over the message's signed bytes."""
        der = self._signer(message_bytes(message))
        return {"publicKeyPem": self.public_key_pem,
                "signature": base64.b64encode(der).decode("ascii")}


class Market:
    """Contract ``market`` through one gateway (the caller's organisation's peer)."""

    def __init__(self, network: Network, chaincode: str = CHAINCODE) -> None:
        self.contract = network.contract(chaincode, "market")

    # -- plumbing ----------------------------------------------------------------------

    def submit_async(self, fn: str, *args: str, at: dt.datetime | None = None,
                     endorsers: Sequence[str] | None = None) -> Commit:
        """Endorse (by the function's endorsers) and order; the commit handle."""
        # Every market call gets a salt: most write a private record somewhere.
        args, transient = private_arguments(fn, args, private=PRIVATE,
                                            salted=frozenset({fn}))
        proposal = self.contract.new_proposal(
            fn, *args, transient=transient, timestamp=at,
            endorsing_organizations=tuple(endorsers or ENDORSERS.get(fn, MARKET_ENDORSERS)))
        # The Gateway endorses again while the endorsers disagree (a clearing or
        # settlement page right after the last one, with one peer a block behind).
        gateway = self.contract.gateway
        return gateway.submit(gateway.endorse(proposal))

    def submit(self, fn: str, *args: str, at: dt.datetime | None = None,
               endorsers: Sequence[str] | None = None) -> Any:
        """Endorse, order, wait for a valid commit; the function's answer."""
        return _json(self.submit_async(fn, *args, at=at, endorsers=endorsers).wait())

    def evaluate(self, fn: str, *args: str, on: Sequence[str] = ()) -> Any:
        return _json(self.contract.evaluate(fn, *args, target_organizations=on))

    # -- set-up, participants, money ---------------------------------------------------

    def configure(self, market_id: str, interval_seconds: int, gate_closure_seconds: int,
                  tariff_id: str) -> dict[str, Any]:
        """The Aggregator: set up a market (once per market id)."""
        return self.submit("ConfigureMarket", _dump({
            "marketId": market_id, "intervalSeconds": interval_seconds,
            "gateClosureSeconds": gate_closure_seconds, "tariffId": tariff_id}))

    def config(self, market_id: str) -> dict[str, Any]:
        return self.evaluate("MarketConfig", market_id)

    def record_pseudonym(self, pseudonym: str, customer_id: str) -> dict[str, Any]:
        """The Regulator: keep pseudonym -> customer in its own collection."""
        return self.submit("RecordPseudonym", pseudonym, customer_id)

    def configure_market(self, config: dict[str, Any]) -> dict[str, Any]:
        """The Aggregator: set up a market from a full configuration (optional members:
        clockToleranceSeconds, openHorizonSeconds, evidenceGraceSeconds)."""
        return self.submit("ConfigureMarket", _dump(config))

    def enrol(self, signed_enrolment: str) -> dict[str, Any]:
        """The Regulator: relay a participant's signed enrolment with its customer's
        consent (``MarketKey.enrolment``)."""
        return self.submit("EnrolParticipant", signed_enrolment)

    def retire(self, signed: str) -> dict[str, Any]:
        """The Utility: relay a participant's signed retirement."""
        return self.submit("RetireParticipant", signed)

    def deposit(self, signed: str) -> dict[str, Any]:
        return self.submit("Deposit", signed)

    def withdraw(self, signed: str) -> dict[str, Any]:
        return self.submit("Withdraw", signed)

    def wallet(self, trader: str) -> dict[str, Any]:
        return self.evaluate("MarketWallet", trader)

    def totals(self) -> dict[str, Any]:
        return self.evaluate("MarketTotals")

    # -- intervals and orders ----------------------------------------------------------

    def open_interval(self, interval_id: str, market_type: str = "uniform",
                      at: dt.datetime | None = None) -> dict[str, Any]:
        return self.submit("OpenInterval", interval_id, market_type, at=at)

    def interval(self, interval_id: str) -> dict[str, Any]:
        return self.evaluate("GetInterval", interval_id)

    def place_offer(self, signed: str, at: dt.datetime | None = None) -> dict[str, Any]:
        return self.submit("PlaceOffer", signed, at=at)

    def place_bid(self, signed: str, at: dt.datetime | None = None) -> dict[str, Any]:
        return self.submit("PlaceBid", signed, at=at)

    def cancel(self, signed: str, at: dt.datetime | None = None) -> dict[str, Any]:
        return self.submit("CancelOrder", signed, at=at)

    def book(self, interval_id: str) -> dict[str, Any]:
        return self.evaluate("OrderBook", interval_id)

    def prices(self, first: str, last: str) -> list[dict[str, Any]]:
        return self.evaluate("ClearingPrices", first, last)

    def orders_of(self, trader: str, interval_id: str = "") -> list[dict[str, Any]]:
        return self.evaluate("OrdersOf", trader, interval_id)

    def trades_of(self, trader: str, interval_id: str) -> list[dict[str, Any]]:
        return self.evaluate("TradesOf", trader, interval_id)

    # -- clearing and settlement -------------------------------------------------------

    def clear(self, interval_id: str, at: dt.datetime | None = None) -> list[dict[str, Any]]:
        """The Aggregator: clear the interval page by page; every page's answer."""
        pages: list[dict[str, Any]] = []
        while not (pages and pages[-1]["done"]):
            pages.append(self.submit("Clear", interval_id, at=at))
        return pages

    def delivery_records(self, interval_id: str, pseudonyms: Iterable[str]
                         ) -> dict[str, str | None]:
        """The stored bytes of interval records, from the caller's own (Utility) peer."""
        return self.evaluate("DeliveryRecords", interval_id, _dump(sorted(pseudonyms)))

    def plan(self, interval_id: str) -> dict[str, Any]:
        """The next settlement page's plan, from the caller's own (Utility or Regulator)
        peer's records; ``incomplete`` names meters still to report."""
        return self.evaluate("SettlementPlan", interval_id)

    def settle(self, interval_id: str, at: dt.datetime | None = None) -> list[dict[str, Any]]:
        """The Utility or the Regulator: settle page by page, each by the plan its own
        peer computes (all three organisations endorse); every page's answer. Refused
        (409) while a meter the page needs has not reported through the interval's end."""
        pages: list[dict[str, Any]] = []
        while not (pages and pages[-1]["done"]):
            plan = self.plan(interval_id)
            pages.append(self.submit("Settle", interval_id, _dump(plan), at=at))
        return pages

    # -- VPPs ----------------------------------------------------------------------------

    def create_vpp(self, vpp_id: str, market_id: str, name: str, commission_bp: int
                   ) -> dict[str, Any]:
        return self.submit("CreateVpp", _dump({"vppId": vpp_id, "marketId": market_id,
                                               "name": name, "commissionBp": commission_bp}))

    def enrol_vpp_member(self, vpp_id: str, consent: str) -> dict[str, Any]:
        return self.submit("EnrolVppMember", vpp_id, consent)

    def leave_vpp(self, vpp_id: str, signed: str) -> dict[str, Any]:
        return self.submit("LeaveVpp", vpp_id, signed)

    def place_vpp_offer(self, vpp_id: str, interval_id: str, order_id: str, wh: int,
                        price: int, at: dt.datetime | None = None) -> dict[str, Any]:
        return self.submit("PlaceVppOffer", vpp_id, interval_id, order_id, str(wh),
                           str(price), at=at)

    def vpp_members(self, vpp_id: str) -> dict[str, Any]:
        return self.evaluate("VppMembers", vpp_id)

    def vpp_payouts(self, vpp_id: str, interval_id: str) -> dict[str, Any]:
        return self.evaluate("VppPayouts", vpp_id, interval_id)

    def pay_vpp(self, vpp_id: str, interval_id: str) -> list[dict[str, Any]]:
        """Pay every member of the interval its share and the VPP its commission, one
        transaction each, all in flight at once (they write different keys)."""
        split = self.vpp_payouts(vpp_id, interval_id)
        due = [who for who, entry in split["members"].items() if not entry["paid"]]
        if split["members"] and not split["commissionPaid"]:
            due.append(vpp_id)
        commits = [self.submit_async("PayoutVpp", vpp_id, interval_id, who) for who in due]
        return [_json(c.wait()) for c in commits]

    # -- standing offers -----------------------------------------------------------------

    def post_standing_offer(self, signed: str, at: dt.datetime | None = None) -> Any:
        return self.submit("PostStandingOffer", signed, at=at)

    def accept_standing_offer(self, signed: str, at: dt.datetime | None = None) -> Any:
        return self.submit("AcceptStandingOffer", signed, at=at)

    def withdraw_standing_offer(self, signed: str, at: dt.datetime | None = None) -> Any:
        return self.submit("WithdrawStandingOffer", signed, at=at)

    # -- audit -----------------------------------------------------------------------------

    def request_resolution(self, pseudonym: str, reason: str) -> dict[str, Any]:
        """The Regulator: log the resolution first; its audit id."""
        return self.submit("RequestResolution", pseudonym, reason)

    def resolve(self, audit_id: str) -> dict[str, Any]:
        """The Regulator: the customer behind a logged request, from its own peer."""
        return self.evaluate("ResolvePseudonym", audit_id, on=REGULATOR_ENDORSERS)

    def audit_log(self) -> list[dict[str, Any]]:
        return self.evaluate("AuditLog")
