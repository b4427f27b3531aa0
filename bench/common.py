"""Shared by the benchmarks: a fresh network of their own, timing, percentiles."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.clients.gateway import Gateway
from gridledger.clients.ledger_init import initialise
from gridledger.clients.metering import Metering
from gridledger.clients.profile import ConnectionProfile
from gridledger.clients.wallet import Wallet
from gridledger.network.consortium import Consortium
from gridledger.network.health import metrics
from gridledger.network.layout import Layout
from gridledger.network.topology import load

BENCH_PORT_OFFSET = 2000


@contextlib.contextmanager
def fresh_network(port_offset: int = BENCH_PORT_OFFSET) -> Iterator[Consortium]:
    """A network on ports +``port_offset`` with temporary state, purged afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        net = Consortium(load(port_offset=port_offset), Layout(Path(tmp) / "state"))
        try:
            net.up()
            initialise(net.layout.root, net.topology.channel)  # as `network up` does
            yield net
        finally:
            net.down(purge=True)


def pct(values: list[float], p: float) -> float:
    """The ``p`` quantile (0..1) of ``values``, nearest rank; NaN when empty."""
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")


def register_meters(metering: Metering, meters: list[dict[str, Any]]) -> None:
    """Register meter records (RegisterMeter's JSON), 100 transactions in flight at a time."""
    for i in range(0, len(meters), 100):
        commits = [metering.register_meter_async(m) for m in meters[i:i + 100]]
        for c in commits:
            c.wait()


def gateway(net: Consortium, org: str) -> Gateway:
    o = net.topology.org(org)
    identity, signer = Wallet.from_msp_dir(net.layout.msp(o.name, "Admin"), o.msp_id)
    endpoint = ConnectionProfile.load(net.layout.connection_profile(o.name)).peer_endpoint()
    return Gateway.connect(endpoint, identity, signer)


@dataclass
class Run:
    """Latencies of completed operations and the wall time of the run."""

    latencies: list[float]
    wall: float
    items: int

    @property
    def rate(self) -> float:
        return self.items / self.wall if self.wall else 0.0

    def pct(self, p: float) -> float:
        return pct(self.latencies, p)

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")


def run_threads(
    op: Callable[[int, int], int], threads: int, per_thread: int
) -> Run:
    """Run ``op(thread, i)`` ``per_thread`` times in each of ``threads`` threads.

    ``op`` returns how many items it completed (e.g. readings in a batch).
    """
    lats: list[float] = []
    items = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(t: int) -> None:
        for i in range(per_thread):
            t0 = time.perf_counter()
            try:
                n = op(t, i)
            except BaseException as exc:
                errors.append(exc)
                return
            dt = time.perf_counter() - t0
            with lock:
                lats.append(dt)
                items[0] += n

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} operations failed; first: {errors[0]}") from errors[0]
    return Run(lats, wall, items[0])


def peer_metric_sums(net: Consortium, prefixes: tuple[str, ...]) -> dict[str, float]:
    """Per series name (labels dropped), the sum over all peers of series on `energy`
    whose name starts with one of ``prefixes``: histogram sums and counts add up."""
    out: dict[str, float] = {}
    for org in net.topology.organisations:
        for line in metrics(org.host, org.peer.operations_port).splitlines():
            if line.startswith("#") or not line.startswith(prefixes):
                continue
            if "{" in line and 'channel="energy"' not in line:
                continue
            name = line.split("{", 1)[0].split(" ", 1)[0]
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out
