"""The consortium topology: organisations, their nodes and ports, from one YAML file.

Everything else in ``network/`` is derived from a :class:`Topology`: certificates,
node configuration, the channels' genesis blocks, connection profiles.  The dataclasses
are frozen so a topology can be passed around without anyone changing it underway.

The file's shape is checked by pydantic models (:mod:`.topology_schema`) before anything
is built from it; a :class:`TopologyError` names the file, the place in it
(``organisations[2].orderer.admin_port``) and the value that is wrong.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from . import topology_schema as schema
from .errors import NetworkError

DEFAULT_TOPOLOGY = Path(__file__).with_name("topology.yaml")


class TopologyError(NetworkError, ValueError):
    """The topology file is missing a field or holds a value that cannot work."""


@dataclass(frozen=True)
class CA:
    org: str
    host: str
    port: int
    operations_port: int

    @property
    def name(self) -> str:
        return f"ca-{self.org}"

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


@dataclass(frozen=True)
class Peer:
    org: str
    msp_id: str
    name: str
    host: str
    port: int
    chaincode_port: int
    operations_port: int

    @property
    def id(self) -> str:
        """Process and log name, e.g. ``peer0-utility``."""
        return f"{self.name}-{self.org}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Orderer:
    org: str
    msp_id: str
    name: str
    host: str
    port: int
    admin_port: int
    operations_port: int

    @property
    def id(self) -> str:
        return f"{self.name}-{self.org}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def admin_address(self) -> str:
        return f"{self.host}:{self.admin_port}"


@dataclass(frozen=True)
class ChaincodeServer:
    org: str
    host: str
    port: int

    @property
    def id(self) -> str:
        return f"chaincode-{self.org}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Organisation:
    name: str
    msp_id: str
    host: str
    ca: CA
    peer: Peer
    orderer: Orderer
    chaincode_server: ChaincodeServer


@dataclass(frozen=True)
class ChaincodeDefinition:
    name: str
    version: str
    sequence: int
    contracts: tuple[str, ...]
    endorsement_policy: str
    # Private data collections, in the JSON shape `peer lifecycle --collections-config` takes.
    collections: tuple[dict[str, Any], ...] = ()
    # The channels it is defined on: one package and one server per organisation, and a
    # chaincode definition (approved and committed) on each of these channels.
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topology:
    name: str
    # The application channels, the main one first (every organisation is on each).
    channels: tuple[str, ...]
    organisations: tuple[Organisation, ...]
    chaincodes: tuple[ChaincodeDefinition, ...]

    @property
    def channel(self) -> str:
        """The main channel: the first one, and the clients' default."""
        return self.channels[0]

    def chaincodes_on(self, channel: str) -> tuple[ChaincodeDefinition, ...]:
        """The chaincodes defined on ``channel``, in the topology's order."""
        return tuple(cc for cc in self.chaincodes if channel in cc.channels)

    def org(self, name_or_msp: str) -> Organisation:
        """The organisation called ``name_or_msp`` (its short name or its MSP ID)."""
        for org in self.organisations:
            if name_or_msp in (org.name, org.msp_id):
                return org
        known = ", ".join(o.name for o in self.organisations)
        raise TopologyError(f"no organisation {name_or_msp!r} in the topology (known: {known})")

    @property
    def peers(self) -> tuple[Peer, ...]:
        return tuple(o.peer for o in self.organisations)

    @property
    def orderers(self) -> tuple[Orderer, ...]:
        return tuple(o.orderer for o in self.organisations)

    def chaincode(self, name: str) -> ChaincodeDefinition:
        for cc in self.chaincodes:
            if cc.name == name:
                return cc
        raise TopologyError(f"no chaincode {name!r} in the topology")

    def ports(self) -> dict[int, str]:
        """Every port the network listens on, with the node that owns it."""
        owners: dict[int, str] = {}
        for org in self.organisations:
            named = [
                (org.ca.port, f"{org.ca.name} (CA)"),
                (org.ca.operations_port, f"{org.ca.name} (operations)"),
                (org.peer.port, f"{org.peer.id} (peer)"),
                (org.peer.chaincode_port, f"{org.peer.id} (chaincode listener)"),
                (org.peer.operations_port, f"{org.peer.id} (operations)"),
                (org.orderer.port, f"{org.orderer.id} (orderer)"),
                (org.orderer.admin_port, f"{org.orderer.id} (admin)"),
                (org.orderer.operations_port, f"{org.orderer.id} (operations)"),
            ]
            # One chaincode server per chaincode, from the organisation's base port up.
            named += [
                (org.chaincode_server.port + i, f"cc-{cc.name}-{org.name} (chaincode server)")
                for i, cc in enumerate(self.chaincodes)
            ]
            for port, owner in named:
                if port in owners:
                    raise TopologyError(f"port {port} is given to both {owners[port]} and {owner}")
                owners[port] = owner
        return owners

    def fingerprint(self) -> str:
        """A digest of what generated state depends on: organisations, nodes, channels.

        Chaincodes are left out: adding one or raising its sequence is an ordinary
        lifecycle change on a running network, not a new network.  A one-channel topology
        keeps the digest it had before there were several channels, so that a state
        directory made then is recognised (:meth:`grown_from`).
        """
        orgs = asdict(self)["organisations"]
        if len(self.channels) == 1:
            nodes = {"name": self.name, "channel": self.channel, "orgs": orgs}
        else:
            nodes = {"name": self.name, "channels": list(self.channels), "orgs": orgs}
        blob = json.dumps(nodes, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def member_fingerprint(self, org: str) -> str:
        """What one member's state directory depends on: its own nodes' names, addresses
        and ports (channels come and go by config updates and joins, not by a new member)."""
        own = asdict(self.org(org))
        blob = json.dumps({"name": self.name, "org": own}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def grown_from(self, fingerprint: str) -> tuple[str, ...] | None:
        """The channels added since a state directory of ``fingerprint`` was made, if it was
        made for this topology with fewer channels (the same nodes, the first channels the
        same); else None.

        Adding a channel at the end is an ordinary change of a running network (a genesis
        block, joins, chaincode definitions); dropping or reordering one is not.
        """
        for kept in range(1, len(self.channels)):
            if replace(self, channels=self.channels[:kept]).fingerprint() == fingerprint:
                return self.channels[kept:]
        return None


# -- building the topology ------------------------------------------------------------------


def _organisation(raw: schema.OrganisationFile) -> Organisation:
    name, msp_id, host = raw.name, raw.msp_id, raw.host
    return Organisation(
        name=name,
        msp_id=msp_id,
        host=host,
        ca=CA(org=name, host=host, port=raw.ca.port, operations_port=raw.ca.operations_port),
        peer=Peer(
            org=name, msp_id=msp_id, name=raw.peer.name, host=host, port=raw.peer.port,
            chaincode_port=raw.peer.chaincode_port, operations_port=raw.peer.operations_port,
        ),
        orderer=Orderer(
            org=name, msp_id=msp_id, name=raw.orderer.name, host=host, port=raw.orderer.port,
            admin_port=raw.orderer.admin_port, operations_port=raw.orderer.operations_port,
        ),
        chaincode_server=ChaincodeServer(org=name, host=host, port=raw.chaincode_server.port),
    )  # fmt: skip


def _chaincode(
    raw: schema.ChaincodeFile, index: int, channels: tuple[str, ...]
) -> ChaincodeDefinition:
    on = raw.channels if raw.channels is not None else channels[:1]
    unknown = [c for c in on if c not in channels]
    if unknown:
        raise TopologyError(
            f"chaincodes[{index}].channels: {', '.join(map(repr, unknown))} is not a channel "
            f"of this topology (channels: {', '.join(channels)}); add it to `channels` or "
            f"remove it from chaincode {raw.name!r}"
        )
    return ChaincodeDefinition(
        name=raw.name, version=raw.version, sequence=raw.sequence, contracts=raw.contracts,
        endorsement_policy=raw.endorsement_policy, collections=raw.collections, channels=on,
    )  # fmt: skip


def parse(data: Any, port_offset: int = 0) -> Topology:
    """Build a :class:`Topology` from parsed YAML, shifting every port by ``port_offset``.

    The offset lets a second copy of the network (the test suite's) run beside the
    main one on the same machine.  Every problem found is reported, one per line.
    """
    try:
        raw = schema.validate(data, port_offset)
    except ValidationError as exc:
        raise TopologyError("\n".join(schema.problems(exc))) from None
    orgs = tuple(_organisation(o) for o in raw.organisations)
    if len({o.name for o in orgs}) != len(orgs) or len({o.msp_id for o in orgs}) != len(orgs):
        raise TopologyError("organisation names and MSP IDs must be unique")
    channels = raw.channel_names
    chaincodes = tuple(_chaincode(cc, i, channels) for i, cc in enumerate(raw.chaincodes))
    if len({cc.name for cc in chaincodes}) != len(chaincodes):
        raise TopologyError("chaincode names must be unique")
    topology = Topology(
        name=raw.name, channels=channels, organisations=orgs, chaincodes=chaincodes
    )
    topology.ports()  # refuse clashing ports now, not when a node fails to bind
    return topology


def load(path: Path | str = DEFAULT_TOPOLOGY, port_offset: int = 0) -> Topology:
    """Read and check a topology file; every error line names the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise TopologyError(f"topology file {path} not found") from None
    except OSError as exc:
        raise TopologyError(f"topology file {path} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TopologyError(f"topology file {path} is not valid YAML: {exc}") from None
    try:
        return parse(data, port_offset=port_offset)
    except TopologyError as exc:
        lines = str(exc).splitlines()
        raise TopologyError("\n".join(f"{path}: {line}" for line in lines)) from None


@functools.cache
def default_topology() -> Topology:
    """The topology GridLedger ships (``network/topology.yaml``), without a port offset.

    For what does not depend on ports or a particular network, such as the channel's name
    and the organisations' names a client command offers.  Read once per process.
    """
    return load(DEFAULT_TOPOLOGY)
