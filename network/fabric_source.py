"""Fabric's own source at the pinned commit: checked, then built into the cache.

The Go module proxy cannot serve Fabric v3 (its tags have no ``/v3`` module path, and the
proxies our machines reach refuse every v2/v3 version), so Fabric is built from a source
archive or an unpacked tree named by ``GRIDLEDGER_FABRIC_SOURCE``:

- a ``.tar.gz`` made by ``git archive`` (the trimmed archive shipped beside the project,
  or GitHub's own ``/archive/<commit>.tar.gz``): git stores the commit ID in the tar's
  pax global header, and that must be the pinned commit;
- a directory: a git checkout whose ``HEAD`` is the pinned commit, or an unpacked archive
  holding a ``.fabric-commit`` file with the commit ID (we write one when we unpack).

The build is one unit: peer, orderer, osnadmin and configtxgen (``-mod=vendor``, so the
main module needs no network), the ccaas builder's detect/build/release (its three small
dependencies come from the Go module proxy) and ``sampleconfig/``, assembled in a
``.partial`` directory and renamed into place only when every piece is there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import NetworkError
from .go import GoToolchain, run_go

FABRIC_VERSION = "3.1.5"
FABRIC_COMMIT = "86c1172bec37e6590c6b1ae6f847833df48d65fc"
FABRIC_MODULE = "github.com/hyperledger/fabric"
FABRIC_TOOLS = ("peer", "orderer", "osnadmin", "configtxgen", "configtxlator")
CCAAS_TOOLS = ("detect", "build", "release")
COMMIT_MARKER = ".fabric-commit"
BUILD_INFO = "BUILD.json"
GITHUB_ARCHIVE_URL = f"https://github.com/hyperledger/fabric/archive/{FABRIC_COMMIT}.tar.gz"

Progress = Callable[[str], None]


class SourceError(NetworkError):
    """The Fabric source named by the user is missing, not Fabric, or not the pinned commit."""


@dataclass(frozen=True)
class FabricSource:
    """A checked Fabric source: where it is, what kind, and at which commit."""

    path: Path
    kind: str  # "archive" or "tree"
    commit: str

    def describe(self) -> str:
        return f"{self.kind} {self.path} (commit {self.commit[:7]})"


def _wrong_commit(path: Path, found: str) -> SourceError:
    return SourceError(
        f"{path} is Fabric at commit {found}, not the pinned v{FABRIC_VERSION} commit "
        f"{FABRIC_COMMIT}. Point GRIDLEDGER_FABRIC_SOURCE at the v{FABRIC_VERSION} source "
        f"(for example GitHub's archive {GITHUB_ARCHIVE_URL})."
    )


def archive_commit(path: Path) -> str | None:
    """The commit ID that ``git archive`` stored in the archive's pax global header."""
    try:
        with tarfile.open(path, "r:*") as tar:
            # The global header is read with the first member, which open() reads.
            comment = tar.pax_headers.get("comment", "")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise SourceError(f"{path} is not a readable tar archive: {exc}") from None
    comment = comment.strip()
    return comment if len(comment) == 40 and all(c in "0123456789abcdef" for c in comment) else None


def tree_commit(path: Path) -> str | None:
    """The commit of an unpacked tree: its ``.fabric-commit`` marker, or git's ``HEAD``."""
    marker = path / COMMIT_MARKER
    if marker.is_file():
        return marker.read_text().strip() or None
    if (path / ".git").exists() and shutil.which("git"):
        proc = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        if proc.returncode == 0:
            return proc.stdout.strip()
    return None


def inspect_source(path: Path) -> FabricSource:
    """Check that ``path`` is Fabric's source at the pinned commit; raise :class:`SourceError`."""
    path = Path(path).expanduser().absolute()
    if not path.exists():
        raise SourceError(
            f"GRIDLEDGER_FABRIC_SOURCE names {path}, which does not exist. Point it at the "
            f"Fabric v{FABRIC_VERSION} source archive (.tar.gz) or an unpacked tree."
        )
    if path.is_dir():
        commit = tree_commit(path)
        if commit is None:
            raise SourceError(
                f"{path} is a directory without a {COMMIT_MARKER} marker and is not a git "
                f"checkout, so its commit cannot be checked. Point GRIDLEDGER_FABRIC_SOURCE at "
                f"the .tar.gz archive instead, or write the commit ID into {path / COMMIT_MARKER} "
                f"(`zcat ARCHIVE | git get-tar-commit-id > {path / COMMIT_MARKER}`)."
            )
        if commit != FABRIC_COMMIT:
            raise _wrong_commit(path, commit)
        _check_tree(path)
        return FabricSource(path, "tree", commit)
    commit = archive_commit(path)
    if commit is None:
        raise SourceError(
            f"{path} carries no commit ID in its pax header, so it was not made by `git "
            f"archive` and its version cannot be checked. Use the archive from "
            f"{GITHUB_ARCHIVE_URL} or the one shipped beside the project."
        )
    if commit != FABRIC_COMMIT:
        raise _wrong_commit(path, commit)
    return FabricSource(path, "archive", commit)


def _check_tree(root: Path) -> None:
    go_mod = root / "go.mod"
    first = go_mod.read_text().splitlines()[0].strip() if go_mod.is_file() else ""
    if first != f"module {FABRIC_MODULE}":
        raise SourceError(f"{root} is not Fabric's source: {go_mod} does not declare "
                          f"`module {FABRIC_MODULE}` (found {first or 'no go.mod'!r})")
    for needed in ("vendor/modules.txt", "ccaas_builder/go.mod", "sampleconfig/core.yaml",
                   "sampleconfig/orderer.yaml", *(f"cmd/{t}" for t in FABRIC_TOOLS)):
        if not (root / needed).exists():
            raise SourceError(f"{root} lacks {needed}; it is not a complete Fabric "
                              f"v{FABRIC_VERSION} source tree (vendor/ is needed to build offline)")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack(archive: Path, into: Path, say: Progress) -> Path:
    """Unpack ``archive`` under ``into`` and return its one top-level directory."""
    say(f"unpacking {archive.name}")
    with tarfile.open(archive, "r:*") as tar:
        tar.extractall(into, filter="data")  # refuses absolute paths, links out of tree
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise SourceError(f"{archive} should hold one top-level directory; found "
                          f"{sorted(p.name for p in tops)}")
    (tops[0] / COMMIT_MARKER).write_text(FABRIC_COMMIT + "\n")
    return tops[0]


@contextlib.contextmanager
def assembling(final: Path) -> Iterator[Path]:
    """A ``.partial`` sibling of ``final`` to build in, renamed to ``final`` on success.

    On any failure or interruption the partial directory is removed, so a half-finished
    build never sits in the cache; one left by a killed process is removed by the next.
    """
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        shutil.rmtree(final, ignore_errors=True)  # an unfinished older attempt, never a build
        os.replace(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def build_from_source(source: FabricSource, final: Path, go: GoToolchain, say: Progress) -> Path:
    """Build every Fabric tool we need from ``source`` into ``final``; return ``final``."""
    t0 = time.monotonic()
    with assembling(final) as out, tempfile.TemporaryDirectory(
        prefix="fabric-src-", dir=final.parent
    ) as scratch:
        root = source.path if source.kind == "tree" else _unpack(source.path, Path(scratch), say)
        _check_tree(root)
        meta = f"{FABRIC_MODULE}/common/metadata"
        ldflags = f"-X {meta}.Version={FABRIC_VERSION} -X {meta}.CommitSHA={FABRIC_COMMIT[:7]}"
        steps = [(t, root, f"./cmd/{t}", out / "bin", ["-mod=vendor", "-ldflags", ldflags])
                 for t in FABRIC_TOOLS]
        # ccaas_builder is its own module without vendor/: its go.sum pins what the proxy sends.
        steps += [(t, root / "ccaas_builder", f"./cmd/{t}", out / "ccaas_builder" / "bin",
                   ["-mod=readonly"]) for t in CCAAS_TOOLS]
        for n, (tool, cwd, pkg, bin_dir, flags) in enumerate(steps, 1):
            label = f"[{n}/{len(steps)}] {tool}"
            run_go(go, ["build", "-trimpath", *flags, "-o", str(bin_dir / tool), pkg],
                   cwd=cwd, label=label, say=say)
        shutil.copytree(root / "sampleconfig", out / "sampleconfig")
        info = {
            "version": FABRIC_VERSION,
            "commit": source.commit,
            "source": str(source.path),
            "source_kind": source.kind,
            "source_sha256": sha256_of(source.path) if source.kind == "archive" else None,
            "go": go.version,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - t0, 1),
        }
        (out / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
    say(f"Fabric {FABRIC_VERSION} built from {source.describe()} in "
        f"{time.monotonic() - t0:.0f} s into {final}")
    return final


def build_info(directory: Path) -> dict | None:
    """What a finished build in ``directory`` was made from, or None if it is not one."""
    try:
        return json.loads((directory / BUILD_INFO).read_text())
    except (OSError, ValueError):
        return None
