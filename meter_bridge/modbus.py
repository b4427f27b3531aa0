"""Read meters and switch their relays over Modbus TCP or Modbus RTU (serial, RS-485).

A :class:`ModbusLink` is one connection - a TCP socket to a meter or gateway, or one
serial line shared by several meters (unit ids 1-247). A :class:`ModbusMeter` is one
meter on a link with its profile. Every failure becomes a typed :mod:`.errors` error:

- cannot connect / open the port           -> MeterUnreachable
- request sent, not one byte back          -> MeterNotAnswering
- part of a reply, then silence            -> MeterTimeout
- a reply whose CRC does not match (RTU)   -> CrcError
- other bytes that are not a valid reply   -> FrameError
- a Modbus exception response              -> ModbusExceptionError (code and its name)

pymodbus drops a frame with a bad CRC and then times out, so the link watches the raw
bytes (pymodbus's ``trace_packet`` hook) to tell silence from a damaged answer; it checks
their CRC with pymodbus's own (``FramerRTU.compute_CRC``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType
from pymodbus.framer.rtu import FramerRTU

from .decode import Block, decode_block, read_plan
from .errors import (
    CrcError,
    DecodeError,
    FrameError,
    MeterError,
    MeterNotAnswering,
    MeterTimeout,
    MeterUnreachable,
    ModbusExceptionError,
)
from .profiles import Profile, SerialSettings
from .reading import MeterSample
from .retrying import poll

log = logging.getLogger(__name__)


def rtu_crc(data: bytes) -> bytes:
    """Modbus RTU CRC-16 of ``data`` as its two bytes on the wire (low byte first)."""
    # pymodbus returns the CRC with its bytes already swapped into wire order.
    return FramerRTU.compute_CRC(data).to_bytes(2, "big")


def _expected_rtu_length(raw: bytes) -> int | None:
    """Length of the RTU reply that starts ``raw``, when its header tells; else None."""
    if len(raw) < 2:
        return None
    function = raw[1]
    if function & 0x80:
        return 5                                  # unit, function|0x80, code, crc x2
    if function in (1, 2, 3, 4):
        return 5 + raw[2] if len(raw) >= 3 else None  # unit, function, n, data x n, crc
    if function in (5, 6, 15, 16):
        return 8                                  # echo of address and value/count
    return None


def classify_rtu_reply(raw: bytes, unit: int, *, meter: str = "") -> MeterError:
    """Why the raw bytes of an RTU exchange did not give a usable reply (never raises)."""
    if not raw:
        return MeterNotAnswering("no reply", meter=meter)
    size = _expected_rtu_length(raw)
    if size is None:
        if len(raw) < 5:
            return MeterTimeout(f"incomplete reply ({len(raw)} bytes)", meter=meter)
        return FrameError(f"garbled reply ({len(raw)} bytes: {raw[:16].hex()})", meter=meter)
    if len(raw) < size:
        return MeterTimeout(f"incomplete reply ({len(raw)} of {size} bytes)", meter=meter)
    if rtu_crc(raw[:size - 2]) != raw[size - 2:size]:
        return CrcError(f"CRC mismatch in {size}-byte reply", meter=meter)
    if raw[0] != unit:
        return FrameError(f"reply from unit {raw[0]}, expected {unit}", meter=meter)
    return FrameError(f"unexpected reply {raw[:size].hex()}", meter=meter)


def classify_tcp_reply(raw: bytes, *, meter: str = "") -> MeterError:
    """Why the raw bytes of a Modbus TCP exchange did not give a usable reply."""
    if not raw:
        return MeterNotAnswering("no reply", meter=meter)
    if len(raw) < 8:
        return MeterTimeout(f"incomplete reply ({len(raw)} bytes)", meter=meter)
    length = int.from_bytes(raw[4:6], "big")
    if raw[2:4] != b"\x00\x00" or not 2 <= length <= 254:
        return FrameError(f"not a Modbus TCP frame ({raw[:12].hex()})", meter=meter)
    if len(raw) < 6 + length:
        return MeterTimeout(f"incomplete reply ({len(raw)} of {6 + length} bytes)", meter=meter)
    return FrameError(f"unexpected reply {raw[:6 + length].hex()}", meter=meter)


class ModbusLink:
    """One Modbus connection: TCP (``host``/``port``) or RTU (``serial_port``).

    Requests on a link are serialised (a bus carries one exchange at a time). The link
    reconnects on the next request after a failure; it never retries in the background.
    """

    def __init__(self, *, host: str | None = None, port: int = 502,
                 serial_port: str | None = None, serial: SerialSettings | None = None,
                 timeout: float = 1.0, retries: int = 1) -> None:
        if (host is None) == (serial_port is None):
            raise ValueError("give exactly one of host (TCP) or serial_port (RTU)")
        self.rtu = serial_port is not None
        self.name = serial_port if serial_port is not None else f"{host}:{port}"
        self._rx = b""
        self._lock = asyncio.Lock()
        client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if serial_port is not None:
            s = serial or SerialSettings()
            client = AsyncModbusSerialClient(
                serial_port, framer=FramerType.RTU, baudrate=s.baudrate, parity=s.parity,
                stopbits=s.stopbits, bytesize=s.bytesize, timeout=timeout, retries=retries,
                reconnect_delay=0, trace_packet=self._trace,
            )
        else:
            assert host is not None
            client = AsyncModbusTcpClient(
                host, port=port, timeout=timeout, retries=retries, reconnect_delay=0,
                trace_packet=self._trace,
            )
        self.client = client

    def _trace(self, sending: bool, data: bytes) -> bytes:
        # pymodbus hands over its whole receive buffer each time; keep the longest.
        if not sending and len(data) >= len(self._rx):
            self._rx = bytes(data)
        return data

    async def _ensure_connected(self, meter: str) -> None:
        if self.client.connected:
            return
        try:
            ok = await self.client.connect()
        except (OSError, ModbusException) as exc:
            raise MeterUnreachable(f"cannot connect to {self.name}: {exc}", meter=meter) from None
        if not ok:
            raise MeterUnreachable(f"cannot connect to {self.name}", meter=meter)

    async def call(self, unit: int, function: int, address: int, *, count: int = 1,
                   value: bool | None = None, meter: str = "") -> list[int] | list[bool]:
        """One request: read ``count`` items with ``function`` 1-4, or write coil (5)."""
        async with self._lock:
            await self._ensure_connected(meter)
            self._rx = b""
            c = self.client
            try:
                if function == 1:
                    rr = await c.read_coils(address, count=count, device_id=unit)
                elif function == 2:
                    rr = await c.read_discrete_inputs(address, count=count, device_id=unit)
                elif function == 3:
                    rr = await c.read_holding_registers(address, count=count, device_id=unit)
                elif function == 4:
                    rr = await c.read_input_registers(address, count=count, device_id=unit)
                elif function == 5:
                    rr = await c.write_coil(address, bool(value), device_id=unit)
                else:
                    raise ValueError(f"unsupported function {function}")
            except ModbusIOException:
                raise self._classify(unit, meter) from None
            except ConnectionException as exc:
                c.close()
                raise MeterUnreachable(f"{self.name}: {exc}", meter=meter) from None
            except (ModbusException, OSError) as exc:
                c.close()
                raise FrameError(f"{self.name}: {exc}", meter=meter) from None
        if rr.isError():
            raise ModbusExceptionError(getattr(rr, "exception_code", 0), function, address,
                                       meter=meter)
        # A reply of the wrong size is a protocol violation, not a short reading.
        if function in (1, 2):
            if len(rr.bits) < count:
                raise FrameError(f"asked {count} bits, got {len(rr.bits)}", meter=meter)
            return [bool(b) for b in rr.bits[:count]]
        if function == 5:
            return [bool(rr.bits[0])] if rr.bits else []
        if len(rr.registers) != count:
            raise FrameError(f"asked {count} registers, got {len(rr.registers)}", meter=meter)
        return [int(r) for r in rr.registers]

    def _classify(self, unit: int, meter: str) -> MeterError:
        raw = self._rx
        if self.rtu:
            return classify_rtu_reply(raw, unit, meter=meter)
        return classify_tcp_reply(raw, meter=meter)

    def close(self) -> None:
        """Close the connection (the next request reopens it)."""
        self.client.close()


class ModbusMeter:
    """One meter on a :class:`ModbusLink`, read according to its profile."""

    def __init__(self, meter_id: str, link: ModbusLink, unit: int, profile: Profile, *,
                 alarm_interval: float = 5.0) -> None:
        self.meter_id = meter_id
        self.link = link
        self.unit = unit
        self.profile = profile
        self.alarm_interval = alarm_interval
        self._plan = read_plan(profile)
        self._alarm_plan = read_plan(
            profile, [q for q in profile.bits if q.endswith("_alarm")]
        )
        self._last_alarms: frozenset[str] = frozenset()
        if profile.assumed():
            log.warning("meter %s: profile %s has assumed (unverified) quantities: %s",
                        meter_id, profile.name, ", ".join(profile.assumed()))

    async def _read_blocks(self, blocks: Sequence[Block]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for block in blocks:
            data = await self.link.call(self.unit, block.function, block.address,
                                        count=block.count, meter=self.meter_id)
            try:
                values.update(decode_block(block, data))
            except DecodeError as exc:
                raise DecodeError(str(exc), meter=self.meter_id) from None
        return values

    async def read(self) -> MeterSample:
        """Read every quantity of the profile; one request per contiguous block."""
        sample = MeterSample.from_values(await self._read_blocks(self._plan))
        self._last_alarms = sample.alarms
        return sample

    async def read_alarms(self) -> frozenset[str]:
        """Only the alarm inputs (cheap: usually one request)."""
        sample = await self._read_blocks(self._alarm_plan)
        return frozenset(q[:-len("_alarm")] for q, on in sample.items() if on)

    async def wait_alarm(self, timeout: float) -> frozenset[str] | None:
        """Poll the alarm inputs until one is newly raised (return the set) or timeout."""
        if not self._alarm_plan:
            await asyncio.sleep(max(0.0, timeout))    # nothing to watch: just wait
            return None

        async def newly_raised() -> frozenset[str] | None:
            try:
                alarms = await self.read_alarms()
            except MeterError as exc:
                log.debug("meter %s: alarm poll failed: %s", self.meter_id, exc)
                return None
            raised = alarms - self._last_alarms
            self._last_alarms = alarms
            return alarms if raised else None

        return await poll(newly_raised, timeout=timeout, interval=self.alarm_interval)

    def supports(self, switch: str) -> bool:
        """True when the profile has a coil for ``switch`` ("relay" or "power_saving")."""
        return switch in self.profile.bits

    async def switch(self, switch: str, on: bool) -> bool:
        """Write a relay/power-saving coil, read it back; return the confirmed state.

        ``on`` for the relay means closed (supply connected).
        """
        spec = self.profile.bits.get(switch)
        if spec is None:
            raise DecodeError(f"profile {self.profile.name} has no {switch} coil",
                              meter=self.meter_id)
        await self.link.call(self.unit, 5, spec.address, value=on != spec.invert,
                             meter=self.meter_id)
        # The write's echo only says the request arrived; the read-back is the state.
        state = await self.link.call(self.unit, 1, spec.address, meter=self.meter_id)
        return bool(state[0]) != spec.invert
