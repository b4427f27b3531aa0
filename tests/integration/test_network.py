"""The consortium network on real Fabric nodes (issue: the consortium network)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from fabric_protos.common import policies_pb2
from fabric_protos.msp import msp_principal_pb2
from fabric_protos.peer import policy_pb2

from gridledger.clients.ledger_init import initialise
from gridledger.network import channel as ch
from gridledger.network import lifecycle
from gridledger.network.health import gauge, metrics

from .peer_cli import FabricCommandError, invoke, query


def heights(net, channel: str | None = None) -> dict[str, int]:
    channel = channel or net.topology.channel
    return {a.org.peer.id: ch.peer_height(a, channel) for a in net.admins}


def wait_same_height(net, at_least: int, timeout: float = 20,
                     channel: str | None = None) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        h = heights(net, channel)
        if len(set(h.values())) == 1 and min(h.values()) >= at_least:
            return h
        if time.monotonic() > deadline:
            return h
        time.sleep(0.3)


def test_every_peer_joined_both_channels_and_each_ledger_moves_on_its_own(consortium):
    assert consortium.topology.channels == ("energy", "market")
    for admin in consortium.admins:
        assert set(ch.peer_channels(admin)) == {"energy", "market"}
    for channel, other in (("energy", "market"), ("market", "energy")):
        before, untouched = max(heights(consortium, channel).values()), heights(consortium, other)
        invoke(consortium, "utility", ["utility", "regulator"], "Put", "height-probe", "1",
               channel=channel)
        after = wait_same_height(consortium, before + 1, channel=channel)
        assert set(after.values()) == {before + 1}, after
        # Two ledgers: a transaction on one is no block on the other.
        assert heights(consortium, other) == untouched


def test_each_orderer_is_in_a_three_member_raft_cluster_per_channel_with_one_leader(consortium):
    for channel in consortium.topology.channels:
        leaders = 0
        for admin in consortium.admins:
            info = ch.orderer_channel_info(admin, channel)
            assert (info["consensusRelation"], info["status"]) == ("consenter", "active")
            text = metrics(admin.org.host, admin.org.orderer.operations_port)
            assert gauge(text, "consensus_etcdraft_cluster_size", channel) == 3
            leaders += int(gauge(text, "consensus_etcdraft_is_leader", channel))
        assert leaders == 1, channel


def _principals(envelope: policies_pb2.SignaturePolicyEnvelope) -> list[tuple[str, int]]:
    out = []
    for p in envelope.identities:
        role = msp_principal_pb2.MSPRole()
        role.ParseFromString(p.principal)
        out.append((role.msp_identifier, role.role))
    return out


def test_chaincode_is_committed_with_the_declared_endorsement_policy(consortium):
    # What `peer lifecycle chaincode querycommitted` reports, decoded.
    admin, channel = consortium.admins[0], consortium.topology.channel
    committed = lifecycle.query_committed(admin, channel, "health")
    assert committed is not None
    assert committed.approvals == {"UtilityMSP": True, "RegulatorMSP": True, "AggregatorMSP": True}
    app_policy = policy_pb2.ApplicationPolicy()
    app_policy.ParseFromString(base64.b64decode(committed.validation_parameter))
    envelope = app_policy.signature_policy
    assert envelope.rule.n_out_of.n == 2
    assert len(envelope.rule.n_out_of.rules) == 3
    peer = msp_principal_pb2.MSPRole.PEER
    assert sorted(_principals(envelope)) == sorted(
        [("UtilityMSP", peer), ("RegulatorMSP", peer), ("AggregatorMSP", peer)]
    )


def test_each_chaincode_is_committed_on_its_own_channels_only(consortium):
    admin = consortium.admins[0]
    every = {"UtilityMSP": True, "RegulatorMSP": True, "AggregatorMSP": True}
    for channel, present, absent in (("energy", ("health", "metering"), ("market",)),
                                     ("market", ("health", "market"), ("metering",))):
        for name in present:
            committed = lifecycle.query_committed(admin, channel, name)
            assert committed is not None, (channel, name)
            assert (committed.sequence, committed.approvals) == (1, every)
        for name in absent:
            assert lifecycle.query_committed(admin, channel, name) is None, (channel, name)
    # One health server per organisation answers on both channels, each on its own ledger.
    key = f"channel-{uuid.uuid4().hex[:8]}"
    invoke(consortium, "regulator", ["regulator", "aggregator"], "Put", key, "market only",
           channel="market")
    for org in ("utility", "regulator", "aggregator"):
        assert json.loads(query(consortium, org, "Ping", channel="market"))["channel"] == "market"
        assert query(consortium, org, "Get", key, channel="market") == "market only"
    with pytest.raises(FabricCommandError) as missing:
        query(consortium, "utility", "Get", key)  # energy
    assert key in missing.value.stderr


def test_two_endorsements_commit_and_one_fails_validation(consortium):
    key = f"policy-{uuid.uuid4().hex[:8]}"
    invoke(consortium, "regulator", ["regulator", "aggregator"], "Put", key, "two")
    assert query(consortium, "utility", "Get", key) == "two"

    with pytest.raises(FabricCommandError) as failed:
        invoke(consortium, "utility", ["utility"], "Put", key, "one")
    # The orderer took it (it is in a block) but validation refused it.
    assert "ENDORSEMENT_POLICY_FAILURE" in failed.value.stderr
    assert query(consortium, "aggregator", "Get", key) == "two"


@pytest.mark.purges_network
def test_down_then_up_keeps_the_ledger_and_purge_starts_a_new_one(consortium):
    key = f"restart-{uuid.uuid4().hex[:8]}"
    invoke(consortium, "utility", ["utility", "aggregator"], "Put", key, "kept")
    before = wait_same_height(consortium, 1)

    consortium.down()
    assert not consortium.supervisor.running()
    consortium.up()
    assert wait_same_height(consortium, max(before.values())) == before
    assert query(consortium, "regulator", "Get", key) == "kept"

    consortium.down(purge=True)
    assert not consortium.layout.root.exists()
    consortium.up()
    initialise(consortium.layout.root, consortium.topology.channel)  # as `network up` does
    fresh = heights(consortium)
    assert max(fresh.values()) < max(before.values())
    with pytest.raises(FabricCommandError) as missing:
        query(consortium, "utility", "Get", key)
    assert key in missing.value.stderr
    # The fresh network is fully usable for whatever runs next.
    invoke(consortium, "utility", ["utility", "regulator"], "Put", key, "new")
    assert json.loads(query(consortium, "utility", "Ping"))["channel"] == "energy"
