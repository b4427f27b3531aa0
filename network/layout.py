"""Where generated state lives: one directory per member, outside the repository.

A member's state directory is what one organisation keeps on its own host: its CA, its
nodes' keys and ledgers, its supervisord, and the *public* definitions of the other
members (certificates and endpoints, never a key)::

    <state>/
      state.json                    what `org init`/`up` has finished, and for what topology
      definition.json               this member's public definition, to hand to the others
      definitions/<org>.json        the definitions the other members handed us
      supervisor/                   supervisord.conf, socket, pid
      logs/<process>.log            one log per process
      orgs/<org>/ca/                fabric-ca-server home (SQLite, CA key)
      orgs/<org>/ca-admin.secret    CA bootstrap password (mode 0600)
      orgs/<org>/msp/               the organisation's MSP for the channel config
      orgs/<org>/<node>/msp, tls/   peer0, orderer0, chaincode, Admin identities
      orgs/<other>/msp, ca/ca-cert.pem, <orderer>/tls/server.crt
                                    another member's public certificates, from its definition
      nodes/<process>/              each node's FABRIC_CFG_PATH and ledger data
      channel/<channel>.block       genesis block of each application channel
      chaincode/<name>-<org>.tar.gz ccaas packages
      connection-<org>.yaml         Fabric connection profile per organisation
      wallet/<label>/               client identities (the clients package's Wallet)

Several members on one machine (``make run``, the tests) keep one such directory each
under ``<root>/members/<org>/``, as if on separate hosts; :class:`ConsortiumLayout` sees
them as one for the clients and tools that run beside them (the wallet and the
demo's files stay at ``<root>``).

Every MSP directory written here (nodes, admins, wallet entries) carries the same
``config.yaml`` (:data:`NODE_OUS`), so a certificate's OU gives its role.  The helpers
that both the network and its clients need live here, in the lowest layer: the state
directory, that MSP layout, and :func:`write_private` for keys and secrets.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# An MSP's config.yaml: Fabric's NodeOU roles, each vouched for by the CA in cacerts/.
NODE_OUS = """NodeOUs:
  Enable: true
  ClientOUIdentifier:
    Certificate: cacerts/ca.pem
    OrganizationalUnitIdentifier: client
  PeerOUIdentifier:
    Certificate: cacerts/ca.pem
    OrganizationalUnitIdentifier: peer
  AdminOUIdentifier:
    Certificate: cacerts/ca.pem
    OrganizationalUnitIdentifier: admin
  OrdererOUIdentifier:
    Certificate: cacerts/ca.pem
    OrganizationalUnitIdentifier: orderer
"""


def default_state_dir() -> Path:
    """``$GRIDLEDGER_STATE``, else ``$XDG_STATE_HOME/gridledger`` (~/.local/state/gridledger)."""
    base = os.environ.get("XDG_STATE_HOME", str(Path.home() / ".local" / "state"))
    return Path(os.environ.get("GRIDLEDGER_STATE", Path(base) / "gridledger"))


@dataclass(frozen=True)
class Layout:
    """Every path of one network's state directory, by what it holds."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().absolute())

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def supervisor(self) -> Path:
        return self.root / "supervisor"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def org(self, org: str) -> Path:
        return self.root / "orgs" / org

    def ca_home(self, org: str) -> Path:
        return self.org(org) / "ca"

    def ca_cert(self, org: str) -> Path:
        """The CA's root certificate: trust anchor for identities and for TLS alike."""
        return self.ca_home(org) / "ca-cert.pem"

    def ca_secret(self, org: str) -> Path:
        return self.org(org) / "ca-admin.secret"

    def org_msp(self, org: str) -> Path:
        return self.org(org) / "msp"

    def identity(self, org: str, name: str) -> Path:
        return self.org(org) / name

    def msp(self, org: str, name: str) -> Path:
        return self.identity(org, name) / "msp"

    def tls(self, org: str, name: str) -> Path:
        return self.identity(org, name) / "tls"

    def node(self, process: str) -> Path:
        return self.root / "nodes" / process

    def log(self, process: str) -> Path:
        return self.logs / f"{process}.log"

    @property
    def channel_dir(self) -> Path:
        return self.root / "channel"

    def genesis_block(self, channel: str) -> Path:
        return self.channel_dir / f"{channel}.block"

    @property
    def chaincode_dir(self) -> Path:
        return self.root / "chaincode"

    def connection_profile(self, org: str) -> Path:
        return self.root / f"connection-{org}.yaml"

    @property
    def wallet(self) -> Path:
        """Client identities enrolled through ``gridledger identity enroll``."""
        return self.root / "wallet"

    def read_state(self) -> dict:
        """What ``state.json`` records ({} when there is none yet)."""
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}

    def save_state(self, **changes: object) -> None:
        """Record ``changes`` in ``state.json``, written whole (temp file, then rename)."""
        state = {**self.read_state(), **changes}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(self.state_file)

    @contextlib.contextmanager
    def locked(self, busy: Exception) -> Iterator[None]:
        """One command at a time on this state directory; ``busy`` is raised otherwise."""
        self.root.mkdir(parents=True, exist_ok=True)
        # Keys, secrets and ledgers live below: only this user may enter.
        self.root.chmod(0o700)
        with open(self.root / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy from None
            yield

    @property
    def definition_file(self) -> Path:
        """This member's public organisation definition (``gridledger org init`` writes it)."""
        return self.root / "definition.json"

    @property
    def definitions_dir(self) -> Path:
        """The public definitions other members handed us, one ``<org>.json`` each."""
        return self.root / "definitions"

    @property
    def updates_dir(self) -> Path:
        """Channel config updates proposed or signed here (files that travel)."""
        return self.root / "updates"


class ConsortiumLayout(Layout):
    """Several members' state directories on one machine, seen as one.

    Each organisation's paths are those of its own member directory
    (``<root>/members/<org>/``); a process's log and data are its organisation's (the
    suffix of its name, ``peer0-utility``); anything not of one organisation (the demo's
    simulator and bridge) is the first member's, whose host runs them.
    """

    @property
    def members_dir(self) -> Path:
        return self.root / "members"

    def member(self, org: str) -> Layout:
        """The state directory of one member, as on its own host."""
        return Layout(self.members_dir / org)

    def member_names(self) -> list[str]:
        """The members with a state directory here: in the order ``state.json`` records
        (the founders first, then those who joined), else by name."""
        try:
            recorded = self.read_state().get("members")
        except ValueError:
            recorded = None
        if isinstance(recorded, list):
            return [str(m) for m in recorded]
        if not self.members_dir.is_dir():
            return []
        return sorted(p.name for p in self.members_dir.iterdir() if p.is_dir())

    def owner(self, process: str) -> str | None:
        """The organisation a process belongs to, by its name's suffix."""
        for org in self.member_names():
            if process.endswith(f"-{org}"):
                return org
        return None

    def host_of(self, process: str) -> Layout:
        """The member directory a process lives in: its organisation's, else the first's."""
        names = self.member_names()
        owner = self.owner(process) or (names[0] if names else None)
        return self.member(owner) if owner else Layout(self.root)

    def org(self, org: str) -> Path:
        return self.member(org).org(org)

    def node(self, process: str) -> Path:
        return self.host_of(process).node(process)

    def log(self, process: str) -> Path:
        return self.host_of(process).log(process)

    def connection_profile(self, org: str) -> Path:
        return self.member(org).connection_profile(org)

    def all_logs(self) -> list[Path]:
        """Every member's log files."""
        return sorted(p for m in self.member_names() for p in self.member(m).logs.glob("*.log"))


def open_layout(path: Path | str) -> Layout:
    """The layout of a state directory: one member's, or several members' on one machine."""
    root = Path(path).expanduser()
    if (root / "members").is_dir() or ConsortiumLayout(root).member_names():
        return ConsortiumLayout(root)
    return Layout(root)


def write_private(path: Path, data: bytes | str) -> None:
    """Write a secret with mode 0600 from the first byte (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    os.replace(tmp, path)
