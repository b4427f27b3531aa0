"""Python bindings for the market: contract ``market`` (chaincode ``market``, market
channel) and its side on the energy channel, contract ``marketlink`` of chaincode
``metering``.

Each method is one chaincode function (chaincode/README.md, "Market"), or the two that
make one step across the channels: an enrolment is linked on the energy channel, then
published on the market channel; a deposit is funded out of the account (energy), then
credited to the wallet (market); a withdrawal or a retirement is paid out of the wallet
(market), then redeemed into the account (energy). Each half is refused (409) once done,
so running a step again after a failure finishes it, never doubles it. ``clear`` and
``settle`` run an interval's pages to the end. A participant never submits under its own
certificate: its wallet holds a :class:`MarketKey` that signs its messages, and an
operator's gateway (the Aggregator's or the Utility's) relays them.

Who endorses is chosen per function, so every key-level policy is met by the peers asked:
the market's keys need the Aggregator and one other (:data:`MARKET_ENDORSERS`), money and
links need both members of customerData (:data:`FUNDING_ENDORSERS`; on the energy channel
the arguments travel in the transient map with a fresh salt), the pseudonym register only
the Regulator's peer. ``at`` on a submit sets the transaction time (a replay or a
simulated day: Fabric takes the client's clock).
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
from tenacity import RetryCallState, Retrying, retry_if_exception

from gridledger.formats.market import check_pseudonym, message_bytes, sign_message

from .errors import ArgumentError, CommitError, EndorseError
from .gateway import Commit, Contract, Gateway
from .proposal import private_arguments

CHAINCODE = "market"  # on the market channel
LINK_CHAINCODE = "metering"  # contract marketlink, on the energy channel
ENERGY_CHANNEL, MARKET_CHANNEL = "energy", "market"
MARKET_ENDORSERS = ("AggregatorMSP", "UtilityMSP")
FUNDING_ENDORSERS = ("UtilityMSP", "RegulatorMSP")
REGULATOR_ENDORSERS = ("RegulatorMSP",)
AUDIT_ENDORSERS = ("RegulatorMSP", "AggregatorMSP")
# A settlement page: the Aggregator (market arithmetic), the Utility and the Regulator
# (each checks the deliveries against its own records).
SETTLE_ENDORSERS = ("AggregatorMSP", "UtilityMSP", "RegulatorMSP")
# Functions whose arguments travel in the transient map, and who endorses what.
PRIVATE = frozenset({"EnrolParticipant", "Settle"})
ENDORSERS = {
    "EnrolParticipant": FUNDING_ENDORSERS,
    "RetireParticipant": FUNDING_ENDORSERS,
    "Deposit": FUNDING_ENDORSERS,
    "Withdraw": FUNDING_ENDORSERS,
    "RequestResolution": AUDIT_ENDORSERS,
    "Settle": SETTLE_ENDORSERS,
}
# marketlink (energy channel): every submit is private, salted, and endorsed by the
# members of customerData (the pseudonym register: the Regulator's peer alone).
LINK_PRIVATE = frozenset({"RecordPseudonym", "LinkParticipant", "UnlinkParticipant",
                          "FundMarket", "RedeemPayout"})
LINK_ENDORSERS = {"RecordPseudonym": REGULATOR_ENDORSERS}


def _json(data: bytes) -> Any:
    return json.loads(data) if data else None


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def _signed_members(signed: str, *members: str) -> tuple[Any, ...]:
    """Members of a signed message (before sending it: a clear error for a bad file)."""
    try:
        message = json.loads(signed)["message"]
        return tuple(message[m] for m in members)
    except (ValueError, KeyError, TypeError):
        raise ArgumentError(f"not a signed market message with {', '.join(members)}"
                            ) from None


# How each half of a step across channels says it was done before (a 409).
STEP_ATTEMPTS = 3  # sends of one half of a cross-channel step that lost MVCC races
# How long a later half waits for the earlier one's block to reach its other endorsers.
PROPAGATION_SECONDS, PROPAGATION_POLL = 20.0, 0.25

_DONE = {"LinkParticipant": "is linked already", "EnrolParticipant": "is enrolled already",
         "FundMarket": "is funded already", "Deposit": "already exists",
         "Withdraw": "is done already", "RetireParticipant": "retired at",
         "UnlinkParticipant": "is unlinked already", "RedeemPayout": "is redeemed already"}


def _done_already(fn: str, exc: EndorseError) -> bool:
    """The chaincode refused ``fn`` as done already (a step's second run)."""
    return exc.chaincode_status == 409 and _DONE.get(fn, "\0") in str(exc)


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
    """The market through one gateway (the caller's organisation's peer), on both
    channels: contract ``market`` on the market channel, ``marketlink`` on energy."""

    def __init__(self, gateway: Gateway, *, energy_channel: str = ENERGY_CHANNEL,
                 market_channel: str = MARKET_CHANNEL) -> None:
        self.contract = gateway.network(market_channel).contract(CHAINCODE, "market")
        self.link = gateway.network(energy_channel).contract(LINK_CHAINCODE, "marketlink")

    # -- plumbing ----------------------------------------------------------------------

    def _send(self, contract: Contract, fn: str, args: tuple[str, ...], *,
              private: frozenset[str], salted: frozenset[str], endorsers: Sequence[str],
              at: dt.datetime | None) -> Commit:
        args, transient = private_arguments(fn, args, private=private, salted=salted)
        proposal = contract.new_proposal(fn, *args, transient=transient, timestamp=at,
                                         endorsing_organizations=tuple(endorsers))
        gateway = contract.gateway
        return gateway.submit(gateway.endorse(proposal))

    def submit_async(self, fn: str, *args: str, at: dt.datetime | None = None,
                     endorsers: Sequence[str] | None = None) -> Commit:
        """Endorse (by the function's endorsers) and order a market function."""
        return self._send(self.contract, fn, args, private=PRIVATE, salted=frozenset(),
                          endorsers=endorsers or ENDORSERS.get(fn, MARKET_ENDORSERS), at=at)

    def submit(self, fn: str, *args: str, at: dt.datetime | None = None,
               endorsers: Sequence[str] | None = None) -> Any:
        """Endorse, order, wait for a valid commit; the function's answer."""
        return _json(self.submit_async(fn, *args, at=at, endorsers=endorsers).wait())

    def link_submit_async(self, fn: str, *args: str, at: dt.datetime | None = None
                          ) -> Commit:
        """Endorse and order a marketlink function (energy channel; arguments private)."""
        return self._send(self.link, fn, args, private=LINK_PRIVATE, salted=LINK_PRIVATE,
                          endorsers=LINK_ENDORSERS.get(fn, FUNDING_ENDORSERS), at=at)

    def link_submit(self, fn: str, *args: str, at: dt.datetime | None = None) -> Any:
        return _json(self.link_submit_async(fn, *args, at=at).wait())

    def evaluate(self, fn: str, *args: str, on: Sequence[str] = ()) -> Any:
        return _json(self.contract.evaluate(fn, *args, target_organizations=on))

    def link_evaluate(self, fn: str, *args: str) -> Any:
        return _json(self.link.evaluate(fn, *args))

    def _steps(self, *steps: tuple[bool, str, tuple[str, ...]]) -> dict[str, Any]:
        """Run the halves of a step across channels in order, each skipped as done when
        the chaincode says so (a second run finishes what a first one left).

        A half that lost an MVCC race (a customer's account is also billed by the meter
        bridge) is sent again, up to ``STEP_ATTEMPTS`` times: it wrote nothing. A later
        half reads the earlier one across channels on each of its endorsers, and the
        earlier one was waited for on this gateway's peer only: while another endorser
        has not committed that block yet, it answers 404, and the half is sent again for
        up to ``PROPAGATION_SECONDS``."""
        out: dict[str, Any] = {}
        for n, (on_link, fn, args) in enumerate(steps):
            try:
                out[fn] = self._half(on_link, fn, args, later=n > 0)
            except EndorseError as exc:
                if not _done_already(fn, exc):
                    raise
                out[fn] = {"doneAlready": True}
        return out

    def _half(self, on_link: bool, fn: str, args: tuple[str, ...], *, later: bool) -> Any:
        """Send one half, again while it lost an MVCC race or (a later half) its
        endorsers have not all seen the earlier one yet."""
        def behind(exc: BaseException | None) -> bool:
            return later and isinstance(exc, EndorseError) and exc.chaincode_status == 404

        def lost_race(exc: BaseException | None) -> bool:
            return isinstance(exc, CommitError) and exc.retryable

        conflicts = 0

        def stop(state: RetryCallState) -> bool:
            nonlocal conflicts
            if lost_race(state.outcome.exception()):
                conflicts += 1
                return conflicts >= STEP_ATTEMPTS
            return state.seconds_since_start >= PROPAGATION_SECONDS

        retrying = Retrying(
            retry=retry_if_exception(lambda exc: behind(exc) or lost_race(exc)),
            stop=stop,
            wait=lambda state: PROPAGATION_POLL if behind(state.outcome.exception()) else 0,
            reraise=True)
        send = self.link_submit if on_link else self.submit
        return retrying(send, fn, *args)

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
        """The Regulator: keep pseudonym -> customer in its own collection (energy)."""
        return self.link_submit("RecordPseudonym", pseudonym, customer_id)

    def configure_market(self, config: dict[str, Any]) -> dict[str, Any]:
        """The Aggregator: set up a market from a full configuration (optional members:
        clockToleranceSeconds, openHorizonSeconds, evidenceGraceSeconds)."""
        return self.submit("ConfigureMarket", _dump(config))

    def enrol(self, signed_enrolment: str) -> dict[str, Any]:
        """The Regulator: relay a participant's signed enrolment with its customer's
        consent (``MarketKey.enrolment``): linked on the energy channel, then published
        on the market channel."""
        return self._steps((True, "LinkParticipant", (signed_enrolment,)),
                           (False, "EnrolParticipant", (signed_enrolment,)))

    def retire(self, signed: str) -> dict[str, Any]:
        """The Utility: relay a participant's signed retirement: retired on the market
        channel (its free tokens a payout), its meter unlinked and the payout redeemed
        on the energy channel."""
        pseudonym, request_id = _signed_members(signed, "pseudonym", "requestId")
        return self._steps((False, "RetireParticipant", (signed,)),
                           (True, "UnlinkParticipant", (pseudonym,)),
                           (True, "RedeemPayout", (pseudonym, request_id)))

    def deposit(self, signed: str) -> dict[str, Any]:
        """The Utility: relay a signed deposit: funded out of the customer's account on
        the energy channel, credited to the market wallet on the market channel."""
        pseudonym, request_id = _signed_members(signed, "pseudonym", "requestId")
        return self._steps((True, "FundMarket", (signed,)),
                           (False, "Deposit", (pseudonym, request_id)))

    def withdraw(self, signed: str) -> dict[str, Any]:
        """The Utility: relay a signed withdrawal: paid out of the market wallet, then
        redeemed into the customer's account on the energy channel."""
        pseudonym, request_id = _signed_members(signed, "pseudonym", "requestId")
        return self._steps((False, "Withdraw", (signed,)),
                           (True, "RedeemPayout", (pseudonym, request_id)))

    def participant(self, pseudonym: str) -> dict[str, Any]:
        return self.evaluate("Participant", pseudonym)

    def payout(self, pseudonym: str, request_id: str) -> dict[str, Any]:
        return self.evaluate("Payout", pseudonym, request_id)

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
                         ) -> dict[str, dict[str, Any] | None]:
        """Pseudonyms' metered energy in an interval, from the caller's own (Utility or
        Regulator) peer on the energy channel."""
        return self.link_evaluate("DeliveryRecords", interval_id, _dump(sorted(pseudonyms)))

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
