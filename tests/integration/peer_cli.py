"""Drive the network with Fabric's own `peer` CLI, so checks do not rest on our client."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from gridledger.network.consortium import Consortium
from gridledger.network.fabric_cli import FabricCommandError


def invoke(
    net: Consortium, org: str, endorsers: list[str], fn: str, *args: str, chaincode: str = "health",
    transient: Mapping[str, bytes] | None = None, channel: str | None = None,
) -> str:
    """Submit through the peer CLI, endorsed by ``endorsers``' peers; waits for the commit.
    ``channel``: by default the main one.

    ``transient``: private inputs (the CLI takes them base64-encoded, as Go's JSON does
    byte slices), sent to the endorsers only, never written to the block.
    """
    admin = net.admin(org)
    peers: list[str] = []
    for name in endorsers:
        o = net.topology.org(name)
        peers += ["--peerAddresses", o.peer.address]
        peers += ["--tlsRootCertFiles", str(net.layout.ca_cert(o.name))]
    return admin.peer(
        "chaincode", "invoke", "-C", channel or net.topology.channel, "-n", chaincode,
        "-c", json.dumps({"Args": [fn, *args]}), *admin.orderer_tls_args(), *peers,
        *(["--transient", json.dumps({k: base64.b64encode(v).decode() for k, v in
                                      transient.items()})] if transient else []),
        "--waitForEvent",
    )  # fmt: skip


def query(net: Consortium, org: str, fn: str, *args: str, chaincode: str = "health",
          channel: str | None = None) -> str:
    admin = net.admin(org)
    out = admin.peer(
        "chaincode", "query", "-C", channel or net.topology.channel, "-n", chaincode,
        "-c", json.dumps({"Args": [fn, *args]}),
    )  # fmt: skip
    return out.stdout.strip()


__all__ = ["FabricCommandError", "invoke", "query"]
