"""Fabric and Fabric CA binaries at the pinned versions: found, or built with Go.

Where each tool set comes from, in order (the first that has every tool at the pinned
version wins):

Fabric (peer, orderer, osnadmin, configtxgen) and the ccaas builder
  1. ``GRIDLEDGER_FABRIC_BIN`` / ``GRIDLEDGER_CCAAS_BUILDER``;
  2. our cache, ``~/.cache/gridledger/fabric-3.1.5/`` (``$GRIDLEDGER_CACHE``);
  3. ``PATH`` (as Fabric's install script leaves them; ccaas: ``/opt/hyperledger/ccaas_builder``);
  4. a build from Fabric's source archive or tree named by ``GRIDLEDGER_FABRIC_SOURCE``
     (:mod:`.fabric_source`).
Fabric CA (fabric-ca-server, fabric-ca-client)
  1. ``GRIDLEDGER_FABRIC_CA_BIN``; 2. the cache; 3. ``PATH``;
  4. a build through the Go module proxy, which serves Fabric CA v1.5.21.

A second run finds the cache and costs a few ``version`` calls. Builds hold a file lock,
so two ``up``s at once wait for one build instead of racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import NetworkError
from .fabric_source import (
    CCAAS_TOOLS,
    FABRIC_COMMIT,
    FABRIC_TOOLS,
    FABRIC_VERSION,
    GITHUB_ARCHIVE_URL,
    SourceError,
    assembling,
    build_from_source,
    build_info,
    inspect_source,
)
from .go import GoError, download_module, find_go, run_go

FABRIC_CA_VERSION = "1.5.21"
CA_TOOLS = ("fabric-ca-server", "fabric-ca-client")
OPT_CCAAS_BUILDER = Path("/opt/hyperledger/ccaas_builder")  # where the fabric-peer image has it

__all__ = ["CA_TOOLS", "CCAAS_TOOLS", "FABRIC_CA_VERSION", "FABRIC_COMMIT", "FABRIC_TOOLS",
           "FABRIC_VERSION", "BinaryError", "FabricBinaries", "Located", "ensure_all", "locate"]

SOURCE_HINT = (
    f"Set GRIDLEDGER_FABRIC_SOURCE to Fabric's v{FABRIC_VERSION} source: the archive shipped "
    f"beside the project, or GitHub's ({GITHUB_ARCHIVE_URL}); `make run`/`make test` use "
    "../shared/fabric/fabric-3.1.5-86c1172-src.tar.gz when it exists. Or put official "
    f"v{FABRIC_VERSION} binaries (with config/ beside bin/) on PATH."
)

Progress = Callable[[str], None]


class BinaryError(NetworkError):
    """A required Fabric binary is missing and cannot be built here."""


@dataclass(frozen=True)
class FabricBinaries:
    """Where each tool lives, plus Fabric's sample configuration (core.yaml, orderer.yaml)."""

    bin_dir: Path
    ca_bin_dir: Path
    ccaas_builder: Path  # directory with bin/detect, bin/build, bin/release
    sampleconfig: Path

    def __getitem__(self, tool: str) -> str:
        if tool in CA_TOOLS:
            return str(self.ca_bin_dir / tool)
        return str(self.bin_dir / tool)


@dataclass(frozen=True)
class Located:
    """One tool set: where it was found and why it counts, or why it is missing."""

    name: str  # "fabric", "fabric-ca", "ccaas-builder"
    tools: tuple[str, ...]
    directory: Path | None = None
    origin: str = ""  # "GRIDLEDGER_FABRIC_BIN", "cache", "PATH", ...
    version: str = ""
    detail: str = ""
    fix: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def found(self) -> bool:
        return self.directory is not None


def cache_dir() -> Path:
    return Path(os.environ.get("GRIDLEDGER_CACHE", Path.home() / ".cache" / "gridledger"))


def fabric_cache() -> Path:
    return cache_dir() / f"fabric-{FABRIC_VERSION}"


def fabric_ca_cache() -> Path:
    return cache_dir() / f"fabric-ca-{FABRIC_CA_VERSION}"


def _say(msg: str) -> None:
    print(f"[binaries] {msg}", file=sys.stderr, flush=True)


def _version_of(path: Path) -> str:
    try:
        out = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = re.search(r"Version:\s*v?(\S+)", out)
    return match.group(1) if match else ""


def _has_tools(d: Path, tools: tuple[str, ...]) -> bool:
    return all((d / t).is_file() and os.access(d / t, os.X_OK) for t in tools)


def _first(name: str, tools: tuple[str, ...], candidates: list[tuple[str, Path]],
           version: str | None, notes: list[str] | None = None) -> Located | None:
    """The first candidate directory holding every tool (at ``version``, when given)."""
    for origin, d in candidates:
        if not _has_tools(d, tools):
            continue
        found = _version_of(d / tools[0]) if version else ""
        if version is None or found == version:
            return Located(name, tools, d, origin, found)
        if notes is not None:
            notes.append(f"{d} ({origin}) holds version {found or 'unknown'}, not {version}")
    return None


def _path_dir(tool: str) -> list[tuple[str, Path]]:
    found = shutil.which(tool)
    return [("PATH", Path(found).resolve().parent)] if found else []


def _env_dir(var: str) -> list[tuple[str, Path]]:
    value = os.environ.get(var)
    return [(var, Path(value).expanduser())] if value else []


def _sampleconfig(bin_dir: Path) -> Path | None:
    # Official releases ship config/ beside bin/; our build keeps sampleconfig/ there.
    for cfg in (bin_dir.parent / "config", bin_dir.parent / "sampleconfig"):
        if (cfg / "core.yaml").is_file() and (cfg / "orderer.yaml").is_file():
            return cfg
    return None


def _cache_detail(cache: Path) -> str:
    info = build_info(cache)
    if not info:
        return ""
    return (f"built from {info.get('source_kind')} {info.get('source')} (commit "
            f"{str(info.get('commit'))[:7]}) with {info.get('go')} on {info.get('built_at')}")


def _fabric_candidates() -> list[tuple[str, Path]]:
    cache = fabric_cache()
    # Only a finished build counts: it has BUILD.json, written last before the rename.
    cached = [("cache", cache / "bin")] if build_info(cache) else []
    return [*_env_dir("GRIDLEDGER_FABRIC_BIN"), *cached, *_path_dir("peer")]


def _ccaas_candidates() -> list[tuple[str, Path]]:
    cache = fabric_cache()
    cached = [("cache", cache / "ccaas_builder")] if build_info(cache) else []
    return [*_env_dir("GRIDLEDGER_CCAAS_BUILDER"), *cached,
            ("/opt/hyperledger/ccaas_builder", OPT_CCAAS_BUILDER)]


def locate() -> list[Located]:
    """Where each tool set would come from now, without building anything."""
    notes: list[str] = []
    fabric = None
    for origin, d in _fabric_candidates():
        hit = _first("fabric", FABRIC_TOOLS, [(origin, d)], FABRIC_VERSION, notes)
        if hit is None:
            continue
        config = _sampleconfig(d)
        if config is None:
            notes.append(f"{d} ({origin}) has no config/ (core.yaml, orderer.yaml) beside it; "
                         "keep the release's config/ directory beside its bin/")
            continue
        detail = _cache_detail(fabric_cache()) if origin == "cache" else ""
        fabric = Located("fabric", FABRIC_TOOLS, d, origin, hit.version, detail,
                         extra={"sampleconfig": str(config)})
        break
    out = [fabric or Located("fabric", FABRIC_TOOLS, fix=_source_fix(notes))]
    ccaas = _first("ccaas-builder", CCAAS_TOOLS,
                   [(o, d / "bin") for o, d in _ccaas_candidates()], None)
    if ccaas:
        detail = _cache_detail(fabric_cache()) if ccaas.origin == "cache" else ""
        ccaas = Located("ccaas-builder", CCAAS_TOOLS, ccaas.directory.parent, ccaas.origin,
                        FABRIC_VERSION if ccaas.origin == "cache" else "", detail)
    out.append(ccaas or Located("ccaas-builder", CCAAS_TOOLS, fix=_source_fix([])))
    ca_notes: list[str] = []
    ca = _first("fabric-ca", CA_TOOLS, [*_env_dir("GRIDLEDGER_FABRIC_CA_BIN"),
                                        ("cache", fabric_ca_cache() / "bin"),
                                        *_path_dir("fabric-ca-server")],
                FABRIC_CA_VERSION, ca_notes)
    if ca and ca.origin == "cache":
        ca = Located(ca.name, ca.tools, ca.directory, ca.origin, ca.version,
                     "built through the Go module proxy")
    out.append(ca or Located("fabric-ca", CA_TOOLS, fix=_joined(ca_notes, (
        "built through the Go module proxy on the next `gridledger network up` (or "
        "`gridledger network binaries --build`); that needs Go and gcc"))))
    return out


def _joined(notes: list[str], fix: str) -> str:
    return "; ".join([*notes, fix])


def _source_fix(notes: list[str]) -> str:
    source = os.environ.get("GRIDLEDGER_FABRIC_SOURCE")
    if not source:
        return _joined(notes, f"not found. {SOURCE_HINT}")
    try:
        found = inspect_source(Path(source))
    except SourceError as exc:
        return _joined(notes, f"not found, and GRIDLEDGER_FABRIC_SOURCE cannot be used: {exc}")
    return _joined(notes, f"built from {found.describe()} on the next `gridledger network up` "
                   "(or `gridledger network binaries --build`)")


@contextlib.contextmanager
def _build_lock(say: Progress) -> Iterator[None]:
    """One build at a time per cache: a second `up` (or test run) waits, then finds it built."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".build.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another process is building Fabric binaries into the cache; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build_fabric(missing: str, say: Progress) -> None:
    source = os.environ.get("GRIDLEDGER_FABRIC_SOURCE")
    if not source:
        raise BinaryError(f"{missing}. {SOURCE_HINT}")
    try:
        checked = inspect_source(Path(source))
        go = find_go()
        say(f"Fabric {FABRIC_VERSION} not found; building it from {checked.describe()} with "
            f"{go.version} into {fabric_cache()} (about two minutes on 2 cores, once)")
        build_from_source(checked, fabric_cache(), go, say)
    except (SourceError, GoError) as exc:
        raise BinaryError(str(exc)) from None


def _build_fabric_ca(say: Progress) -> None:
    try:
        go = find_go(need_cgo=True)
        say(f"Fabric CA {FABRIC_CA_VERSION} not found; building it through the Go module proxy "
            f"with {go.version} into {fabric_ca_cache()}")
        src = download_module(go, "github.com/hyperledger/fabric-ca", f"v{FABRIC_CA_VERSION}")
        ld = f"-X github.com/hyperledger/fabric-ca/lib/metadata.Version={FABRIC_CA_VERSION}"
        env = {**go.env, "CGO_ENABLED": "1"}
        with assembling(fabric_ca_cache()) as out:
            for n, tool in enumerate(CA_TOOLS, 1):
                run_go(go, ["build", "-trimpath", "-ldflags", ld, "-o", str(out / "bin" / tool),
                            f"./cmd/{tool}"], cwd=src, label=f"[{n}/{len(CA_TOOLS)}] {tool}",
                       say=say, env=env)
    except GoError as exc:
        raise BinaryError(str(exc)) from None


def ensure_all(say: Progress = _say) -> FabricBinaries:
    """Find or build every binary the network needs; raise :class:`BinaryError` if impossible."""
    found = {loc.name: loc for loc in locate()}
    if not all(loc.found for loc in found.values()):
        with _build_lock(say):
            found = {loc.name: loc for loc in locate()}  # built meanwhile by another process?
            if not found["fabric-ca"].found:
                _build_fabric_ca(say)
            missing = [n for n in ("fabric", "ccaas-builder") if not found[n].found]
            if missing:
                what = {"fabric": f"Fabric {FABRIC_VERSION} (peer, orderer, osnadmin, "
                                  "configtxgen) was not found",
                        "ccaas-builder": "the ccaas builder (detect, build, release) was not "
                                         "found"}
                _build_fabric(" and ".join(what[n] for n in missing), say)
            found = {loc.name: loc for loc in locate()}
    missing = [loc for loc in found.values() if not loc.found]
    if missing:
        raise BinaryError("; ".join(f"{m.name}: {m.fix}" for m in missing))
    fabric = found["fabric"]
    return FabricBinaries(fabric.directory, found["fabric-ca"].directory,
                          found["ccaas-builder"].directory, Path(fabric.extra["sampleconfig"]))
