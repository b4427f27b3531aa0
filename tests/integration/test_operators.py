"""Three operators, one consortium (issue 18): each member's state directory holds its own
keys only, its nodes listen on its own address, and the channel and the chaincode change
only when a majority of members has signed or approved, each on its own host.

Attacks performed on the real network: a member that submits a config update alone, a
member that signs with two admin certificates of its own to pass for two members, a member
that edits an update after the others signed it, a member that commits a chaincode
definition only it approved.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_config

from gridledger.clients.session import Session
from gridledger.clients.wallet import Wallet
from gridledger.network import config_update as cu
from gridledger.network import lifecycle
from gridledger.network.crl_publish import fetch_config
from gridledger.network.fabric_cli import run
from gridledger.network.nodes import admin_env

CHANNEL = "energy"


def _public_key(pem: bytes) -> bytes | None:
    """The public key of a PEM private key, or None if the file is not one."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        return None
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def _certificate_keys(root: Path) -> set[bytes]:
    keys = set()
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".pem", ".crt") and (
                b"CERTIFICATE" in path.read_bytes()):
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            keys.add(cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    return keys


def test_no_member_directory_holds_another_organisations_private_key(consortium):
    members = consortium.members
    assert len({m.layout.root for m in members}) == 3
    own_certs = {m.name: _certificate_keys(m.layout.org(m.name)) for m in members}
    for m in members:
        keys = []
        for path in m.layout.root.rglob("*"):
            if not path.is_file():
                continue
            raw = path.read_bytes()
            if b"PRIVATE KEY" not in raw:
                continue
            # Every key lives in the member's own organisation directory ...
            assert m.layout.org(m.name) in path.parents, f"{path} is outside {m.name}'s own"
            public = _public_key(raw)
            if public is None:  # only the CA's own Idemix keys are not X.509 key files
                assert m.layout.ca_home(m.name) in path.parents, path
                continue
            keys.append((path, public))
            # ... and is none of another member's certificates' keys.
            for other, certs in own_certs.items():
                if other != m.name:
                    assert public not in certs, f"{path} is {other}'s key"
        assert len(keys) >= 8, keys  # peer, orderer, Admin, chaincode (MSP and TLS), CA
    # What travels between the members carries certificates only.
    for path in consortium.exchange.glob("*.json"):
        assert b"PRIVATE KEY" not in path.read_bytes()


def test_each_member_runs_under_its_own_supervisor_on_its_own_address(consortium):
    for m in consortium.members:
        info = m.supervisor.all_info()
        names = {p["name"] for p in info}
        assert names >= {f"ca-{m.name}", f"peer0-{m.name}", f"orderer0-{m.name}"}
        assert all(n.endswith(f"-{m.name}") for n in names if not n.startswith("demo-"))
        for p in info:
            if p["statename"] != "RUNNING":
                continue
            process = psutil.Process(p["pid"])
            listening = [c.laddr for proc in [process, *process.children(recursive=True)]
                         for c in proc.net_connections(kind="tcp")
                         if c.status == psutil.CONN_LISTEN]
            assert listening, p["name"]
            # gRPC's Python server reports an IPv4 address in IPv6's mapped form.
            ips = {a.ip.removeprefix("::ffff:") for a in listening}
            assert ips == {m.org.host}, (p["name"], listening)


# -- config updates -----------------------------------------------------------------------------


def _batch_timeout(consortium, org: str) -> tuple[int, str]:
    number, config = fetch_config(consortium.admin(org), CHANNEL)
    return number, cu.batch_settings(config)[0]


@pytest.fixture
def batch_timeout_restored(consortium, tmp_path):
    """Whatever the test does to the batch timeout is undone by a majority afterwards."""
    _, before = _batch_timeout(consortium, "utility")
    yield before
    if _batch_timeout(consortium, "utility")[1] != before:
        path = tmp_path / "restore.update"
        cu.propose(consortium.admin("aggregator"), CHANNEL, cu.set_batch(timeout=before), path)
        cu.sign(consortium.admin("aggregator"), path)
        cu.sign(consortium.admin("regulator"), path)
        cu.submit(consortium.admin("regulator"), path)


def test_a_config_update_applies_only_with_a_majority_of_members_signatures(
        consortium, tmp_path, batch_timeout_restored):
    before_number, before = _batch_timeout(consortium, "utility")
    wanted = "150ms" if before != "150ms" else "160ms"
    # The Utility proposes on its host and hands the file on.
    path = consortium.exchange / f"batch-{uuid.uuid4().hex[:6]}.update"
    proposed = cu.propose(consortium.admin("utility"), CHANNEL, cu.set_batch(timeout=wanted),
                          path)
    assert proposed.changes == ["/Channel/Orderer/BatchTimeout"] and proposed.signers == []
    cu.sign(consortium.admin("utility"), path)

    # Alone, it is refused by the orderer, with Fabric's reason shown.
    with pytest.raises(cu.UpdateRefused) as refused:
        cu.submit(consortium.admin("utility"), path)
    said = str(refused.value)
    assert "requires 2 of the 'Admins' sub-policies" in said and "signed by UtilityMSP" in said
    for org in ("utility", "regulator", "aggregator"):
        assert _batch_timeout(consortium, org) == (before_number, before)

    # The Regulator signs on its host; any member may then submit.
    assert cu.sign(consortium.admin("regulator"), path).signers == ["UtilityMSP", "RegulatorMSP"]
    number = cu.submit(consortium.admin("aggregator"), path)
    assert number > before_number
    for org in ("utility", "regulator", "aggregator"):
        assert _batch_timeout(consortium, org) == (number, wanted)


def test_one_member_signing_with_two_admin_certificates_is_still_one_member(
        consortium, tmp_path, batch_timeout_restored):
    # The Utility's operator registers a second admin at its own CA: two valid admin
    # certificates, two signatures, one organisation.
    session = Session(consortium.layout.root, "utility")
    label = f"second-admin-{uuid.uuid4().hex[:6]}"
    with session.ca() as ca:
        secret = ca.register(session.registrar(), label, type="admin")
        enrollment = ca.enroll(label, secret)
    wallet = Wallet(tmp_path / "wallet")
    wallet.put(label, "UtilityMSP", enrollment)
    before_number, before = _batch_timeout(consortium, "utility")
    path = tmp_path / "alone.update"
    cu.propose(consortium.admin("utility"), CHANNEL, cu.set_batch(timeout="170ms"), path)
    cu.sign(consortium.admin("utility"), path)
    admin = consortium.admin("utility")
    env = {**admin_env(admin.bins, admin.layout, admin.org),
           "CORE_PEER_MSPCONFIGPATH": str(wallet.msp_dir(label))}
    run([admin.bins["peer"], "channel", "signconfigtx", "-f", str(path)], env)
    assert cu.describe(path).signers == ["UtilityMSP", "UtilityMSP"]

    with pytest.raises(cu.UpdateRefused, match="requires 2 of the 'Admins' sub-policies"):
        cu.submit(consortium.admin("utility"), path)
    assert _batch_timeout(consortium, "regulator") == (before_number, before)


def test_an_update_edited_after_the_others_signed_it_is_refused(
        consortium, tmp_path, batch_timeout_restored):
    before_number, before = _batch_timeout(consortium, "utility")
    path = tmp_path / "edited.update"
    cu.propose(consortium.admin("utility"), CHANNEL, cu.set_batch(timeout="180ms"), path)
    cu.sign(consortium.admin("utility"), path)
    cu.sign(consortium.admin("regulator"), path)

    # The Aggregator, handed the signed file, swaps in a value nobody signed for.
    envelope = common_pb2.Envelope.FromString(path.read_bytes())
    payload = common_pb2.Payload.FromString(envelope.payload)
    signed = configtx_pb2.ConfigUpdateEnvelope.FromString(payload.data)
    update = configtx_pb2.ConfigUpdate.FromString(signed.config_update)
    value = update.write_set.groups["Orderer"].values["BatchTimeout"]
    value.value = orderer_config.BatchTimeout(timeout="10s").SerializeToString()
    signed.config_update = update.SerializeToString()
    payload.data = signed.SerializeToString()
    path.write_bytes(common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString())
    assert cu.describe(path).signers == ["UtilityMSP", "RegulatorMSP"]  # looks signed

    with pytest.raises(cu.UpdateRefused, match="not satisfied"):
        cu.submit(consortium.admin("aggregator"), path)
    for org in ("utility", "regulator", "aggregator"):
        assert _batch_timeout(consortium, org) == (before_number, before)


def test_a_config_update_file_that_is_not_one_is_refused_clearly(consortium, tmp_path):
    path = tmp_path / "junk.update"
    path.write_bytes(b"\x0a\x03abc")
    with pytest.raises(cu.ConfigUpdateError, match="not a config update"):
        cu.sign(consortium.admin("regulator"), path)
    with pytest.raises(cu.NothingToChange):
        _, now = _batch_timeout(consortium, "utility")
        cu.propose(consortium.admin("utility"), CHANNEL, cu.set_batch(timeout=now), path)


# -- chaincode lifecycle ------------------------------------------------------------------------


def test_a_chaincode_definition_commits_only_once_a_majority_of_members_approved(consortium):
    utility, regulator, aggregator = (consortium.member(o) for o in
                                      ("utility", "regulator", "aggregator"))
    channel = "market"
    health = consortium.topology.chaincode("health")
    committed = lifecycle.query_committed(utility.admin, channel, "health")
    cc = replace(health, sequence=committed.sequence + 1)

    utility.approve(channel, cc)
    assert utility.approvals(channel, cc) == {
        "UtilityMSP": True, "RegulatorMSP": False, "AggregatorMSP": False}
    # The Utility commits what only it approved: Fabric invalidates it.
    with pytest.raises(lifecycle.NotEnoughApprovals, match="ENDORSEMENT_POLICY_FAILURE"):
        utility.commit(channel, cc)
    # Forcing the other peers to endorse does not help: they refuse what their own
    # organisation did not approve.
    with pytest.raises(lifecycle.NotEnoughApprovals, match="not agreed to by this org"):
        utility.commit(channel, cc, endorsers=utility.definitions())
    assert lifecycle.query_committed(aggregator.admin, channel, "health").sequence == (
        committed.sequence)

    regulator.approve(channel, cc)
    assert aggregator.approvals(channel, cc)["RegulatorMSP"] is True
    status = consortium.status()
    entry = next(c for c in status["chaincodes"]
                 if c["name"] == "health" and c["channel"] == channel)
    assert entry["sequence"] == committed.sequence  # the topology's is not ahead: no pending
    aggregator.commit(channel, cc)  # any member may commit once a majority approved
    for m in (utility, regulator, aggregator):
        m.wait_ready(channel, cc)
    aggregator.approve(channel, cc)  # so that its peer runs the new definition too
    # The new definition endorses: a write through the Aggregator and the Regulator.
    key = f"upgraded-{uuid.uuid4().hex[:6]}"
    with Session(consortium.layout.root, "aggregator").gateway() as gateway:
        contract = gateway.network(channel).contract("health")
        contract.submit("Put", key, "v2", endorsing_organizations=["AggregatorMSP",
                                                                   "RegulatorMSP"])
        assert contract.evaluate("Get", key) == b"v2"


# -- code identity --------------------------------------------------------------------------


def test_a_member_running_other_code_than_it_approved_is_stopped_before_it_endorses(
        consortium, tmp_path):
    import subprocess
    import sys

    regulator = consortium.member("regulator")
    (proc,) = [p for p in regulator.processes() if p.name == "cc-health-regulator"]
    command = list(proc.command)
    pinned = command[command.index("--code-sha256") + 1]
    # What the Regulator approved pins that code: the package id is the package's hash,
    # and the package carries the digest.
    package_id = regulator.recorded_state().package_ids["health"]
    package = regulator.layout.chaincode_dir / "health-regulator.tar.gz"
    assert lifecycle.package_id(consortium.topology.chaincode("health"), package) == package_id
    assert lifecycle.pinned_code(package) == pinned
    assert package_id in lifecycle.installed_package_ids(regulator.admin)

    # Its host now serves other code (a contract module that was not approved) on a port
    # of its own: the server refuses to start, before any peer could reach it.
    command[command.index("--contracts") + 1] = "health,tests.integration.rogue_access"
    command[command.index("--address") + 1] = f"{regulator.org.host}:{_free_port()}"
    started = subprocess.run(command, cwd=proc.cwd, capture_output=True, text=True, timeout=60,
                             env={**proc.env, "PATH": "/usr/bin:/bin",
                                  "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert started.returncode != 0
    assert "code identity mismatch" in started.stderr and pinned[:16] in started.stderr
    assert sys.executable == command[0]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
