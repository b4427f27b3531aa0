"""Supply control: open or close relays (and power-saving mode) when the ledger says so.

Ledger events (see :mod:`.ledger`) become a *desired state* per meter and switch:

    exhausted                      -> relay open (supply cut)
    restored                       -> relay closed, power saving off
    low_balance, policy=power-saving -> power saving on (where the meter has it)

A worker per (meter, switch) applies the latest desired state until the meter confirms
it, retrying with backoff while the meter is unreachable; a newer event replaces an older
one that never got through (no stale command is applied after a fresh one). Every command
and its acknowledgement (or failure) is logged, and appended as one JSON line to an audit
file when one is configured.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gridledger.formats.utc import format_utc

from . import metrics
from .errors import MeterError
from .ledger import LedgerEvent, ReadingLedger
from .poller import Meter, utc_now
from .retrying import Backoff

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CommandRecord:
    """One command sent to a meter and what came back."""

    at: str
    meter_id: str
    switch: str            # relay | power_saving
    on: bool               # relay: True = closed (supply on)
    reason: str
    result: str            # ack | mismatch | error | unsupported
    detail: str = ""
    attempt: int = 1


class RelayController:
    """Applies ledger decisions to meters' relays and power-saving modes."""

    def __init__(self, meters: Mapping[str, Meter], *, audit_path: str | Path | None = None,
                 retry_initial: float = 2.0, retry_max: float = 300.0,
                 history: int = 1000) -> None:
        self.meters = meters
        self.audit_path = Path(audit_path) if audit_path else None
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.history: collections.deque[CommandRecord] = collections.deque(maxlen=history)
        self._desired: dict[tuple[str, str], tuple[bool, str]] = {}
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}

    # -- events -> desired state -----------------------------------------------------------

    def handle(self, events: Sequence[LedgerEvent]) -> None:
        """Turn ledger events into commands (returns at once; workers do the I/O)."""
        for event in events:
            why = f"{event.kind} {event.txid}".strip()
            for meter_id in event.meter_ids:
                if meter_id not in self.meters:
                    continue      # a meter another bridge serves
                if event.kind == "exhausted":
                    self.desire(meter_id, "relay", False, why)
                elif event.kind == "restored":
                    self.desire(meter_id, "relay", True, why)
                    if self.meters[meter_id].supports("power_saving"):
                        self.desire(meter_id, "power_saving", False, why)
                elif event.kind == "low_balance" and event.policy == "power-saving":
                    self.desire(meter_id, "power_saving", True, why)

    def desire(self, meter_id: str, switch: str, on: bool, reason: str) -> None:
        """Ask for ``switch`` of ``meter_id`` to be ``on``; replaces any pending request."""
        meter = self.meters[meter_id]
        if not meter.supports(switch):
            self._record(CommandRecord(format_utc(utc_now()), meter_id, switch, on, reason,
                                       "unsupported", f"meter has no {switch}"))
            return
        key = (meter_id, switch)
        self._desired[key] = (on, reason)
        worker = self._workers.get(key)
        if worker is None or worker.done():
            self._workers[key] = asyncio.ensure_future(self._apply(key))

    async def _apply(self, key: tuple[str, str]) -> None:
        meter_id, switch = key
        backoff = Backoff(self.retry_initial, self.retry_max)
        while True:
            on, reason = self._desired[key]
            attempt = backoff.failures + 1
            log.info("command %s %s -> %s (%s), attempt %d", meter_id, switch,
                     _word(switch, on), reason, attempt)
            try:
                state = await self.meters[meter_id].switch(switch, on)
            except MeterError as exc:
                self._record(CommandRecord(format_utc(utc_now()), meter_id, switch, on,
                                           reason, "error", str(exc), attempt))
            else:
                ok = state == on
                self._record(CommandRecord(format_utc(utc_now()), meter_id, switch, on, reason,
                                           "ack" if ok else "mismatch",
                                           f"meter reports {_word(switch, state)}", attempt))
                if ok and self._desired[key] == (on, reason):
                    del self._desired[key]
                    return
                if self._desired[key] != (on, reason):
                    backoff.reset()                      # a newer request: go now
                    continue
            await asyncio.sleep(backoff.failed())

    def _record(self, record: CommandRecord) -> None:
        self.history.append(record)
        metrics.RELAY_COMMANDS.labels(record.switch, record.result).inc()
        level = logging.INFO if record.result == "ack" else logging.WARNING
        log.log(level, "%s %s %s: %s %s", record.meter_id, record.switch,
                _word(record.switch, record.on), record.result, record.detail)
        if self.audit_path is not None:
            self.audit_path.parent.mkdir(parents=True, exist_ok=True)
            with self.audit_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(dataclasses.asdict(record), sort_keys=True) + "\n")

    # -- running ----------------------------------------------------------------------------

    async def run(self, ledger: ReadingLedger) -> None:
        """Follow the ledger's supply events until cancelled."""
        try:
            async for event in ledger.events():
                self.handle([event])
        finally:
            await self.stop()

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every pending command is confirmed (tests, shutdown)."""
        workers = [w for w in self._workers.values() if not w.done()]
        if workers:
            await asyncio.wait_for(asyncio.gather(*workers), timeout)

    async def stop(self) -> None:
        """Cancel pending workers (their desired states are dropped)."""
        for worker in self._workers.values():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()

    def pending(self) -> dict[tuple[str, str], Any]:
        """Requests not yet confirmed: (meter, switch) -> (on, reason)."""
        return dict(self._desired)


def _word(switch: str, on: bool) -> str:
    if switch == "relay":
        return "CLOSED" if on else "OPEN"
    return "ON" if on else "OFF"
