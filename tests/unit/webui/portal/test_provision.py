"""Where each portal listens and how it is run, from the network's connection profiles;
the `gridledger portal` command loads without the web stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gridledger.network.consortium import Consortium
from gridledger.network.layout import Layout, open_layout
from gridledger.network.topology import load
from gridledger.webui.portal import provision
from tests.unit.network import definitions


@pytest.fixture
def state(tmp_path):
    net = Consortium(load(port_offset=1000), Layout(tmp_path / "state"))
    definitions.install_members(net)
    net.write_connection_profiles()
    return net.layout.root


def test_each_portal_listens_beside_its_peer(state):
    assert provision.address(state, "utility") == ("127.0.1.1", 8151 + 29)
    assert provision.address(state, "aggregator") == ("127.0.3.1", 8351 + 29)
    config = provision.config_for(state, "regulator", integrity_interval=5)
    assert (config.msp_id, config.port, config.integrity_interval) == ("RegulatorMSP", 8280, 5)
    assert config.data_dir == state / "portal" / "regulator"
    assert config.url.startswith("sqlite:///") and config.host == "127.0.2.1"


def test_the_portal_follows_the_topologys_channels(state):
    """Both channels of the topology, from the connection profile: the main one first
    (energy), then the market's; the mirror follows both."""
    config = provision.config_for(state, "utility")
    assert (config.channel, config.market_channel) == ("energy", "market")
    assert config.channels == ("energy", "market")


def test_a_network_of_one_channel_keeps_the_market_on_it(state):
    import yaml

    path = open_layout(state).connection_profile("utility")
    profile = yaml.safe_load(path.read_text())
    profile["channels"] = {"solo": profile["channels"]["energy"]}
    path.write_text(yaml.safe_dump(profile))
    config = provision.config_for(state, "utility")
    assert (config.channel, config.market_channel, config.channels) == ("solo", "solo",
                                                                        ("solo",))


def test_the_supervised_program_runs_the_portal_command(state):
    proc = provision.process(state, "utility")
    assert proc.name == "portal-utility" and proc.ports == (8180,)
    assert proc.command[1:] == ["-m", "gridledger", "portal", "run", "--org", "utility",
                                "--state-dir", str(state)]


def test_the_cli_imports_no_web_stack_until_a_command_runs():
    code = ("import sys, gridledger.webui.portal.cli; "
            "print(sorted(m for m in ('flask', 'sqlalchemy', 'alembic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout
