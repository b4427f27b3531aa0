"""The wired bridge against the simulator and a fake ledger, for a few seconds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gridledger.meter_bridge.bridge import Bridge, open_meters
from gridledger.meter_bridge.keys import KeyStore
from gridledger.meter_bridge.ledger import LedgerEvent
from gridledger.meter_bridge.modbus import ModbusMeter
from gridledger.meter_bridge.poller import PollConfig
from gridledger.meter_bridge.queue import ReadingQueue
from gridledger.meter_bridge.sender import SendConfig
from gridledger.meter_bridge.simulators import Simulation

from .fakes import FakeLedger

pytestmark = pytest.mark.anyio


def specs(sim: Simulation) -> list[dict[str, object]]:
    return [
        {"id": "sim-meter-1", "modbus": f"tcp://127.0.0.1:{sim.tcp_port}", "unit": 1,
         "profile": "gridledger-sim"},
        {"id": "sim-meter-3", "modbus": f"tcp://127.0.0.1:{sim.tcp_port}", "unit": 3,
         "profile": "gridledger-sim"},
        {"id": "sim-meter-2", "modbus": f"rtu://{sim.rtu_device}", "unit": 2,
         "profile": "gridledger-sim"},
        {"id": "sim-line-1", "line": sim.serial_device},
    ]


async def test_open_meters_shares_links_and_names_bad_entries() -> None:
    meters = open_meters([
        {"id": "a", "modbus": "tcp://127.0.0.1:1502", "unit": 1, "profile": "gridledger-sim"},
        {"id": "b", "modbus": "tcp://127.0.0.1:1502", "unit": 2, "profile": "eastron-sdm630"},
    ])
    a, b = meters["a"], meters["b"]
    assert isinstance(a, ModbusMeter) and isinstance(b, ModbusMeter) and a.link is b.link
    with pytest.raises(ValueError, match=r"meters\[1\] \(c\): modbus must be"):
        open_meters([{"id": "a", "line": "/dev/null"},
                     {"id": "c", "modbus": "udp://x", "profile": "gridledger-sim"}])
    with pytest.raises(ValueError, match="repeated"):
        open_meters([{"id": "a", "line": "/dev/x"}, {"id": "a", "line": "/dev/y"}])


async def test_bridge_runs_end_to_end(sim: Simulation, tmp_path: Path) -> None:
    meters = open_meters(specs(sim))
    keys = KeyStore(tmp_path / "keys")
    queue = ReadingQueue(tmp_path / "queue.sqlite")
    ledger = FakeLedger({m: keys.public_key_pem(m) for m in meters})
    bridge = Bridge(meters, queue, keys, ledger, poll=PollConfig(interval=1),
                    send=SendConfig(max_age=0.2, meters_per_batch=4),
                    audit_path=tmp_path / "relay.jsonl")
    task = asyncio.ensure_future(bridge.run())
    try:
        for _ in range(80):
            await asyncio.sleep(0.05)
            if all(ledger.heads.get(m, {}).get("seq", 0) >= 2 for m in meters):
                break
        ledger.cut.add("sim-meter-3")   # the ledger's state: its account ran out
        ledger.emit(LedgerEvent("exhausted", (), txid="tx-x"))
        for _ in range(60):
            await asyncio.sleep(0.05)
            if not sim.modbus.meters[3].relay_closed:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert all(ledger.heads[m]["seq"] >= 2 for m in meters)
    assert ledger.overlaps == [] and queue.refused() == []
    assert sim.modbus.meters[3].relay_closed is False
    assert "tx-x" in (tmp_path / "relay.jsonl").read_text()
