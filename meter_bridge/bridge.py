"""Wiring: meters + queue + keys + a ReadingLedger -> a running bridge.

``open_meters`` turns plain meter descriptions (from a config file or the CLI) into meter
objects, sharing one link per TCP endpoint or serial port::

    {"id": "sim-meter-1", "modbus": "tcp://127.0.0.1:5020", "unit": 1,
     "profile": "gridledger-sim"}
    {"id": "shop-17", "modbus": "rtu:///dev/ttyUSB0", "unit": 17, "profile": "eastron-sdm630"}
    {"id": "sim-line-1", "line": "/dev/pts/4"}

``Bridge.run`` runs one poller per meter, the sender and the relay controller until
cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .ledger import ReadingLedger
from .modbus import ModbusLink, ModbusMeter
from .poller import Meter, PollConfig, Poller, Signer
from .profiles import resolve_profile
from .queue import ReadingQueue
from .relay import RelayController
from .sender import SendConfig, Sender
from .serial_meter import SerialLineLink, SerialLineMeter


def open_meters(specs: Sequence[Mapping[str, Any]], *, timeout: float = 1.0) -> dict[str, Meter]:
    """Meter objects for ``specs`` (call in a running event loop: pymodbus clients need
    one); raises ValueError naming the bad entry."""
    modbus_links: dict[str, ModbusLink] = {}
    line_links: dict[str, SerialLineLink] = {}
    meters: dict[str, Meter] = {}
    for index, spec in enumerate(specs):
        meter_id = spec.get("id")
        if not isinstance(meter_id, str) or meter_id in meters:
            raise ValueError(f"meters[{index}]: id missing or repeated")
        if "line" in spec:
            port = str(spec["line"])
            link = line_links.setdefault(port, SerialLineLink(port))
            meters[meter_id] = SerialLineMeter(meter_id, link, timeout=timeout)
            continue
        url = urlsplit(str(spec.get("modbus", "")))
        profile = resolve_profile(str(spec.get("profile", "")))
        key = url.geturl()
        if key not in modbus_links:
            if url.scheme == "tcp" and url.hostname:
                modbus_links[key] = ModbusLink(host=url.hostname, port=url.port or 502,
                                               timeout=timeout)
            elif url.scheme == "rtu" and url.path:
                modbus_links[key] = ModbusLink(serial_port=url.path, serial=profile.serial,
                                               timeout=timeout)
            else:
                raise ValueError(f"meters[{index}] ({meter_id}): modbus must be "
                                 "tcp://host:port or rtu:///dev/tty...")
        meters[meter_id] = ModbusMeter(meter_id, modbus_links[key], int(spec.get("unit", 1)),
                                       profile)
    return meters


class Bridge:
    """Pollers, sender and relay controller around one queue and one ledger."""

    def __init__(self, meters: Mapping[str, Meter], queue: ReadingQueue, signer: Signer,
                 ledger: ReadingLedger, *, poll: PollConfig | None = None,
                 send: SendConfig | None = None, audit_path: str | Path | None = None) -> None:
        self.meters = meters
        self.queue = queue
        self.ledger = ledger
        self.relays = RelayController(meters, ledger, audit_path=audit_path)
        self.sender = Sender(queue, ledger, send or SendConfig(), on_events=self.relays.handle)
        self.pollers = [Poller(m, queue, signer, poll or PollConfig()) for m in meters.values()]

    async def run(self) -> None:
        """Run until cancelled; on the way out, stop every task."""
        tasks = [asyncio.ensure_future(p.run()) for p in self.pollers]
        tasks.append(asyncio.ensure_future(self.sender.run()))
        tasks.append(asyncio.ensure_future(self.relays.run(self.ledger)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for meter in self.meters.values():
                link = getattr(meter, "link", None)
                if link is not None:
                    link.close()
