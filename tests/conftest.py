"""Test-wide fixtures: the real Fabric network, started once per test session.

The test network runs beside any main network on this machine: its ports are the
topology's shifted by GRIDLEDGER_TEST_PORT_OFFSET (default 1000) and its state lives in
a temporary directory, removed at the end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridledger.clients.ledger_init import initialise
from gridledger.network.consortium import Consortium
from gridledger.network.layout import Layout
from gridledger.network.topology import load

PORT_OFFSET = int(os.environ.get("GRIDLEDGER_TEST_PORT_OFFSET", "1000"))


@pytest.fixture(scope="session")
def consortium(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """A running three-organisation network, channels `energy` and `market`, chaincode deployed."""
    state = Path(tmp_path_factory.mktemp("network")) / "state"
    net = Consortium(load(port_offset=PORT_OFFSET), Layout(state))
    # Bring-up (and, on a fresh machine, the Fabric build) takes minutes: show its progress
    # rather than a silent test run.
    capture = request.config.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled():
            net.up()
            initialise(net.layout.root, net.topology.channel)  # as `network up` does
    except BaseException:
        net.down()
        raise
    yield net
    net.down(purge=True)
