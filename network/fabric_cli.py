"""Running Fabric's own CLIs (peer, osnadmin, configtxgen) as an organisation's admin."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from .binaries import FabricBinaries
from .errors import NetworkError
from .layout import Layout
from .nodes import admin_env
from .topology import Organisation


class FabricCommandError(NetworkError):
    """A Fabric CLI exited non-zero; ``stderr`` holds what it said."""

    def __init__(self, command: list[str], returncode: int, stderr: str):
        self.command = command
        self.returncode = returncode
        self.stderr = stderr
        reason = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "no output")
        super().__init__(f"`{' '.join(command[:4])} ...` failed ({returncode}): {reason}")


class Output(str):
    """What a command printed: stdout then stderr as one text, each also kept apart."""

    stdout: str
    stderr: str

    def __new__(cls, stdout: str, stderr: str) -> Output:
        out = super().__new__(cls, stdout + stderr)
        out.stdout, out.stderr = stdout, stderr
        return out


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> Output:
    proc = subprocess.run(
        command,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise FabricCommandError(command, proc.returncode, proc.stderr + proc.stdout)
    return Output(proc.stdout, proc.stderr)


@dataclass(frozen=True)
class OrgAdmin:
    """An organisation's admin, driving its own peer and orderer through Fabric's CLIs."""

    bins: FabricBinaries
    layout: Layout
    org: Organisation

    def peer(self, *args: str, timeout: float = 120) -> Output:
        return run([self.bins["peer"], *args], admin_env(self.bins, self.layout, self.org), timeout)

    def orderer_tls_args(self) -> list[str]:
        """Flags that point a peer CLI command at this organisation's orderer over TLS."""
        return [
            "-o", self.org.orderer.address,
            "--tls", "--cafile", str(self.layout.ca_cert(self.org.name)),
        ]  # fmt: skip

    def osnadmin(self, *args: str) -> Output:
        tls = self.layout.tls(self.org.name, "Admin")
        return run(
            [
                self.bins["osnadmin"], *args,
                "-o", self.org.orderer.admin_address,
                "--ca-file", str(self.layout.ca_cert(self.org.name)),
                "--client-cert", str(tls / "server.crt"),
                "--client-key", str(tls / "server.key"),
            ]
        )
