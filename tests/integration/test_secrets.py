"""No password or private key where another local user could read it (issue 11, finding 10).

Regression: each fabric-ca-server ran with ``-b admin:<password>`` on its command line, so
every user of the machine saw the registrar's password in ``ps``.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import psutil


def _secrets(state: Path) -> dict[str, str]:
    """Every password and private key the network generated, by where it lives."""
    found: dict[str, str] = {}
    for path in state.glob("members/*/orgs/*/ca-admin.secret"):
        found[str(path)] = path.read_text().strip()
    for path in state.glob("members/*/orgs/*/.*.secret"):
        found[str(path)] = path.read_text().strip()
    keys = [*state.glob("members/*/orgs/*/*/msp/keystore/*"),
            *state.glob("members/*/orgs/*/*/tls/server.key")]
    for path in keys:
        raw = path.read_bytes()
        if raw.startswith(b"-----BEGIN"):
            # A line from the middle of the key's base64 body: unique to that key.
            lines = [ln for ln in raw.decode().splitlines() if ln and not ln.startswith("-----")]
            found[str(path)] = lines[len(lines) // 2]
        else:  # a raw key (Fabric CA's Idemix revocation key): as it would leak, base64
            found[str(path)] = base64.b64encode(raw).decode()
    assert len(found) > 10, found  # the state directory is what we think it is
    return found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_in_any_process_command_line(consortium):
    secrets = _secrets(consortium.layout.root)
    seen = 0
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        seen += 1
        for where, secret in secrets.items():
            assert secret not in cmdline, f"{where} is on the command line of pid {proc.pid}"
    assert seen > 10
    # The CAs run, and with no bootstrap flag.
    cas = [p for p in psutil.process_iter(["cmdline"])
           if p.info["cmdline"] and p.info["cmdline"][0].endswith("fabric-ca-server")
           and str(consortium.layout.root) in " ".join(p.info["cmdline"])]
    assert len(cas) == len(consortium.topology.organisations)
    for ca in cas:
        assert "-b" not in ca.info["cmdline"] and "--boot" not in ca.info["cmdline"]


def test_no_secret_in_any_log(consortium):
    secrets = _secrets(consortium.layout.root)
    logs = consortium.layout.all_logs()
    assert len(logs) >= 9  # every node logs in its member's directory
    for log in logs:
        text = log.read_text(errors="replace")
        for where, secret in secrets.items():
            assert secret not in text, f"{where} appears in {log}"


def test_files_holding_secrets_are_for_this_user_only(consortium):
    state = consortium.layout.root
    assert _mode(state) == 0o700, oct(_mode(state))
    for org in consortium.topology.organisations:
        assert _mode(consortium.layout.ca_home(org.name)) == 0o700
    ca_homes = [consortium.layout.ca_home(o.name) for o in consortium.topology.organisations]
    for where in map(Path, _secrets(state)):
        # Fabric CA writes its own key files with its own modes, inside its home (0700).
        if not any(home in where.parents for home in ca_homes):
            assert _mode(where) & 0o077 == 0, f"{where} is mode {oct(_mode(where))}"
    # Each member's supervisord configuration carries its CA's bootstrap identity in its
    # environment, and no other member's.
    for member in consortium.members:
        config = member.layout.supervisor / "supervisord.conf"
        assert config.read_text().count("FABRIC_CA_SERVER_BOOT") == 1
        assert _mode(config) == 0o600
