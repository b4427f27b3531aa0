"""Real Modbus reads against the simulator: TCP on 127.0.0.1 and RTU over a pty pair."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gridledger.meter_bridge.errors import (
    CrcError,
    FrameError,
    MeterNotAnswering,
    MeterUnreachable,
    ModbusExceptionError,
)
from gridledger.meter_bridge.modbus import ModbusLink, ModbusMeter
from gridledger.meter_bridge.profiles import builtin_profile, load_profile
from gridledger.meter_bridge.simulators import (
    ModbusSimulator,
    PtyPair,
    SimClock,
    Simulation,
    make_meters,
    start_simulator,
)

pytestmark = pytest.mark.anyio
PROFILE = builtin_profile("gridledger-sim")
NOON_LOCAL = 1_740_805_200.0          # 2025-03-01T05:00:00Z = 12:00 at UTC+7


@pytest.fixture
async def frozen() -> AsyncIterator[Simulation]:
    """Simulated time stopped at local noon: registers hold still, prosumers export."""
    simulation = await start_simulator(3, 0, rtu=True, speed=0, seed=3, start=NOON_LOCAL)
    try:
        yield simulation
    finally:
        await simulation.stop()


def link_for(sim: Simulation, transport: str, timeout: float = 1.0) -> ModbusLink:
    if transport == "tcp":
        return ModbusLink(host="127.0.0.1", port=sim.tcp_port, timeout=timeout, retries=0)
    return ModbusLink(serial_port=sim.rtu_device, serial=PROFILE.serial, timeout=timeout,
                      retries=0)


@pytest.fixture(params=["tcp", "rtu"])
async def link(request: pytest.FixtureRequest, frozen: Simulation) -> AsyncIterator[ModbusLink]:
    lnk = link_for(frozen, request.param, timeout=0.5)
    try:
        yield lnk
    finally:
        lnk.close()


async def test_reads_every_unit_exactly(frozen: Simulation, link: ModbusLink) -> None:
    for unit, model in frozen.modbus.meters.items():
        sample = await ModbusMeter(model.meter_id, link, unit, PROFILE).read()
        expected = model.sample()
        assert (sample.import_wh, sample.export_wh, sample.power_w) == (
            expected.import_wh, expected.export_wh, expected.power_w)
        assert 2000 < sample.voltage_dv < 2600
        assert sample.current_ma == pytest.approx(abs(sample.power_w) / sample.voltage_dv
                                                  * 10_000, abs=60)
        assert (sample.relay_closed, sample.power_saving, sample.alarms) == (True, False,
                                                                             frozenset())


async def test_prosumer_exports_at_noon(frozen: Simulation, link: ModbusLink) -> None:
    consumer = await ModbusMeter("a", link, 1, PROFILE).read()
    prosumer = await ModbusMeter("c", link, 3, PROFILE).read()
    assert consumer.power_w > 0
    assert prosumer.power_w < 0 and prosumer.export_wh > 0


async def test_relay_and_power_saving_coils(frozen: Simulation, link: ModbusLink) -> None:
    meter = ModbusMeter("sim-meter-2", link, 2, PROFILE)
    assert await meter.switch("relay", False) is False
    assert frozen.modbus.meters[2].relay_closed is False
    sample = await meter.read()
    assert (sample.relay_closed, sample.power_w, sample.current_ma) == (False, 0, 0)
    assert await meter.switch("relay", True) is True
    assert await meter.switch("power_saving", True) is True
    assert (await meter.read()).power_saving is True
    assert frozen.modbus.meters[2].power_saving is True


async def test_alarm_inputs(frozen: Simulation, link: ModbusLink) -> None:
    meter = ModbusMeter("sim-meter-1", link, 1, PROFILE, alarm_interval=0.05)
    assert await meter.wait_alarm(0.2) is None
    frozen.set_alarm("sim-meter-1", "flood")
    assert await meter.wait_alarm(2) == frozenset({"flood"})
    assert (await meter.read()).alarms == frozenset({"flood"})
    frozen.set_alarm("sim-meter-1", "flood", False)
    assert (await meter.read_alarms()) == frozenset()


async def test_exception_response_is_named(frozen: Simulation, link: ModbusLink) -> None:
    with pytest.raises(ModbusExceptionError) as caught:
        await link.call(1, 4, 100, count=2)
    assert (caught.value.code, caught.value.code_name, caught.value.transient) == (
        2, "ILLEGAL_DATA_ADDRESS", False)
    frozen.modbus.faults[1] = "busy"
    with pytest.raises(ModbusExceptionError) as caught:
        await ModbusMeter("m", link, 1, PROFILE).read()
    assert (caught.value.code_name, caught.value.transient) == ("SERVER_DEVICE_BUSY", True)


async def test_silent_unit_is_not_answering(frozen: Simulation, link: ModbusLink) -> None:
    with pytest.raises(MeterNotAnswering, match="x: no reply"):
        await ModbusMeter("x", link, 42, PROFILE).read()        # nobody at unit 42
    frozen.modbus.faults[2] = "silent"
    with pytest.raises(MeterNotAnswering):
        await ModbusMeter("m2", link, 2, PROFILE).read()
    frozen.modbus.faults.clear()
    assert (await ModbusMeter("m2", link, 2, PROFILE).read()).import_wh > 0   # recovers


async def test_damaged_reply(frozen: Simulation, link: ModbusLink) -> None:
    frozen.modbus.faults[1] = "corrupt"
    expected = CrcError if link.rtu else FrameError
    with pytest.raises(expected):
        await ModbusMeter("m1", link, 1, PROFILE).read()
    frozen.modbus.faults.clear()
    assert (await ModbusMeter("m1", link, 1, PROFILE).read()).voltage_dv > 0


async def test_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]             # free, and nobody listens on it
    tcp = ModbusLink(host="127.0.0.1", port=port, timeout=0.3)
    with pytest.raises(MeterUnreachable):
        await ModbusMeter("m", tcp, 1, PROFILE).read()
    rtu = ModbusLink(serial_port="/dev/does-not-exist", timeout=0.3)
    with pytest.raises(MeterUnreachable):
        await ModbusMeter("m", rtu, 1, PROFILE).read()


async def test_registers_only_grow_in_accelerated_time() -> None:
    sim = await start_simulator(3, 0, speed=7200, seed=5)     # two hours per second
    lnk = link_for(sim, "tcp")
    try:
        meters = [ModbusMeter(f"m{u}", lnk, u, PROFILE) for u in (1, 2, 3)]
        last = [await m.read() for m in meters]
        for _ in range(5):
            await asyncio.sleep(0.1)
            now = [await m.read() for m in meters]
            for before, after in zip(last, now, strict=True):
                assert after.import_wh >= before.import_wh
                assert after.export_wh >= before.export_wh
            last = now
        assert all(s.import_wh + s.export_wh > 0 for s in last)
    finally:
        lnk.close()
        await sim.stop()


NEW_PROFILE = """\
name: some-new-meter
status: verified
defaults: {function: 3, type: float32, word_order: little}
quantities:
  voltage:       {address: 100, unit: V}
  current:       {address: 102, unit: A}
  active_power:  {address: 104, unit: kW}
  import_energy: {address: 110, type: uint32, word_order: big, scale: 0.01, unit: kWh}
  export_energy: {address: 112, type: uint32, word_order: big, scale: 0.01, unit: kWh}
  relay:         {address: 5, function: 1, invert: true}
  gas_alarm:     {address: 7, function: 2}
"""


async def test_a_new_profile_needs_no_code(tmp_path: Path) -> None:
    path = tmp_path / "some-new-meter.yaml"
    path.write_text(NEW_PROFILE)
    profile = load_profile(path)
    clock = SimClock(0, NOON_LOCAL)
    server = ModbusSimulator(make_meters(2, "new-", clock, 11), clock, profile)
    pair = PtyPair()
    pair.start()
    await server.start_rtu(pair.a_name)
    lnk = ModbusLink(serial_port=pair.b_name, serial=profile.serial, timeout=0.5)
    try:
        model = server.meters[2]
        meter = ModbusMeter("new-2", lnk, 2, profile)
        sample = await meter.read()
        want = model.sample()
        # Resolution is 10 Wh (0.01 kWh); this map needs several requests, and the model
        # redraws its power noise (+-15 %) on each, so power only matches approximately.
        assert abs(sample.import_wh - want.import_wh) <= 5
        assert sample.power_w == pytest.approx(want.power_w, rel=0.4)
        assert await meter.switch("relay", False) is False and not model.relay_closed
        model.alarms.add("gas")
        assert (await meter.read()).alarms == frozenset({"gas"})
    finally:
        lnk.close()
        await server.stop()
        pair.close()
