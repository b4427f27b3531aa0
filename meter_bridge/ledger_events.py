"""The ledger's chaincode events, as the supply-control events the relays act on.

What each chaincode event means for supply (:func:`reading_events`,
:func:`supply_events`)::

    ReadingsProcessed  exhausted: [...]     -> exhausted    (open the relays)
                       lowBalance: [...]    -> low_balance  (the owner's policy)
    WattcoinMinted / WattcoinTransferred
                       restored: true       -> restored     (close them again)

Events are in every block, so the chaincode names meters only, never the customer or the
account (chaincode/README.md, "Events"): every signal lists the meters to act on.

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
from collections.abc import AsyncIterator
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

def reading_events(payload: dict[str, Any], txid: str) -> list[LedgerEvent]:
    """``exhausted``/``lowBalance`` of a ReadingsProcessed payload: the meters it names."""

    def meters(entry: dict[str, Any]) -> tuple[str, ...]:
        return tuple(sorted(entry.get("meters") or ()))

    out = [LedgerEvent("exhausted", meters(e), "", txid=txid, detail=e)
           for e in payload.get("exhausted") or ()]
    out += [LedgerEvent("low_balance", meters(e), "", e.get("policy", ""), txid=txid, detail=e)
            for e in payload.get("lowBalance") or ()]
    return out


def supply_events(event: ChaincodeEvent, ledger: FabricLedger) -> list[LedgerEvent]:
    """The supply-control events in one chaincode event."""
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
    meters = tuple(sorted(payload.get("meters") or ()))
    if not payload.get("restored") or not meters:
        return []       # an account that pays for no meter: nothing to reconnect
    return [LedgerEvent("restored", meters, "", txid=txid, detail=payload)]


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
                    log.info("ledger event %s for %s (tx %s)", event.kind,
                             ",".join(event.meter_ids) or "-", event.txid)
                    yield event
                # Handled (the consumer has acted on every supply event of it): record it.
                await asyncio.to_thread(checkpoint.checkpoint_event, ev)
                self.health.events_last = time.time()
        finally:
            stop.set()
            stream.close()
