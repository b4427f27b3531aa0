"""Where generated state lives: one directory per network, outside the repository.

::

    <state>/
      state.json                    what `up` has finished, and the topology fingerprint
      supervisor/                   supervisord.conf, socket, pid
      logs/<process>.log            one log per process
      orgs/<org>/ca/                fabric-ca-server home (SQLite, CA key)
      orgs/<org>/ca-admin.secret    CA bootstrap password (mode 0600)
      orgs/<org>/msp/               the organisation's MSP for the channel config
      orgs/<org>/<node>/msp, tls/   peer0, orderer0, chaincode, Admin identities
      nodes/<process>/              each node's FABRIC_CFG_PATH and ledger data
      channel/<channel>.block       genesis block of each application channel
      chaincode/<name>-<org>.tar.gz ccaas packages
      connection-<org>.yaml         Fabric connection profile per organisation
      wallet/<label>/               client identities (the clients package's Wallet)

Every MSP directory written here (nodes, admins, wallet entries) carries the same
``config.yaml`` (:data:`NODE_OUS`), so a certificate's OU gives its role.  The helpers
that both the network and its clients need live here, in the lowest layer: the state
directory, that MSP layout, and :func:`write_private` for keys and secrets.
"""

from __future__ import annotations

import os
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


def write_private(path: Path, data: bytes | str) -> None:
    """Write a secret with mode 0600 from the first byte (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    os.replace(tmp, path)
