"""Is a node up?  Who holds a port?  Answers from operations endpoints and the OS."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from .errors import NetworkError
from .polling import poll

# The operations endpoints are our own nodes' addresses: never reach them through a proxy
# named in the environment (HTTP_PROXY would otherwise apply to 127.0.0.1 as well).
_TRUST_ENV = False


class PortInUseError(NetworkError):
    """A port the topology needs is held by another process."""


class StartupError(NetworkError):
    """A node exited while starting, or did not answer in time."""


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
    """Query a Fabric operations endpoint's /healthz: (answered 200, what it said)."""
    try:
        resp = httpx.get(f"http://{host}:{port}/healthz", timeout=timeout, trust_env=_TRUST_ENV)
    except httpx.HTTPError as exc:
        return False, str(exc)
    return resp.status_code == 200, resp.text


def metrics(host: str, port: int, timeout: float = 2.0) -> str:
    """The Prometheus metrics text of an operations endpoint ('' if unreachable)."""
    try:
        resp = httpx.get(f"http://{host}:{port}/metrics", timeout=timeout, trust_env=_TRUST_ENV)
    except httpx.HTTPError:
        return ""
    return resp.text if resp.is_success else ""


def gauge(text: str, name: str, channel: str) -> float | None:
    """The value of a per-channel gauge in Prometheus text, e.g. consensus_etcdraft_is_leader.

    None when the text has no such sample (the node does not serve the channel yet) or is
    not Prometheus text at all.
    """
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels.get("channel") == channel:
                    return sample.value
    except ValueError:  # the parser's answer to text that is not the exposition format
        return None
    return None


def wait_healthy(
    name: str, host: str, port: int, alive: Callable[[], bool], timeout: float = 60
) -> None:
    """Poll /healthz until it answers OK; fail early if ``alive()`` says the process died."""

    def probe() -> tuple[bool, str]:
        ok, said = healthz(host, port)
        if not ok and not alive():
            raise StartupError(f"{name} exited while starting")
        return ok, said

    polled = poll(probe, lambda answer: answer[0], timeout=timeout, interval=0.3)
    if not polled.done:
        raise StartupError(f"{name} not healthy after {timeout:.0f}s: {polled.last[1]}")


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def wait_listening(host: str, port: int, alive: Callable[[], bool], timeout: float = 30) -> None:
    """Wait until something accepts connections on host:port; fail early if it died."""

    def probe() -> bool:
        if listening(host, port):
            return True
        if not alive():
            raise StartupError(f"process for {host}:{port} exited while starting")
        return False

    if not poll(probe, bool, timeout=timeout, interval=0.2).done:
        raise StartupError(f"nothing listening on {host}:{port} after {timeout:.0f}s")
