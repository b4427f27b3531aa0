"""Supply control: open or close relays (and power-saving mode) when the ledger's state
says so.

Ledger events (see :mod:`.ledger`) are *hints*: any member's transaction can carry any
event, so none is obeyed. A hint (``exhausted``, ``restored``, ``low_balance``, or the
start of the bridge) makes the controller ask the ledger for the state of every meter it
serves (:meth:`~.ledger.ReadingLedger.supply_status`, the bridge's own peer), and that
answer becomes a *desired state* per meter and switch:

    supply false (its paying account is exhausted)   -> relay open (supply cut)
    supply true                                      -> relay closed
    powerSaving (below the owner's threshold, policy power-saving) -> power saving on

Hints that arrive while a check runs are folded into one more check. A desired state is
commanded when it differs from the last one decided for that switch (the first check
after a start commands every meter once, so relays agree with the ledger again after an
outage of the bridge); a worker per (meter, switch) applies the latest desired state
until the meter confirms it, retrying with backoff while the meter is unreachable; a
newer decision replaces an older one that never got through. Every command and its
acknowledgement (or failure) is logged, and appended as one JSON line to an audit file
when one is configured.
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
from .ledger import LedgerEvent, ReadingLedger, SupplyState
from .poller import Meter, utc_now
from .retrying import Backoff

# A switch's state when nothing was ever commanded: supply on, no power saving.
_DEFAULT = {"relay": True, "power_saving": False}

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

    def __init__(self, meters: Mapping[str, Meter], ledger: ReadingLedger | None = None, *,
                 audit_path: str | Path | None = None, retry_initial: float = 2.0,
                 retry_max: float = 300.0, history: int = 1000) -> None:
        self.meters = meters
        self.ledger = ledger
        self.audit_path = Path(audit_path) if audit_path else None
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.history: collections.deque[CommandRecord] = collections.deque(maxlen=history)
        self._desired: dict[tuple[str, str], tuple[bool, str]] = {}
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        # The last state decided from the ledger per (meter, switch): commanded again only
        # when the ledger's answer changes.
        self._decided: dict[tuple[str, str], bool] = {}
        self._hints: list[str] = []      # why the next check runs (hint kinds and txids)
        self._checker: asyncio.Task[None] | None = None
        #: Checks of the ledger's state done (tests and the log count them).
        self.checks = 0

    # -- hints -> the ledger's state -> desired state ----------------------------------------

    def handle(self, events: Sequence[LedgerEvent]) -> None:
        """Take ledger events as hints: check the ledger's state (returns at once; a task
        asks the ledger, workers do the meters' I/O)."""
        for event in events:
            self.hint(f"{event.kind} {event.txid}".strip())

    def hint(self, why: str) -> None:
        """Ask the ledger for the state of every meter served here, once more, because of
        ``why``; hints during a running check are folded into the next one."""
        self._hints.append(why)
        if self._checker is None or self._checker.done():
            self._checker = asyncio.ensure_future(self._check())

    async def _check(self) -> None:
        backoff = Backoff(self.retry_initial, self.retry_max)
        while self._hints:
            why, self._hints = ", ".join(dict.fromkeys(self._hints)), []
            if self.ledger is None:
                log.error("ledger hint (%s) not checked: no ledger to ask; nothing switched",
                          why)
                return
            try:
                states = await self.ledger.supply_status(sorted(self.meters))
            except Exception as exc:        # unreachable: ask again later, for every hint
                self._hints.insert(0, why)
                pause = backoff.failed()
                log.warning("supply state not readable (%s); asking again in %.1f s",
                            exc, pause)
                await asyncio.sleep(pause)
                continue
            backoff.reset()
            self.checks += 1
            self.apply(states, why)

    def apply(self, states: Mapping[str, SupplyState], why: str) -> None:
        """Desire, for each meter served here that the ledger knows, the state it says."""
        changed = 0
        for meter_id, state in sorted(states.items()):
            if meter_id not in self.meters or not state.known:
                continue      # another bridge's meter, or not on this peer
            changed += self._decide(meter_id, "relay", state.supply, why)
            changed += self._decide(meter_id, "power_saving", state.power_saving, why)
        log.info("supply state checked (%s): %d of %d meters to switch", why, changed,
                 len(self.meters), extra={"supply_check": why, "switched": changed})

    def _decide(self, meter_id: str, switch: str, on: bool, why: str) -> int:
        key = (meter_id, switch)
        if self._decided.get(key) == on:
            return 0
        self._decided[key] = on
        if not self.meters[meter_id].supports(switch) and on == _DEFAULT[switch]:
            return 0                        # nothing to undo on a meter without it
        self.desire(meter_id, switch, on, why)
        return 1

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
        """Check the ledger's state once (relays agree with it again after a stop), then
        follow the ledger's supply hints until cancelled."""
        if self.ledger is None:
            self.ledger = ledger
        self.hint("start")
        try:
            async for event in ledger.events():
                self.handle([event])
        finally:
            await self.stop()

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the pending check and every pending command are done (tests)."""

        async def idle() -> None:
            while True:
                if self._checker is not None and not self._checker.done():
                    await self._checker
                    continue
                workers = [w for w in self._workers.values() if not w.done()]
                if not workers:
                    return
                await asyncio.gather(*workers)

        await asyncio.wait_for(idle(), timeout)

    async def stop(self) -> None:
        """Cancel the pending check and workers (their desired states are dropped)."""
        tasks = [*self._workers.values(), *([self._checker] if self._checker else [])]
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._checker = None

    def pending(self) -> dict[tuple[str, str], Any]:
        """Requests not yet confirmed: (meter, switch) -> (on, reason)."""
        return dict(self._desired)


def _word(switch: str, on: bool) -> str:
    if switch == "relay":
        return "CLOSED" if on else "OPEN"
    return "ON" if on else "OFF"
