"""Modbus side of the simulator: a pymodbus server per transport (TCP, RTU on a tty).

Registers follow a device profile (``profiles/gridledger-sim.yaml`` by default) and are
refilled from the meter model on every request, through pymodbus's SimDevice ``action``
hook. Faults act on replies in the server's ``trace_packet`` hook.
"""

from __future__ import annotations

import functools
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from gridledger.formats.reading import ALARM_KINDS

from ..decode import encode_value, from_reading_units
from ..profiles import Profile, builtin_profile
from .household import SimClock, SimMeter

_SIM_VALUES = {"importWh": "import_wh", "exportWh": "export_wh", "voltageDv": "voltage_dv",
               "currentMa": "current_ma", "powerW": "power_w"}


class ModbusSimulator:
    """Serves ``meters`` as Modbus units 1..N, laid out as ``profile`` says."""

    def __init__(self, meters: list[SimMeter], clock: SimClock,
                 profile: Profile | None = None) -> None:
        self.meters = {unit: m for unit, m in enumerate(meters, start=1)}
        self.clock = clock
        self.profile = profile or builtin_profile("gridledger-sim")
        self.faults: dict[int, str] = {}
        self._servers: list[Any] = []

    def _size(self, function: int) -> int:
        ends = [s.address + s.count for s in self.profile.registers.values()
                if s.function == function]
        ends += [s.address + 1 for s in self.profile.bits.values() if s.function == function]
        return max(ends, default=1)

    def _device(self, unit: int, meter: SimMeter | None) -> SimDevice:
        def bits(function: int) -> list[SimData]:
            # Coils/inputs come in whole 16-bit registers in pymodbus's simulator.
            size = -(-self._size(function) // 16) * 16
            return [SimData(0, values=[False] * size, datatype=DataType.BITS)]

        def regs(function: int) -> list[SimData]:
            # Registers are refilled from the meter model on every request (_action).
            return [SimData(0, count=self._size(function), values=0,
                            datatype=DataType.REGISTERS)]

        action = functools.partial(self._action, unit, meter) if meter else None
        return SimDevice(unit, simdata=(bits(1), bits(2), regs(3), regs(4)), action=action)

    def devices(self) -> list[SimDevice]:
        """Fresh device definitions (each server builds its own register memory).

        Unit 0 catches requests for absent units (pymodbus would log a traceback);
        ``_trace`` then drops its reply, so an absent unit stays silent as on a real bus.
        """
        return [self._device(0, None)] + [self._device(u, m) for u, m in self.meters.items()]

    async def _action(self, unit: int, meter: SimMeter, function: int, start: int,
                      address: int, count: int, registers: list[int],
                      values: Any) -> ExcCodes | None:
        if self.faults.get(unit) == "busy":
            return ExcCodes.DEVICE_BUSY
        meter.advance(self.clock.now())
        if function in (5, 15) and values is not None:
            for offset, on in enumerate(values):
                self._write_bit(meter, address + offset, bool(on))
        family = {5: 1, 15: 1, 6: 3, 16: 3}.get(function, function)
        if family in (3, 4):
            self._fill_registers(meter, family, start, registers)
        else:
            self._fill_bits(meter, family, start, registers)
        return None

    def _write_bit(self, meter: SimMeter, address: int, on: bool) -> None:
        for spec in self.profile.bits.values():
            if spec.function == 1 and spec.address == address:
                state = on != spec.invert
                if spec.quantity == "relay":
                    meter.relay_closed = state
                elif spec.quantity == "power_saving":
                    meter.power_saving = state

    def _fill_registers(self, meter: SimMeter, function: int, start: int,
                        registers: list[int]) -> None:
        sample = meter.sample()
        for spec in self.profile.registers.values():
            if spec.function != function:
                continue
            value = getattr(sample, _SIM_VALUES[spec.target])
            regs = encode_value(spec, from_reading_units(spec, value))
            at = spec.address - start
            registers[at:at + len(regs)] = regs

    def _fill_bits(self, meter: SimMeter, function: int, start: int,
                   registers: list[int]) -> None:
        state = {"relay": meter.relay_closed, "power_saving": meter.power_saving,
                 **{f"{k}_alarm": k in meter.alarms for k in ALARM_KINDS}}
        for spec in self.profile.bits.values():
            if spec.function != function:
                continue
            index, bit = spec.address // 16 - start, spec.address % 16
            if state[spec.quantity] != spec.invert:
                registers[index] |= 1 << bit
            else:
                registers[index] &= ~(1 << bit)

    def _trace(self, rtu: bool, sending: bool, data: bytes) -> bytes:
        # The server-side hook sees each reply before it is sent: faults act here.
        if not sending or not data:
            return data
        unit = data[0] if rtu else (data[6] if len(data) > 6 else 0)
        fault = self.faults.get(unit)
        if unit not in self.meters or fault == "silent":
            return b""        # an absent unit on a bus says nothing
        if fault == "corrupt":
            return data[:-1] + bytes([data[-1] ^ 0xFF]) if rtu else b"\xff\xff" + data[2:]
        return data

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for Modbus TCP; return the bound port (``port=0`` picks a free one)."""
        server = ModbusTcpServer(self.devices(), address=(host, port),
                                 trace_packet=functools.partial(self._trace, False))
        await server.serve_forever(background=True)
        self._servers.append(server)
        return int(server.transport.sockets[0].getsockname()[1])

    async def start_rtu(self, tty_name: str, baudrate: int = 19200) -> None:
        """Serve Modbus RTU on a serial device (one end of a ``PtyPair``, or a real port)."""
        server = ModbusSerialServer(self.devices(), framer=FramerType.RTU, port=tty_name,
                                    baudrate=baudrate, reconnect_delay=0,
                                    trace_packet=functools.partial(self._trace, True))
        await server.serve_forever(background=True)
        self._servers.append(server)

    async def stop(self) -> None:
        """Stop every server."""
        for server in self._servers:
            await server.shutdown()
        self._servers.clear()
