"""Backing up and restoring one node's ledger while the rest of the consortium runs.

A backup is the node's data directory (the peer's ledgers, state and private data, or the
orderer's block store and Raft log) taken while that node is stopped, so that the files
are consistent; the others go on meanwhile, and the node is started again at once.  The
archive (``.tar.gz``) carries a manifest: which organisation's which node, its heights
then, when.  It holds no key: a node's keys live in its MSP and TLS directories, not in
its data.

A restore stops the node, moves its present data aside (``data.before-restore-<time>``,
never deleted: nothing is lost if the backup was the wrong one), unpacks the backup,
starts the node and waits until it has caught up with the channel: the peer pulls the
blocks it lacks from the orderers, the orderer from the other consenters.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import channel as ch
from .errors import NetworkError
from .fabric_cli import FabricCommandError
from .polling import poll

if TYPE_CHECKING:
    from .member import Member

MANIFEST = "gridledger-backup.json"
FORMAT = "gridledger.node-backup/1"


class BackupError(NetworkError):
    """A backup could not be made, or an archive cannot be restored here."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    node: str
    heights: dict[str, int]
    seconds_stopped: float
    bytes: int


def _process(member: Member, kind: str):
    if kind not in ("peer", "orderer"):
        raise BackupError(f"{kind!r}: back up a 'peer' or an 'orderer'")
    return next(p for p in member.processes() if p.kind == kind)


def _heights(member: Member, kind: str) -> dict[str, int]:
    heights = {}
    for channel in member.topology.channels:
        try:
            if kind == "peer":
                heights[channel] = ch.peer_height(member.admin, channel)
            else:
                heights[channel] = int(ch.orderer_channel_info(member.admin, channel)["height"])
        except (FabricCommandError, ValueError, KeyError):
            continue
    return heights


def backup(member: Member, kind: str, out: Path) -> BackupResult:
    """Stop ``member``'s ``kind`` node, archive its data into ``out``, start it again."""
    proc = _process(member, kind)
    data = member.layout.node(proc.name) / "data"
    if not data.is_dir():
        raise BackupError(f"{proc.name} has no data directory at {data}: nothing to back up")
    heights = _heights(member, kind)
    manifest = {"format": FORMAT, "org": member.name, "msp_id": member.org.msp_id,
                "node": proc.name, "kind": kind, "heights": heights,
                "taken": datetime.now(UTC).isoformat(timespec="seconds")}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    t0 = time.monotonic()
    member.supervisor.stop_process(proc.name)
    try:
        with tarfile.open(partial, "w:gz") as tar:
            raw = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
            tar.add(data, arcname="data")
    finally:
        member.start_process(proc)
    stopped = time.monotonic() - t0
    partial.replace(out)
    return BackupResult(out, proc.name, heights, stopped, out.stat().st_size)


def read_manifest(archive: Path) -> dict:
    """The manifest of a backup archive (checked to be one)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(member.read())
    except (OSError, EOFError, zlib.error, tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(f"{archive} is not a GridLedger node backup ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is not a GridLedger node backup ({FORMAT})")
    return manifest


def restore(member: Member, kind: str, archive: Path, timeout: float = 120) -> dict[str, int]:
    """Put the backup in ``archive`` back as ``member``'s ``kind`` node's data; start the
    node and wait until it is at the height of its channels again.  Returns its heights."""
    proc = _process(member, kind)
    manifest = read_manifest(archive)
    if (manifest.get("org"), manifest.get("node")) != (member.name, proc.name):
        raise BackupError(
            f"{archive} is a backup of {manifest.get('node')} ({manifest.get('org')}), not of "
            f"{proc.name}: a node's ledger is restored only into that node"
        )
    node_dir = member.layout.node(proc.name)
    data = node_dir / "data"
    staging = node_dir / "data.restoring"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # Unpacked beside the live data first: a bad archive fails here, with the node's data
    # untouched and the node still running.
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name == "data"
                       or m.name.startswith("data/")]
            tar.extractall(staging, members=members, filter="data")
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError(
            f"{archive} could not be unpacked ({exc}); {proc.name} untouched"
        ) from None
    target = _target_heights(member, kind)
    member.supervisor.stop_process(proc.name)
    aside = node_dir / f"data.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    if data.exists():
        data.rename(aside)
    (staging / "data").rename(data)
    staging.rmdir()
    member.start_process(proc)
    polled = poll(lambda: _heights(member, kind),
                  lambda h: all(h.get(c, -1) >= n for c, n in target.items()),
                  timeout=timeout, interval=0.5)
    if not polled.done:
        raise BackupError(
            f"{proc.name} restored from {archive} but not caught up within {timeout:.0f}s "
            f"(heights {polled.last}, the channel's at least {target}); its data before the "
            f"restore is kept in {aside}"
        )
    return polled.last


def _target_heights(member: Member, kind: str) -> dict[str, int]:
    """How far the node must get to have caught up: the channel's height now, as its
    organisation's other node sees it (the orderer for a peer, the peer for an orderer)."""
    return _heights(member, "orderer" if kind == "peer" else "peer")
