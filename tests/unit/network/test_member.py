"""One member's state directory: whose it is, where its processes' files go, and the
certificates `network status` warns about before they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridledger.network.consortium import Consortium
from gridledger.network.layout import ConsortiumLayout, Layout, open_layout
from gridledger.network.member import Member, MemberError
from gridledger.network.topology import load

from . import definitions


def _issue(path, days: float) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    cert = definitions.certificate("x", key, name, key, ca=False, days=days)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(definitions.pem(cert))


def test_status_warns_of_certificates_that_expire_soon_and_not_of_the_others(tmp_path):
    member = Member(load(), "regulator", Layout(tmp_path))
    org = member.layout.org("regulator")
    _issue(org / "peer0" / "msp" / "signcerts" / "cert.pem", days=365)
    _issue(org / "Admin" / "msp" / "signcerts" / "cert.pem", days=3)
    _issue(org / "orderer0" / "tls" / "server.crt", days=0.5)
    warnings = member.expiry_warnings()
    assert len(warnings) == 2
    assert any(w.startswith("regulator Admin (msp certificate) expires in 3 days")
               or w.startswith("regulator Admin (msp certificate) expires in 2 days")
               for w in warnings), warnings
    assert any("orderer0 (tls certificate) expires in 11 hours" in w
               or "orderer0 (tls certificate) expires in 12 hours" in w for w in warnings)
    later = datetime.now(UTC) + timedelta(days=4)
    assert any("Admin (msp certificate) expired" in w
               for w in member.expiry_warnings(now=later))


def test_a_member_directory_is_its_organisations_only(tmp_path):
    Member(load(), "utility", Layout(tmp_path)).check_state_dir()
    with pytest.raises(MemberError, match="'utility''s state directory, not 'regulator''s"):
        Member(load(), "regulator", Layout(tmp_path)).check_state_dir()
    with pytest.raises(MemberError, match="other addresses or ports"):
        Member(load(port_offset=7), "utility", Layout(tmp_path)).check_state_dir()


def test_each_process_file_is_in_its_organisations_directory(tmp_path):
    net = Consortium(load(), Layout(tmp_path))
    net._check_state_dir()
    layout = open_layout(tmp_path)
    assert isinstance(layout, ConsortiumLayout)
    assert layout.member_names() == ["utility", "regulator", "aggregator"]
    assert layout.log("peer0-regulator") == tmp_path / "members/regulator/logs/peer0-regulator.log"
    assert layout.node("orderer0-aggregator").is_relative_to(tmp_path / "members/aggregator")
    assert layout.log("demo-bridge").is_relative_to(tmp_path / "members/utility")  # no org's
    assert layout.ca_cert("regulator").is_relative_to(tmp_path / "members/regulator")
    assert layout.wallet == tmp_path / "wallet"  # clients on this machine share it
    assert not isinstance(open_layout(tmp_path / "members" / "utility"), ConsortiumLayout)


def test_a_state_directory_from_before_members_is_refused_not_rewritten(tmp_path):
    (tmp_path / "state.json").write_text('{"phase": "up", "topology": "abc"}')
    with pytest.raises(Exception, match="before each organisation kept a state directory"):
        Consortium(load(), Layout(tmp_path))._check_state_dir()
    assert (tmp_path / "state.json").read_text() == '{"phase": "up", "topology": "abc"}'


def test_a_deep_state_directory_gets_its_supervisor_socket_in_a_private_directory(
        tmp_path, monkeypatch):
    import shutil
    import stat
    import tempfile

    from gridledger.network.supervisor import socket_path

    run = tempfile.mkdtemp(prefix="glrun")  # short, as /run/user/<uid> is
    monkeypatch.setenv("XDG_RUNTIME_DIR", run)
    short = Layout(tmp_path / "s")
    assert socket_path(short) == short.supervisor / "supervisor.sock"
    deep = Layout(tmp_path / ("d" * 60) / "members" / "aggregator")
    path = socket_path(deep)
    assert len(str(path)) <= 100 and path.parent.name.startswith("gridledger-")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert socket_path(deep) == path != socket_path(Layout(tmp_path / ("e" * 60)))
    shutil.rmtree(run)
