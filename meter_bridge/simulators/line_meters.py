"""Line-protocol side of the simulator: NodeMCU-style meters on a pty."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random

from ..serial_line import (
    MAX_METER_SEQ,
    LineAck,
    LineCommand,
    LineFramer,
    LineReading,
    encode,
    parse_line,
)
from .household import SimClock, SimMeter
from .pseudo_terminals import open_pty


class LineSimulator:
    """NodeMCU-style meters on one pty speaking the line protocol.

    The bridge opens ``device`` with pyserial. ``noise`` is the chance that a pushed line
    gets one byte damaged (to show the checksum at work); ``reply_noise`` the same for
    answers to commands.
    """

    def __init__(self, meters: list[SimMeter], clock: SimClock, *, push_interval: float = 5.0,
                 noise: float = 0.0, seed: int | None = None) -> None:
        self.meters = {m.meter_id: m for m in meters}
        self.clock = clock
        self.push_interval = push_interval
        self.noise = noise
        self.reply_noise = 0.0
        self._rng = random.Random(seed)
        self._master, self._slave, self.device = open_pty()
        self._framer = LineFramer()
        self._task: asyncio.Task[None] | None = None
        self.commands: list[LineCommand] = []

    def start(self) -> None:
        """Start answering commands and pushing readings."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._on_readable)
        self._task = loop.create_task(self._push_loop())

    def _send(self, line: bytes, *, pushed: bool = False) -> None:
        chance = self.noise if pushed else self.reply_noise
        if chance and self._rng.random() < chance:
            i = self._rng.randrange(1, len(line) - 2)
            line = line[:i] + bytes([line[i] ^ 0x04]) + line[i + 1:]
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._master, line)   # nobody listening: the line is lost

    def push(self, meter: SimMeter, *, pushed: bool = False) -> None:
        """Send one reading of ``meter`` now."""
        meter.advance(self.clock.now())
        meter.meter_seq = (meter.meter_seq + 1) % (MAX_METER_SEQ + 1)
        s = meter.sample()
        self._send(encode(LineReading(
            meter.meter_id, meter.meter_seq, s.import_wh, s.export_wh, s.voltage_dv,
            s.current_ma, s.power_w, "fire" in s.alarms, "flood" in s.alarms, "gas" in s.alarms,
        )), pushed=pushed)

    def set_alarm(self, meter_id: str, kind: str, on: bool) -> None:
        """Raise or clear a sensor; the meter reports the change at once."""
        meter = self.meters[meter_id]
        (meter.alarms.add if on else meter.alarms.discard)(kind)
        self.push(meter)

    async def _push_loop(self) -> None:
        while True:
            await asyncio.sleep(self.push_interval)
            for meter in self.meters.values():
                self.push(meter, pushed=True)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        for line in self._framer.feed(data):
            record = parse_line(line)
            if isinstance(record, LineCommand) and record.meter_id in self.meters:
                self.commands.append(record)
                self._execute(record)

    def _execute(self, cmd: LineCommand) -> None:
        meter = self.meters[cmd.meter_id]
        meter.advance(self.clock.now())
        if cmd.action == "READ":
            self.push(meter)
            return
        if cmd.action == "RELAY":
            meter.relay_closed = cmd.arg == "CLOSE"
        elif cmd.action == "MODE":
            meter.power_saving = cmd.arg == "SAVE"
        self._send(encode(LineAck(meter.meter_id, cmd.cmd_id, True, meter.relay_closed,
                                  meter.power_saving)))

    async def stop(self) -> None:
        """Stop pushing and close the pty."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
