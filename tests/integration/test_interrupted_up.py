"""An `up` killed half-way leaves state the next `up` completes (nothing to clean by hand)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from gridledger.network.consortium import Consortium
from gridledger.network.layout import Layout
from gridledger.network.topology import DEFAULT_TOPOLOGY, load

OFFSET = 3000  # its own ports: beside the session network


@pytest.fixture
def second_network(tmp_path):
    net = Consortium(load(port_offset=OFFSET), Layout(tmp_path / "state"))
    yield net
    net.down(purge=True)


def test_up_killed_during_enrollment_is_resumed_by_the_next_up(second_network):
    net = second_network
    cmd = [
        sys.executable, "-m", "gridledger", "network", "--topology", str(DEFAULT_TOPOLOGY),
        "--state-dir", str(net.layout.root), "--port-offset", str(OFFSET), "up",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if "its CA and identities" in line or time.monotonic() > deadline:
            break
    time.sleep(0.5)  # let it get into the middle of enrolling
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert not (net.exchange / "energy.block").exists()  # it really stopped half-way

    net.up()
    report = net.status()
    assert {n["health"] for n in report["nodes"]} == {"OK"}
    assert [(c["name"], c["channel"]) for c in report["chaincodes"]] == [
        (c.name, channel) for c in net.topology.chaincodes for channel in c.channels
    ]
    # No leftovers of the interrupted enrollment.
    assert not list(net.layout.root.glob("members/*/orgs/*/*.partial"))
