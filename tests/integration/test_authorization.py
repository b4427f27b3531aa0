"""The authorization matrix (chaincode/authorization.py) on the real network.

Real identities, one per kind of caller: the organisations' ``Admin`` (NodeOU admin) as
operators, a customer registered at the Utility's CA with ``role=customer`` and a
``customerId``, an identity of the Aggregator's CA given the same attributes, that
customer re-enrolled with ``attr_reqs=[]`` (no attributes), and an identity of a CA made
here for an MSP outside the channel. One test row per (function, caller): submit
functions are only endorsed (nothing is ordered), private ones get their arguments in
the transient map with a salt. Refused callers get the chaincode's 403; the unknown MSP
never reaches the chaincode (the Gateway's peer refuses it).

Also the CA's half of "operator rights are proven": a customer sign-up registrar cannot
hand out ``gridledger.operator``, while the bootstrap admin can, and an identity holding
it acts as an operator on the network.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridledger.chaincode.access import CONTRACTS as ACCESS
from gridledger.chaincode.authorization import CALLER_KINDS, MATRIX, RULES
from gridledger.chaincode.health import CONTRACTS as HEALTH
from gridledger.chaincode.market import CONTRACTS as MARKET
from gridledger.chaincode.marketlink import CONTRACTS as MARKETLINK
from gridledger.chaincode.metering import CONTRACTS as METERING
from gridledger.chaincode.shim import ContractRouter, canonical_json
from gridledger.chaincode.wattcoin import CONTRACTS as WATTCOIN
from gridledger.clients.ca import AuthorizationError, CAClient, Enrollment
from gridledger.clients.errors import GatewayError
from gridledger.clients.gateway import Gateway
from gridledger.clients.identity import Identity
from gridledger.clients.signing import Signer, private_key_signer
from gridledger.clients.wallet import Wallet
from gridledger.formats.ca_attributes import FABRIC_CA_ATTRS_OID
from gridledger.formats.reading import encode_reading, sign
from gridledger.network.enroll import ca_admin_password

from .access_world import MatrixAccess, matrix_access
from .gateways import endpoint
from .market_matrix import MatrixMarket, matrix_market
from .market_world import Orgs

pytestmark = pytest.mark.integration

CHANNEL, MARKET_CHANNEL = "energy", "market"
ENDORSERS = ("UtilityMSP", "RegulatorMSP")  # both members of customerData; 2 of 3 peers
TRANSACTIONS = {(tx.contract, tx.function): tx for tx in ContractRouter(
    [c() for c in (*METERING, *WATTCOIN, *ACCESS, *MARKET, *MARKETLINK, *HEALTH)]
).transactions()}
CELLS = [(contract, function, kind) for (contract, function) in RULES for kind in CALLER_KINDS]


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _ous(cert_pem: bytes) -> list[str]:
    cert = x509.load_pem_x509_certificate(cert_pem)
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(
        NameOID.ORGANIZATIONAL_UNIT_NAME)]


@dataclass
class Caller:
    kind: str
    gateway: Gateway


class Outcome:
    """What one call came to: the chaincode's answer, or the Gateway's refusal."""

    def __init__(self, result: bytes | None = None, error: GatewayError | None = None):
        self.result, self.error = result, error

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> int | None:
        """The chaincode's status: 200 on success, None when the chaincode never ran."""
        return 200 if self.error is None else self.error.chaincode_status

    def __repr__(self) -> str:
        return "Outcome(ok)" if self.ok else f"Outcome({self.error})"


def call(caller: Caller, contract: str, function: str, *args: str, submit: bool = False
         ) -> Outcome:
    """Evaluate, or for a submit function endorse only; private arguments go in the
    transient map, and every call carries a salt (private writes need one)."""
    tx = TRANSACTIONS[(contract, function)]
    chaincode = contract if contract in ("health", "market") else "metering"
    transient: dict[str, bytes] = {"salt": os.urandom(32)}
    if tx.private:
        transient["args"] = json.dumps(list(args)).encode()
        args = ()
    network = caller.gateway.network(MARKET_CHANNEL if contract == "market" else CHANNEL)
    target = network.contract(chaincode, None if contract == "health" else contract)
    try:
        if tx.kind == "submit":
            proposal = target.new_proposal(function, *args, transient=transient,
                                           endorsing_organizations=ENDORSERS)
            transaction = caller.gateway.endorse(proposal)
            if submit:
                return Outcome(caller.gateway.submit(transaction).wait(timeout=60))
            return Outcome(transaction.result)
        proposal = target.new_proposal(function, *args, transient=transient,
                                       endorsing_organizations=("UtilityMSP",))
        return Outcome(caller.gateway.evaluate(proposal))
    except GatewayError as exc:
        return Outcome(error=exc)


def submitted(caller: Caller, contract: str, function: str, *args: str) -> Any:
    """Endorse, order and commit (for the world the matrix reads); the JSON answer."""
    out = call(caller, contract, function, *args, submit=True)
    assert out.ok, out
    return json.loads(out.result) if out.result else None


# -- identities ---------------------------------------------------------------------------


def _ca(consortium, org: str) -> CAClient:
    o = consortium.topology.org(org)
    return CAClient(o.ca.url, consortium.layout.ca_cert(org), ca_name=o.ca.name)


def _intruder() -> tuple[Identity, Signer]:
    """An identity of "IntruderMSP", whose CA no channel member knows: it claims every
    right an identity could (NodeOU admin, customer attributes, the operator attribute)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "intruder"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "ca.intruder")])
    now = dt.datetime.now(dt.UTC)
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = {"role": "customer", "customerId": "C-AZ", "gridledger.operator": "true"}
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "intruder"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "admin"),
                x509.NameAttribute(NameOID.COMMON_NAME, "intruder")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.UnrecognizedExtension(
                FABRIC_CA_ATTRS_OID, json.dumps({"attrs": attrs}).encode()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (Identity("IntruderMSP", leaf.public_bytes(serialization.Encoding.PEM)),
            private_key_signer(key))


@dataclass
class Identities:
    customer_id: str
    customer: Enrollment
    reenrolled: Enrollment
    foreign: Enrollment


@pytest.fixture(scope="module")
def identities(consortium) -> Identities:
    customer_id = _unique("C-AZ")
    with _ca(consortium, "utility") as ca:
        registrar = ca.enroll("admin", ca_admin_password(consortium.layout, "utility"))
        name = _unique("az-customer")
        secret = ca.register(registrar, name, max_enrollments=-1, attributes=[
            ("role", "customer", True), ("customerId", customer_id, True)])
        customer = ca.enroll(name, secret)
        # Finding 1's way in: the project's own client lets a customer drop its attributes.
        reenrolled = ca.reenroll(customer, attr_reqs=[])
    with _ca(consortium, "aggregator") as ca:
        registrar = ca.enroll("admin", ca_admin_password(consortium.layout, "aggregator"))
        name = _unique("az-mallory")
        secret = ca.register(registrar, name, attributes=[
            ("role", "customer", True), ("customerId", customer_id, True)])
        foreign = ca.enroll(name, secret)
    # What each certificate really says (the rows below depend on it).
    assert (customer.attributes["role"], customer.attributes["customerId"]) == (
        "customer", customer_id)
    assert "client" in _ous(customer.certificate)
    assert "role" not in reenrolled.attributes and "customerId" not in reenrolled.attributes
    assert "client" in _ous(reenrolled.certificate)
    assert foreign.attributes["customerId"] == customer_id
    return Identities(customer_id, customer, reenrolled, foreign)


@pytest.fixture(scope="module")
def callers(consortium, identities: Identities) -> Iterator[dict[str, Caller]]:
    """One Gateway per kind of caller, all to the Utility's peer."""
    where = endpoint(consortium, "utility")
    made: dict[str, tuple[Identity, Signer]] = {}
    for kind, org in (("utility-operator", "utility"), ("regulator-operator", "regulator"),
                      ("aggregator-operator", "aggregator")):
        o = consortium.topology.org(org)
        made[kind] = Wallet.from_msp_dir(consortium.layout.msp(o.name, "Admin"), o.msp_id)
        assert "admin" in _ous(made[kind][0].certificate), kind
    for kind, enrollment, msp in (
        ("customer", identities.customer, "UtilityMSP"),
        ("foreign-customer", identities.foreign, "AggregatorMSP"),
        ("no-attributes", identities.reenrolled, "UtilityMSP"),
    ):
        made[kind] = (enrollment.identity(msp), enrollment.signer())
    made["unknown-msp"] = _intruder()
    assert set(made) == set(CALLER_KINDS)
    gateways = {kind: Caller(kind, Gateway.connect(where, ident, signer))
                for kind, (ident, signer) in made.items()}
    yield gateways
    for caller in gateways.values():
        caller.gateway.close()


# -- the world the matrix reads -----------------------------------------------------------


@dataclass
class World:
    customer_id: str
    tariff_id: str
    meter: str  # the customer's meter, with one reading
    spare_meter: str  # the customer's second meter, without a wallet
    customer_account: str
    operator_account: str
    bill_start: str  # an issued bill's period start
    free_period: tuple[str, str]  # a finished period with no bill
    next_reading: str  # a signed batch not submitted yet
    alarm: str  # a signed alarm not raised yet
    new_key: str
    tariff_version: str  # a later version of the tariff
    access: MatrixAccess | None = None  # contract access: device, DACTs, tokens per kind
    market: MatrixMarket | None = None  # contract market: participants, intervals, a VPP

    def args(self, contract: str, function: str, kind: str) -> tuple[str, ...]:
        own = self.operator_account if kind == "utility-operator" else self.customer_account
        other = (self.customer_account if own == self.operator_account
                 else self.operator_account)
        if contract == "access":
            return self.access.args(function, kind)
        if contract in ("market", "marketlink"):
            return self.market.args(function, kind)
        registration = _registration(_unique("AZ-NEW"), self.customer_id, self.tariff_id,
                                     _pem(ec.generate_private_key(ec.SECP256R1())))
        return {
            "InitKeySecret": (),
            "RegisterMeter": (registration,),
            "ReplaceMeterKey": (self.meter, self.new_key),
            "SuspendMeter": (self.meter, "seal broken"),
            "ResumeMeter": (self.meter, "inspected"),
            "DecommissionMeter": (self.meter, "replaced"),
            "SetMeterTariff": (self.meter, self.tariff_id),
            "GetMeter": (self.meter,),
            "GetMeterDevice": (self.meter,),
            "MetersByCustomer": (self.customer_id,),
            "SetTariff": (self.tariff_version,),
            "GetTariff": (self.tariff_id, ""),
            "SubmitReadings": (self.next_reading,),
            "GetReadings": (self.meter, "1", "10"),
            "GetReadingDetail": (self.meter, "1"),
            "VerifyMeterChain": (self.meter,),
            "RaiseAlarm": (self.alarm,),
            "AlarmsByMeter": (self.meter,),
            "ComputeBill": (self.customer_id, *self.free_period),
            "IssueBill": (self.customer_id, *self.free_period),
            "GetBill": (self.customer_id, self.bill_start),
            "BillsByCustomer": (self.customer_id,),
            "OpenAccount": (),
            "OpenMeterAccount": (self.spare_meter, self.operator_account),
            "BindCustomer": (self.customer_id, self.customer_account),
            "Mint": (self.customer_account, "100", _unique("PAY-AZ")),
            "Transfer": (own, other, "1"),
            "SetLowBalancePolicy": (own, "10", "notify"),
            "Balance": (self.customer_account,),
            "MyAddress": (),
            "AccountOfCustomer": (self.customer_id,),
            "History": (self.customer_account, "1", "10"),
            "UtilityAccount": (),
            "SupplyStatus": (json.dumps([self.meter, self.spare_meter]),),
            "Ping": (),
            "Get": ("authz-probe",),
            # A customer writes under its own prefix only (chaincode/health/contract.py).
            "Put": (f"customer/{self.customer_id}/authz-probe" if kind == "customer"
                    else "authz-probe", "up"),
            "Increment": (f"customer/{self.customer_id}/authz-counter" if kind == "customer"
                          else "authz-counter",),
        }[function]


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _registration(meter_id: str, customer_id: str, tariff_id: str, pem: str) -> str:
    return json.dumps({"meterId": meter_id, "publicKeyPem": pem, "curve": "P-256",
                       "customerId": customer_id, "tariffId": tariff_id,
                       "deviceProfile": "EPM5500P", "location": "Da Nang",
                       "installDate": "2026-01-01"})


def _z(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def world(consortium, callers: dict[str, Caller], identities: Identities
          ) -> Iterator[World]:
    utility, regulator = callers["utility-operator"], callers["regulator-operator"]
    customer = callers["customer"]
    cid = identities.customer_id
    tariff_id = _unique("AZ-TARIFF")
    tariff = {"tariffId": tariff_id, "effectiveFrom": "2026-01-01T00:00:00Z",
              "currency": "VND", "currencyExponent": 0, "utcOffsetMinutes": 420,
              "tiers": [{"upToKwh": 50, "pricePerKwh": 1984},
                        {"upToKwh": None, "pricePerKwh": 2050}],
              "taxes": [{"name": "VAT", "rateBasisPoints": 800}]}
    submitted(regulator, "metering", "SetTariff", json.dumps(tariff))
    key = ec.generate_private_key(ec.SECP256R1())
    meter, spare = _unique("AZ-M"), _unique("AZ-S")
    submitted(utility, "metering", "RegisterMeter", _registration(meter, cid, tariff_id, _pem(key)))
    submitted(utility, "metering", "RegisterMeter",
              _registration(spare, cid, tariff_id, _pem(ec.generate_private_key(ec.SECP256R1()))))
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    base = hour - dt.timedelta(hours=4)

    def item(seq: int, minutes: int, import_wh: int) -> dict[str, Any]:
        r = {"meterId": meter, "seq": seq, "intervalEnd": _z(base + dt.timedelta(minutes=minutes)),
             "importWh": import_wh, "exportWh": 0, "voltageDv": 2301, "currentMa": 4800,
             "powerW": 1100}
        return {"reading": r, "signature": sign(key, encode_reading(r))}

    verdicts = submitted(utility, "metering", "SubmitReadings", json.dumps([item(1, 15, 1000)]))
    assert verdicts["accepted"] == 1, verdicts
    submitted(utility, "metering", "IssueBill", cid, _z(base), _z(base + dt.timedelta(hours=1)))
    opened = call(utility, "wattcoin", "OpenAccount", submit=True)
    # 409: another module's test opened the Utility Admin's account on this ledger.
    assert opened.ok or opened.status == 409, opened
    operator_account = json.loads(call(utility, "wattcoin", "MyAddress").result)["address"]
    customer_account = submitted(customer, "wattcoin", "OpenAccount")["address"]
    submitted(customer, "wattcoin", "BindCustomer", cid, customer_account)
    submitted(utility, "wattcoin", "Mint", customer_account, "100000", _unique("PAY-AZ"))
    submitted(utility, "wattcoin", "Mint", operator_account, "100000", _unique("PAY-AZ"))
    submitted(utility, "health", "Put", "authz-probe", "up")
    alarm = {"at": _z(base + dt.timedelta(minutes=20)), "kind": "gas", "meterId": meter}
    orgs = Orgs(utility.gateway, regulator.gateway, callers["aggregator-operator"].gateway,
                CHANNEL)
    world = World(
        customer_id=cid, tariff_id=tariff_id, meter=meter, spare_meter=spare,
        customer_account=customer_account, operator_account=operator_account,
        bill_start=_z(base),
        free_period=(_z(base + dt.timedelta(hours=1)), _z(base + dt.timedelta(hours=2))),
        next_reading=json.dumps([item(2, 30, 1500)]),
        alarm=json.dumps({"alarm": alarm, "signature": sign(key, canonical_json(alarm))}),
        new_key=json.dumps({"publicKeyPem": _pem(ec.generate_private_key(ec.SECP256R1()))}),
        tariff_version=json.dumps({**tariff, "effectiveFrom": _z(hour + dt.timedelta(days=30))}),
        access=matrix_access(callers, cid, CHANNEL),
        market=matrix_market(consortium, orgs),
    )
    yield world
    world.market.finish(orgs)


# -- the matrix -----------------------------------------------------------------------------

# Allowed cells whose arguments the function refuses by design, with the status it gives.
NOT_200 = {
    ("wattcoin", "OpenAccount"): 409,  # the world opened these accounts already
    ("metering", "ResumeMeter"): 409,  # the meter is active
    ("metering", "InitKeySecret"): 409,  # set once, at the network's bring-up
    # The world's challenge is signed for another transaction than the matrix's: past the
    # caller check and the DACT match, refused at the device proof.
    ("access", "Certify"): 401,
    ("market", "ConfigureMarket"): 409,  # configured once per ledger
    # Evaluated on the Utility's peer, which holds no regulatorOnly data (only the
    # Regulator's peer answers: test_market).
    ("market", "ResolvePseudonym"): 404,
    ("marketlink", "PseudonymHolder"): 404,
}


@pytest.mark.parametrize(("contract", "function", "kind"), CELLS,
                         ids=[f"{c}:{f}-{k}" for c, f, k in CELLS])
def test_matrix(callers: dict[str, Caller], world: World, contract: str, function: str,
                kind: str) -> None:
    out = call(callers[kind], contract, function, *world.args(contract, function, kind))
    if kind == "unknown-msp":
        # The peer refuses a creator whose MSP the channel does not know: no chaincode ran.
        assert not out.ok and out.status is None and out.error.access_denied, out
    elif MATRIX[(contract, function)][kind]:
        assert out.status == NOT_200.get((contract, function), 200), out
    else:
        assert out.status == 403, out
        assert function in str(out.error) and "caller" in str(out.error)


# -- the findings, by name ------------------------------------------------------------------


def test_reenrolled_customer_cannot_mint_register_bill_or_read_detail(
        callers: dict[str, Caller], world: World) -> None:
    # Issue 11, finding 1: re-enrolled without attributes, a customer counted as an
    # operator and minted itself 1,000,000,000.
    caller = callers["no-attributes"]
    for contract, function, args in (
        ("wattcoin", "Mint", (world.customer_account, "1000000000", _unique("PAY-SELF"))),
        ("metering", "RegisterMeter", world.args("metering", "RegisterMeter", "no-attributes")),
        ("metering", "IssueBill", (world.customer_id, *world.free_period)),
        ("metering", "GetReadingDetail", (world.meter, "1")),
    ):
        assert call(caller, contract, function, *args).status == 403, function
    balance = json.loads(call(callers["customer"], "wattcoin", "Balance",
                              world.customer_account).result)
    assert balance["balance"] == 100_000


def test_aggregator_identity_with_the_customers_id_reads_nothing_of_it(
        callers: dict[str, Caller], world: World) -> None:
    # Issue 11, finding 5: an AggregatorMSP certificate with customerId=c-1 read c-1's
    # bill and Wattcoin account.
    caller = callers["foreign-customer"]
    for contract, function, args in (
        ("metering", "GetBill", (world.customer_id, world.bill_start)),
        ("metering", "BillsByCustomer", (world.customer_id,)),
        ("wattcoin", "AccountOfCustomer", (world.customer_id,)),
        ("wattcoin", "Balance", (world.customer_account,)),
    ):
        assert call(caller, contract, function, *args).status == 403, function
    # The real customer reads them.
    bill = json.loads(call(callers["customer"], "metering", "GetBill", world.customer_id,
                           world.bill_start).result)
    assert bill["customerId"] == world.customer_id


# -- the CA: who can make an operator -------------------------------------------------------


def test_a_signup_registrar_cannot_grant_the_operator_attribute_but_the_bootstrap_admin_can(
        consortium, callers: dict[str, Caller], world: World) -> None:
    with _ca(consortium, "utility") as ca:
        admin = ca.enroll("admin", ca_admin_password(consortium.layout, "utility"))
        signup_name = _unique("az-signup")
        secret = ca.register(admin, signup_name, type="client", attributes=[
            ("hf.Registrar.Roles", "client", False),
            ("hf.Registrar.Attributes", "role,customerId", False)])
        signup = ca.enroll(signup_name, secret)
        # What a customer sign-up service is for: customers.
        ca.register(signup, _unique("az-signed-up"), attributes=[
            ("role", "customer", True), ("customerId", _unique("C-AZ"), True)])
        # Not operators: neither the attribute nor the admin type.
        with pytest.raises(AuthorizationError):
            ca.register(signup, _unique("az-fake-op"),
                        attributes=[("gridledger.operator", "true", True)])
        with pytest.raises(AuthorizationError):
            ca.register(signup, _unique("az-fake-admin"), type="admin")
        # The bootstrap admin may make a service identity an operator ...
        service = _unique("az-service")
        secret = ca.register(admin, service, attributes=[("gridledger.operator", "true", True)])
        enrollment = ca.enroll(service, secret)
    assert enrollment.attributes["gridledger.operator"] == "true"
    assert "client" in _ous(enrollment.certificate)
    # ... and the network then treats it as one: an operator-only read.
    with Gateway.connect(endpoint(consortium, "utility"), enrollment.identity("UtilityMSP"),
                         enrollment.signer()) as gw:
        out = call(Caller("service", gw), "metering", "GetReadingDetail", world.meter, "1")
    assert out.ok, out
