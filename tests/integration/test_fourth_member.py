"""A fourth member, a second aggregator, joins the running consortium (issue 18).

On a network of its own (the session's keeps three members): the newcomer initialises its
organisation in a state directory of its own and hands over its definition; the founders
add it to `energy` by a config update two of them sign (one is refused); its orderer
joins from the latest config block and becomes a Raft consenter; its peer joins from a
ledger snapshot the Utility's peer takes; the members set an endorsement policy for four
(with two approvals of four it is refused, with three it commits); the newcomer endorses
a transaction; and its ledger matches the others'.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from gridledger.clients.errors import GridLedgerError
from gridledger.clients.session import Session
from gridledger.network import channel as ch
from gridledger.network import config_update as cu
from gridledger.network import lifecycle
from gridledger.network.consortium import Consortium
from gridledger.network.crl_publish import fetch_config
from gridledger.network.layout import Layout
from gridledger.network.member import Member
from gridledger.network.polling import poll
from gridledger.network.topology import DEFAULT_TOPOLOGY, load

from ..conftest import PORT_OFFSET

OFFSET = PORT_OFFSET + 4000  # beside the session's network and the other private ones
CHANNEL = "energy"
NEWCOMER = {
    "name": "aggregator2", "msp_id": "Aggregator2MSP", "host": "127.0.4.1",
    "ca": {"port": 7454, "operations_port": 7457},
    "peer": {"name": "peer0", "port": 7451, "chaincode_port": 7452, "operations_port": 7455},
    "orderer": {"name": "orderer0", "port": 7450, "admin_port": 7453, "operations_port": 7456},
    "chaincode_server": {"port": 7458},
}
FOUR = ("OutOf(2, 'UtilityMSP.peer', 'RegulatorMSP.peer', 'AggregatorMSP.peer', "
        "'Aggregator2MSP.peer')")


@pytest.fixture
def founders(tmp_path):
    net = Consortium(load(port_offset=OFFSET), Layout(tmp_path / "consortium"))
    try:
        net.up()
        yield net
    finally:
        net.down(purge=True)


@pytest.fixture
def newcomer(tmp_path):
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    raw["organisations"].append(NEWCOMER)
    path = tmp_path / "topology-four.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    member = Member(load(path, port_offset=OFFSET), "aggregator2", Layout(tmp_path / "newcomer"))
    yield member
    if member.layout.state_file.exists():
        member.down(purge=True)


def _sign_and_submit(path: Path, signers, submitter) -> int:
    for m in signers:
        cu.sign(m.admin, path)
    return cu.submit(submitter.admin, path)


def test_a_fourth_member_joins_from_a_snapshot_and_endorses(founders, newcomer, tmp_path):
    utility, regulator, aggregator = (founders.member(o)
                                      for o in ("utility", "regulator", "aggregator"))
    mailbox = tmp_path / "mailbox"  # what the members hand each other
    mailbox.mkdir()

    # The newcomer, on its host: its CA, identities and definition. Definitions travel.
    definition = newcomer.init()
    shutil.copy(newcomer.layout.definition_file, mailbox / "aggregator2.json")
    for m in (utility, regulator, aggregator):
        m.add_definition(mailbox / "aggregator2.json")
        shutil.copy(m.layout.definition_file, mailbox / f"{m.name}.json")
        newcomer.add_definition(mailbox / f"{m.name}.json")

    # The Utility proposes adding it; alone it is refused, with the Regulator it applies.
    update = mailbox / "add-aggregator2.update"
    change = cu.add_member(utility.bins, utility.layout, utility.definitions(), definition)
    proposed = cu.propose(utility.admin, CHANNEL, change, update)
    assert {"/Channel/Application", "/Channel/Orderer/ConsensusType"} <= set(proposed.changes)
    with pytest.raises(cu.UpdateRefused, match="requires 2 of the 'Admins' sub-policies"):
        _sign_and_submit(update, [utility], utility)
    _sign_and_submit(update, [regulator], utility)
    _, config = fetch_config(aggregator.admin, CHANNEL)
    assert "Aggregator2MSP" in config.channel_group.groups["Application"].groups
    assert f"127.0.4.1:{7450 + OFFSET}" in cu.consenters(config)

    # Its orderer joins from the latest config block and catches up as a consenter.
    block = utility.fetch_config_block(CHANNEL, mailbox / "energy-config.block")
    newcomer.start()
    newcomer.join_orderer(CHANNEL, block)
    newcomer.wait_orderer(CHANNEL, timeout=120)

    # Its peer joins from a snapshot of the Utility's ledger.
    snapshot = utility.snapshot(CHANNEL)
    copied = mailbox / "snapshot"
    shutil.copytree(snapshot, copied)
    newcomer.join_peer_from_snapshot(CHANNEL, copied)
    assert ch.peer_height(newcomer.admin, CHANNEL) >= int(snapshot.name) + 1

    # The members set a policy for four; a majority of four is three approvals.
    health = newcomer.topology.chaincode("health")
    committed = lifecycle.query_committed(utility.admin, CHANNEL, "health")
    four = replace(health, sequence=committed.sequence + 1, endorsement_policy=FOUR,
                   channels=(CHANNEL,))
    newcomer.install(health)
    newcomer.approve(CHANNEL, four)
    utility.approve(CHANNEL, four)
    with pytest.raises(lifecycle.NotEnoughApprovals, match="ENDORSEMENT_POLICY_FAILURE"):
        utility.commit(CHANNEL, four)
    regulator.approve(CHANNEL, four)
    assert sum(newcomer.approvals(CHANNEL, four).values()) == 3
    utility.commit(CHANNEL, four)
    for m in (utility, regulator, newcomer):
        m.wait_ready(CHANNEL, four)

    # The newcomer's peer endorses, with the Utility's, a write of the Utility's operator
    # (the contracts' roles name the founders' MSPs: a new member's clients are nobody's
    # operators until a chaincode upgrade says so) under the policy for four.
    newcomer.write_connection_profile()
    key = f"fourth-{uuid.uuid4().hex[:6]}"
    with Session(utility.layout.root, "utility").gateway() as gateway:
        contract = gateway.network(CHANNEL).contract("health")

        def endorsed() -> str | None:
            try:
                contract.submit("Put", key, "four",
                                endorsing_organizations=["Aggregator2MSP", "UtilityMSP"])
                return None
            except GridLedgerError as exc:  # gossip has not yet told of the newcomer's peer
                return str(exc)

        polled = poll(endorsed, lambda failure: failure is None, timeout=60, interval=2)
        assert polled.done, polled.last

    # Its ledger matches the others': same height, and the write readable on every peer.
    admins = [m.admin for m in (utility, regulator, aggregator, newcomer)]
    polled = poll(lambda: {a.org.name: ch.peer_height(a, CHANNEL) for a in admins},
                  lambda h: len(set(h.values())) == 1, timeout=30, interval=0.5)
    assert polled.done, polled.last
    with Session(utility.layout.root, "utility").gateway() as gateway:
        for m in (utility, regulator, newcomer):  # read on each one's own peer
            got = gateway.network(CHANNEL).contract("health").evaluate(
                "Get", key, target_organizations=[m.org.msp_id])
            assert got == b"four", m.name
    info = ch.orderer_channel_info(newcomer.admin, CHANNEL)
    assert (info["consensusRelation"], info["status"]) == ("consenter", "active")
