"""Benchmark: the meter bridge on the real network - steady state, and catch-up after an outage.

A fresh network of its own (ports +2000, see common.py). Meters are registered with
bridge-held keys (postpaid: no Wattcoin, so the figure is the reading path alone).

1. steady: M simulated meters on Modbus TCP (in this process), the whole bridge (pollers,
   queue, sender, FabricLedger) polling every P seconds for T seconds: readings committed
   per second and the delay from a reading's intervalEnd to its commit (p50/p95/max).
2. catch-up: K readings per meter already in the queue, as after an outage of K polls;
   the sender drains them through FabricLedger: seconds and readings/s, for each value of
   ``meters_per_batch`` (how many meters' runs share one transaction).

    .venv/bin/python bench/bridge.py [--meters 20] [--interval 1] [--seconds 30]
                                     [--backlog 50] [--mpb 1,10] [--port-offset 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from common import BENCH_PORT_OFFSET, fresh_network, gateway, pct, register_meters

from gridledger.clients.errors import EndorseError
from gridledger.clients.metering import Metering
from gridledger.clients.session import Session
from gridledger.formats.utc import format_utc, parse_utc
from gridledger.meter_bridge.bridge import Bridge, open_meters
from gridledger.meter_bridge.fabric_ledger import FabricLedger
from gridledger.meter_bridge.keys import KeyStore
from gridledger.meter_bridge.ledger import SubmitResult
from gridledger.meter_bridge.poller import PollConfig
from gridledger.meter_bridge.queue import ReadingQueue
from gridledger.meter_bridge.sender import SendConfig, Sender
from gridledger.meter_bridge.simulators import start_simulator

TARIFF = {
    "tariffId": "BENCH-BRIDGE", "effectiveFrom": "2020-01-01T00:00:00Z", "currency": "VND",
    "currencyExponent": 0, "utcOffsetMinutes": 420,
    "tiers": [{"upToKwh": 50, "pricePerKwh": 1984}, {"upToKwh": None, "pricePerKwh": 3460}],
}  # fmt: skip


def meter_record(keys: KeyStore, meter_id: str, import_wh: int, export_wh: int = 0
                 ) -> dict[str, Any]:
    """RegisterMeter's record for a bench meter with a bridge-held key."""
    return {
        "meterId": meter_id, "publicKeyPem": keys.public_key_pem(meter_id), "curve": "P-256",
        "customerId": "BC-" + meter_id, "tariffId": TARIFF["tariffId"],
        "deviceProfile": "gridledger-sim", "location": "bench", "installDate": "2026-01-01",
        "initialImportWh": import_wh, "initialExportWh": export_wh,
    }  # fmt: skip


class Usage:
    """CPU seconds and peak resident memory of this process between start() and stop()."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak_rss = 0
        self._cpu0 = 0.0
        self._t0 = 0.0

    def start(self) -> None:
        t = self.proc.cpu_times()
        self._cpu0, self._t0 = t.user + t.system, time.perf_counter()

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)

    def stop(self) -> dict[str, float]:
        t = self.proc.cpu_times()
        wall = time.perf_counter() - self._t0
        cpu = t.user + t.system - self._cpu0
        self.sample()
        return {"cpu_percent_of_one_core": round(100 * cpu / wall, 1),
                "peak_rss_mib": round(self.peak_rss / 2**20, 1)}


async def _sample_usage(usage: Usage) -> None:
    while True:
        usage.sample()
        await asyncio.sleep(0.5)


class Timed:
    """A ReadingLedger that records, per committed reading, intervalEnd -> commit delay."""

    def __init__(self, ledger: FabricLedger) -> None:
        self.ledger = ledger
        self.delays: list[float] = []
        self.committed = 0

    async def submit_readings(self, batch: list[dict[str, Any]]) -> SubmitResult:
        result = await self.ledger.submit_readings(batch)
        if result.committed:
            now = time.time()
            self.committed += len(batch)
            self.delays += [now - parse_utc(i["reading"]["intervalEnd"], "intervalEnd").timestamp()
                            for i in batch]
        return result

    def events(self):
        return self.ledger.events()


async def steady(state: Path, work: Path, meters: int, interval: float,
                 seconds: float) -> dict[str, Any]:
    sim = await start_simulator(meters, 0, seed=3, prefix=f"BS{uuid.uuid4().hex[:4]}-")
    keys = KeyStore(work / "keys")
    with Session(state, "utility").gateway() as gw:
        metering = Metering(gw.network("energy"))
        register_meters(metering, [meter_record(keys, m.meter_id, int(m.import_wh),
                                                int(m.export_wh))
                                   for m in sim.modbus.meters.values()])
    specs = [{"id": m.meter_id, "modbus": f"tcp://127.0.0.1:{sim.tcp_port}", "unit": u,
              "profile": "gridledger-sim"} for u, m in sim.modbus.meters.items()]
    ledger = Timed(FabricLedger.from_session(Session(state, "utility")))
    queue = ReadingQueue(work / "steady.sqlite")
    bridge = Bridge(open_meters(specs, timeout=2.0), queue, keys, ledger,
                    poll=PollConfig(interval=interval),
                    send=SendConfig(max_age=interval / 2, meters_per_batch=meters))
    usage = Usage()
    usage.start()
    task = asyncio.ensure_future(bridge.run())
    sampler = asyncio.ensure_future(_sample_usage(usage))
    await asyncio.sleep(seconds)
    task.cancel()
    sampler.cancel()
    await asyncio.gather(task, sampler, return_exceptions=True)
    used = usage.stop()
    await sim.stop()
    ledger.ledger.close()
    return {"meters": meters, "interval_s": interval, "seconds": seconds,
            "committed": ledger.committed, "readings_per_s": ledger.committed / seconds,
            "left_in_queue": queue.depth(),
            "delay_p50_s": round(statistics.median(ledger.delays), 3) if ledger.delays else None,
            "delay_p95_s": round(pct(ledger.delays, 0.95), 3),
            "delay_max_s": round(max(ledger.delays, default=float("nan")), 3),
            "bridge_and_simulator_process": used}


async def catch_up(state: Path, work: Path, meters: int, backlog: int,
                   per_batch: int) -> dict[str, Any]:
    keys = KeyStore(work / "keys")
    prefix = f"BC{uuid.uuid4().hex[:4]}-"
    ids = [f"{prefix}{i}" for i in range(1, meters + 1)]
    with Session(state, "utility").gateway() as gw:
        metering = Metering(gw.network("energy"))
        register_meters(metering, [meter_record(keys, m, 1_000_000) for m in ids])
    queue = ReadingQueue(work / f"backlog-{per_batch}.sqlite")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=backlog + 5)
    for seq in range(1, backlog + 1):
        for meter_id in ids:
            reading = {"meterId": meter_id, "seq": seq,
                       "intervalEnd": format_utc(start + dt.timedelta(seconds=seq)),
                       "importWh": 1_000_000 + 3 * seq, "exportWh": 0, "voltageDv": 2300,
                       "currentMa": 4800, "powerW": 1100}
            signed = keys.sign(reading)
            queue.put(signed.reading, signed.signature)
    ledger = FabricLedger.from_session(Session(state, "utility"))
    sender = Sender(queue, ledger, SendConfig(max_batch=1000, max_age=0.0,
                                              meters_per_batch=per_batch, max_in_flight=4))
    usage = Usage()
    usage.start()
    sampler = asyncio.ensure_future(_sample_usage(usage))
    t0 = time.perf_counter()
    await sender.drain(timeout=900)
    wall = time.perf_counter() - t0
    sampler.cancel()
    used = usage.stop()
    ledger.close()
    with Session(state, "utility").gateway() as gw:
        metering = Metering(gw.network("energy"))
        heads = [metering.get_meter(m)["head"]["seq"] for m in ids]
    assert queue.depth() == 0 and heads == [backlog] * meters, (queue.depth(), heads)
    return {"meters": meters, "backlog_per_meter": backlog, "meters_per_batch": per_batch,
            "readings": meters * backlog, "seconds": round(wall, 2),
            "readings_per_s": round(meters * backlog / wall, 1), "bridge_process": used}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=20, help="meters in the catch-up run")
    parser.add_argument("--steady-meters", type=int, default=None,
                        help="meters polled in the steady run (at most 247: one Modbus link)")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--backlog", type=int, default=50)
    parser.add_argument("--mpb", default="1,10")
    parser.add_argument("--port-offset", type=int, default=BENCH_PORT_OFFSET)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    report: dict[str, Any] = {
        "host": {"cpus": psutil.cpu_count(), "python": platform.python_version()}}
    with fresh_network(args.port_offset) as net, tempfile.TemporaryDirectory() as tmp:
        with gateway(net, "regulator") as gw:
            try:
                Metering(gw.network("energy")).set_tariff(TARIFF)
            except EndorseError as exc:
                assert exc.chaincode_status == 409, exc
        state, work = net.layout.root, Path(tmp)
        report["steady"] = asyncio.run(steady(state, work, args.steady_meters or args.meters,
                                              args.interval,
                                              args.seconds))
        report["catch_up"] = [asyncio.run(catch_up(state, work, args.meters, args.backlog,
                                                   int(n)))
                              for n in args.mpb.split(",")]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
