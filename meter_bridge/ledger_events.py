"""The ledger's chaincode events, as hints the relay controller checks against state.

What each chaincode event hints at (:func:`reading_events`, :func:`supply_events`)::

    ReadingsProcessed  exhausted: [indices]   -> exhausted    (some supply may be cut)
                       lowBalance: [indices]  -> low_balance  (power saving may apply)
    WattcoinMinted / WattcoinTransferred
                       restored: true         -> restored     (some supply may return)
    Alarm, anything else                      -> nothing

An event is never an order. Any member's transaction can carry any event: one that writes
only the Regulator's own collection (``marketlink:RecordPseudonym``) needs only the
Regulator's peer, so a Regulator running modified chaincode can emit "exhausted" for
anyone. So the relay controller (:mod:`.relay`) asks its own peer which of its meters are
cut or restored (``SupplyStatus``, :meth:`.fabric_ledger.FabricLedger.supply_status`)
and acts on that answer alone; a forged event costs one query.

Events are in every block and name no meter a customer's own transaction would reveal
(chaincode/README.md, "Events"): ReadingsProcessed's signals are indices into the batch
(the bridge that sent it knows its meters; any other bridge checks all of its own), and a
restore names nothing.

:class:`LedgerEventStream` follows the chaincode's events from a file checkpoint, so a
restarted bridge resumes after the last event it handled (a first start begins at the
channel's height and records it), and reconnects with backoff when the peer goes away.
Events of batches the bridge submitted itself already came back in their
``SubmitResult`` and are not delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gridledger.clients.events import ChaincodeEvent, Checkpoint, FileCheckpoint
from gridledger.formats.events import (
    READINGS_PROCESSED,
    WATTCOIN_MINTED,
    WATTCOIN_TRANSFERRED,
)

from .errors import LedgerUnavailable
from .ledger import LedgerEvent
from .retrying import Backoff

if TYPE_CHECKING:       # the stream works for a FabricLedger, which imports this module
    from .fabric_ledger import FabricLedger

log = logging.getLogger(__name__)

def reading_events(payload: dict[str, Any], txid: str,
                   batch: Sequence[Mapping[str, Any]] | None = None) -> list[LedgerEvent]:
    """The hints in a ReadingsProcessed payload: one ``exhausted`` and one ``low_balance``
    at most. With the ``batch`` this bridge sent, each names the meters at the indices the
    chaincode reported (for the log: the controller checks every meter of its own
    anyway); for another's transaction it names none."""
    out: list[LedgerEvent] = []
    for member, kind in (("exhausted", "exhausted"), ("lowBalance", "low_balance")):
        signal = payload.get(member)
        if not signal:
            continue
        indices = sorted({i for i in signal if isinstance(i, int) and not isinstance(i, bool)}
                         if isinstance(signal, list) else set())
        meters: set[str] = set()
        if batch is not None:
            for i in indices:
                if 0 <= i < len(batch):
                    reading = batch[i].get("reading") or {}
                    meters.add(str(reading.get("meterId", "")))
        out.append(LedgerEvent(kind, tuple(sorted(m for m in meters if m)), "", txid=txid,
                               detail={"indices": indices}))
    return out


def supply_events(event: ChaincodeEvent, ledger: FabricLedger) -> list[LedgerEvent]:
    """The supply hints in one chaincode event."""
    if event.name not in (READINGS_PROCESSED, WATTCOIN_MINTED, WATTCOIN_TRANSFERRED):
        return []
    payload = event.json()
    if not isinstance(payload, dict):
        return []
    txid = event.transaction_id
    if event.name == READINGS_PROCESSED:
        if ledger.delivered(txid):
            return []
        return reading_events(payload, txid)
    if not payload.get("restored"):
        return []
    return [LedgerEvent("restored", (), "", txid=txid, detail={})]


class LedgerEventStream:
    """The chaincode event stream of a :class:`~.fabric_ledger.FabricLedger`'s channel."""

    def __init__(self, ledger: FabricLedger) -> None:
        self.ledger = ledger
        self.config = ledger.config
        self.health = ledger.health

    async def events(self) -> AsyncIterator[LedgerEvent]:
        """Supply events, resumed from the checkpoint, reconnecting until cancelled."""
        checkpoint: Checkpoint = (FileCheckpoint(self.config.checkpoint)
                                  if self.config.checkpoint else Checkpoint())
        backoff = Backoff(self.config.reconnect_initial, self.config.reconnect_max,
                          jitter=True)
        failing_since: float | None = None
        while True:
            why = "event stream ended"
            try:
                async for event in self._connection(checkpoint):
                    backoff.reset()         # events flow: the next outage starts afresh
                    failing_since = None
                    yield event
            except Exception as exc:     # any failure: reconnect (cancellation passes)
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            finally:
                self.health.events_connected = False
            pause = backoff.failed()
            self.health.last_error = f"events: {why}"
            log.warning("ledger event stream failed (%s); reconnecting in %.1f s", why, pause)
            failing_since = failing_since or time.time()
            self.ledger.redial_if_stale(failing_since)
            await asyncio.sleep(pause)

    def _open(self, checkpoint: Checkpoint) -> Any:
        """Open the chaincode event stream at the checkpoint (first start: the next block).

        The Gateway takes no "newest" start position for chaincode events, so a first
        start reads the channel's height and records it as the checkpoint: events from
        then on are handled even if the bridge stops before the first one arrives.
        """
        if checkpoint.block_number is None:
            height = self.ledger.channel_height()
            checkpoint.checkpoint_block(height - 1)
            log.info("ledger events from block %d on (first start)", height)
        return self.ledger.network().chaincode_events(self.config.chaincode,
                                                      checkpoint=checkpoint)

    async def _connection(self, checkpoint: Checkpoint) -> AsyncIterator[LedgerEvent]:
        """One connection of the event stream; ends by raising when it breaks.

        The Gateway client's stream blocks, so a thread reads it and translates each
        event (which may ask the ledger) while the event loop hands them on.
        """
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[tuple[ChaincodeEvent, list[LedgerEvent]] | BaseException] = \
            asyncio.Queue()
        stream = await asyncio.to_thread(self._open, checkpoint)
        stop = threading.Event()

        def pump() -> None:
            try:
                for ev in stream:
                    if stop.is_set():
                        return
                    item = (ev, supply_events(ev, self.ledger))
                    loop.call_soon_threadsafe(inbox.put_nowait, item)
                failure: BaseException = LedgerUnavailable("event stream ended")
            except Exception as exc:
                failure = exc
            if not stop.is_set():
                with contextlib.suppress(RuntimeError):    # loop closed at shutdown
                    loop.call_soon_threadsafe(inbox.put_nowait, failure)

        thread = threading.Thread(target=pump, name="ledger-events", daemon=True)
        thread.start()
        self.health.events_connected = True
        try:
            while True:
                item = await inbox.get()
                if isinstance(item, BaseException):
                    raise item
                ev, supply = item
                for event in supply:
                    log.info("ledger hint %s (tx %s): checking the ledger's state",
                             event.kind, event.txid)
                    yield event
                # Handled (the consumer has acted on every supply event of it): record it.
                await asyncio.to_thread(checkpoint.checkpoint_event, ev)
                self.health.events_last = time.time()
        finally:
            stop.set()
            stream.close()
