"""A portal application in memory: the small world in its mirror, a fake ledger that
records each write and who signed it, a fake CA, and an account per role."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient

from gridledger.clients.identity import Identity
from gridledger.webui.portal import create_app
from gridledger.webui.portal.config import PortalConfig
from gridledger.webui.portal.ledger import LedgerWriteError
from gridledger.webui.portal.services import build_services

from . import world
from .conftest import fill, sources
from .identities import TestCA

PASSWORD = "correct horse battery"
CHEAP_KDF = {"time_cost": 1, "memory_kib": 8, "parallelism": 1}
MSP = {"utility": "UtilityMSP", "regulator": "RegulatorMSP", "aggregator": "AggregatorMSP"}


@dataclass
class Call:
    who: str
    function: str
    args: tuple


@dataclass
class FakeLedger:
    """Records the writes and who signed them; ``fail`` makes the next write fail."""

    calls: list[Call] = field(default_factory=list)
    fail: LedgerWriteError | None = None

    @contextmanager
    def as_person(self, identity: Identity, signer):
        signer(b"proof the key was unlocked")
        yield _Person(self, identity.name)


class _Person:
    def __init__(self, ledger: FakeLedger, who: str) -> None:
        self.ledger, self.who = ledger, who

    def _do(self, fn: str, *args: Any) -> Any:
        if self.ledger.fail is not None:
            raise self.ledger.fail
        self.ledger.calls.append(Call(self.who, fn, args))
        return {"ok": True}

    def __getattr__(self, name: str):
        if name in ("my_address", "open_and_bind"):
            return lambda *a: (self._do(name, *a), "c" * 40)[1]
        if name == "resolve_pseudonym":
            def resolve(pseudonym, reason):
                self._do(name, pseudonym, reason)
                return {"pseudonym": pseudonym, "customerId": "C-2002", "mspId": "UtilityMSP",
                        "auditId": "a" * 64, "issuedAt": "2026-04-01T00:00:00Z",
                        "requestedAt": "2026-04-06T00:00:00Z"}
            return resolve
        if name == "certify_and_access":
            def certify(table, device_id, signer):
                self._do(name, table["dactId"], device_id, signer({"challenge": 1}))
                return {"tokenId": "tok-new", "purpose": table["purpose"],
                        "resources": [{"resourceId": r, "hashAddress": "cd" * 32}
                                      for r in table["resources"]],
                        "notAfter": table["notAfter"], "ownerInfo": False}
            return certify
        return lambda *a: self._do(name, *a)


class FakeCA:
    def __init__(self, ca: TestCA) -> None:
        self.ca = ca
        self.registered: list[tuple[str, str]] = []
        self._payments = ca.enroll("portal-payments", attrs={"gridledger.operator": "true"})

    def enroll_customer(self, enrollment_id: str, customer_id: str):
        self.registered.append((enrollment_id, customer_id))
        return self.ca.enroll(enrollment_id, attrs={"role": "customer",
                                                    "customerId": customer_id})

    def enroll_operator(self, enrollment_id: str):
        return self.ca.enroll(enrollment_id, attrs={"gridledger.operator": "true"})

    def payments(self):
        return (self._payments.identity("UtilityMSP"), self._payments.signer())


@dataclass
class Portal:
    app: Any
    services: Any
    ledger: FakeLedger
    ca: FakeCA
    test_ca: TestCA

    def client(self) -> FlaskClient:
        return self.app.test_client()


def make_portal(tmp_path, org: str = "utility", *, filled: bool = True,
                **settings: Any) -> Portal:
    config = PortalConfig.from_mapping({
        "org": org, "msp_id": MSP[org], "data_dir": tmp_path / f"portal-{org}",
        "testing": True, "kdf": CHEAP_KDF, "start_background": False, **settings})
    chain, market = world.build(), world.build_market()
    ledger, test_ca = FakeLedger(), TestCA(org)
    ca = FakeCA(test_ca)
    services = build_services(config, actions=ledger, enroller=ca,
                              source=sources(chain, market))
    if filled:
        fill(services.mirror, chain, market)
    app = create_app(config, services)
    portal = Portal(app, services, ledger, ca, test_ca)
    _accounts(portal, org)
    return portal


def _accounts(portal: Portal, org: str) -> None:
    accounts, ca = portal.services.accounts, portal.test_ca
    accounts.create(f"{org}-op", PASSWORD, enrollment=ca.enroll(f"{org}-op", ou="admin"))
    accounts.create(f"{org}-op2", PASSWORD, enrollment=ca.enroll(
        f"{org}-op2", attrs={"gridledger.operator": "true"}))
    if org == "utility":
        for name, cid in (("alice", world.C1), ("bob", world.C2)):
            accounts.create(name, PASSWORD, enrollment=ca.enroll(
                f"web-{name}", attrs={"role": "customer", "customerId": cid}))


def csrf_token(client: FlaskClient, path: str = "/signin") -> str:
    import re

    html = client.get(path).get_data(as_text=True)
    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/signin", data={"username": username, "password": password,
                                        "csrf_token": token})


def signed_in(portal: Portal, username: str) -> FlaskClient:
    client = portal.client()
    r = sign_in(client, username)
    assert r.status_code == 302, r.get_data(as_text=True)
    return client
