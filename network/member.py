"""One member of the consortium, as its operator runs it on its own host.

A :class:`Member` works on one organisation's state directory only: its CA, its
identities, its peer, orderer and chaincode servers under a supervisord of its own, and
the public definitions the other members handed it.  Nothing here reads another
member's directory; what the members exchange (definitions, genesis blocks, signed
config updates) travels as files, and their nodes talk over their addresses.

Every step is idempotent and checked, as ``network up`` always was: running one twice
is safe, and an interrupted one is resumed by the next run.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import yaml
from cryptography import x509

from . import channel as ch
from . import enroll, lifecycle, nodes
from .binaries import FabricBinaries, ensure_all
from .definition import DefinitionError, Endpoint, OrgDefinition
from .definition import load as load_definition
from .errors import NetworkError
from .fabric_cli import FabricCommandError, OrgAdmin
from .health import (
    StartupError,
    check_ports_free,
    gauge,
    healthz,
    listening,
    metrics,
    wait_healthy,
    wait_listening,
)
from .layout import NODE_OUS, Layout
from .polling import poll
from .supervisor import Supervisor, SupervisorError, tail
from .topology import ChaincodeDefinition, Organisation, Topology

Progress = Callable[[str], None]

# `network status` warns when a certificate of ours expires within this.
EXPIRY_WARNING = timedelta(days=30)


class MemberError(NetworkError):
    """A member's state directory is not usable, or one of its steps failed."""


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class MemberState:
    """What this member's ``state.json`` records: how far it got, and for what."""

    org: str | None
    phase: str | None  # None, "new", "initialised", "up"
    topology: str | None
    package_ids: Mapping[str, str]  # chaincode name -> our installed package id


class Member:
    """One organisation's operator, on its own host, with its own keys only."""

    def __init__(
        self, topology: Topology, org: str, layout: Layout, say: Progress = _say,
        bins: FabricBinaries | None = None,
    ):  # fmt: skip
        self.topology = topology
        self.org: Organisation = topology.org(org)
        self.layout = layout
        self.say = say
        self._bins = bins

    # -- plumbing -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.org.name

    @property
    def bins(self) -> FabricBinaries:
        if self._bins is None:
            self._bins = ensure_all(lambda m: self.say(f"  {m}"))
        return self._bins

    @property
    def admin(self) -> OrgAdmin:
        """This organisation's admin, driving its own peer and orderer."""
        return OrgAdmin(self.bins, self.layout, self.org)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.layout)

    def fingerprint(self) -> str:
        """What this member's generated state depends on: its own nodes and the channels."""
        return self.topology.member_fingerprint(self.name)

    def recorded_state(self) -> MemberState:
        state = self._state()
        ids = state.get("package_ids")
        return MemberState(
            org=state.get("org"), phase=state.get("phase"), topology=state.get("topology"),
            package_ids=MappingProxyType(dict(ids) if isinstance(ids, dict) else {}),
        )  # fmt: skip

    def _state(self) -> dict:
        return self.layout.read_state()

    def _save_state(self, **changes) -> None:
        self.layout.save_state(**changes)

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """One command at a time on this member's state directory."""
        return self.layout.locked(
            MemberError(f"another `gridledger` command is working on {self.layout.root}"))

    def check_state_dir(self) -> None:
        """Adopt an empty directory; refuse one made for another organisation or topology."""
        root = self.layout.root
        state = self._state()
        if not state:
            leftovers = [p.name for p in root.iterdir() if p.name != ".lock"]
            if leftovers:
                # Never delete what we cannot account for.
                raise MemberError(
                    f"{root} holds files ({', '.join(sorted(leftovers)[:5])}) but no "
                    "state.json; it is not a GridLedger member directory. Choose another "
                    "--state-dir, or remove it yourself if it is expendable."
                )
            self._save_state(org=self.name, topology=self.fingerprint(), phase="new")
            return
        if state.get("org") != self.name:
            raise MemberError(
                f"{root} is {state.get('org')!r}'s state directory, not {self.name!r}'s: each "
                "organisation keeps its own (its keys are in it)"
            )
        if state.get("topology") != self.fingerprint():
            raise MemberError(
                f"{root} was made for other addresses or ports of {self.name!r}'s nodes. "
                "Restore the topology file it was made with, or start anew "
                "with `down --purge`."
            )

    # -- processes ------------------------------------------------------------------------

    def chaincode_channels(self) -> dict[str, str]:
        """Which channel holds the customers' records and which the market (for the servers)."""
        channels = {"energy": self.topology.channel}
        market = next((c for c in self.topology.chaincodes if c.name == "market"), None)
        if market is not None and market.channels:
            channels["market"] = market.channels[0]
        return channels

    def processes(self, package_ids: Mapping[str, str] | None = None) -> list[nodes.Process]:
        """This member's processes, in start order: CA, orderer, peer, chaincode servers."""
        bins, layout, org = self.bins, self.layout, self.org
        password = enroll.ca_admin_password(layout, org.name)
        procs = [
            nodes.ca_process(bins, layout, org, password),
            nodes.orderer_process(bins, layout, org),
            nodes.peer_process(bins, layout, org),
        ]
        ids = package_ids if package_ids is not None else self.recorded_state().package_ids
        code = self._state().get("code") or {}
        for i, cc in enumerate(self.topology.chaincodes):
            if pid := ids.get(cc.name):
                procs.append(nodes.chaincode_process(layout, org, cc, i, pid,
                                                     self.chaincode_channels(),
                                                     code.get(pid)))
        return procs

    def _procs(self) -> dict[str, nodes.Process]:
        return {p.name: p for p in self.processes()}

    def start_process(self, proc: nodes.Process) -> None:
        """Start one of our processes and wait until it is healthy (or listening)."""
        sup = self.supervisor

        def alive() -> bool:
            return sup.info(proc.name)["statename"] in ("RUNNING", "STARTING", "BACKOFF")

        try:
            sup.start_process(proc.name)
            if proc.kind in ("ca", "peer", "orderer"):
                wait_healthy(proc.name, self.org.host, proc.ports[-1], alive)
            else:
                wait_listening(self.org.host, proc.ports[0], alive)
        except (StartupError, SupervisorError) as exc:
            raise MemberError(
                f"{proc.name} did not come up: {exc}\nlast lines of {self.layout.log(proc.name)}:"
                f"\n{tail(self.layout.log(proc.name))}"
            ) from None

    def _supervise(self) -> dict[str, nodes.Process]:
        procs = self._procs()
        if not self.supervisor.running():
            check_ports_free({p: o for p, o in self.topology.ports().items()
                              if p in {port for proc in procs.values() for port in proc.ports}})
        self.supervisor.start(list(procs.values()))
        return procs

    # -- the organisation: CA, identities, definition ----------------------------------------

    def init(self) -> OrgDefinition:
        """``gridledger org init``: the CA, every identity, and the public definition."""
        with self.lock():
            self.check_state_dir()
            procs = self._supervise()
            self.start_process(procs[self.org.ca.name])
            enroll.enroll_org(self.bins, self.layout, self.org)
            definition = self.definition()
            definition.save(self.layout.definition_file)
            if self.recorded_state().phase in (None, "new"):
                self._save_state(phase="initialised")
            return definition

    def definition(self) -> OrgDefinition:
        """Our public definition, from our enrolled certificates."""
        org, layout = self.org, self.layout
        tls = layout.tls(org.name, org.orderer.name) / "server.crt"
        try:
            return OrgDefinition(
                name=org.name, msp_id=org.msp_id, ca_cert=layout.ca_cert(org.name).read_text(),
                node_ous=NODE_OUS, anchor_peer=Endpoint(org.peer.host, org.peer.port),
                peer_name=org.peer.name,
                orderer=Endpoint(org.orderer.host, org.orderer.port),
                orderer_name=org.orderer.name, orderer_tls_cert=tls.read_text(),
                ca_url=org.ca.url,
            )  # fmt: skip
        except FileNotFoundError:
            raise MemberError(
                f"{self.name} has no certificates yet in {layout.root}: `gridledger org init "
                f"{self.name}` first"
            ) from None

    def add_definition(self, path: Path) -> OrgDefinition:
        """Take in another member's definition file (checked; certificates only)."""
        definition = load_definition(path)
        if definition.name == self.name or definition.msp_id == self.org.msp_id:
            raise DefinitionError(
                f"{path} defines {definition.msp_id}, which is this member itself; add the "
                "other members' definitions"
            )
        for known in self.definitions():
            if known.msp_id == definition.msp_id and known.name != definition.name:
                raise DefinitionError(
                    f"{path}: MSP ID {definition.msp_id} is already {known.name!r}'s"
                )
        definition.install(self.layout)
        return definition

    def definitions(self) -> list[OrgDefinition]:
        """Every member's definition we hold, ours first, the others by name."""
        ours = [self.definition()] if self.layout.ca_cert(self.name).exists() else []
        others = sorted(self.layout.definitions_dir.glob("*.json"))
        return ours + [load_definition(p) for p in others]

    def founders(self) -> list[OrgDefinition]:
        """The definitions of the topology's organisations, in the topology's order."""
        by_name = {d.name: d for d in self.definitions()}
        missing = [o.name for o in self.topology.organisations if o.name not in by_name]
        if missing:
            raise MemberError(
                f"{self.name} lacks the definition of {', '.join(missing)}: add each with "
                "`gridledger org add-member FILE`"
            )
        return [by_name[o.name] for o in self.topology.organisations]

    # -- nodes and channels -----------------------------------------------------------------

    def start(self) -> None:
        """Start every process of ours that is not running (CA, orderer, peer, chaincode)."""
        with self.lock():
            procs = self._supervise()
            for proc in procs.values():
                self.start_process(proc)

    def genesis_block(self, channel: str) -> Path:
        """A founding member makes the channel's genesis block from every founder's definition."""
        return ch.make_genesis_block(self.bins, self.founders(), self.layout, channel)

    def join_orderer(self, channel: str, block: Path) -> None:
        """Our admin joins our orderer to ``channel`` (channel participation API)."""
        ch.join_orderers([self.admin], channel, block)

    def wait_orderer(self, channel: str, timeout: float = 60) -> None:
        """Until our orderer is an active consenter (a majority of consenters has joined)."""
        ch.wait_for_raft([self.admin], channel, timeout)

    def join_peer(self, channel: str, block: Path) -> None:
        """Our admin joins our peer to ``channel``."""
        ch.join_peers([self.admin], channel, block)

    def fetch_config_block(self, channel: str, out: Path) -> Path:
        """The channel's latest config block, as our admin fetches it (for a member that
        joins: its orderer joins from it)."""
        out.parent.mkdir(parents=True, exist_ok=True)
        self.admin.peer("channel", "fetch", "config", str(out), "-c", channel,
                        *self.admin.orderer_tls_args())
        return out

    def snapshot(self, channel: str, timeout: float = 120) -> Path:
        """Have our peer write a snapshot of ``channel``'s ledger at its last block; the
        directory it wrote (for a member that joins: its peer starts from it)."""
        peer = ["--peerAddress", self.org.peer.address,
                "--tlsRootCertFile", str(self.layout.ca_cert(self.name))]
        height = ch.peer_height(self.admin, channel)
        self.admin.peer("snapshot", "submitrequest", "-c", channel, "-b", "0", *peer)
        done = self.layout.node(self.org.peer.id) / "data" / "snapshots" / "completed" / channel
        polled = poll(lambda: sorted((p for p in done.glob("*") if p.is_dir()),
                                     key=lambda p: int(p.name)),
                      lambda found: bool(found) and int(found[-1].name) >= height - 1,
                      timeout=timeout, interval=0.5)
        if not polled.done:
            raise MemberError(f"{self.org.peer.id} wrote no snapshot of {channel} within "
                              f"{timeout:.0f}s; see its log")
        return polled.last[-1]

    def join_peer_from_snapshot(self, channel: str, snapshot: Path,
                                timeout: float = 120) -> None:
        """Our admin joins our peer to ``channel`` from another member's snapshot: its
        ledger starts at the snapshot's height, not at the genesis block."""
        if channel in ch.peer_channels(self.admin):
            return
        self.admin.peer("channel", "joinbysnapshot", "--snapshotpath", str(snapshot))
        polled = poll(lambda: channel in ch.peer_channels(self.admin)
                      and "is running" not in self.admin.peer("channel", "joinbysnapshotstatus"),
                      bool, timeout=timeout, interval=0.5)
        if not polled.done:
            raise MemberError(f"{self.org.peer.id} did not join {channel} from {snapshot} "
                              f"within {timeout:.0f}s; see its log")

    # -- chaincode ------------------------------------------------------------------------

    def install(self, cc: ChaincodeDefinition) -> str:
        """Package and install ``cc`` on our peer, start our server for it; its package id."""
        index = [c.name for c in self.topology.chaincodes].index(cc.name)
        with self.lock():
            pkg = lifecycle.package(self.layout, self.org, cc, index)
            package_id = lifecycle.install(self.admin, pkg, cc)
            ids = {**self.recorded_state().package_ids, cc.name: package_id}
            # The code this package pins, by package id: the server is told it at start.
            code = {**(self._state().get("code") or {}), package_id: lifecycle.pinned_code(pkg)}
            self._save_state(package_ids=ids, code=code)
            procs = self._supervise()
            self.start_process(procs[f"cc-{cc.name}-{self.name}"])
            return package_id

    def approve(self, channel: str, cc: ChaincodeDefinition) -> None:
        """Our admin approves ``cc``'s definition for our organisation, with our package."""
        package_id = self.recorded_state().package_ids.get(cc.name)
        if not package_id:
            raise MemberError(f"{cc.name} is not installed on {self.org.peer.id}: install first")
        lifecycle.approve(self.admin, channel, cc, package_id)
        approved = {**(self._state().get("approved") or {}), f"{cc.name}/{channel}": package_id}
        self._save_state(approved=approved)

    def approved_stale(self, channel: str, cc: ChaincodeDefinition) -> bool:
        """Whether our installed package of ``cc`` is not the one we approved on
        ``channel`` (new code was installed): approve again, or our peer runs the old."""
        installed = self.recorded_state().package_ids.get(cc.name)
        return (self._state().get("approved") or {}).get(f"{cc.name}/{channel}") != installed

    def approvals(self, channel: str, cc: ChaincodeDefinition) -> dict[str, bool]:
        """Which organisations approved ``cc`` at its sequence (``checkcommitreadiness``)."""
        return lifecycle.commit_readiness(self.admin, channel, cc)

    def commit(self, channel: str, cc: ChaincodeDefinition,
               endorsers: Sequence[OrgDefinition] | None = None) -> None:
        """Commit ``cc``'s definition, endorsed by the peers of ``endorsers``: by default
        those of the members that approved it (a peer whose organisation has not approved
        refuses to endorse).  The channel's LifecycleEndorsement policy (a majority) then
        decides: with too few, Fabric invalidates the commit (:class:`NotEnoughApprovals`)."""
        if endorsers is None:
            approved = self.approvals(channel, cc)
            endorsers = [d for d in self.definitions() if approved.get(d.msp_id)]
            if not endorsers:
                raise lifecycle.NotEnoughApprovals(
                    f"{cc.name} sequence {cc.sequence} on {channel}: no member has approved it "
                    "yet (`gridledger lifecycle approve` on each member's host)"
                )
        peers = [(d.anchor_peer.address, self.layout.ca_cert(d.name)) for d in endorsers]
        lifecycle.commit(self.admin, channel, cc, peers)

    def wait_ready(self, channel: str, cc: ChaincodeDefinition) -> None:
        lifecycle.wait_ready(self.admin, channel, cc)

    # -- what clients need ------------------------------------------------------------------

    def write_connection_profile(self) -> Path:
        """A standard Fabric connection profile for our clients: every member's peer."""
        layout, org = self.layout, self.org
        definitions = self.definitions()
        peers = {
            _peer_id(d): {
                "url": f"grpcs://{d.anchor_peer.address}",
                "tlsCACerts": {"path": str(layout.ca_cert(d.name))},
            }
            for d in definitions
        }
        cas = {f"ca-{d.name}": {"url": d.ca_url, "caName": f"ca-{d.name}",
                                "tlsCACerts": {"path": str(layout.ca_cert(d.name))}}
               for d in definitions}
        admin_msp = layout.msp(org.name, "Admin")
        orgs = {}
        for d in definitions:
            entry = {"mspid": d.msp_id, "peers": [_peer_id(d)],
                     "certificateAuthorities": [f"ca-{d.name}"]}
            if d.name == org.name:
                entry["adminPrivateKey"] = {"path": str(admin_msp / "keystore" / "key.pem")}
                entry["signedCert"] = {"path": str(admin_msp / "signcerts" / "cert.pem")}
            orgs[d.msp_id] = entry
        profile = {
            "name": f"{self.topology.name}-{org.name}",
            "version": "1.0.0",
            "client": {"organization": org.msp_id},
            "channels": {c: {"peers": {p: {} for p in peers}} for c in self.topology.channels},
            "organizations": orgs,
            "peers": peers,
            "certificateAuthorities": cas,
        }
        path = layout.connection_profile(org.name)
        path.write_text(yaml.safe_dump(profile, sort_keys=False))
        return path

    # -- status and stopping -------------------------------------------------------------------

    def status(self) -> list[dict]:
        """Each of our processes: state, health, heights, Raft role."""
        sup = self.supervisor
        info = {p["name"]: p for p in sup.all_info()}
        out = []
        host = self.org.host
        for proc in self.processes() if self.layout.state_file.exists() else []:
            entry = {
                "name": proc.name, "kind": proc.kind, "org": proc.org,
                "process": info.get(proc.name, {}).get("statename", "STOPPED"),
                "pid": info.get(proc.name, {}).get("pid") or None, "ports": list(proc.ports),
            }  # fmt: skip
            running = entry["process"] == "RUNNING"
            if proc.kind in ("ca", "peer", "orderer") and running:
                entry["health"] = "OK" if healthz(host, proc.ports[-1])[0] else "FAILING"
            if proc.kind == "chaincode" and running:
                entry["health"] = "OK" if listening(host, proc.ports[0]) else "FAILING"
            main = self.topology.channel
            if proc.kind == "peer" and running:
                heights = {}
                for channel in self.topology.channels:
                    with contextlib.suppress(FabricCommandError, ValueError):
                        heights[channel] = ch.peer_height(self.admin, channel)
                if main in heights:
                    entry["height"] = heights[main]
                entry["heights"] = heights
            if proc.kind == "orderer" and running:
                text = metrics(host, proc.ports[-1])
                raft = {}
                for channel in self.topology.channels:
                    size = gauge(text, "consensus_etcdraft_cluster_size", channel)
                    raft[channel] = {
                        "leader": gauge(text, "consensus_etcdraft_is_leader", channel) == 1,
                        "cluster_size": int(size) if size is not None else None,
                    }
                entry["raft_leader"] = raft[main]["leader"]
                entry["raft_cluster_size"] = raft[main]["cluster_size"]
                entry["raft"] = raft
            out.append(entry)
        return out

    def certificates(self) -> list[dict]:
        """Every certificate of ours (node, admin, client, TLS): who, and when it expires."""
        found = []
        org_dir = self.layout.org(self.name)
        for path in sorted(org_dir.glob("*/msp/signcerts/cert.pem")) + sorted(
            org_dir.glob("*/tls/server.crt")
        ):
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            found.append({"org": self.name, "identity": path.relative_to(org_dir).parts[0],
                          "kind": "tls" if path.name == "server.crt" else "msp",
                          "path": str(path), "not_after": cert.not_valid_after_utc.isoformat()})
        return found

    def expiry_warnings(self, within: timedelta = EXPIRY_WARNING,
                        now: datetime | None = None) -> list[str]:
        """A line per certificate that expires within ``within`` (or has expired)."""
        now = now or datetime.now(UTC)
        lines = []
        for cert in self.certificates():
            left = datetime.fromisoformat(cert["not_after"]) - now
            if left <= within:
                what = f"{self.name} {cert['identity']} ({cert['kind']} certificate)"
                lines.append(f"{what} expired at {cert['not_after']}" if left.total_seconds() <= 0
                             else f"{what} expires in {_span(left)} ({cert['not_after']}): "
                             "renew it before then")
        return lines

    def down(self, purge: bool = False) -> None:
        """Stop our processes; with ``purge`` delete our state directory too."""
        with self.lock():
            procs = self.processes() if self.layout.state_file.exists() else []
            self.supervisor.stop_all([p.name for p in reversed(procs)])
        if purge:
            if self.layout.root.exists() and not self.layout.state_file.exists():
                raise MemberError(f"{self.layout.root} has no state.json: not removing a "
                                  "directory GridLedger did not make.")
            shutil.rmtree(self.layout.root, ignore_errors=True)


def _peer_id(d: OrgDefinition) -> str:
    # The process and log name the topology gives a peer (``peer0-utility``).
    return f"{d.peer_name}-{d.name}"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{max(seconds // 60, 0)} minutes"
