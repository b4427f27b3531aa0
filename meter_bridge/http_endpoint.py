"""``/metrics`` and ``/healthz`` over HTTP, for a running bridge.

``/metrics`` is prometheus_client's own WSGI exposition of the bridge's metrics; the
health report is the bridge's (:class:`~.service.Health`). Both run on the standard
library's WSGI server - the server ``prometheus_client.start_http_server`` uses - with a
thread per request beside the event loop. The report itself is computed on the event
loop, where the queue and the ledger live, so the two never race.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

log = logging.getLogger(__name__)

HealthReport = Callable[[], tuple[bool, dict[str, Any]]]
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


class _Quiet(WSGIRequestHandler):
    """Requests are not logged one by one (a scraper calls every few seconds)."""

    timeout = 5.0   # a client that sends nothing does not hold a thread for long

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per request, none kept at shutdown."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("http: request from %s failed", client_address)


class HttpEndpoint:
    """``/metrics`` and ``/healthz`` on a WSGI server in a thread; :meth:`close` stops it."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="bridge-http",
                                        daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the port is chosen by the system when 0 was asked)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        """Stop serving and release the port (waits up to half a second)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def health_app(report: HealthReport) -> Callable[..., Iterable[bytes]]:
    """The WSGI application: prometheus_client's exposition at /metrics, the health report
    at /healthz (and /health), 404 elsewhere; GET and HEAD only."""
    exposition = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [*_TEXT, ("Allow", "GET, HEAD")])
            return [b"GET only\n"]
        try:
            if path == "/metrics":
                report()            # refreshes the gauges the report reads
                body = exposition({**environ, "REQUEST_METHOD": "GET"}, start_response)
                return [] if head else body
            if path in ("/healthz", "/health"):
                ok, answer = report()
                start_response("200 OK" if ok else "503 Service Unavailable",
                               [("Content-Type", "application/json")])
                return [] if head else [json.dumps(answer).encode() + b"\n"]
        except Exception:
            log.exception("health endpoint failed")
            start_response("500 Internal Server Error", _TEXT)
            return [b"the bridge could not compute its health; see its log\n"]
        start_response("404 Not Found", _TEXT)
        return [b"try /metrics or /healthz\n"]

    return app


async def serve_http(host: str, port: int, health: HealthReport) -> HttpEndpoint:
    """Serve /metrics and /healthz on ``host:port``; ``health`` runs on this event loop."""
    loop = asyncio.get_running_loop()

    async def on_loop() -> tuple[bool, dict[str, Any]]:
        return health()

    def report() -> tuple[bool, dict[str, Any]]:
        # The queue and the ledger's state belong to the event loop's thread.
        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(timeout=10)

    class Server(_Server):
        address_family = (socket.AF_INET6 if ipaddress.ip_address(host).version == 6
                          else socket.AF_INET)

    return HttpEndpoint(make_server(host, port, health_app(report), Server, _Quiet))
