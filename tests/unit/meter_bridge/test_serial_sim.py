"""Line-protocol meters over a real pty: readings, relay commands with acks, alarms, noise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gridledger.meter_bridge.errors import FrameError, MeterNotAnswering, MeterUnreachable
from gridledger.meter_bridge.serial_meter import SerialLineLink, SerialLineMeter
from gridledger.meter_bridge.simulators import Simulation, start_simulator

pytestmark = pytest.mark.anyio


@pytest.fixture
async def line_sim() -> AsyncIterator[Simulation]:
    sim = await start_simulator(1, None, serial=True, line_meters=2, push_interval=0.05,
                                seed=4)
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def link(line_sim: Simulation) -> AsyncIterator[SerialLineLink]:
    assert line_sim.serial_device is not None
    lnk = SerialLineLink(line_sim.serial_device)
    try:
        yield lnk
    finally:
        lnk.close()


async def test_read_matches_the_meter(line_sim: Simulation, link: SerialLineLink) -> None:
    meter = SerialLineMeter("sim-line-1", link, timeout=1)
    sample = await meter.read()
    model = line_sim.line.meters["sim-line-1"]          # type: ignore[union-attr]
    assert 0 < sample.import_wh <= model.import_wh
    assert 2000 < sample.voltage_dv < 2600 and sample.alarms == frozenset()
    assert line_sim.line.commands[-1].action == "READ"  # type: ignore[union-attr]


async def test_relay_command_is_acknowledged(line_sim: Simulation,
                                             link: SerialLineLink) -> None:
    meter = SerialLineMeter("sim-line-2", link, timeout=1)
    assert await meter.switch("relay", False) is False
    model = line_sim.line.meters["sim-line-2"]          # type: ignore[union-attr]
    assert model.relay_closed is False
    assert (await meter.read()).power_w == 0
    assert await meter.switch("relay", True) is True
    assert await meter.switch("power_saving", True) is True and model.power_saving


async def test_alarm_is_reported_at_once(line_sim: Simulation, link: SerialLineLink) -> None:
    meter = SerialLineMeter("sim-line-1", link)
    waiting = asyncio.ensure_future(meter.wait_alarm(5))
    await asyncio.sleep(0.05)
    line_sim.set_alarm("sim-line-1", "fire")
    assert await waiting == frozenset({"fire"})
    assert (await meter.read()).alarms == frozenset({"fire"})
    assert await meter.wait_alarm(0.2) is None          # still burning: not *newly* raised


async def test_absent_meter_and_missing_port(link: SerialLineLink) -> None:
    await asyncio.sleep(0.2)                            # let pushes from others arrive
    with pytest.raises(MeterNotAnswering):
        await SerialLineMeter("nobody", link, timeout=0.3).read()
    with pytest.raises(MeterUnreachable):
        await SerialLineMeter("x", SerialLineLink("/dev/no-such-tty"), timeout=0.3).read()


async def test_damaged_lines_are_counted_never_used() -> None:
    sim = await start_simulator(1, None, serial=True, line_meters=1, push_interval=0.02,
                                noise=1.0, seed=9)       # every pushed line is damaged
    assert sim.serial_device is not None and sim.line is not None
    lnk = SerialLineLink(sim.serial_device)
    meter = SerialLineMeter("sim-line-1", lnk, timeout=0.3)
    try:
        lnk.open()
        waiting = asyncio.ensure_future(meter.wait_alarm(0.3))
        await asyncio.sleep(0.2)
        assert lnk.errors["checksum"] + lnk.errors["garbled"] > 0
        assert meter._latest is None                    # nothing damaged got through
        assert await waiting is None
        sim.line.noise = 0.0
        assert (await meter.read()).voltage_dv > 0      # READ replies are clean again
        sim.line.noise = sim.line.reply_noise = 1.0    # replies damaged too
        with pytest.raises(FrameError):
            await meter.read()
    finally:
        lnk.close()
        await sim.stop()
