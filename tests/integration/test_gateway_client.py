"""Our Gateway client against the real network, checked against Fabric's own `peer` CLI."""

from __future__ import annotations

import json
import secrets
import threading
import time

import grpc
import pytest

from gridledger.clients.errors import CommitError, EndorseError, EvaluateError
from gridledger.clients.events import Checkpoint, FileCheckpoint
from gridledger.clients.gateway import Deadlines, Endpoint, Gateway

from . import peer_cli
from .gateways import connect, endpoint

CHANNEL = "energy"


def _key(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def test_our_submits_and_the_peer_cli_see_the_same_ledger(consortium, utility):
    health = utility.network(CHANNEL).contract("health")
    ours, theirs = _key("ours"), _key("theirs")
    result = health.submit("Put", ours, "written by our client")
    assert json.loads(result) == {"key": ours}
    assert peer_cli.query(consortium, "regulator", "Get", ours) == "written by our client"

    peer_cli.invoke(consortium, "aggregator", ["utility", "aggregator"], "Put", theirs, "by CLI")
    assert health.evaluate("Get", theirs) == b"by CLI"
    # The same query answers the same bytes through both.
    assert health.evaluate("Get", ours) == peer_cli.query(
        consortium, "utility", "Get", ours
    ).encode()


def test_submit_async_returns_at_once_and_commits_valid(utility):
    health = utility.network(CHANNEL).contract("health")
    commit = health.submit_async("Increment", _key("async"))
    assert len(commit.transaction_id) == 64
    assert json.loads(commit.result) == {"value": 1}
    status = commit.status()
    assert status.successful and status.code_name == "VALID" and status.block_number > 0


def test_racing_clients_one_commits_the_other_gets_mvcc_read_conflict(utility, regulator):
    key = _key("race")
    a = utility.network(CHANNEL).contract("health")
    b = regulator.network(CHANNEL).contract("health")
    # Both endorse against the same version before either is ordered.
    tx_a = utility.endorse(a.new_proposal("Increment", key))
    tx_b = regulator.endorse(b.new_proposal("Increment", key))
    first, second = utility.submit(tx_a), regulator.submit(tx_b)
    assert first.wait() == b'{"value":1}'
    with pytest.raises(CommitError) as err:
        second.wait()
    assert err.value.code_name == "MVCC_READ_CONFLICT"
    assert err.value.retryable
    assert err.value.transaction_id == tx_b.transaction_id
    assert a.evaluate("Get", key) == b"1"


def test_one_endorsement_where_policy_needs_two_fails_validation(utility):
    health = utility.network(CHANNEL).contract("health")
    key = _key("lonely")
    with pytest.raises(CommitError) as err:
        health.submit("Put", key, "x", endorsing_organizations=["UtilityMSP"])
    assert err.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    assert not err.value.retryable
    with pytest.raises(EvaluateError) as missing:
        health.evaluate("Get", key)  # nothing was written
    assert "not found" in str(missing.value)


def test_chaincode_error_reaches_the_caller_with_each_endorsers_message(utility):
    health = utility.network(CHANNEL).contract("health")
    with pytest.raises(EndorseError) as err:
        health.submit("Put", _key("empty"), "")
    assert "value must not be empty" in str(err.value)
    assert err.value.details, "each endorser's message is carried"
    assert err.value.chaincode_status == 400
    assert not err.value.retryable


def test_wrong_msp_id_is_a_clear_permission_error(consortium):
    # A Utility certificate claimed for the Regulator: the peer cannot validate it.
    with (
        connect(consortium, "utility", msp_id="RegulatorMSP") as gw,
        pytest.raises(EvaluateError) as err,
    ):
        gw.network(CHANNEL).contract("health").evaluate("Ping")
    assert err.value.code in (grpc.StatusCode.PERMISSION_DENIED,
                              grpc.StatusCode.FAILED_PRECONDITION)
    assert err.value.access_denied and not err.value.retryable
    assert "check its MSP ID" in str(err.value)


def test_an_expired_deadline_is_a_deadline_exceeded_error(consortium):
    with (
        connect(consortium, "utility", deadlines=Deadlines(evaluate=0.000_001)) as gw,
        pytest.raises(EvaluateError) as err,
    ):
        gw.network(CHANNEL).contract("health").evaluate("Ping")
    assert err.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert err.value.retryable


def test_a_wrong_tls_root_is_unavailable_and_says_so(consortium, utility):
    right = endpoint(consortium, "utility")
    wrong_root = consortium.layout.ca_cert(consortium.topology.org("regulator").name).read_bytes()
    with Gateway.connect(
        Endpoint(right.address, wrong_root), utility.identity, utility.sign,
        deadlines=Deadlines(evaluate=5),
    ) as gw, pytest.raises(EvaluateError) as err:
        gw.network(CHANNEL).contract("health").evaluate("Ping")
    assert err.value.code is grpc.StatusCode.UNAVAILABLE
    assert "TLS root" in str(err.value)


def test_offline_signing_submits_a_proposal_signed_elsewhere(consortium, utility):
    from gridledger.clients.proposal import Proposal, Transaction

    # A gateway without a key: every signature comes from "elsewhere" (here, utility's signer).
    with Gateway.connect(endpoint(consortium, "utility"), utility.identity, None) as gw:
        contract = gw.network(CHANNEL).contract("health")
        key = _key("offline")
        unsigned = contract.new_proposal("Put", key, "signed offline")
        handed_out = unsigned.to_bytes()
        signed = Proposal.from_bytes(handed_out)
        signed = signed.signed(utility.sign(signed.bytes))
        tx = gw.endorse(signed)
        carried = Transaction.from_bytes(tx.to_bytes())
        commit = gw.submit(carried.signed(utility.sign(carried.bytes)))
        from gridledger.clients.proposal import commit_status_request

        req = commit_status_request(CHANNEL, commit.transaction_id, gw.creator)
        status = gw.commit_status(
            CHANNEL, commit.transaction_id, signed_request=req.signed(utility.sign(req.bytes))
        )
        assert status.successful
        assert utility.network(CHANNEL).contract("health").evaluate("Get", key) == b"signed offline"


def _collect(events, count: int, checkpoint: Checkpoint, out: list) -> None:
    for ev in events:
        if ev.name != "HealthPut":
            continue
        out.append((ev.block_number, ev.transaction_id, ev.json()["key"]))
        checkpoint.checkpoint_event(ev)
        if len(out) >= count:
            events.close()
            return


def test_chaincode_events_resume_from_checkpoint_exactly_once(utility, tmp_path):
    network = utility.network(CHANNEL)
    health = network.contract("health")
    start = health.submit_async("Put", _key("mark"), "start").status().block_number + 1
    keys = [_key(f"ev{i}") for i in range(8)]
    # Submitted together, several land in one block: the checkpoint must split a block.
    commits = [health.submit_async("Put", k, "v") for k in keys[:6]]
    for c in commits:
        c.wait()

    path = tmp_path / "checkpoint.json"
    checkpoint = FileCheckpoint(path)
    seen: list = []
    first = network.chaincode_events("health", start_block=start, checkpoint=checkpoint,
                                     timeout=60)
    _collect(first, 3, checkpoint, seen)
    # Two more while nobody listens.
    for k in keys[6:]:
        health.submit("Put", k, "v")

    resumed_cp = FileCheckpoint(path)  # as a restarted process would
    assert resumed_cp.block_number is not None
    more: list = []
    second = network.chaincode_events("health", start_block=0, checkpoint=resumed_cp,
                                      timeout=60)
    t = threading.Thread(target=_collect, args=(second, 5, resumed_cp, more))
    t.start()
    t.join(60)
    assert not t.is_alive(), f"only {len(more)} of 5 events arrived after resuming"
    got = [k for _, _, k in seen + more]
    assert sorted(got) == sorted(keys), "every event exactly once, none lost or repeated"
    assert len({txid for _, txid, _ in seen + more}) == 8


def test_block_events_show_our_transaction_with_its_validation_code(utility):
    network = utility.network(CHANNEL)
    commit = network.contract("health").submit_async("Put", _key("blk"), "v")
    status = commit.status()
    with network.block_events(start_block=status.block_number,
                              stop_block=status.block_number, timeout=30) as blocks:
        (block,) = list(blocks)
    assert block.number == status.block_number
    assert block.data_hash_matches
    tx = {t.transaction_id: t for t in block.transactions}[commit.transaction_id]
    assert tx.validation_code == "VALID" and tx.creator_msp_id == "UtilityMSP"
    with network.block_events(start_block=status.block_number,
                              stop_block=status.block_number, filtered=True, timeout=30) as fb:
        (filtered,) = list(fb)
    assert commit.transaction_id in {t.transaction_id for t in filtered.transactions}
    # The chain links: block N's header hash is block N+1's previous hash.
    with network.block_events(start_block=status.block_number - 1,
                              stop_block=status.block_number, timeout=30) as pair:
        prev, this = list(pair)
    assert this.previous_hash == prev.header_hash


def test_a_customer_registered_and_enrolled_at_the_utility_ca_can_transact(consortium, tmp_path):
    from gridledger.clients.ca import CAClient
    from gridledger.clients.profile import ConnectionProfile
    from gridledger.clients.wallet import Wallet
    from gridledger.network.enroll import ca_admin_password

    org = consortium.topology.org("utility")
    ca_info = ConnectionProfile.load(consortium.layout.connection_profile(org.name)).ca()
    name = _key("customer")
    with CAClient(ca_info.url, ca_info.tls_root, ca_name=ca_info.name) as ca:
        registrar = ca.enroll("admin", ca_admin_password(consortium.layout, org.name))
        secret = ca.register(registrar, name,
                             attributes={"role": "customer", "customerId": "C-1001"})
        enrollment = ca.enroll(name, secret)
    wallet = Wallet(tmp_path / "wallet")
    wallet.put(name, org.msp_id, enrollment)
    identity, signer = wallet.get(name)
    with Gateway.connect(endpoint(consortium, "utility"), identity, signer) as gw:
        health = gw.network(CHANNEL).contract("health")
        assert json.loads(health.evaluate("Ping"))["msp"] == "UtilityMSP"
        key = f"customer/C-1001/{name}"  # a customer writes under its own prefix only
        health.submit("Put", key, "a customer wrote this")
    assert peer_cli.query(consortium, "aggregator", "Get", key) == "a customer wrote this"


def test_chaincode_events_without_a_start_block_begin_at_the_next_commit(utility):
    network = utility.network(CHANNEL)
    key = _key("next")
    stream = network.chaincode_events("health", timeout=60)
    got: list = []
    t = threading.Thread(target=_collect, args=(stream, 1, Checkpoint(), got))
    t.start()
    time.sleep(1)  # let the stream open before the transaction commits
    network.contract("health").submit("Put", key, "v")
    t.join(60)
    assert not t.is_alive(), "no event within 60 s"
    assert got[0][2] == key
