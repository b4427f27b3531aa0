"""A member running modified chaincode, on the real network.

Every organisation runs its own chaincode server beside its peer, and the threat model
says it may run whatever code it likes there: its peer then endorses whatever that code
computes. :func:`modified_chaincode` does exactly that to one organisation: it stops the
organisation's own server for a chaincode and starts, on the same address, with the same
TLS identity and package id, a server whose contracts a test wrote (a module exporting
``CONTRACTS``, e.g. :mod:`tests.integration.rogue_contracts`). The peer dials it on the
next invocation as it would the real one. On exit the real server is back.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from gridledger.network.consortium import Consortium
from gridledger.network.health import listening

ROOT = Path(__file__).resolve().parents[2]


def _wait(check, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


@contextlib.contextmanager
def modified_chaincode(net: Consortium, org: str, contracts: str,
                       chaincode: str = "metering",
                       env: dict[str, str] | None = None) -> Iterator[None]:
    """``org`` serves ``contracts`` (the ``--contracts`` list of its chaincode server, a
    dotted name being a module of the test's) for ``chaincode`` while the block runs;
    ``env``: more environment for the modified server (where it writes what it saw)."""
    name = f"cc-{chaincode}-{org}"
    (proc,) = [p for p in net.processes() if p.name == name]
    command = list(proc.command)
    command[command.index("--contracts") + 1] = contracts
    # A member running code of its own also drops the check that its server runs the code
    # it approved (that check guards an honest operator's host, not against its owner).
    if "--code-sha256" in command:
        at = command.index("--code-sha256")
        del command[at:at + 2]
    host = net.topology.org(org).chaincode_server.host
    port = proc.ports[0]
    supervisor = net.supervisor
    supervisor.stop_process(name)
    _wait(lambda: not listening(host, port), f"{name} did not stop")
    log = open(net.member(org).layout.logs / f"{name}-modified.log", "a")  # noqa: SIM115
    env = {**os.environ, **proc.env, **(env or {}),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    rogue = subprocess.Popen(command, cwd=proc.cwd, env=env, stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        _wait(lambda: listening(host, port) or rogue.poll() is not None,
              f"the modified {name} did not listen on {host}:{port}")
        if rogue.poll() is not None:
            raise RuntimeError(f"the modified {name} exited: see {log.name}")
        yield
    finally:
        rogue.terminate()
        try:
            rogue.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rogue.kill()
            rogue.wait()
        log.close()
        _wait(lambda: not listening(host, port), f"the modified {name} did not stop")
        supervisor.start_process(name)
        _wait(lambda: listening(host, port), f"{name} did not come back")
