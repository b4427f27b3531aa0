"""Fabric and Fabric CA binaries at the pinned versions: found, or built with Go.

Resolution order for each tool set:

1. an explicit directory (``GRIDLEDGER_FABRIC_BIN``, ``GRIDLEDGER_FABRIC_CA_BIN``,
   ``GRIDLEDGER_CCAAS_BUILDER``);
2. our cache, ``~/.cache/gridledger/`` (or ``$GRIDLEDGER_CACHE``);
3. ``PATH`` (as Fabric's install script leaves them), checked by ``<tool> version``;
4. a build through the Go module proxy into the cache, with ``GOTOOLCHAIN=local``.

A second run finds the cache and costs a few ``version`` calls.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

FABRIC_VERSION = "3.1.5"
FABRIC_COMMIT = "86c1172bec37e6590c6b1ae6f847833df48d65fc"
# Fabric's v3 tags carry no /v3 module path, so Go can only name the commit by a
# pseudo-version; this is the canonical one for the v3.1.5 commit.
FABRIC_PSEUDO_VERSION = "v1.4.0-rc1.0.20260618074816-86c1172bec37"
FABRIC_CA_VERSION = "1.5.21"
MIN_GO = (1, 26, 4)  # fabric v3.1.5's go.mod

FABRIC_TOOLS = ("peer", "orderer", "osnadmin", "configtxgen")
CA_TOOLS = ("fabric-ca-server", "fabric-ca-client")
CCAAS_TOOLS = ("detect", "build", "release")

OFFICIAL_INSTALL_HINT = (
    "Install the official Fabric v3.1.5 binaries instead: Fabric's install script "
    "(install-fabric.sh binary --fabric-version 3.1.5 --ca-version 1.5.21) puts bin/ and "
    "config/ side by side; put that bin/ on PATH (or set GRIDLEDGER_FABRIC_BIN), and point "
    "GRIDLEDGER_CCAAS_BUILDER at a directory holding bin/{detect,build,release} of the "
    "ccaas builder (the fabric-peer image keeps them in /opt/hyperledger/ccaas_builder)."
)


class BinaryError(RuntimeError):
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


def cache_dir() -> Path:
    return Path(os.environ.get("GRIDLEDGER_CACHE", Path.home() / ".cache" / "gridledger"))


Progress = Callable[[str], None]


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


def _dir_with(tools: tuple[str, ...], candidates: list[Path], version: str | None) -> Path | None:
    for d in candidates:
        present = all((d / t).is_file() and os.access(d / t, os.X_OK) for t in tools)
        if present and (version is None or _version_of(d / tools[0]) == version):
            return d
    return None


def _path_dirs(tool: str) -> list[Path]:
    found = shutil.which(tool)
    return [Path(found).resolve().parent] if found else []


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise BinaryError(f"Go is not installed, so Fabric can't be built. {OFFICIAL_INSTALL_HINT}")
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    nums = tuple(int(n) for n in re.findall(r"\d+", out)[:3])
    if nums < MIN_GO:
        need = ".".join(map(str, MIN_GO))
        raise BinaryError(
            f"Go {need} or newer is needed to build Fabric {FABRIC_VERSION}; found {out}. "
            f"{OFFICIAL_INSTALL_HINT}"
        )
    return go


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "1"}


def _module_source(module: str, version: str) -> Path:
    """Download one module version into Go's module cache and return its directory."""
    go = _go()
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env=_go_env(),
    )
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        info = {"Error": proc.stderr.strip() or "go mod download printed nothing"}
    if info.get("Error") or not info.get("Dir"):
        raise BinaryError(
            f"the Go module proxy did not provide {module}@{version}:\n  {info.get('Error')}\n"
            f"{OFFICIAL_INSTALL_HINT}"
        )
    return Path(info["Dir"])


def _build(src: Path, packages: list[str], out_dir: Path, ldflags: str = "", say: Progress = _say):
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for pkg in packages:
        name = pkg.rsplit("/", 1)[-1]
        say(f"building {name} (several minutes on 2 cores, once) ...")
        cmd = [_go(), "build", "-trimpath", "-o", str(tmp / name)]
        if ldflags:
            cmd += ["-ldflags", ldflags]
        proc = subprocess.run([*cmd, pkg], cwd=src, env=_go_env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise BinaryError(f"go build {pkg} failed:\n{proc.stderr[-3000:]}")
    for f in tmp.iterdir():
        os.replace(f, out_dir / f.name)  # a half-finished build never looks finished
    tmp.rmdir()


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


def ensure_fabric_ca(say: Progress = _say) -> Path:
    """Directory holding fabric-ca-server and fabric-ca-client v1.5.21."""
    cached = cache_dir() / f"fabric-ca-{FABRIC_CA_VERSION}" / "bin"
    env_dir = os.environ.get("GRIDLEDGER_FABRIC_CA_BIN")
    candidates = ([Path(env_dir)] if env_dir else []) + [cached] + _path_dirs("fabric-ca-server")
    found = _dir_with(CA_TOOLS, candidates, FABRIC_CA_VERSION)
    if found:
        return found
    with _build_lock(say):
        if _dir_with(CA_TOOLS, [cached], FABRIC_CA_VERSION):
            return cached
        say(f"Fabric CA {FABRIC_CA_VERSION} not found; building it with Go into {cached}")
        src = _module_source("github.com/hyperledger/fabric-ca", f"v{FABRIC_CA_VERSION}")
        ld = f"-X github.com/hyperledger/fabric-ca/lib/metadata.Version={FABRIC_CA_VERSION}"
        _build(src, [f"./cmd/{t}" for t in CA_TOOLS], cached, ld, say)
    return cached


def ensure_fabric(say: Progress = _say) -> tuple[Path, Path]:
    """Directories of peer/orderer/osnadmin/configtxgen and of Fabric's sampleconfig."""
    cached = cache_dir() / f"fabric-{FABRIC_VERSION}"
    env_dir = os.environ.get("GRIDLEDGER_FABRIC_BIN")
    candidates = ([Path(env_dir)] if env_dir else []) + [cached / "bin"] + _path_dirs("peer")
    found = _dir_with(FABRIC_TOOLS, candidates, FABRIC_VERSION)
    if found:
        # Official releases ship config/ beside bin/; our build keeps sampleconfig/ there.
        for cfg in (found.parent / "config", found.parent / "sampleconfig"):
            if (cfg / "core.yaml").is_file() and (cfg / "orderer.yaml").is_file():
                return found, cfg
        raise BinaryError(
            f"found Fabric {FABRIC_VERSION} binaries in {found} but no core.yaml/orderer.yaml in "
            f"{found.parent / 'config'}; keep the release's config/ directory beside its bin/."
        )
    say(f"Fabric {FABRIC_VERSION} not found; building it with Go into {cached}")
    src = _module_source("github.com/hyperledger/fabric", FABRIC_PSEUDO_VERSION)
    meta = "github.com/hyperledger/fabric/common/metadata"
    ld = f"-X {meta}.Version={FABRIC_VERSION} -X {meta}.CommitSHA={FABRIC_COMMIT[:7]}"
    _build(src, [f"./cmd/{t}" for t in FABRIC_TOOLS], cached / "bin", ld, say)
    shutil.copytree(src / "sampleconfig", cached / "sampleconfig", dirs_exist_ok=True)
    return cached / "bin", cached / "sampleconfig"


def ensure_ccaas_builder(say: Progress = _say) -> Path:
    """Directory holding bin/{detect,build,release} of Fabric's ccaas external builder."""
    cached = cache_dir() / f"ccaas-builder-{FABRIC_VERSION}"
    env_dir = os.environ.get("GRIDLEDGER_CCAAS_BUILDER")
    candidates = [Path(env_dir)] if env_dir else []
    candidates += [cached, Path("/opt/hyperledger/ccaas_builder")]
    found = _dir_with(CCAAS_TOOLS, [c / "bin" for c in candidates], None)
    if found:
        return found.parent
    say(f"ccaas builder not found; building it with Go into {cached}")
    src = _module_source("github.com/hyperledger/fabric/ccaas_builder", FABRIC_PSEUDO_VERSION)
    _build(src, [f"./cmd/{t}" for t in CCAAS_TOOLS], cached / "bin", "", say)
    return cached


def ensure_all(say: Progress = _say) -> FabricBinaries:
    """Find or build every binary the network needs; raise :class:`BinaryError` if impossible."""
    ca = ensure_fabric_ca(say)
    fabric_bin, sampleconfig = ensure_fabric(say)
    builder = ensure_ccaas_builder(say)
    return FabricBinaries(fabric_bin, ca, builder, sampleconfig)
