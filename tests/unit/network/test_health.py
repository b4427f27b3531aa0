"""Operations endpoints read over HTTP, Prometheus text parsed, and waiting for nodes."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from gridledger.network.health import (
    StartupError,
    gauge,
    healthz,
    listening,
    metrics,
    wait_healthy,
    wait_listening,
)
from gridledger.network.polling import poll

# What an orderer's /metrics says, trimmed: HELP and TYPE lines, other labels, a counter.
ORDERER_METRICS = """\
# HELP consensus_etcdraft_is_leader The leadership status of the current node.
# TYPE consensus_etcdraft_is_leader gauge
consensus_etcdraft_is_leader{channel="energy"} 1
consensus_etcdraft_is_leader{channel="other"} 0
# HELP consensus_etcdraft_cluster_size Number of nodes in this channel.
# TYPE consensus_etcdraft_cluster_size gauge
consensus_etcdraft_cluster_size{channel="energy"} 3
# HELP broadcast_processed_count The number of transactions processed.
# TYPE broadcast_processed_count counter
broadcast_processed_count{channel="energy",status="SUCCESS",type="CONFIG_UPDATE"} 2
"""


class _Endpoint(http.server.BaseHTTPRequestHandler):
    healthy = True

    def do_GET(self) -> None:
        if self.path == "/metrics":
            status, body = 200, ORDERER_METRICS
        elif self.path == "/healthz":
            status = 200 if self.healthy else 503
            body = '{"status":"OK"}' if self.healthy else '{"status":"Service Unavailable"}'
        else:
            status, body = 404, "no"
        raw = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[tuple[str, int, type[_Endpoint]]]:
    handler = type("Handler", (_Endpoint,), {"healthy": True})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1], handler
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_gauge_is_read_per_channel_from_prometheus_text() -> None:
    assert gauge(ORDERER_METRICS, "consensus_etcdraft_is_leader", "energy") == 1
    assert gauge(ORDERER_METRICS, "consensus_etcdraft_is_leader", "other") == 0
    assert gauge(ORDERER_METRICS, "consensus_etcdraft_cluster_size", "energy") == 3
    assert gauge(ORDERER_METRICS, "consensus_etcdraft_cluster_size", "missing") is None
    assert gauge("", "consensus_etcdraft_is_leader", "energy") is None
    assert gauge("this is {not prometheus", "consensus_etcdraft_is_leader", "energy") is None


def test_healthz_and_metrics_answer_from_the_operations_endpoint(endpoint) -> None:
    host, port, handler = endpoint
    assert healthz(host, port) == (True, '{"status":"OK"}')
    assert "consensus_etcdraft_is_leader" in metrics(host, port)
    handler.healthy = False
    ok, said = healthz(host, port)
    assert not ok and "Service Unavailable" in said


def test_an_unreachable_endpoint_is_unhealthy_and_has_no_metrics() -> None:
    port = _free_port()
    ok, said = healthz("127.0.0.1", port, timeout=0.5)
    assert not ok and said
    assert metrics("127.0.0.1", port, timeout=0.5) == ""


def test_waiting_for_health_returns_once_healthy(endpoint) -> None:
    host, port, _ = endpoint
    wait_healthy("peer0-x", host, port, alive=lambda: True, timeout=5)


def test_waiting_for_health_stops_at_once_when_the_process_died(endpoint) -> None:
    host, port, handler = endpoint
    handler.healthy = False
    started = time.monotonic()
    with pytest.raises(StartupError, match="peer0-x exited while starting"):
        wait_healthy("peer0-x", host, port, alive=lambda: False, timeout=30)
    assert time.monotonic() - started < 5


def test_waiting_for_health_times_out_with_what_the_node_said(endpoint) -> None:
    host, port, handler = endpoint
    handler.healthy = False
    with pytest.raises(StartupError, match=r"peer0-x not healthy after 1s: .*Unavailable"):
        wait_healthy("peer0-x", host, port, alive=lambda: True, timeout=1)


def test_waiting_for_a_listener(endpoint) -> None:
    host, port, _ = endpoint
    assert listening(host, port)
    wait_listening(host, port, alive=lambda: True, timeout=2)
    free = _free_port()
    with pytest.raises(StartupError, match=f"nothing listening on 127.0.0.1:{free} after 0s"):
        wait_listening("127.0.0.1", free, alive=lambda: True, timeout=0.3)
    with pytest.raises(StartupError, match="exited while starting"):
        wait_listening("127.0.0.1", free, alive=lambda: False, timeout=30)


def test_poll_returns_the_first_answer_that_will_do() -> None:
    answers = iter([1, 2, 3, 4])
    polled = poll(lambda: next(answers), lambda n: n >= 3, timeout=5, interval=0.01)
    assert (polled.done, polled.last) == (True, 3)


def test_poll_gives_up_after_the_timeout_with_the_last_answer() -> None:
    calls = []
    polled = poll(lambda: calls.append(1) or len(calls), lambda n: False, timeout=0.2,
                  interval=0.05)
    assert not polled.done
    assert polled.last == len(calls) >= 2


def test_poll_lets_a_probes_exception_through_at_once() -> None:
    def probe() -> int:
        raise LookupError("gone")

    with pytest.raises(LookupError, match="gone"):
        poll(probe, lambda n: True, timeout=10, interval=1)
