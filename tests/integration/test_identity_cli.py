"""The identity commands end to end: register, enroll, list, transact, revoke."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from tests.conftest import PORT_OFFSET


def _cli(consortium, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRIDLEDGER_STATE": str(consortium.layout.root)}
    return subprocess.run([sys.executable, "-m", "gridledger", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_register_enroll_list_transact_then_revoke_through_the_cli(consortium):
    name = "cust-" + uuid.uuid4().hex[:6]
    reg = _cli(consortium, "identity", "register", name, "--attr", "role=customer",
               "--attr", "customerId=C-77", "--json")
    assert reg.returncode == 0, reg.stderr
    secret = json.loads(reg.stdout)["secret"]

    enr = _cli(consortium, "identity", "enroll", name, "--secret", secret, "--json")
    assert enr.returncode == 0, enr.stderr
    attributes = json.loads(enr.stdout)["attributes"]
    assert (attributes["role"], attributes["customerId"]) == ("customer", "C-77")
    key_file = consortium.layout.root / "wallet" / name / "msp" / "keystore" / "priv_sk"
    assert key_file.stat().st_mode & 0o777 == 0o600

    listed = _cli(consortium, "identity", "list", "--json")
    entry = {e["label"]: e for e in json.loads(listed.stdout)}[name]
    assert entry["msp_id"] == "UtilityMSP"
    assert "PRIVATE KEY" not in listed.stdout

    ping = _cli(consortium, "chaincode", "query", "health", "Ping", "--identity", name)
    assert ping.returncode == 0, ping.stderr
    assert json.loads(ping.stdout)["msp"] == "UtilityMSP"

    wrong = _cli(consortium, "identity", "enroll", name, "--secret", "not-the-secret",
                 "--label", name + "-again")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr

    revoke = _cli(consortium, "network", "--state-dir", str(consortium.layout.root),
                  "--port-offset", str(PORT_OFFSET), "revoke", "utility", name)
    assert revoke.returncode == 0, revoke.stderr
    refused = _cli(consortium, "chaincode", "query", "health", "Ping", "--identity", name)
    assert refused.returncode == 1
    assert "access denied" in refused.stderr and "revoked" in refused.stderr
