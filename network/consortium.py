"""The consortium on one machine: its members' steps in order, as if on their own hosts.

Each organisation is a :class:`~.member.Member` with a state directory of its own
(``<root>/members/<org>/``) holding its keys and no one else's, and a supervisord of its
own.  ``up`` runs what each member's operator would run (docs/operations.md): each
initialises its CA and identities and exports its public definition; the definitions
are exchanged as files (``<root>/exchange/``); one founder makes each channel's genesis
block from them; each member joins its own orderer and peer; each installs and approves
the chaincode; one commits.  Every step is idempotent and checked before the next:
running it twice is safe, and an interrupted run is resumed by the next one, because
every file is written whole (temp file, then rename) and every network action checks
first whether it was done.

A state directory made for the same topology with fewer channels (before ``market``
existed: ``channel: energy`` only) gets the channels it lacks on its next ``up``: their
genesis blocks, joins and chaincode definitions, and the CRLs already published on the
main channel, so that a certificate revoked before is refused on the new channels too.
Anything else that changed (ports, organisations, a channel dropped or reordered) needs
``down --purge``.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from . import crl_publish, lifecycle, nodes
from .binaries import FabricBinaries, ensure_all
from .errors import NetworkError
from .fabric_cli import FabricCommandError, OrgAdmin
from .layout import ConsortiumLayout, Layout
from .member import Member
from .supervisor import MembersSupervisor
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
    """Every member of the consortium on this machine, each in a state directory of its own
    (``<root>/members/<org>/``), brought up by the steps each member's operator would run
    on its own host; what they exchange goes through ``<root>/exchange/`` as files."""

    topology: Topology
    layout: Layout
    say: Progress = _say
    _bins: FabricBinaries | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.layout, ConsortiumLayout):
            self.layout = ConsortiumLayout(self.layout.root)

    # -- plumbing -----------------------------------------------------------------

    @property
    def bins(self) -> FabricBinaries:
        if self._bins is None:
            self._bins = ensure_all(lambda m: self.say(f"  {m}"))
        return self._bins

    @property
    def members(self) -> list[Member]:
        """One :class:`Member` per organisation of the topology, in its order."""
        assert isinstance(self.layout, ConsortiumLayout)
        return [
            Member(self.topology, o.name, self.layout.member(o.name),
                   say=lambda m, o=o: self.say(f"[{o.name}] {m}"), bins=self._bins)
            for o in self.topology.organisations
        ]  # fmt: skip

    def member(self, org: str) -> Member:
        name = self.topology.org(org).name
        return next(m for m in self.members if m.name == name)

    @property
    def exchange(self) -> Path:
        """Where the members leave each other files: definitions, blocks, config updates."""
        return self.layout.root / "exchange"

    @property
    def supervisor(self) -> MembersSupervisor:
        """Every member's supervisord, driven as one."""
        assert isinstance(self.layout, ConsortiumLayout)
        return MembersSupervisor(self.layout)

    def admin(self, org: str) -> OrgAdmin:
        """An organisation's admin, acting from its own state directory."""
        return self.member(org).admin

    @property
    def admins(self) -> list[OrgAdmin]:
        return [m.admin for m in self.members]

    def recorded_state(self) -> RecordedState:
        """What ``up`` has recorded here so far (read-only; nothing is started or checked)."""
        state = self._state()
        ids = {f"{cc}/{m.name}": pid for m in self.members
               for cc, pid in m.recorded_state().package_ids.items()}
        return RecordedState(
            phase=state.get("phase"),
            topology=state.get("topology"),
            package_ids=MappingProxyType(ids),
        )

    def _state(self) -> dict:
        return self.layout.read_state()

    def _save_state(self, **changes) -> None:
        self.layout.save_state(**changes)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return self.layout.locked(ConsortiumError(
            f"another `gridledger network` command is working on {self.layout.root}"))

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
            self._save_state(topology=self.topology.fingerprint(), phase="new",
                             members=[o.name for o in self.topology.organisations])
            return
        if "members" not in state:
            raise ConsortiumError(
                f"{root} holds a network made before each organisation kept a state "
                "directory of its own (all three members' keys in one place). Start anew "
                "with `gridledger network down --purge`."
            )
        if state.get("topology") != self.topology.fingerprint():
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
        """Every member's processes, kind by kind (CAs, orderers, peers, chaincode servers)."""
        order = {"ca": 0, "orderer": 1, "peer": 2, "chaincode": 3}
        procs = []
        for m in self.members:
            if not m.layout.state_file.exists():
                continue
            ids = None
            if package_ids is not None:
                ids = {k.split("/")[0]: v for k, v in package_ids.items()
                       if k.endswith(f"/{m.name}")}
            procs += m.processes(ids)
        return sorted(procs, key=lambda p: order[p.kind])

    # -- commands -----------------------------------------------------------------

    def up(self) -> None:
        """Every member's steps, in the order the members' operators would run them."""
        t0 = time.monotonic()
        with self._lock():
            self._check_state_dir()
            self.say("binaries")
            self._bins = self.bins
            members = self.members

            self.say("each member: its CA and identities (`gridledger org init`)")
            _each(members, lambda m: m.init())
            self.say("members exchange their public definitions")
            self.exchange.mkdir(parents=True, exist_ok=True)
            for m in members:
                shutil.copy(m.layout.definition_file, self.exchange / f"{m.name}.json")
            for m in members:
                for other in members:
                    if other is not m:
                        m.add_definition(self.exchange / f"{other.name}.json")

            founder = members[0]
            blocks = {}
            for channel in self.topology.channels:
                self.say(f"genesis block of channel {channel!r} (by {founder.name})")
                blocks[channel] = self.exchange / f"{channel}.block"
                if not blocks[channel].exists():
                    shutil.copy(founder.genesis_block(channel), blocks[channel])

            self.say("each member: its orderer and peer")
            _each(members, lambda m: m.start())
            self.say("each member joins its orderer to the channels (Raft)")
            for channel, block in blocks.items():
                _each(members, lambda m, c=channel, b=block: m.join_orderer(c, b))
            # Each channel is a Raft cluster of its own, elected independently.
            for channel in blocks:
                _each(members, lambda m, c=channel: m.wait_orderer(c))
            self.say("each member joins its peer")
            for channel, block in blocks.items():
                _each(members, lambda m, c=channel, b=block: m.join_peer(c, b))
            self._save_state(phase="channel")

            self.deploy_chaincodes()
            self._carry_crls()
            self.write_connection_profiles()
            self._save_state(phase="up")
            self.say(f"network up in {time.monotonic() - t0:.1f}s; state in {self.layout.root}")

    def deploy_chaincodes(self) -> None:
        """Each member installs each chaincode and runs its server; each approves; one
        commits once the approvals meet the policy (what is done is skipped).

        One package per organisation serves every channel: the peer dials the one server,
        and each message names its channel.
        """
        for cc in self.topology.chaincodes:
            self.say(
                f"chaincode {cc.name} {cc.version} (sequence {cc.sequence}) "
                f"on {', '.join(cc.channels)}"
            )
            self._deploy(cc)

    def _deploy(self, cc: ChaincodeDefinition) -> None:
        members = self.members
        # Servers must run before the definition is committed: the peer dials them on the
        # first invocation.
        _each(members, lambda m: m.install(cc))
        for channel in cc.channels:
            committed = lifecycle.query_committed(members[0].admin, channel, cc.name)
            if committed and committed.sequence >= cc.sequence:
                # Committed already; a member that installed new code approves the same
                # sequence again with its new package (its own choice of package).
                stale = [m for m in members if m.approved_stale(channel, cc)]
                _each(stale, lambda m, channel=channel: m.approve(channel, cc))
                continue
            _each(members, lambda m, channel=channel: m.approve(channel, cc))
            members[0].commit(channel, cc)
            _each(members, lambda m, channel=channel: m.wait_ready(channel, cc))

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
        """Each member writes a standard Fabric connection profile for its clients."""
        for m in self.members:
            m.write_connection_profile()

    def down(self, purge: bool = False) -> None:
        """Stop every member's processes; with ``purge`` also remove all generated state."""
        if purge and self.layout.root.exists() and not self.layout.state_file.exists():
            raise ConsortiumError(
                f"{self.layout.root} has no state.json: not removing a directory GridLedger "
                "did not make."
            )
        with self._lock():
            # The demo's programs run under the first member's supervisord: it stops last.
            for m in reversed(self.members):
                if m.layout.state_file.exists():
                    m.down()
        if purge:
            shutil.rmtree(self.layout.root, ignore_errors=True)

    def status(self) -> dict:
        """Each node's process state and health, heights, Raft leader, committed chaincodes,
        and the certificates that expire soon."""
        members = [m for m in self.members if m.layout.state_file.exists()]
        report: dict = {
            "state_dir": str(self.layout.root),
            "running": self.supervisor.running(),
            "members": {m.name: str(m.layout.root) for m in members},
            "nodes": [n for m in members for n in m.status()],
            "warnings": [w for m in members for w in m.expiry_warnings()],
        }
        report["chaincodes"] = []
        healthy = {n["org"] for n in report["nodes"]
                   if n["kind"] == "peer" and n.get("health") == "OK"}
        asker = next((m for m in members if m.name in healthy), None)
        if asker is not None:
            for cc in self.topology.chaincodes:
                for channel in cc.channels:
                    report["chaincodes"].append(self._chaincode_status(asker, cc, channel))
        return report

    def _chaincode_status(self, asker: Member, cc: ChaincodeDefinition, channel: str) -> dict:
        entry: dict = {"name": cc.name, "channel": channel,
                       "endorsement_policy": cc.endorsement_policy}
        with contextlib.suppress(FabricCommandError, ValueError):
            c = lifecycle.query_committed(asker.admin, channel, cc.name)
            if c:
                entry.update(version=c.version, sequence=c.sequence, approvals=c.approvals)
            if not c or c.sequence < cc.sequence:
                # The topology's definition is ahead of the channel's: who approved it so far.
                entry["pending"] = {"version": cc.version, "sequence": cc.sequence,
                                    "approvals": asker.approvals(channel, cc)}
        return entry

    def log_path(self, node: str) -> Path:
        names = [p.name for p in self.processes()] + ["supervisord"]
        if node not in names:
            raise ConsortiumError(f"no node {node!r}; nodes are: {', '.join(names)}")
        return self.layout.log(node)

