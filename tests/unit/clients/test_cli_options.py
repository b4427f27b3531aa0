"""The ledger commands' shared options: organisations and channel from the topology."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gridledger.clients.cli import NETWORK_COMMANDS, revoke
from gridledger.clients.cli_options import channel_option, common
from gridledger.clients.session import Session
from gridledger.network.cli import network
from gridledger.network.layout import Layout
from gridledger.network.topology import default_topology


@click.command()
@channel_option
@common
def probe(session: Session, channel: str, label: str, as_json: bool) -> None:
    click.echo(json.dumps({"org": session.org, "channel": channel, "label": label,
                           "state": str(session.state_dir)}))


def _run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(probe, list(args), catch_exceptions=False)


def test_org_and_channel_default_to_the_topologys(tmp_path: Path) -> None:
    out = _run("--state-dir", str(tmp_path))
    assert out.exit_code == 0, out.output
    topology = default_topology()
    assert json.loads(out.output) == {
        "org": topology.organisations[0].name, "channel": topology.channel, "label": "Admin",
        "state": str(tmp_path),
    }  # fmt: skip


def test_org_is_one_of_the_topologys_organisations(tmp_path: Path) -> None:
    names = [o.name for o in default_topology().organisations]
    for name in names:
        out = _run("--state-dir", str(tmp_path), "--org", name, "--channel", "other")
        assert json.loads(out.output)["org"] == name
        assert json.loads(out.output)["channel"] == "other"
    refused = _run("--org", "grid")
    assert refused.exit_code == 2
    assert "'grid' is not one of " + ", ".join(map(repr, names)) in refused.output
    assert "[" + "|".join(names) + "]" in _run("--help").output


def test_a_client_error_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    @click.command()
    @common
    def needs_profile(session: Session, label: str, as_json: bool) -> None:
        _ = session.msp_id

    out = CliRunner().invoke(needs_profile, ["--state-dir", str(tmp_path)])
    assert out.exit_code == 1
    assert out.output.startswith("error: cannot read connection profile")
    assert "Traceback" not in out.output


def test_session_paths_come_from_the_network_layout(tmp_path: Path) -> None:
    session = Session(tmp_path, "UtilityMSP")
    layout = Layout(tmp_path)
    assert session.org == "utility"
    assert session.layout == layout
    assert session.wallet.path == layout.wallet
    with pytest.raises(Exception, match=str(layout.connection_profile("utility"))):
        _ = session.profile


def test_revoke_joins_the_network_group_and_reports_a_missing_network(tmp_path: Path) -> None:
    assert revoke in NETWORK_COMMANDS and revoke.name == "revoke"
    network.add_command(revoke)  # as gridledger.cli does
    out = CliRunner().invoke(network, ["--state-dir", str(tmp_path), "revoke", "utility", "bob"])
    assert out.exit_code == 1
    assert out.output.startswith("error: ") and "Traceback" not in out.output
    assert "no registrar for utility" in out.output
