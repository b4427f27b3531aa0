"""Simulated meters for demos and tests: Modbus TCP, Modbus RTU on a pty, and the line protocol.

- ``SimMeter``: one household. Load follows a daily curve (night base, morning and evening
  peaks) with noise; prosumers (every third meter) have solar panels exporting around noon.
  The import and export registers integrate power over simulated time and only grow. The
  relay cuts both directions (anti-islanding); power-saving mode trims the load.
- ``ModbusSimulator``: a pymodbus server (unit ids 1..N) whose registers follow
  ``profiles/gridledger-sim.yaml``; values are refreshed on every request from the meter
  model. TCP listens on 127.0.0.1; RTU runs on a pseudo-terminal pair joined like a
  null-modem cable: the server opens one tty, the bridge opens the other with pyserial.
- ``LineSimulator``: NodeMCU-style meters on one pty speaking the line protocol, pushing a
  reading every few seconds, at once on an alarm change, and answering commands.

Time can run faster than the wall clock (``speed`` simulated seconds per real second).
Faults for tests: ``silent`` (no reply), ``corrupt`` (bad CRC / bad MBAP), ``busy``
(exception 6) per unit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
from pathlib import Path

from .reading import ALARM_KINDS
from .sim_line import LineSimulator
from .sim_meter import SimClock, SimMeter, make_meters
from .sim_modbus import ModbusSimulator, PtyPair

__all__ = ["LineSimulator", "ModbusSimulator", "PtyPair", "RegisterState", "SimClock",
           "SimMeter", "Simulation", "make_meters", "run_simulator", "start_simulator"]


@dataclasses.dataclass
class Simulation:
    """A running simulation: where it listens and handles to drive it."""

    clock: SimClock
    modbus: ModbusSimulator
    tcp_port: int | None
    rtu_device: str | None                 # the tty the bridge opens for Modbus RTU
    line: LineSimulator | None
    _pty: PtyPair | None = None

    @property
    def serial_device(self) -> str | None:
        """The tty the bridge opens for the line protocol."""
        return self.line.device if self.line else None

    def set_alarm(self, meter_id: str, kind: str, on: bool = True) -> None:
        """Raise/clear fire, flood or gas on a Modbus or line meter."""
        if kind not in ALARM_KINDS:
            raise ValueError(f"alarm kind must be one of {ALARM_KINDS}")
        if self.line and meter_id in self.line.meters:
            self.line.set_alarm(meter_id, kind, on)
            return
        meter = next(m for m in self.modbus.meters.values() if m.meter_id == meter_id)
        (meter.alarms.add if on else meter.alarms.discard)(kind)

    def describe(self) -> list[str]:
        """Human-readable lines: where to connect."""
        out = []
        if self.tcp_port is not None:
            out.append(f"Modbus TCP  127.0.0.1:{self.tcp_port}  units 1..{len(self.modbus.meters)}")
        if self.rtu_device:
            out.append(f"Modbus RTU  {self.rtu_device}  units 1..{len(self.modbus.meters)}")
        if self.line:
            out.append(f"line proto  {self.line.device}  meters {', '.join(self.line.meters)}")
        return out

    async def stop(self) -> None:
        """Stop servers, the line simulator and the pty pair."""
        await self.modbus.stop()
        if self.line:
            await self.line.stop()
        if self._pty:
            self._pty.close()


MAX_UNITS = 247


async def start_simulator(meters: int = 3, tcp_port: int | None = 0, rtu: bool = False,
                          serial: bool = False, *, speed: float = 1.0, line_meters: int = 1,
                          push_interval: float = 5.0, noise: float = 0.0,
                          seed: int | None = None, host: str = "127.0.0.1",
                          start: float | None = None,
                          prefix: str = "sim-meter-") -> Simulation:
    """Start a simulation and return at once (``tcp_port=None`` disables TCP).

    ``speed=0`` freezes simulated time at ``start`` (default: now), for exact tests.
    Modbus meters are ``<prefix><unit>``.
    """
    if not 1 <= meters <= MAX_UNITS:
        # Modbus addresses units 1..247 on one link; more meters need more links.
        raise ValueError(f"one simulated Modbus link serves 1 to {MAX_UNITS} meters, "
                         f"not {meters}; run several simulators for more")
    clock = SimClock(speed, start)
    modbus = ModbusSimulator(make_meters(meters, prefix, clock, seed), clock)
    port = await modbus.start_tcp(host, tcp_port) if tcp_port is not None else None
    pty_pair = None
    if rtu:
        pty_pair = PtyPair()
        pty_pair.start()
        await modbus.start_rtu(pty_pair.a_name, modbus.profile.serial.baudrate)
    line = None
    if serial:
        line = LineSimulator(make_meters(line_meters, "sim-line-", clock,
                                         None if seed is None else seed + 1),
                             clock, push_interval=push_interval, noise=noise, seed=seed)
        line.start()
    return Simulation(clock, modbus, port, pty_pair.b_name if pty_pair else None, line,
                      pty_pair)


class RegisterState:
    """Energy registers kept in a JSON file, so a restarted simulator never runs backwards.

    A real meter's registers survive a power cut; a restarted simulator would start again
    from its seed and the ledger would refuse every reading after (``register-backwards``).
    The registers are saved every ``every`` seconds and at a clean stop. After a crash
    the last save may be up to ``every`` seconds old, so a restored register is advanced by
    what ``max_power_w`` could have added meanwhile: forward, never back.
    """

    def __init__(self, path: str | Path, *, every: float = 1.0, speed: float = 1.0,
                 max_power_w: float = 10_000.0) -> None:
        self.path = Path(path)
        self.every = every
        self.margin_wh = math.ceil(max_power_w * every * max(speed, 1.0) / 3600.0)

    def restore(self, meters: list[SimMeter]) -> int:
        """Put saved registers (plus the margin) into ``meters``; return how many."""
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return 0
        restored = 0
        for meter in meters:
            entry = saved.get(meter.meter_id) if isinstance(saved, dict) else None
            if isinstance(entry, dict):
                meter.import_wh = max(meter.import_wh, float(entry["importWh"]) + self.margin_wh)
                meter.export_wh = max(meter.export_wh,
                                      float(entry["exportWh"]) + (self.margin_wh
                                                                  if meter.solar_peak_w else 0))
                meter.relay_closed = bool(entry.get("relayClosed", True))
                restored += 1
        return restored

    def save(self, meters: list[SimMeter]) -> None:
        """Write every register (temporary file, fsync, rename)."""
        data = {m.meter_id: {"importWh": m.import_wh, "exportWh": m.export_wh,
                             "relayClosed": m.relay_closed} for m in meters}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    async def keep(self, meters: list[SimMeter], clock: SimClock) -> None:
        """Save every ``every`` seconds until cancelled, and once more on the way out."""
        try:
            while True:
                await asyncio.sleep(self.every)
                for meter in meters:
                    meter.advance(clock.now())
                self.save(meters)
        finally:
            for meter in meters:
                meter.advance(clock.now())
            self.save(meters)


async def run_simulator(meters: int, tcp_port: int, rtu: bool, serial: bool, *,
                        speed: float = 1.0, line_meters: int = 1, push_interval: float = 5.0,
                        noise: float = 0.0, seed: int | None = None,
                        state: str | Path | None = None,
                        started: asyncio.Future[Simulation] | None = None) -> None:
    """Run a simulation until cancelled (the asyncio entry point of ``simulate``).

    ``state``: a file keeping the Modbus meters' registers across restarts.
    """
    sim = await start_simulator(meters, tcp_port, rtu, serial, speed=speed,
                                line_meters=line_meters, push_interval=push_interval,
                                noise=noise, seed=seed)
    keeper = None
    if state is not None:
        registers = RegisterState(state, speed=speed)
        modbus_meters = list(sim.modbus.meters.values())
        registers.restore(modbus_meters)
        keeper = asyncio.ensure_future(registers.keep(modbus_meters, sim.clock))
    if started is not None:
        started.set_result(sim)
    try:
        await asyncio.Event().wait()
    finally:
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await sim.stop()
