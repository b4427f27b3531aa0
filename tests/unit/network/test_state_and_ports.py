import os
import socket
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from gridledger.network import crl_publish
from gridledger.network.channel import ChannelError, render_configtx
from gridledger.network.consortium import Consortium, NetworkError
from gridledger.network.health import PortInUseError, check_ports_free, port_owner
from gridledger.network.layout import Layout, write_private
from gridledger.network.nodes import Process
from gridledger.network.supervisor import render_config
from gridledger.network.topology import load

from . import definitions


def test_a_taken_port_is_reported_with_its_owner_process():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert f"pid {os.getpid()} " in (port_owner(port) or "")
        expected = rf"port {port} \(for peer0-x \(peer\)\) is held by pid"
        with pytest.raises(PortInUseError, match=expected):
            check_ports_free({port: "peer0-x (peer)"})
    assert port_owner(port) is None


def test_a_foreign_directory_is_never_taken_over_or_deleted(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    net = Consortium(load(), Layout(tmp_path))
    with pytest.raises(NetworkError, match=r"no state\.json"):
        net._check_state_dir()
    with pytest.raises(NetworkError, match="not removing"):
        net.down(purge=True)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_state_made_for_another_topology_is_refused(tmp_path):
    Consortium(load(), Layout(tmp_path))._check_state_dir()
    other = Consortium(load(port_offset=5), Layout(tmp_path))
    with pytest.raises(NetworkError, match="different topology"):
        other._check_state_dir()


def test_state_made_with_fewer_channels_gets_the_others_added_and_their_crls(
    tmp_path, monkeypatch
):
    # A state directory from before `market` (one channel, the old fingerprint).
    two = load()
    Consortium(replace(two, channels=("energy",)), Layout(tmp_path))._check_state_dir()
    said: list[str] = []
    net = Consortium(two, Layout(tmp_path), say=said.append)
    net._check_state_dir()
    assert said == [f"adding channel(s) market to the network in {tmp_path}"]
    assert net.recorded_state().made_for(two)
    carried = []
    monkeypatch.setattr(crl_publish, "carry_crls", lambda *a: carried.append(a))
    net._carry_crls()  # what `up` does once the new channel is joined
    assert carried == [(net, "energy", ["market"])]
    net._carry_crls()  # done once: the next `up` carries nothing
    assert len(carried) == 1


def test_state_made_with_other_channels_is_refused(tmp_path):
    two = load()
    Consortium(replace(two, channels=("market",)), Layout(tmp_path))._check_state_dir()
    with pytest.raises(NetworkError, match="channels may only be added"):
        Consortium(two, Layout(tmp_path))._check_state_dir()


def test_secrets_are_written_0600(tmp_path):
    write_private(tmp_path / "s" / "secret", "pw")
    assert stat.S_IMODE((tmp_path / "s" / "secret").stat().st_mode) == 0o600


FOUNDERS = [("utility", "127.0.1.1", 8150), ("regulator", "127.0.2.1", 8250),
            ("aggregator", "127.0.3.1", 8350)]


def test_configtx_is_filled_from_the_members_definitions(tmp_path):
    layout = Layout(tmp_path)
    founders = [definitions.make(*f) for f in FOUNDERS]
    for d in founders:
        d.install(layout)
    doc = render_configtx(founders, layout)
    orgs = doc["Profiles"]["Energy"]["Application"]["Organizations"]
    assert [o["AnchorPeers"] for o in orgs] == [
        [{"Host": h, "Port": p + 1}] for _, h, p in FOUNDERS
    ]
    assert [o["MSPDir"] for o in orgs] == [str(layout.org_msp(n)) for n, _, _ in FOUNDERS]
    consenters = doc["Profiles"]["Energy"]["Orderer"]["EtcdRaft"]["Consenters"]
    assert [(c["Host"], c["Port"]) for c in consenters] == [(h, p) for _, h, p in FOUNDERS]
    # Each consenter is named by the TLS certificate its organisation's definition carries.
    for c, d in zip(consenters, founders, strict=True):
        assert Path(c["ServerTLSCert"]).read_text() == d.orderer_tls_cert
    assert doc["Application"]["Policies"]["LifecycleEndorsement"]["Rule"] == "MAJORITY Endorsement"


def test_configtx_and_the_founders_definitions_must_name_the_same_organisations(tmp_path):
    founders = [definitions.make(*f) for f in FOUNDERS]
    with pytest.raises(ChannelError, match="AggregatorMSP"):
        render_configtx(founders[:2], Layout(tmp_path))


def test_a_member_configtx_does_not_declare_gets_the_same_policies_in_its_own_name(tmp_path):
    founders = [definitions.make(*f) for f in FOUNDERS]
    fourth = definitions.make("trader", "127.0.4.1", 8450)
    doc = render_configtx([*founders, fourth], Layout(tmp_path), founders=False)
    entry = next(o for o in doc["Organizations"] if o["ID"] == "TraderMSP")
    assert entry["Policies"]["Admins"]["Rule"] == "OR('TraderMSP.admin')"
    assert entry["Policies"]["Endorsement"]["Rule"] == "OR('TraderMSP.peer')"
    assert "UtilityMSP" not in str(entry)


def test_supervisor_config_quotes_values_and_never_autostarts(tmp_path):
    proc = Process(
        name="peer0-x", kind="peer", org="x", command=["/bin/peer", "node", "start"],
        env={"SPEC": 'a%b "c"'}, cwd=str(tmp_path),
    )  # fmt: skip
    text = render_config(Layout(tmp_path), [proc])
    assert "[program:peer0-x]" in text
    assert "autostart=false" in text
    assert 'SPEC="a%%b \\"c\\""' in text
    assert f"stdout_logfile={tmp_path}/logs/peer0-x.log" in text


def test_recorded_state_reads_what_up_wrote_and_cannot_change_it(tmp_path):
    net = Consortium(load(), Layout(tmp_path))
    empty = net.recorded_state()
    assert (empty.phase, empty.topology, dict(empty.package_ids)) == (None, None, {})
    assert not empty.is_up and not empty.made_for(net.topology)

    net._check_state_dir()
    net._save_state(phase="up")
    # Package ids are each member's own record, in its own state directory.
    utility = net.member("utility")
    utility.layout.root.mkdir(parents=True)
    utility.check_state_dir()
    utility._save_state(package_ids={"health": "health_1.0:abc"})
    state = net.recorded_state()
    assert state.phase == "up" and state.is_up
    assert state.made_for(net.topology) and not state.made_for(load(port_offset=5))
    assert state.package_ids == {"health/utility": "health_1.0:abc"}
    with pytest.raises(TypeError):
        state.package_ids["health/utility"] = "other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        state.phase = "new"  # type: ignore[misc]


def test_programs_added_by_others_survive_a_rewrite_of_the_networks_config(tmp_path):
    # Regression: `network up` rewrote supervisord's configuration and dropped the demo's
    # simulator and bridge. Added programs now live in a file of their own.
    import sys

    from gridledger.network.nodes import Process
    from gridledger.network.supervisor import Supervisor

    layout = Layout(tmp_path / "state")
    sup = Supervisor(layout)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    node = Process(name="node-a", kind="peer", org="utility", command=sleeper)
    addon = Process(name="demo-x", kind="demo", org="utility", command=sleeper)
    sup.start([node])
    try:
        sup.add_programs("demo", [addon])
        sup.start_process("demo-x")
        sup.start([node, Process(name="node-b", kind="peer", org="utility", command=sleeper)])
        names = {p["name"]: p["statename"] for p in sup.all_info()}
        assert names == {"node-a": "STOPPED", "node-b": "STOPPED", "demo-x": "RUNNING"}
    finally:
        sup.stop_all(["demo-x", "node-a"])
    assert not sup.running()
