"""The Go toolchain that builds Fabric and Fabric CA: found, checked, and run with progress."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import NetworkError

MIN_GO = (1, 26, 4)  # Fabric v3.1.5's go.mod
HEARTBEAT_S = 30.0

Progress = Callable[[str], None]


class GoError(NetworkError):
    """Go is missing or too old, or a Go command failed."""


@dataclass(frozen=True)
class GoToolchain:
    path: str
    version: str  # e.g. "go1.26.8"

    @property
    def env(self) -> dict[str, str]:
        # GOTOOLCHAIN=local: never fetch another Go behind the user's back.
        return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}


def find_go(need_cgo: bool = False) -> GoToolchain:
    """The ``go`` on PATH, at least :data:`MIN_GO`; with ``need_cgo`` also a C compiler."""
    need = ".".join(map(str, MIN_GO))
    go = shutil.which("go")
    if not go:
        raise GoError(f"Go is not installed (no `go` on PATH); Go {need} or newer builds the "
                      "Fabric binaries. Install it from https://go.dev/dl/ and run again.")
    proc = subprocess.run([go, "env", "-json", "GOVERSION", "CGO_ENABLED", "CC"],
                          capture_output=True, text=True, env={**os.environ,
                                                               "GOTOOLCHAIN": "local"})
    try:
        env = json.loads(proc.stdout)
    except ValueError:
        raise GoError(f"`{go} env` failed: {proc.stderr.strip()[-500:]}") from None
    version = env.get("GOVERSION", "")
    nums = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
    if nums < MIN_GO:
        raise GoError(f"Go {need} or newer is needed to build Fabric; {go} is "
                      f"{version or 'of unknown version'}. Install a newer Go from "
                      "https://go.dev/dl/ and put it first on PATH.")
    if need_cgo:
        cc = (env.get("CC") or "gcc").split()[0]
        if env.get("CGO_ENABLED") != "1" or not shutil.which(cc):
            raise GoError(f"Fabric CA needs cgo (for SQLite) and a C compiler; CGO_ENABLED="
                          f"{env.get('CGO_ENABLED')!r}, compiler {cc!r} "
                          f"{'found' if shutil.which(cc) else 'not found'}. Install gcc "
                          "(Debian: apt-get install gcc) and leave CGO_ENABLED unset.")
    return GoToolchain(go, version)


def run_go(go: GoToolchain, args: list[str], cwd: Path, label: str, say: Progress,
           env: dict[str, str] | None = None) -> None:
    """Run ``go ARGS`` in ``cwd``, saying every :data:`HEARTBEAT_S` that it still works."""
    t0 = time.monotonic()
    say(f"{label} ...")
    with subprocess.Popen([go.path, *args], cwd=cwd, env=env or go.env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        try:
            while True:
                try:
                    output, _ = proc.communicate(timeout=HEARTBEAT_S)
                    break
                except subprocess.TimeoutExpired:
                    say(f"{label} still building ({time.monotonic() - t0:.0f} s)")
        except BaseException:
            proc.kill()  # an interrupted build stops its compiler too
            raise
    if proc.returncode != 0:
        raise GoError(f"`go {' '.join(args)}` failed in {cwd} (exit {proc.returncode}):\n"
                      f"{(output or '').strip()[-3000:]}")
    say(f"{label} done in {time.monotonic() - t0:.0f} s")


def download_module(go: GoToolchain, module: str, version: str) -> Path:
    """Fetch one module version through the Go module proxy; return its source directory."""
    proc = subprocess.run([go.path, "mod", "download", "-json", f"{module}@{version}"],
                          capture_output=True, text=True, env=go.env)
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        info = {"Error": proc.stderr.strip() or "go mod download printed nothing"}
    if info.get("Error") or not info.get("Dir"):
        raise GoError(f"the Go module proxy did not provide {module}@{version}: "
                      f"{info.get('Error')}. Check GOPROXY (`go env GOPROXY`) and the network.")
    return Path(info["Dir"])
