"""`gridledger network ...` as a person runs it, against the test network."""

from __future__ import annotations

import json
import subprocess
import sys

from gridledger.network.topology import DEFAULT_TOPOLOGY

from ..conftest import PORT_OFFSET


def gridledger(consortium, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "gridledger", "network",
        "--topology", str(DEFAULT_TOPOLOGY), "--state-dir", str(consortium.layout.root),
        "--port-offset", str(PORT_OFFSET), *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_status_reports_every_node_healthy_with_heights_and_the_chaincode(consortium):
    out = gridledger(consortium, "status", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    nodes = {n["name"]: n for n in report["nodes"]}
    # Per organisation: a CA, an orderer, a peer, and a server per chaincode.
    assert len(nodes) == 3 * (3 + len(consortium.topology.chaincodes))
    assert {n["health"] for n in nodes.values()} == {"OK"}
    peers = [nodes[p.id] for p in consortium.topology.peers]
    assert len({n["height"] for n in peers}) == 1
    # Per channel: the same height at each peer, one Raft leader among the orderers.
    for channel in ("energy", "market"):
        assert len({n["heights"][channel] for n in peers}) == 1
        assert sum(n["raft"][channel]["leader"] for n in nodes.values() if "raft" in n) == 1
    assert all(n["height"] == n["heights"]["energy"] for n in peers)  # the main channel's
    assert sum(n.get("raft_leader", False) for n in nodes.values()) == 1
    assert [(c["name"], c["channel"]) for c in report["chaincodes"]] == [
        ("health", "energy"), ("health", "market"), ("metering", "energy"), ("market", "market"),
    ]

    table = gridledger(consortium, "status")
    assert table.returncode == 0 and "Raft leader" in table.stdout
    assert "energy" in table.stdout and "market" in table.stdout


def test_logs_shows_a_node_log_and_names_the_nodes_for_an_unknown_one(consortium):
    out = gridledger(consortium, "logs", "peer0-utility", "-n", "5")
    assert out.returncode == 0 and out.stdout.strip()
    bad = gridledger(consortium, "logs", "peer9-nowhere")
    assert bad.returncode == 1
    assert "no node 'peer9-nowhere'" in bad.stderr and "peer0-utility" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_up_again_is_a_no_op_that_keeps_every_process(consortium):
    pids = {p["name"]: p["pid"] for p in consortium.supervisor.all_info()}
    out = gridledger(consortium, "up")
    assert out.returncode == 0, out.stderr
    assert {p["name"]: p["pid"] for p in consortium.supervisor.all_info()} == pids
