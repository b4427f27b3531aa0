"""Is a node up?  Who holds a port?  Answers from operations endpoints and the OS."""

from __future__ import annotations

import re
import socket
import time
import urllib.error
import urllib.request

import psutil


class PortInUseError(RuntimeError):
    """A port the topology needs is held by another process."""


def port_owner(port: int) -> str | None:
    """``"pid 123 (name)"`` of the process listening on ``port``, or None if it is free."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        conns = []
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port:
            if c.pid is None:
                return "an unknown process"
            try:
                return f"pid {c.pid} ({psutil.Process(c.pid).name()})"
            except psutil.Error:
                return f"pid {c.pid}"
    # Not listed (another user's process without permission): try to bind.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return "an unknown process"
    return None


def check_ports_free(ports: dict[int, str]) -> None:
    """Raise :class:`PortInUseError` naming each taken port, what needs it and who holds it."""
    taken = []
    for port, needed_by in sorted(ports.items()):
        owner = port_owner(port)
        if owner:
            taken.append(f"  port {port} (for {needed_by}) is held by {owner}")
    if taken:
        raise PortInUseError(
            "ports the network needs are in use:\n"
            + "\n".join(taken)
            + "\nStop those processes, or change the ports in the topology file."
        )


def healthz(host: str, port: int, timeout: float = 2.0) -> tuple[bool, str]:
    """Query a Fabric operations endpoint's /healthz."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=timeout) as resp:
            return resp.status == 200, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return False, exc.read().decode(errors="replace")
    except OSError as exc:
        return False, str(exc)


def metrics(host: str, port: int, timeout: float = 2.0) -> str:
    """The Prometheus metrics text of an operations endpoint ('' if unreachable)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as resp:
            return resp.read().decode(errors="replace")
    except OSError:
        return ""


def gauge(text: str, name: str, channel: str) -> float | None:
    """The value of a per-channel gauge in Prometheus text, e.g. consensus_etcdraft_is_leader."""
    m = re.search(rf'^{re.escape(name)}\{{channel="{re.escape(channel)}"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def wait_healthy(name: str, host: str, port: int, alive, timeout: float = 60) -> None:
    """Poll /healthz until it answers OK; fail early if ``alive()`` says the process died."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        ok, last = healthz(host, port)
        if ok:
            return
        if not alive():
            raise RuntimeError(f"{name} exited while starting")
        time.sleep(0.3)
    raise TimeoutError(f"{name} not healthy after {timeout:.0f}s: {last}")


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def wait_listening(host: str, port: int, alive, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(host, port):
            return
        if not alive():
            raise RuntimeError(f"process for {host}:{port} exited while starting")
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")
