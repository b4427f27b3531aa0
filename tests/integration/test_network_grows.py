"""A network made before the `market` channel gets it on its next `up`, with the CRLs.

A state directory made for the one-channel topology (``channel: energy``; chaincodes
``health`` and ``metering``) is not purged when the topology gains ``market``: the next
``up`` makes the new channel's genesis block, joins every orderer and peer, deploys the
chaincodes defined there, and carries over the CRLs already published on ``energy``, so
a certificate revoked before the channel existed is refused on it too.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import grpc
import pytest
import yaml
from cryptography import x509

from gridledger.clients.ca import CAClient
from gridledger.clients.errors import EvaluateError
from gridledger.clients.gateway import Gateway
from gridledger.network.consortium import Consortium
from gridledger.network.crl_config import crls
from gridledger.network.crl_publish import fetch_config, publish_crl
from gridledger.network.enroll import ca_admin_password
from gridledger.network.layout import Layout
from gridledger.network.topology import DEFAULT_TOPOLOGY, load

from ..conftest import PORT_OFFSET
from .gateways import connect, endpoint

# A network of its own, beside the session's (which runs at PORT_OFFSET).
OFFSET = PORT_OFFSET + 2000


def _one_channel_topology(path: Path) -> Path:
    """The shipped topology as it was before `market`: one channel, no `market` chaincode."""
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    del raw["channels"]
    raw["channel"] = "energy"
    raw["chaincodes"] = [
        {k: v for k, v in cc.items() if k != "channels"}
        for cc in raw["chaincodes"] if cc["name"] != "market"
    ]  # fmt: skip
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def old_network(tmp_path):
    net = Consortium(load(_one_channel_topology(tmp_path / "topology.yaml"), port_offset=OFFSET),
                     Layout(tmp_path / "state"))
    yield net
    net.down(purge=True)


def test_a_one_channel_network_gets_the_market_channel_and_its_crls_on_the_next_up(old_network):
    old = old_network
    assert old.topology.channels == ("energy",)
    old.up()

    # A customer revoked while there was only `energy`.
    o = old.topology.org("utility")
    with CAClient(o.ca.url, old.layout.ca_cert("utility"), ca_name=o.ca.name) as ca:
        registrar = ca.enroll("admin", ca_admin_password(old.layout, "utility"))
        name = f"customer-{uuid.uuid4().hex[:8]}"
        revoked = ca.enroll(name, ca.register(registrar, name, attributes=[
            ("role", "customer", True), ("customerId", "C-" + name, True)]))
        revocation = ca.revoke(registrar, name, gencrl=True)
    assert set(publish_crl(old, "utility", revocation.crl)) == {"energy"}

    new = Consortium(load(port_offset=OFFSET), old.layout)
    new.up()  # not purged: grown

    assert new.recorded_state().made_for(new.topology) and new.recorded_state().is_up
    report = new.status()
    assert {n["health"] for n in report["nodes"]} == {"OK"}
    assert {n["name"] for n in report["nodes"] if n["kind"] == "chaincode"} == {
        f"cc-{cc}-{org}" for cc in ("health", "metering", "market")
        for org in ("utility", "regulator", "aggregator")
    }
    assert [(c["name"], c["channel"]) for c in report["chaincodes"]] == [
        ("health", "energy"), ("health", "market"), ("metering", "energy"), ("market", "market"),
    ]
    # The CRL published on `energy` is in `market`'s configuration as well ...
    _, config = fetch_config(new.admin("utility"), "market")
    (held,) = crls(config, "UtilityMSP")
    assert revoked.x509.serial_number in {r.serial_number for r in x509.load_pem_x509_crl(held)}
    # ... so the revoked customer is refused there, while an operator is served.
    with (
        Gateway.connect(endpoint(new, "utility"), revoked.identity("UtilityMSP"),
                        revoked.signer()) as gw,
        pytest.raises(EvaluateError) as err,
    ):
        gw.network("market").contract("health").evaluate("Ping")
    assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "access denied: channel [market] creator org [UtilityMSP]" in str(err.value)
    with connect(new, "utility") as gw:
        pong = json.loads(gw.network("market").contract("health").evaluate("Ping"))
    assert pong["channel"] == "market"

    # Done once: the connection profiles name both channels, and `up` again has nothing to do.
    profile = yaml.safe_load(new.layout.connection_profile("utility").read_text())
    assert list(profile["channels"]) == ["energy", "market"]
    assert not json.loads(new.layout.state_file.read_text()).get("grown")
