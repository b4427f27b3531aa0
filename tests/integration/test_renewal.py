"""Certificates renewed before they expire, with writes going on (issue 18).

The Regulator's CA is set to issue three-minute certificates (for this test only); its
nodes and admin are given such certificates, `network status` warns of them, and the
Regulator, its CA set back to a year, renews them while a client keeps writing. Once the
three minutes are over, its peer still endorses and its orderer still orders: they run on
the renewed ones.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gridledger.clients.errors import GridLedgerError
from gridledger.clients.session import Session
from gridledger.network import channel as ch
from gridledger.network import renewal

CHANNEL = "energy"
pytestmark = pytest.mark.restarts_nodes
SHORT = timedelta(minutes=3)


class Writer(threading.Thread):
    """Writes through the Utility's Gateway, which picks the endorsers; a write that fails
    (an endorser restarting) is tried again, and counted."""

    def __init__(self, consortium):
        super().__init__(daemon=True)
        self.consortium, self.stop = consortium, threading.Event()
        self.written: list[str] = []
        self.retries = 0
        self.lost: list[str] = []

    def run(self) -> None:
        with Session(self.consortium.layout.root, "utility").gateway() as gateway:
            contract = gateway.network(CHANNEL).contract("health")
            while not self.stop.is_set():
                key = f"renewal-{uuid.uuid4().hex[:8]}"
                for _ in range(10):
                    try:
                        contract.submit("Put", key, "v")
                        self.written.append(key)
                        break
                    except GridLedgerError:
                        self.retries += 1
                        self.stop.wait(1)
                else:
                    self.lost.append(key)
                self.stop.wait(0.3)


def _regulator_warnings(consortium) -> list[str]:
    return [w for w in consortium.status()["warnings"] if w.startswith("regulator ")]


def test_short_lived_certificates_are_renewed_with_writes_going_on(consortium):
    regulator = consortium.member("regulator")
    assert not _regulator_warnings(consortium)
    assert renewal.set_lifetime(regulator, "3m")
    try:
        short = renewal.renew(regulator, every=True)
    finally:
        assert renewal.set_lifetime(regulator, "8760h")
    assert not renewal.set_lifetime(regulator, "8760h")  # unchanged: the CA keeps running
    assert {(r.identity, r.kind) for r in short} >= {
        ("peer0", "msp"), ("peer0", "tls"), ("orderer0", "msp"), ("orderer0", "tls"),
        ("Admin", "msp"), ("Admin", "tls")}
    expires = max(r.not_after for r in short)
    assert expires - datetime.now(UTC) <= SHORT
    warned = _regulator_warnings(consortium)
    assert any("regulator peer0 (tls certificate) expires in" in w for w in warned), warned
    assert any("regulator orderer0 (msp certificate) expires in" in w for w in warned), warned

    pids = {p["name"]: p["pid"] for p in regulator.supervisor.all_info()}
    writer = Writer(consortium)
    writer.start()
    try:
        time.sleep(2)
        renewed = renewal.renew(regulator)  # what expires within 30 days: all of them
        time.sleep(2)
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert {(r.identity, r.kind) for r in renewed} == {(r.identity, r.kind) for r in short}
    assert all(r.not_after - datetime.now(UTC) > timedelta(days=300) for r in renewed)
    assert not _regulator_warnings(consortium)
    # The nodes were restarted onto their new certificates, and no write was lost.
    now = {p["name"]: p["pid"] for p in regulator.supervisor.all_info()}
    assert now["peer0-regulator"] != pids["peer0-regulator"]
    assert now["orderer0-regulator"] != pids["orderer0-regulator"]
    assert writer.written and not writer.lost, (writer.lost, writer.retries)

    # After the short certificates' end, the Regulator's nodes still take part.
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 5)
    key = f"after-expiry-{uuid.uuid4().hex[:6]}"
    with Session(consortium.layout.root, "regulator").gateway() as gateway:
        contract = gateway.network(CHANNEL).contract("health")
        contract.submit("Put", key, "v", endorsing_organizations=["RegulatorMSP",
                                                                  "AggregatorMSP"])
        assert contract.evaluate("Get", key, target_organizations=["RegulatorMSP"]) == b"v"
    info = ch.orderer_channel_info(regulator.admin, CHANNEL)
    assert (info["consensusRelation"], info["status"]) == ("consenter", "active")
    assert int(info["height"]) >= ch.peer_height(consortium.admin("utility"), CHANNEL)
