"""The consortium as one object: bring it up, report on it, take it down.

``up`` is a sequence of idempotent steps, each checked before the next: CAs, identities,
a genesis block per channel, orderers, Raft, peers, channels, chaincode.  Running it twice
is safe; an interrupted run is resumed by the next one, because every file is written
whole (temp file, then rename) and every network action checks first whether it was done.

A state directory made for the same topology with fewer channels (before ``market``
existed: ``channel: energy`` only) gets the channels it lacks on its next ``up``: their
genesis blocks, joins and chaincode definitions, and the CRLs already published on the
main channel, so that a certificate revoked before is refused on the new channels too.
Anything else that changed (ports, organisations, a channel dropped or reordered) needs
``down --purge``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import yaml

from . import channel as ch
from . import crl_publish, enroll, lifecycle, nodes
from .binaries import FabricBinaries, ensure_all
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
from .layout import Layout
from .supervisor import Supervisor, SupervisorError, tail
from .topology import ChaincodeDefinition, Topology

Progress = Callable[[str], None]


class ConsortiumError(NetworkError):
    """The network cannot be brought up, or its state directory is not usable."""


@dataclass(frozen=True)
class RecordedState:
    """What ``up`` has recorded in the state directory's ``state.json``.

    ``phase`` is how far bring-up got: None (no network here yet), ``"new"``,
    ``"enrolled"``, ``"channel"`` or ``"up"``.  ``topology`` is the fingerprint of the
    topology the directory was made for (:meth:`Topology.fingerprint`), ``package_ids``
    the installed chaincode package of each ``"<chaincode>/<org>"``.
    """

    phase: str | None
    topology: str | None
    package_ids: Mapping[str, str]

    @property
    def is_up(self) -> bool:
        """Whether ``up`` ran to the end (it may have stopped since: ask the supervisor)."""
        return self.phase == "up"

    def made_for(self, topology: Topology) -> bool:
        """Whether the state directory was made for ``topology`` (same nodes and ports)."""
        return self.topology == topology.fingerprint()


T = TypeVar("T")
R = TypeVar("R")


def _each(items: Sequence[T], work: Callable[[T], R]) -> list[R]:
    """``work`` on every item at once (threads: the work is waiting on processes and
    sockets); the results in order, the first failure raised after all have ended."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(work, item) for item in items]
        wait(futures)
        return [f.result() for f in futures]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Consortium:
    topology: Topology
    layout: Layout
    say: Progress = _say
    _bins: FabricBinaries | None = None

    # -- plumbing -----------------------------------------------------------------

    @property
    def bins(self) -> FabricBinaries:
        if self._bins is None:
            self._bins = ensure_all(lambda m: self.say(f"  {m}"))
        return self._bins

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.layout)

    def admin(self, org: str) -> OrgAdmin:
        return OrgAdmin(self.bins, self.layout, self.topology.org(org))

    @property
    def admins(self) -> list[OrgAdmin]:
        return [OrgAdmin(self.bins, self.layout, o) for o in self.topology.organisations]

    def recorded_state(self) -> RecordedState:
        """What ``up`` has recorded here so far (read-only; nothing is started or checked)."""
        state = self._state()
        ids = state.get("package_ids")
        return RecordedState(
            phase=state.get("phase"),
            topology=state.get("topology"),
            package_ids=MappingProxyType(dict(ids) if isinstance(ids, dict) else {}),
        )

    def _state(self) -> dict:
        try:
            return json.loads(self.layout.state_file.read_text())
        except FileNotFoundError:
            return {}

    def _save_state(self, **changes) -> None:
        state = {**self._state(), **changes}
        tmp = self.layout.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(self.layout.state_file)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        # Keys, secrets and ledgers live below: only this user may enter.
        self.layout.root.chmod(0o700)
        with open(self.layout.root / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConsortiumError(
                    f"another `gridledger network` command is working on {self.layout.root}"
                ) from None
            yield

    def _check_state_dir(self) -> None:
        root = self.layout.root
        state = self._state()
        if not state:
            leftovers = [p.name for p in root.iterdir() if p.name != ".lock"]
            if leftovers:
                # Files but no state.json: not ours, or from a version that did not keep
                # one.  Never delete what we cannot account for.
                raise ConsortiumError(
                    f"{root} holds files ({', '.join(sorted(leftovers)[:5])}) but no state.json; "
                    "it is not a GridLedger network directory. Choose another --state-dir, or "
                    "remove it yourself if it is expendable."
                )
            self._save_state(topology=self.topology.fingerprint(), phase="new")
        elif state.get("topology") != self.topology.fingerprint():
            added = self.topology.grown_from(str(state.get("topology")))
            if added is None:
                raise ConsortiumError(
                    f"{root} was made for a different topology (ports, organisations or "
                    "channels changed; channels may only be added, at the end of `channels`). "
                    "Use `gridledger network down --purge` to start a new network with this "
                    "one, or restore the topology file it was made with."
                )
            self.say(f"adding channel(s) {', '.join(added)} to the network in {root}")
            # Recorded before anything is made: an interrupted `up` still carries the CRLs
            # over to these channels on its next run.
            before = list(state.get("grown") or [])
            grown = before + [c for c in added if c not in before]
            self._save_state(topology=self.topology.fingerprint(), grown=grown)

    def processes(self, package_ids: Mapping[str, str] | None = None) -> list[nodes.Process]:
        """Every process of the network, in start order."""
        bins, layout = self.bins, self.layout
        procs = []
        for org in self.topology.organisations:
            password = enroll.ca_admin_password(layout, org.name)
            procs.append(nodes.ca_process(bins, layout, org, password))
        procs += [nodes.orderer_process(bins, layout, o) for o in self.topology.organisations]
        procs += [nodes.peer_process(bins, layout, o) for o in self.topology.organisations]
        ids = package_ids if package_ids is not None else self.recorded_state().package_ids
        channels = {"energy": self.topology.channel}
        market = next((c for c in self.topology.chaincodes if c.name == "market"), None)
        if market is not None and market.channels:
            channels["market"] = market.channels[0]
        for i, cc in enumerate(self.topology.chaincodes):
            for org in self.topology.organisations:
                pid = ids.get(f"{cc.name}/{org.name}")
                if pid:
                    procs.append(nodes.chaincode_process(layout, org, cc, i, pid, channels))
        return procs

    def _start_all(self, procs: Sequence[nodes.Process]) -> None:
        """Start ``procs`` side by side: supervisord holds each one ``startsecs`` to see
        it stay up, and nodes of one kind do not wait for each other."""
        _each(procs, self._start)

    def _start(self, proc: nodes.Process) -> None:
        sup = self.supervisor

        def alive() -> bool:
            return sup.info(proc.name)["statename"] in ("RUNNING", "STARTING", "BACKOFF")

        try:
            sup.start_process(proc.name)
            host = self.topology.org(proc.org).host
            if proc.kind in ("ca", "peer", "orderer"):
                wait_healthy(proc.name, host, proc.ports[-1], alive)
            else:
                wait_listening(host, proc.ports[0], alive)
        except (StartupError, SupervisorError) as exc:
            raise ConsortiumError(
                f"{proc.name} did not come up: {exc}\nlast lines of {self.layout.log(proc.name)}:"
                f"\n{tail(self.layout.log(proc.name))}"
            ) from None

    # -- commands -----------------------------------------------------------------

    def up(self) -> None:
        """Generate what is missing, start everything, create the channels, deploy chaincode."""
        t0 = time.monotonic()
        with self._lock():
            self._check_state_dir()
            self.say("binaries")
            bins = self.bins
            sup = self.supervisor
            if not sup.running():
                check_ports_free(self.topology.ports())
            procs = {p.name: p for p in self.processes()}
            sup.start(list(procs.values()))

            self.say("certificate authorities")
            self._start_all([procs[org.ca.name] for org in self.topology.organisations])
            self.say("identities (enrolled from each organisation's CA)")
            for org in self.topology.organisations:
                enroll.enroll_org(bins, self.layout, org)
            self._save_state(phase="enrolled")

            blocks = {}
            for channel in self.topology.channels:
                self.say(f"genesis block of channel {channel!r}")
                blocks[channel] = ch.make_genesis_block(bins, self.topology, self.layout, channel)

            self.say("orderers (Raft)")
            self._start_all([procs[org.orderer.id] for org in self.topology.organisations])
            # Each channel is a Raft cluster of its own, elected independently.
            for channel, block in blocks.items():
                ch.join_orderers(self.admins, channel, block)
            for channel in blocks:
                ch.wait_for_raft(self.admins, channel)

            self.say("peers")
            self._start_all([procs[org.peer.id] for org in self.topology.organisations])
            for channel, block in blocks.items():
                ch.join_peers(self.admins, channel, block)
            self._save_state(phase="channel")

            self.deploy_chaincodes()
            self._carry_crls()
            self.write_connection_profiles()
            self._save_state(phase="up")
            self.say(f"network up in {time.monotonic() - t0:.1f}s; state in {self.layout.root}")

    def deploy_chaincodes(self) -> None:
        """Install each chaincode's package once per organisation, start its servers, and
        approve and commit its definition on each of its channels (what is done is skipped).

        One package per organisation serves every channel: the peer dials the one server,
        and each message names its channel.
        """
        ids: dict[str, str] = dict(self.recorded_state().package_ids)
        for i, cc in enumerate(self.topology.chaincodes):
            self.say(
                f"chaincode {cc.name} {cc.version} (sequence {cc.sequence}) "
                f"on {', '.join(cc.channels)}"
            )
            self._deploy(i, cc, ids)

    def _deploy(self, index: int, cc: ChaincodeDefinition, ids: dict[str, str]) -> None:
        admins = self.admins

        # Each organisation's admin acts on its own peer: side by side, as the members'
        # operators would.
        def install(admin: OrgAdmin) -> None:
            pkg = lifecycle.package(self.layout, admin.org, cc, index)
            ids[f"{cc.name}/{admin.org.name}"] = lifecycle.install(admin, pkg, cc)

        _each(admins, install)
        self._save_state(package_ids=ids)
        # Servers must run before the definition is committed: the peer dials them on the
        # first invocation.
        procs = self.processes(ids)
        self.supervisor.start(procs)
        self._start_all([p for p in procs if p.kind == "chaincode"
                         and p.name.startswith(f"cc-{cc.name}-")])
        for channel in cc.channels:
            committed = lifecycle.query_committed(admins[0], channel, cc.name)
            if committed and committed.sequence >= cc.sequence:
                continue
            _each(admins, lambda admin, channel=channel: lifecycle.approve(
                admin, channel, cc, ids[f"{cc.name}/{admin.org.name}"]))
            lifecycle.commit(admins, channel, cc)
            _each(admins, lambda admin, channel=channel: lifecycle.wait_ready(
                admin, channel, cc))

    def _carry_crls(self) -> None:
        """Put the CRLs the main channel holds into the channels added since (if any).

        A channel's genesis block has no CRLs; on a new network there are none to carry,
        but a network grown from one channel may have published some already.
        """
        grown = [c for c in self._state().get("grown") or [] if c in self.topology.channels]
        if grown:
            self.say(f"CRLs of channel {self.topology.channel!r} into {', '.join(grown)}")
            crl_publish.carry_crls(self, self.topology.channel, grown)
            self._save_state(grown=[])

    def write_connection_profiles(self) -> None:
        """A standard Fabric connection profile per organisation, for our clients and others."""
        topo, layout = self.topology, self.layout
        peers = {
            o.peer.id: {
                "url": f"grpcs://{o.peer.address}",
                "tlsCACerts": {"path": str(layout.ca_cert(o.name))},
            }
            for o in topo.organisations
        }
        cas = {
            o.ca.name: {
                "url": o.ca.url,
                "caName": o.ca.name,
                "tlsCACerts": {"path": str(layout.ca_cert(o.name))},
            }
            for o in topo.organisations
        }
        for org in topo.organisations:
            profile = {
                "name": f"{topo.name}-{org.name}",
                "version": "1.0.0",
                "client": {"organization": org.msp_id},
                "channels": {c: {"peers": {p: {} for p in peers}} for c in topo.channels},
                "organizations": {
                    o.msp_id: {
                        "mspid": o.msp_id,
                        "peers": [o.peer.id],
                        "certificateAuthorities": [o.ca.name],
                        "adminPrivateKey": {"path": str(layout.msp(o.name, "Admin") / "keystore" / "key.pem")} if o is org else None,  # noqa: E501
                        "signedCert": {"path": str(layout.msp(o.name, "Admin") / "signcerts" / "cert.pem")} if o is org else None,  # noqa: E501
                    }
                    for o in topo.organisations
                },
                "peers": peers,
                "certificateAuthorities": cas,
            }
            for entry in profile["organizations"].values():
                for key in ("adminPrivateKey", "signedCert"):
                    if entry[key] is None:
                        del entry[key]
            layout.connection_profile(org.name).write_text(yaml.safe_dump(profile, sort_keys=False))

    def down(self, purge: bool = False) -> None:
        """Stop every process we started; with ``purge`` also remove all generated state."""
        with self._lock():
            procs = self.processes() if self.layout.state_file.exists() else []
            self.supervisor.stop_all([p.name for p in reversed(procs)])
        if purge:
            if self.layout.root.exists() and not self.layout.state_file.exists():
                raise ConsortiumError(
                    f"{self.layout.root} has no state.json: not removing a directory GridLedger "
                    "did not make."
                )
            shutil.rmtree(self.layout.root, ignore_errors=True)

    def status(self) -> dict:
        """Each node's process state and health, heights, Raft leader, committed chaincodes."""
        sup = self.supervisor
        info = {p["name"]: p for p in sup.all_info()}
        report: dict = {"state_dir": str(self.layout.root), "running": sup.running(), "nodes": []}
        for proc in self.processes():
            entry = {
                "name": proc.name,
                "kind": proc.kind,
                "org": proc.org,
                "process": info.get(proc.name, {}).get("statename", "STOPPED"),
                "pid": info.get(proc.name, {}).get("pid") or None,
                "ports": list(proc.ports),
            }
            host = self.topology.org(proc.org).host
            if proc.kind in ("ca", "peer", "orderer") and entry["process"] == "RUNNING":
                ok, _ = healthz(host, proc.ports[-1])
                entry["health"] = "OK" if ok else "FAILING"
            if proc.kind == "chaincode" and entry["process"] == "RUNNING":
                entry["health"] = "OK" if listening(host, proc.ports[0]) else "FAILING"
            main = self.topology.channel
            if proc.kind == "peer" and entry["process"] == "RUNNING":
                heights = {}
                for channel in self.topology.channels:
                    with contextlib.suppress(FabricCommandError, ValueError):
                        heights[channel] = ch.peer_height(self.admin(proc.org), channel)
                if main in heights:
                    entry["height"] = heights[main]  # the main channel's, as before
                entry["heights"] = heights
            if proc.kind == "orderer" and entry["process"] == "RUNNING":
                text = metrics(host, proc.ports[-1])
                raft = {}
                for channel in self.topology.channels:
                    size = gauge(text, "consensus_etcdraft_cluster_size", channel)
                    raft[channel] = {
                        "leader": gauge(text, "consensus_etcdraft_is_leader", channel) == 1,
                        "cluster_size": int(size) if size is not None else None,
                    }
                entry["raft_leader"] = raft[main]["leader"]  # the main channel's, as before
                entry["raft_cluster_size"] = raft[main]["cluster_size"]
                entry["raft"] = raft
            report["nodes"].append(entry)
        report["chaincodes"] = []
        peer_up = [n for n in report["nodes"] if n["kind"] == "peer" and n.get("health") == "OK"]
        if peer_up:
            admin = self.admin(peer_up[0]["org"])
            for cc in self.topology.chaincodes:
                for channel in cc.channels:
                    with contextlib.suppress(FabricCommandError, ValueError):
                        c = lifecycle.query_committed(admin, channel, cc.name)
                        if c:
                            report["chaincodes"].append(
                                {
                                    "name": c.name,
                                    "channel": channel,
                                    "version": c.version,
                                    "sequence": c.sequence,
                                    "endorsement_policy": cc.endorsement_policy,
                                    "approvals": c.approvals,
                                }
                            )
        return report

    def log_path(self, node: str) -> Path:
        names = [p.name for p in self.processes()] + ["supervisord"]
        if node not in names:
            raise ConsortiumError(f"no node {node!r}; nodes are: {', '.join(names)}")
        return self.layout.log(node)

