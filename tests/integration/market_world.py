"""A market on the real network, for the integration tests (test_market, test_privacy,
test_authorization): one market per module, and participants made as a deployment makes
them.

Time: every endorsing peer refuses a proposal whose transaction time is more than 15
minutes from its clock (``peer.authentication.timewindow``), so a past day cannot be
replayed; each module runs its own market of one-minute intervals (gate closure 20 s
before each) within the window, placing orders just before each gate closure and
settling just after each end. Such a market is configured to accept transaction times up
to the peers' whole window from the endorsers' clocks (``clockToleranceSeconds`` 900: a
compressed day in the recent past); a market of real time keeps the default 30 s
(tests/integration/test_market_attacks.py shows what that refuses).

A participant is a customer of the Utility's CA (a real enrolment) with a registered meter,
a prepaid Wattcoin account it opened and bound itself, a pseudonym the Regulator issued,
a market key its wallet made, an enrolment (signed by the market key, consented to with
the customer's own identity key, relayed by the Regulator) and a first deposit. Its meter's
readings are signed with the meter's key and submitted by the Utility's bridge identity.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.all_peers import AllPeers
from gridledger.clients.errors import EndorseError
from gridledger.clients.market import CustomerConsent, MarketKey
from gridledger.clients.metering import Metering, SignedReading, Wattcoin
from gridledger.formats.market import pseudonym_for
from gridledger.formats.reading import encode_reading, sign
from gridledger.network.consortium import Consortium

from .customers import Customer, open_prepaid_account, register_customer

TARIFF_ID = "MKT-IT"
RETAIL, FEED_IN = 2000, 800
TARIFF = {"tariffId": TARIFF_ID, "effectiveFrom": "2020-01-01T00:00:00Z", "currency": "VND",
          "currencyExponent": 0, "utcOffsetMinutes": 0,
          "tiers": [{"upToKwh": None, "pricePerKwh": RETAIL}],
          "feedInPricePerKwh": FEED_IN, "taxes": []}
INTERVAL_SECONDS, GATE_SECONDS = 60, 20
# A compressed day in the recent past: transaction times within the peers' whole window.
REPLAY_TOLERANCE = 900
MINUTE = dt.timedelta(minutes=1)
# The Regulator's pseudonym secret for this test session (a deployment keeps its own, in
# its state directory: `gridledger market issue`).
SECRET = uuid.uuid4().bytes + uuid.uuid4().bytes
HOUR = dt.timedelta(hours=1)


def z(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class Orgs(AllPeers):
    """One operator gateway per organisation, every market commit waited for on every
    peer (``AllPeers``), and the metering and Wattcoin bindings through the Utility's."""

    def metering(self) -> Metering:
        return Metering(self.utility.network(self.channel))

    def wattcoin(self, org: str = "utility") -> Wattcoin:
        return Wattcoin(getattr(self, org).network(self.channel))


def meter_record(meter_id: str, customer_id: str, key: ec.EllipticCurvePrivateKey
                 ) -> dict[str, Any]:
    """RegisterMeter's record of a meter billed with the market's tariff."""
    return {
        "meterId": meter_id, "curve": "P-256", "customerId": customer_id,
        "publicKeyPem": key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "tariffId": TARIFF_ID, "deviceProfile": "SDM630", "location": "Hue",
        "installDate": "2026-01-01",
    }  # fmt: skip


def new_market(orgs: Orgs, prefix: str, *, tolerance: int = REPLAY_TOLERANCE) -> str:
    """The test tariff (once per ledger) and a market of this module's own; its id.
    ``tolerance``: the clock tolerance its configuration accepts (seconds)."""
    try:
        Metering(orgs.regulator.network(orgs.channel)).set_tariff(TARIFF)
    except EndorseError as exc:
        assert exc.chaincode_status == 409, exc
    orgs.sync()
    market_id = f"{prefix}-{uuid.uuid4().hex[:6]}"
    orgs.market("aggregator").configure_market({
        "marketId": market_id, "intervalSeconds": INTERVAL_SECONDS,
        "gateClosureSeconds": GATE_SECONDS, "tariffId": TARIFF_ID,
        "clockToleranceSeconds": tolerance})
    return market_id


@dataclass
class Participant:
    """A customer in the market, with its meter and what the test knows it did."""

    customer: Customer
    meter_id: str
    meter_key: ec.EllipticCurvePrivateKey | None  # None: a meter the bridge reads
    key: MarketKey
    address: str
    minted: int
    deposited: int = 0
    withdrawn: int = 0
    seq: int = 0
    registers: list[int] = field(default_factory=lambda: [0, 0])  # import, export

    @property
    def pseudonym(self) -> str:
        return self.key.pseudonym

    def reading(self, end: dt.datetime, import_wh: int, export_wh: int) -> SignedReading:
        """The meter's next signed reading, adding to its registers."""
        assert self.meter_key is not None, f"{self.meter_id} is read by the bridge"
        self.seq += 1
        self.registers[0] += import_wh
        self.registers[1] += export_wh
        body = {"meterId": self.meter_id, "seq": self.seq, "intervalEnd": z(end),
                "importWh": self.registers[0], "exportWh": self.registers[1],
                "voltageDv": 2301, "currentMa": 4200, "powerW": 900 if import_wh else -900}
        return SignedReading(body, sign(self.meter_key, encode_reading(body)))


def join(net: Consortium, orgs: Orgs, market_id: str, *, minted: int = 2_000_000,
         deposit: int = 200_000, prefix: str = "MKT",
         metered: tuple[Customer, str] | None = None) -> Participant:
    """Make one participant, from its CA enrolment to its first deposit; ``metered``: a
    customer and its meter registered already (one the bridge reads), instead of new ones
    whose readings the test signs."""
    meter_key: ec.EllipticCurvePrivateKey | None = None
    if metered is not None:
        customer, meter_id = metered
    else:
        customer = register_customer(net, f"C-{prefix}-" + uuid.uuid4().hex[:8])
        meter_key = ec.generate_private_key(ec.SECP256R1())
        meter_id = f"{prefix}-M-" + uuid.uuid4().hex[:8]
        orgs.metering().register_meter_async(
            meter_record(meter_id, customer.customer_id, meter_key)).wait()
    address = open_prepaid_account(net, customer)
    orgs.sync()  # the meter, the account and its binding on every peer
    orgs.wattcoin().mint(address, minted, "PAY-" + meter_id)
    orgs.sync()
    pseudonym = pseudonym_for(SECRET, "UtilityMSP", customer.customer_id)
    regulator = orgs.market("regulator")
    regulator.record_pseudonym(pseudonym, customer.customer_id)
    key = MarketKey.generate(pseudonym)
    regulator.enrol(key.enrolment(market_id, meter_id, consent_of(customer)))
    p = Participant(customer, meter_id, meter_key, key, address, minted)
    if deposit:
        orgs.market("utility").deposit(key.deposit(deposit))
        p.deposited = deposit
    return p


def consent_of(customer: Customer) -> CustomerConsent:
    """The customer's consent, signed in its own wallet with its identity's key."""
    return CustomerConsent.of_identity(customer.enrollment.certificate,
                                       customer.enrollment.signer())


def join_many(net: Consortium, orgs: Orgs, market_id: str, count: int, **kw: Any
              ) -> list[Participant]:
    """``count`` participants, four made at a time (they touch different keys)."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda _: join(net, orgs, market_id, **kw), range(count)))


def minute_start(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(second=0, microsecond=0)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def not_before(when: dt.datetime) -> dt.datetime | None:
    """A transaction time of ``when`` if it is still ahead, else the present (None)."""
    return when if when > now() else None


def submit_readings(orgs: Orgs, batch: list[SignedReading], at: dt.datetime | None = None
                    ) -> dict[str, Any]:
    """SubmitReadings as the Utility's bridge, at transaction time ``at`` (a reading may
    not end after its transaction time)."""
    contract = orgs.utility.network(orgs.channel).contract("metering", "metering")
    items = [r.to_json() for r in batch]
    proposal = contract.new_proposal(
        "SubmitReadings", transient={"args": json.dumps([json.dumps(items)]).encode(),
                                     "salt": os.urandom(32)},
        endorsing_organizations=("UtilityMSP", "RegulatorMSP"), timestamp=at)
    commit = orgs.utility.submit(orgs.utility.endorse(proposal))
    result = json.loads(commit.wait())
    assert result["accepted"] == len(batch), result
    orgs.wait_all(commit.transaction_id)
    return result
