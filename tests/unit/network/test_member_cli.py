"""The member commands refuse what cannot work before touching a node, and say why."""

from __future__ import annotations

from click.testing import CliRunner

from gridledger.network.consortium import Consortium
from gridledger.network.layout import Layout
from gridledger.network.member_cli import channel, org
from gridledger.network.topology import load


def test_an_update_must_say_what_it_changes_and_one_kind_at_a_time(tmp_path):
    runner = CliRunner()
    out = tmp_path / "u.update"
    alone = runner.invoke(channel, ["update", "propose", "energy", "--out", str(out),
                                    "--state-dir", str(tmp_path), "--org", "utility"])
    assert alone.exit_code == 2 and "say what to change" in alone.output
    definition = tmp_path / "d.json"
    definition.write_text("{}")
    both = runner.invoke(channel, ["update", "propose", "energy", "--out", str(out),
                                   "--batch-timeout", "1s", "--add-member", str(definition),
                                   "--state-dir", str(tmp_path), "--org", "utility"])
    assert both.exit_code == 2 and "one kind of change per update" in both.output
    assert not out.exists()


def test_where_several_members_share_a_machine_the_acting_one_must_be_named(tmp_path):
    Consortium(load(), Layout(tmp_path))._check_state_dir()
    result = CliRunner().invoke(org, ["definition", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "say which acts with --org" in result.output
    assert "utility, regulator, aggregator" in result.output


def test_a_file_that_is_not_an_update_is_refused_by_show(tmp_path):
    junk = tmp_path / "junk.update"
    junk.write_bytes(b"\x0a\x03abc")
    result = CliRunner().invoke(channel, ["update", "show", str(junk)])
    assert result.exit_code == 1 and "is not a config update" in result.output
