"""Meters on a serial line speaking the line protocol (:mod:`.serial_line`) - I/O side.

A :class:`SerialLineLink` owns one serial port (a USB-serial adapter, or the simulator's
pty). It reads lines as they come, parses them, and hands records to the meter they name;
garbled and bad-checksum lines are counted and logged, never acted upon. A
:class:`SerialLineMeter` is one meter on the link, with the same face as a Modbus meter:
``read``, ``wait_alarm``, ``supports``, ``switch``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from collections.abc import Awaitable
from typing import Any

import serial

from .errors import (
    FrameError,
    MeterError,
    MeterNotAnswering,
    MeterTimeout,
    MeterUnreachable,
)
from .reading import MeterSample
from .serial_line import (
    LineAck,
    LineCommand,
    LineError,
    LineFramer,
    LineReading,
    encode,
    parse_line,
)

log = logging.getLogger(__name__)


class SerialLineLink:
    """One serial port carrying line-protocol meters."""

    def __init__(self, port: str, *, baudrate: int = 115200) -> None:
        self.port = port
        self.baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._framer = LineFramer()
        self._meters: dict[str, SerialLineMeter] = {}
        self._cmd_ids = itertools.count(1)
        self.errors: collections.Counter[str] = collections.Counter()

    def attach(self, meter: SerialLineMeter) -> None:
        """Route records naming ``meter.meter_id`` to ``meter``."""
        self._meters[meter.meter_id] = meter

    def open(self) -> None:
        """Open the port and start reading (idempotent)."""
        if self._serial is not None:
            return
        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=0)
        except (serial.SerialException, OSError) as exc:
            raise MeterUnreachable(f"cannot open {self.port}: {exc}") from None
        asyncio.get_running_loop().add_reader(self._serial.fileno(), self._on_readable)

    def close(self) -> None:
        """Stop reading and close the port."""
        if self._serial is None:
            return
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
        self._serial.close()
        self._serial = None

    def _on_readable(self) -> None:
        assert self._serial is not None
        try:
            data = self._serial.read(self._serial.in_waiting or 1)
        except (serial.SerialException, OSError) as exc:
            log.warning("%s: read failed: %s", self.port, exc)
            self.close()
            return
        for line in self._framer.feed(data):
            self._dispatch(parse_line(line))

    def _dispatch(self, record: LineReading | LineCommand | LineAck | LineError) -> None:
        if isinstance(record, LineError):
            self.errors[record.kind] += 1
            log.info("%s: rejected line (%s): %s", self.port, record.kind, record.detail)
            return
        meter = self._meters.get(record.meter_id)
        if meter is None or isinstance(record, LineCommand):
            return    # another bridge's meter, or our own command echoed
        meter._receive(record)

    def partial_line(self) -> bool:
        """True while a line has started but not ended (a reply may be on its way)."""
        return self._framer.pending() > 0

    def next_cmd_id(self) -> int:
        """A command id (1..65535, wrapping) to pair a command with its ack."""
        return (next(self._cmd_ids) - 1) % 65535 + 1

    def send(self, command: LineCommand) -> None:
        """Write one command line."""
        if self._serial is None:
            raise MeterUnreachable(f"{self.port} is not open", meter=command.meter_id)
        try:
            self._serial.write(encode(command))
        except (serial.SerialException, OSError) as exc:
            raise MeterUnreachable(f"write to {self.port} failed: {exc}",
                                   meter=command.meter_id) from None


class SerialLineMeter:
    """One line-protocol meter on a :class:`SerialLineLink`."""

    def __init__(self, meter_id: str, link: SerialLineLink, *, timeout: float = 2.0) -> None:
        self.meter_id = meter_id
        self.link = link
        self.timeout = timeout
        self._latest: LineReading | None = None
        self._reading_arrived = asyncio.Event()
        self._alarm_raised = asyncio.Event()
        self._alarms: frozenset[str] = frozenset()
        self._acks: dict[int, asyncio.Future[LineAck]] = {}
        link.attach(self)

    def _receive(self, record: LineReading | LineAck) -> None:
        if isinstance(record, LineAck):
            future = self._acks.pop(record.cmd_id, None)
            if future is not None and not future.done():
                future.set_result(record)
            return
        if self._latest is not None and record.meter_seq == self._latest.meter_seq:
            return    # the meter repeated a line it already sent
        self._latest = record
        self._reading_arrived.set()
        alarms = record.sample().alarms
        if alarms - self._alarms:
            self._alarm_raised.set()
        self._alarms = alarms

    async def _await(self, waiter: Awaitable[Any], what: str) -> None:
        errors_before = sum(self.link.errors.values())
        try:
            await asyncio.wait_for(waiter, self.timeout)
        except TimeoutError:
            # Lines carry their meter id, so a damaged line may have been our reply; clean
            # lines from other meters on a shared line say nothing about this one.
            if sum(self.link.errors.values()) > errors_before:
                raise FrameError(f"{what}: no valid reply; damaged lines arrived",
                                 meter=self.meter_id) from None
            if self.link.partial_line():
                raise MeterTimeout(f"{what}: reply incomplete after {self.timeout} s",
                                   meter=self.meter_id) from None
            raise MeterNotAnswering(f"{what}: no reply in {self.timeout} s",
                                    meter=self.meter_id) from None

    async def read(self) -> MeterSample:
        """Ask for a reading now (READ) and return it."""
        self.link.open()
        self._reading_arrived.clear()
        self.link.send(LineCommand(self.meter_id, self.link.next_cmd_id(), "READ"))
        await self._await(asyncio.ensure_future(self._reading_arrived.wait()), "READ")
        assert self._latest is not None
        return self._latest.sample()

    async def wait_alarm(self, timeout: float) -> frozenset[str] | None:
        """Wait until the meter reports a newly raised alarm (the set), or timeout (None)."""
        self.link.open()
        self._alarm_raised.clear()
        try:
            await asyncio.wait_for(self._alarm_raised.wait(), timeout)
        except TimeoutError:
            return None
        return self._alarms

    def supports(self, switch: str) -> bool:
        """Line-protocol meters have a relay and a power-saving mode."""
        return switch in ("relay", "power_saving")

    async def switch(self, switch: str, on: bool) -> bool:
        """Send RELAY CLOSE/OPEN or MODE SAVE/NORMAL; return the state the ack confirms."""
        self.link.open()
        if switch == "relay":
            command = LineCommand(self.meter_id, self.link.next_cmd_id(), "RELAY",
                                  "CLOSE" if on else "OPEN")
        elif switch == "power_saving":
            command = LineCommand(self.meter_id, self.link.next_cmd_id(), "MODE",
                                  "SAVE" if on else "NORMAL")
        else:
            raise ValueError(f"unknown switch {switch!r}")
        future: asyncio.Future[LineAck] = asyncio.get_running_loop().create_future()
        self._acks[command.cmd_id] = future
        try:
            self.link.send(command)
            await self._await(future, f"{command.action} {command.arg}")
        finally:
            self._acks.pop(command.cmd_id, None)
        ack = future.result()
        if not ack.ok:
            raise MeterError(f"meter refused {command.action} {command.arg}",
                             meter=self.meter_id)
        return ack.relay_closed if switch == "relay" else ack.power_saving
