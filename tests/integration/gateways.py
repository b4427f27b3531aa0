"""Our Gateway client, connected as a network identity, for integration tests."""

from __future__ import annotations

from gridledger.clients.gateway import Deadlines, Endpoint, Gateway
from gridledger.clients.profile import ConnectionProfile
from gridledger.clients.wallet import Wallet
from gridledger.network.consortium import Consortium


def endpoint(net: Consortium, org: str) -> Endpoint:
    """The Gateway endpoint of ``org``'s peer, from the profile the network wrote."""
    o = net.topology.org(org)
    return ConnectionProfile.load(net.layout.connection_profile(o.name)).peer_endpoint()


def connect(
    net: Consortium,
    org: str,
    name: str = "Admin",
    *,
    msp_id: str | None = None,
    deadlines: Deadlines | None = None,
) -> Gateway:
    """A Gateway to ``org``'s peer as the network identity ``name`` of that organisation."""
    o = net.topology.org(org)
    identity, signer = Wallet.from_msp_dir(net.layout.msp(o.name, name), msp_id or o.msp_id)
    return Gateway.connect(endpoint(net, org), identity, signer, deadlines=deadlines)
