"""Field to (fake) ledger and back: simulated meters -> poller -> queue -> sender -> ledger
-> Exhausted event -> relay opens on the simulated meter."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridledger.meter_bridge.keys import KeyStore
from gridledger.meter_bridge.modbus import ModbusLink, ModbusMeter
from gridledger.meter_bridge.poller import PollConfig, Poller
from gridledger.meter_bridge.profiles import builtin_profile
from gridledger.meter_bridge.queue import ReadingQueue
from gridledger.meter_bridge.relay import RelayController
from gridledger.meter_bridge.sender import SendConfig, Sender
from gridledger.meter_bridge.serial_meter import SerialLineLink, SerialLineMeter
from gridledger.meter_bridge.simulators import Simulation

from .fakes import FakeLedger

pytestmark = pytest.mark.anyio


async def test_readings_flow_and_exhaustion_cuts_supply(sim: Simulation, tmp_path: Path) -> None:
    profile = builtin_profile("gridledger-sim")
    assert sim.rtu_device is not None and sim.serial_device is not None
    tcp = ModbusLink(host="127.0.0.1", port=sim.tcp_port, timeout=0.5)
    rtu = ModbusLink(serial_port=sim.rtu_device, serial=profile.serial, timeout=0.5)
    line = SerialLineLink(sim.serial_device)
    meters = {
        "sim-meter-1": ModbusMeter("sim-meter-1", tcp, 1, profile),
        "sim-meter-2": ModbusMeter("sim-meter-2", rtu, 2, profile),
        "sim-line-1": SerialLineMeter("sim-line-1", line),
    }
    keys = KeyStore(tmp_path / "keys")
    queue = ReadingQueue(tmp_path / "queue.sqlite")
    ledger = FakeLedger({m: keys.public_key_pem(m) for m in meters})
    relays = RelayController(meters, ledger)
    sender = Sender(queue, ledger, SendConfig(max_age=0, meters_per_batch=3),
                    on_events=relays.handle)
    pollers = [Poller(m, queue, keys, PollConfig(interval=1)) for m in meters.values()]
    try:
        for round_ in range(3):
            for poller in pollers:
                assert await poller.poll_once() is not None
            if round_ == 1:
                ledger.exhaust |= {"sim-meter-2", "sim-line-1"}   # their balance runs out
            await sender.drain()
            # No sleep: a poller reading twice within one second waits for the next one.
        await relays.wait_idle()
        assert queue.depth() == 0 and queue.refused() == []
        for meter_id in meters:
            head = ledger.heads[meter_id]
            assert head["seq"] == 3
        assert sim.modbus.meters[1].relay_closed is True
        assert sim.modbus.meters[2].relay_closed is False          # opened over RTU
        assert sim.line.meters["sim-line-1"].relay_closed is False  # type: ignore[union-attr]
        # Cut exactly the meters the ledger's state says are exhausted, confirmed by them.
        cuts = sorted((r.meter_id, r.result) for r in relays.history
                      if r.switch == "relay" and not r.on)
        assert cuts == [("sim-line-1", "ack"), ("sim-meter-2", "ack")]
        assert all(r.result == "ack" for r in relays.history)
        assert (await meters["sim-meter-2"].read()).power_w == 0
    finally:
        tcp.close()
        rtu.close()
        line.close()
