"""The consortium as one object: bring it up, report on it, take it down.

``up`` is a sequence of idempotent steps, each checked before the next: CAs, identities,
genesis block, orderers, Raft, peers, channel, chaincode.  Running it twice is safe;
an interrupted run is resumed by the next one, because every file is written whole
(temp file, then rename) and every network action checks first whether it was done.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

from . import channel as ch
from . import enroll, lifecycle, nodes
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
from .topology import Topology

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
            raise ConsortiumError(
                f"{root} was made for a different topology (ports or organisations changed). "
                "Use `gridledger network down --purge` to start a new network with this one, "
                "or restore the topology file it was made with."
            )

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
        for i, cc in enumerate(self.topology.chaincodes):
            for org in self.topology.organisations:
                pid = ids.get(f"{cc.name}/{org.name}")
                if pid:
                    procs.append(nodes.chaincode_process(layout, org, cc, i, pid))
        return procs

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
        """Generate what is missing, start everything, create the channel, deploy chaincode."""
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
            for org in self.topology.organisations:
                self._start(procs[org.ca.name])
            self.say("identities (enrolled from each organisation's CA)")
            for org in self.topology.organisations:
                enroll.enroll_org(bins, self.layout, org)
            self._save_state(phase="enrolled")

            self.say(f"genesis block of channel {self.topology.channel!r}")
            block = ch.make_genesis_block(bins, self.topology, self.layout)

            self.say("orderers (Raft)")
            for org in self.topology.organisations:
                self._start(procs[org.orderer.id])
            ch.join_orderers(self.admins, self.topology.channel, block)
            ch.wait_for_raft(self.admins, self.topology.channel)

            self.say("peers")
            for org in self.topology.organisations:
                self._start(procs[org.peer.id])
            ch.join_peers(self.admins, self.topology.channel, block)
            self._save_state(phase="channel")

            self.deploy_chaincodes()
            self.write_connection_profiles()
            self._save_state(phase="up")
            self.say(f"network up in {time.monotonic() - t0:.1f}s; state in {self.layout.root}")

    def deploy_chaincodes(self) -> None:
        channel = self.topology.channel
        admins = self.admins
        ids: dict[str, str] = dict(self.recorded_state().package_ids)
        for i, cc in enumerate(self.topology.chaincodes):
            self.say(f"chaincode {cc.name} {cc.version} (sequence {cc.sequence})")
            for admin in admins:
                pkg = lifecycle.package(self.layout, admin.org, cc, i)
                ids[f"{cc.name}/{admin.org.name}"] = lifecycle.install(admin, pkg, cc)
            self._save_state(package_ids=ids)
            # Servers must run before the definition is committed: the peer dials them
            # on the first invocation.
            self.supervisor.start(self.processes(ids))
            for proc in self.processes(ids):
                if proc.kind == "chaincode" and proc.name.startswith(f"cc-{cc.name}-"):
                    self._start(proc)
            committed = lifecycle.query_committed(admins[0], channel, cc.name)
            if committed and committed.sequence >= cc.sequence:
                continue
            for admin in admins:
                lifecycle.approve(admin, channel, cc, ids[f"{cc.name}/{admin.org.name}"])
            lifecycle.commit(admins, channel, cc)
            for admin in admins:
                lifecycle.wait_ready(admin, channel, cc)

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
                "channels": {topo.channel: {"peers": {p: {} for p in peers}}},
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
            if proc.kind == "peer" and entry["process"] == "RUNNING":
                with contextlib.suppress(FabricCommandError, ValueError):
                    entry["height"] = ch.peer_height(self.admin(proc.org), self.topology.channel)
            if proc.kind == "orderer" and entry["process"] == "RUNNING":
                text = metrics(host, proc.ports[-1])
                channel = self.topology.channel
                entry["raft_leader"] = gauge(text, "consensus_etcdraft_is_leader", channel) == 1
                size = gauge(text, "consensus_etcdraft_cluster_size", channel)
                entry["raft_cluster_size"] = int(size) if size is not None else None
            report["nodes"].append(entry)
        report["chaincodes"] = []
        peer_up = [n for n in report["nodes"] if n["kind"] == "peer" and n.get("health") == "OK"]
        if peer_up:
            admin = self.admin(peer_up[0]["org"])
            for cc in self.topology.chaincodes:
                with contextlib.suppress(FabricCommandError, ValueError):
                    c = lifecycle.query_committed(admin, self.topology.channel, cc.name)
                    if c:
                        report["chaincodes"].append(
                            {
                                "name": c.name,
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

