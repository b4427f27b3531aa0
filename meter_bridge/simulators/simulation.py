"""A running simulation: Modbus TCP and RTU servers and line-protocol meters, started together."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

from gridledger.formats.reading import ALARM_KINDS

from .household import SimClock, make_meters
from .line_meters import LineSimulator
from .modbus_server import ModbusSimulator
from .pseudo_terminals import PtyPair
from .registers import RegisterState


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
