"""Forward queued readings to the ledger in batches; never lose, never reorder, never resend
a refusal.

Per meter, readings go in seq order and only one batch is in flight at a time: the
chaincode accepts a meter's seq n+1 only after n, so overtaking would turn into "skip"
refusals. A meter's readings are sent once ``max_batch`` are waiting or the oldest has
waited ``max_age`` seconds. ``meters_per_batch`` > 1 packs several meters' runs into one
transaction (each still in order and alone in flight) - far fewer transactions when many
meters report every 15 minutes.

Outcomes: accepted and duplicate readings leave the queue; refused ones stay, with the
chaincode's code and reason, and are never sent again (an operator may requeue them).
When the outcome is unknown (``LedgerUnavailable``, any unexpected error) or the
transaction was invalidated at commit, the batch goes back to queued and the sender backs
off exponentially (with jitter, :class:`~.retrying.Backoff`) before trying again - a replay
is a no-op on the ledger.

One invalidation is not the ledger's failure: MVCC_READ_CONFLICT means a key the batch
read changed before it committed - e.g. a customer rewriting its own account every
block (SetLowBalancePolicy, one-token transfers), which conflicts with every batch
holding its meters. So a conflicted batch of several meters is split at once into two
halves by meter, each sent again; halving goes on until the conflicting meters are alone,
and such a meter waits out a backoff of its own while every other meter's readings go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from tenacity import AsyncRetrying, retry_if_result, stop_after_delay, wait_none

from . import metrics
from .ledger import BatchRefused, LedgerEvent, LedgerUnavailable, ReadingLedger, SubmitResult
from .queue import QueuedReading, ReadingQueue
from .retrying import Backoff

log = logging.getLogger(__name__)

MAX_BATCH = 1000   # the chaincode's limit per SubmitReadings
MVCC_READ_CONFLICT = "MVCC_READ_CONFLICT"


@dataclasses.dataclass(frozen=True)
class SendConfig:
    """Batching and retry policy."""

    max_batch: int = 500
    max_age: float = 5.0
    meters_per_batch: int = 1
    max_in_flight: int = 4
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    idle: float = 0.2

    def __post_init__(self) -> None:
        if not 1 <= self.max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be 1..{MAX_BATCH}")


class Sender:
    """Moves readings from the queue to a :class:`ReadingLedger`."""

    def __init__(self, queue: ReadingQueue, ledger: ReadingLedger,
                 config: SendConfig = SendConfig(), *,
                 on_events: Callable[[Sequence[LedgerEvent]], Any] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.queue = queue
        self.ledger = ledger
        self.config = config
        self.on_events = on_events
        self.clock = clock
        #: The pause after failed batches; ``backoff.delay`` is 0 while batches commit.
        self.backoff = Backoff(config.backoff_initial, config.backoff_max, jitter=True)
        self._retry_at = 0.0
        self._tasks: set[asyncio.Task[SubmitResult | None]] = set()
        # A meter whose batch conflicted alone (MVCC) waits on its own: meter -> (not
        # before, its backoff).
        self._held: dict[str, tuple[float, Backoff]] = {}

    # -- choosing what to send ----------------------------------------------------------

    def _ready_runs(self, force: bool, max_meters: int) -> list[list[QueuedReading]]:
        now = self.clock()
        ready = [meter for meter, count, oldest in self.queue.waiting()
                 if (force or count >= self.config.max_batch
                     or now - oldest >= self.config.max_age)
                 and self._held.get(meter, (0.0, None))[0] <= now]
        # Oldest first (waiting() sorts so), and no more than can go out now.
        runs = [self.queue.next_batch(meter, self.config.max_batch)
                for meter in ready[:max_meters]]
        return [run for run in runs if run]

    def _batches(self, runs: list[list[QueuedReading]]) -> list[list[QueuedReading]]:
        batches: list[list[QueuedReading]] = []
        current: list[QueuedReading] = []
        meters = 0
        for run in runs:
            room = self.config.max_batch - len(current)
            if current and (meters >= self.config.meters_per_batch or room < len(run)):
                batches.append(current)
                current, meters = [], 0
            # A run is at most max_batch long, so it fits an empty batch whole.
            current.extend(run)
            meters += 1
        if current:
            batches.append(current)
        return batches

    # -- sending ------------------------------------------------------------------------

    def _claim(self, rows: list[QueuedReading]) -> str:
        batch_id = f"b-{uuid.uuid4().hex}"
        self.queue.mark_in_flight(rows, batch_id)
        return batch_id

    async def send_batch(self, rows: list[QueuedReading]) -> SubmitResult | None:
        """Submit ``rows`` as one transaction and record the outcome in the queue."""
        return await self._submit(self._claim(rows), rows)

    async def _submit(self, batch_id: str, rows: list[QueuedReading]) -> SubmitResult | None:
        try:
            result = await self.ledger.submit_readings([r.item() for r in rows])
        except BatchRefused as exc:
            log.error("batch of %d refused as a whole: %s", len(rows), exc.reason)
            for r in rows:
                self.queue.mark_refused(r.meter_id, r.seq, exc.reason, exc.code)
            self.queue.mark_committed(batch_id)   # nothing left in flight
            metrics.BATCHES.labels("refused").inc()
            return None
        except Exception as exc:
            kind = "unavailable" if isinstance(exc, LedgerUnavailable) else "error"
            self._failed(batch_id, f"{type(exc).__name__}: {exc}", kind)
            return None
        if not result.committed:
            if result.validation_code == MVCC_READ_CONFLICT:
                await self._conflicted(batch_id, rows, result)
                return result
            self._failed(batch_id, f"tx {result.txid} invalid: {result.validation_code}",
                         "invalidated")
            return result
        by_key = {(o.meter_id, o.seq): o for o in result.outcomes}
        if any((r.meter_id, r.seq) not in by_key for r in rows):
            self._failed(batch_id, f"tx {result.txid}: outcomes missing", "error")
            return result
        for r in rows:
            outcome = by_key[(r.meter_id, r.seq)]
            metrics.SUBMITTED.labels(outcome.status).inc()
            if outcome.status == "refused":
                log.warning("%s seq %d refused by the ledger: %s %s", r.meter_id, r.seq,
                            outcome.code, outcome.reason)
                self.queue.mark_refused(r.meter_id, r.seq, outcome.reason, outcome.code)
        self.queue.mark_committed(batch_id, result.txid)
        metrics.BATCHES.labels("committed").inc()
        self.backoff.reset()
        for meter in {r.meter_id for r in rows}:
            self._held.pop(meter, None)
        if result.events and self.on_events is not None:
            outcome_of_hook = self.on_events(result.events)
            if asyncio.iscoroutine(outcome_of_hook):
                await outcome_of_hook
        return result

    async def _conflicted(self, batch_id: str, rows: list[QueuedReading],
                          result: SubmitResult) -> None:
        """MVCC_READ_CONFLICT: halve a batch of several meters and send both halves now;
        hold a meter that conflicted alone (its own backoff), never the whole sender."""
        self.queue.mark_failed(batch_id)
        runs: dict[str, list[QueuedReading]] = {}
        for r in rows:
            runs.setdefault(r.meter_id, []).append(r)
        meters = list(runs)
        if len(meters) > 1:
            metrics.BATCHES.labels("split").inc()
            halves = [meters[:len(meters) // 2], meters[len(meters) // 2:]]
            log.warning("batch %s (tx %s) conflicted (MVCC): %d meters sent again in two "
                        "halves", batch_id, result.txid, len(meters))
            parts = [[r for m in half for r in runs[m]] for half in halves]
            # Claimed before the first await: no step() may pick these meters meanwhile.
            claimed = [(self._claim(part), part) for part in parts]
            await asyncio.gather(*(self._submit(b, part) for b, part in claimed))
            return
        (meter,) = meters
        metrics.BATCHES.labels("invalidated").inc()
        backoff = self._held.get(meter, (0.0, Backoff(self.config.backoff_initial,
                                                      self.config.backoff_max,
                                                      jitter=True)))[1]
        pause = backoff.failed()
        self._held[meter] = (self.clock() + pause, backoff)
        log.warning("meter %s's batch conflicted (MVCC) on its own (tx %s): it waits %.1f s;"
                    " other meters go on", meter, result.txid, pause)

    def _failed(self, batch_id: str, why: str, kind: str) -> None:
        self.queue.mark_failed(batch_id)
        metrics.BATCHES.labels(kind).inc()
        # The whole sender waits, not just this batch: the ledger is what failed.
        self._retry_at = self.clock() + self.backoff.failed()
        log.warning("batch %s not committed (%s); retrying in <= %.1f s", batch_id, why,
                    self.backoff.delay)

    # -- loops --------------------------------------------------------------------------

    def step(self, *, force: bool = False) -> int:
        """Start batches for every meter that is ready; return how many were started."""
        if self.clock() < self._retry_at:
            return 0
        room = max(0, self.config.max_in_flight - len(self._tasks))
        started = 0
        runs = self._ready_runs(force, room * self.config.meters_per_batch) if room else []
        for batch in self._batches(runs)[:room]:
            # Claim now, not in the task: the next step must not pick these meters again.
            task = asyncio.ensure_future(self._submit(self._claim(batch), batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        metrics.QUEUE_DEPTH.set(self.queue.depth())
        metrics.QUEUE_OLDEST.set(self.queue.oldest_age() or 0)
        return started

    async def drain(self, *, force: bool = True, timeout: float = 30.0) -> None:
        """Send until nothing is ready (tests, shutdown); respects backoff."""

        async def one_round() -> bool:
            """Start what is ready and wait for it; True while there was something."""
            self.step(force=force)
            if not self._tasks:
                return False
            await asyncio.wait(set(self._tasks))
            return True

        await AsyncRetrying(stop=stop_after_delay(timeout), wait=wait_none(),
                            retry=retry_if_result(bool),
                            retry_error_callback=lambda _: None)(one_round)

    async def run(self) -> None:
        """Forever: recover rows a crash left in flight, then send as readings arrive."""
        recovered = self.queue.recover_in_flight()
        if recovered:
            log.info("%d readings were in flight at the last stop: queued again", recovered)
        try:
            while True:
                self.step()
                await asyncio.sleep(self.config.idle)
        finally:
            for task in list(self._tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
