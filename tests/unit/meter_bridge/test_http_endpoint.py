"""/metrics and /healthz on prometheus_client's WSGI exposition: methods, HEAD, shutdown."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from gridledger.meter_bridge.http_endpoint import serve_http

pytestmark = pytest.mark.anyio


async def _request(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


async def test_methods_paths_and_head() -> None:
    threads: list[str] = []

    def report() -> tuple[bool, dict[str, Any]]:
        threads.append(threading.current_thread().name)
        return True, {"status": "ok"}

    server = await serve_http("127.0.0.1", 0, report)
    port = server.address[1]
    try:
        status, headers, body = await _request(port, "GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert b"gridledger_bridge_queue_depth" in body
        status, _, body = await _request(port, "HEAD", "/healthz")
        assert status == 200 and body == b""
        assert (await _request(port, "POST", "/healthz"))[0] == 405
        assert (await _request(port, "GET", "/nothing"))[0] == 404
        # The report runs on the event loop's thread, where queue and ledger live.
        assert set(threads) == {threading.current_thread().name}
    finally:
        await asyncio.to_thread(server.close)
    # Closed means the port is free again, not merely unanswered.
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


async def test_a_failing_report_is_a_500_not_a_dead_endpoint() -> None:
    def report() -> tuple[bool, dict[str, Any]]:
        raise RuntimeError("queue file vanished")

    server = await serve_http("127.0.0.1", 0, report)
    try:
        status, _, body = await _request(server.address[1], "GET", "/healthz")
        assert status == 500 and b"see its log" in body
    finally:
        await asyncio.to_thread(server.close)
