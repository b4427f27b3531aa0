"""The bridge's :class:`~.ledger.ReadingLedger` on the real network, over our Gateway client.

``submit_readings`` is one ``metering:SubmitReadings`` transaction: endorse, order, wait
for the commit status (the Gateway client is synchronous, so each call runs in a worker
thread). The client's errors are translated here, so the sender only ever sees the
ledger seam's::

    gRPC UNAVAILABLE / DEADLINE_EXCEEDED,      -> LedgerUnavailable  (outcome unknown:
    any GatewayError.retryable, chaincode 5xx                          resend later)
    chaincode 4xx for the whole batch          -> BatchRefused       (resending cannot help)
    transaction invalid at commit              -> SubmitResult(committed=False, code)

``events`` follows the chaincode's events (``ReadingsProcessed``' ``exhausted`` and
``lowBalance``, ``WattcoinMinted``/``WattcoinTransferred`` with ``restored``) from a
file checkpoint, so a restarted bridge resumes after the last event it handled; the stream
reconnects with backoff when the peer goes away. Customer ids are resolved to the
customer's meters (``MetersByCustomer``), so a top-up closes every relay of the customer.

Supply events of a batch this ledger submitted are returned in its ``SubmitResult`` (the
relay acts the moment the batch commits) and are not delivered a second time by
``events``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from fabric_protos.common import ledger_pb2

from gridledger.clients.errors import CommitError, GatewayError, GridLedgerError
from gridledger.clients.events import ChaincodeEvent, Checkpoint, FileCheckpoint
from gridledger.clients.gateway import Deadlines, Gateway
from gridledger.clients.metering import Metering, Wattcoin

from .ledger import (
    BatchRefused,
    LedgerEvent,
    LedgerUnavailable,
    ReadingOutcome,
    SubmitResult,
)

log = logging.getLogger(__name__)

EVENT_READINGS = "ReadingsProcessed"
EVENT_MINTED = "WattcoinMinted"
EVENT_TRANSFERRED = "WattcoinTransferred"

# Deadlines for a bridge: fail fast while the network is away; the sender retries.
BRIDGE_DEADLINES = Deadlines(evaluate=5.0, endorse=15.0, submit=10.0, commit_status=30.0)


@dataclasses.dataclass(frozen=True)
class LedgerConfig:
    """Where and as whom the bridge submits."""

    channel: str = "energy"
    chaincode: str = "metering"
    checkpoint: Path | None = None          # events checkpoint file (None: in memory)
    customer_cache_s: float = 60.0          # how long customer -> meters stays cached
    reconnect_initial: float = 1.0
    reconnect_max: float = 30.0
    # Rebuild the gRPC channel when the ledger has been unreachable this long: a fresh
    # channel connects at once instead of waiting out gRPC's growing reconnect backoff.
    redial_after: float = 5.0


@dataclasses.dataclass
class LedgerHealth:
    """What the health endpoint reports about the ledger side (times are time.time())."""

    last_commit: float | None = None        # the last committed batch
    last_error: str = ""
    unavailable_since: float | None = None  # first failure of the current outage
    events_connected: bool = False
    events_last: float | None = None        # the last chaincode event handled

    def snapshot(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class FabricLedger:
    """A :class:`~.ledger.ReadingLedger` over one Gateway connection.

    ``connect`` opens a :class:`Gateway` (e.g. ``lambda: session.gateway("Admin")``); it is
    called again to redial after the ledger has been unreachable for a while.
    """

    def __init__(self, connect: Callable[[], Gateway], config: LedgerConfig | None = None,
                 ) -> None:
        self._connect = connect
        self.config = config or LedgerConfig()
        self.health = LedgerHealth()
        self._lock = threading.Lock()
        self._gateway: Gateway | None = None
        self._dialled_at = 0.0
        self._customers: dict[str, tuple[float, tuple[str, ...]]] = {}
        # txids whose supply events were already returned in a SubmitResult.
        self._delivered: collections.OrderedDict[str, None] = collections.OrderedDict()

    @classmethod
    def from_session(cls, session: Any, label: str = "Admin", *, peer_org: str | None = None,
                     config: LedgerConfig | None = None,
                     deadlines: Deadlines = BRIDGE_DEADLINES) -> FabricLedger:
        """A ledger acting as wallet identity ``label`` of ``session`` (a clients Session)."""
        return cls(lambda: session.gateway(label, peer_org=peer_org, deadlines=deadlines),
                   config)

    # -- the connection ---------------------------------------------------------------

    def gateway(self) -> Gateway:
        """The current Gateway, dialled on first use."""
        with self._lock:
            if self._gateway is None:
                self._gateway = self._connect()
                self._dialled_at = time.monotonic()
            return self._gateway

    def _maybe_redial(self, since: float | None = None) -> None:
        """After ``redial_after`` seconds of unavailability, start a fresh channel."""
        since = since if since is not None else self.health.unavailable_since
        if since is None or time.time() - since < self.config.redial_after:
            return
        with self._lock:
            if self._gateway is None or time.monotonic() - self._dialled_at < \
                    self.config.redial_after:
                return
            old, self._gateway = self._gateway, None
        log.info("ledger unreachable for %.0f s: dialling again", time.time() - since)
        # Calls still running on the old channel end as CANCELLED -> LedgerUnavailable.
        timer = threading.Timer(30.0, old.close)
        timer.daemon = True
        timer.start()

    def network(self) -> Any:
        return self.gateway().network(self.config.channel)

    def close(self) -> None:
        with self._lock:
            gw, self._gateway = self._gateway, None
        if gw is not None:
            gw.close()

    # -- submitting -------------------------------------------------------------------

    async def submit_readings(self, batch: list[dict[str, Any]]) -> SubmitResult:
        """Submit one batch; wait for its commit status (see the module docstring)."""
        try:
            result = await asyncio.to_thread(self._submit, batch)
        except LedgerUnavailable as exc:
            if self.health.unavailable_since is None:
                self.health.unavailable_since = time.time()
            self.health.last_error = str(exc)
            self._maybe_redial()
            raise
        self.health.unavailable_since = None
        if result.committed:
            self.health.last_commit = time.time()
        else:
            self.health.last_error = f"tx {result.txid}: {result.validation_code}"
        return result

    def _submit(self, batch: list[dict[str, Any]]) -> SubmitResult:
        # The commit handle carries the chaincode event (exhausted / lowBalance), which
        # the function's result omits.
        try:
            gateway = self.gateway()
        except GridLedgerError as exc:   # profile, wallet: the operator must fix it
            log.error("cannot connect to the ledger: %s", exc)
            raise LedgerUnavailable(f"cannot connect: {exc}") from None
        try:
            commit = Metering(gateway.network(self.config.channel),
                              self.config.chaincode).submit_readings_async(batch)
            event = commit.chaincode_event
            status = commit.status()
        except GatewayError as exc:
            raise _translate(exc) from None
        except CommitError as exc:      # not raised by status(), but keep the mapping whole
            return SubmitResult(exc.transaction_id, False, validation_code=exc.code_name)
        except GridLedgerError as exc:   # e.g. no signer: nothing was sent
            raise LedgerUnavailable(f"{type(exc).__name__}: {exc}") from None
        except grpc.RpcError as exc:    # a call outside the client's own translation
            raise LedgerUnavailable(f"gRPC {_code_name(exc)}") from None
        txid = commit.transaction_id
        if not status.successful:
            log.warning("tx %s invalid in block %d: %s", txid, status.block_number,
                        status.code_name)
            return SubmitResult(txid, False, validation_code=status.code_name)
        outcomes = parse_outcomes(batch, json.loads(commit.result))
        payload: dict[str, Any] = {}
        if event is not None and event.event_name == EVENT_READINGS:
            with contextlib.suppress(ValueError):
                payload = json.loads(event.payload) or {}
        try:
            events = tuple(self._reading_events(payload, txid))
        except LedgerUnavailable as exc:
            # Committed all the same: act on the meters the event names now; the event
            # stream will deliver the event again with the customer's other meters.
            log.warning("tx %s: cannot resolve customers' meters now (%s)", txid, exc)
            events = tuple(self._reading_events(payload, txid, resolve=False))
        else:
            if events:
                self._remember(txid)
        return SubmitResult(txid, True, outcomes, events=events)

    def _remember(self, txid: str) -> None:
        with self._lock:
            self._delivered[txid] = None
            while len(self._delivered) > 10_000:
                self._delivered.popitem(last=False)

    def _was_delivered(self, txid: str) -> bool:
        with self._lock:
            return txid in self._delivered

    # -- events -----------------------------------------------------------------------

    def meters_of(self, customer_id: str) -> tuple[str, ...]:
        """The customer's meter ids (cached for ``customer_cache_s``); blocking."""
        now = time.monotonic()
        cached = self._customers.get(customer_id)
        if cached and now - cached[0] < self.config.customer_cache_s:
            return cached[1]
        try:
            records = Metering(self.network(), self.config.chaincode).meters_by_customer(
                customer_id)
        except GatewayError as exc:
            raise _translate(exc) from None
        meters = tuple(sorted(r["meterId"] for r in records or ()))
        self._customers[customer_id] = (now, meters)
        return meters

    def _reading_events(self, payload: dict[str, Any], txid: str, *,
                        resolve: bool = True) -> list[LedgerEvent]:
        """``exhausted``/``lowBalance`` of a ReadingsProcessed payload, meters resolved."""

        def meters(entry: dict[str, Any]) -> tuple[str, ...]:
            found = set(entry.get("meters") or ())
            if resolve and entry.get("customerId"):
                found.update(self.meters_of(entry["customerId"]))
            return tuple(sorted(found))

        out = [LedgerEvent("exhausted", meters(e), e.get("customerId") or "", txid=txid,
                           detail=e) for e in payload.get("exhausted") or ()]
        out += [LedgerEvent("low_balance", meters(e), e.get("customerId") or "",
                            e.get("policy", ""), txid=txid, detail=e)
                for e in payload.get("lowBalance") or ()]
        return out

    def translate_event(self, event: ChaincodeEvent) -> list[LedgerEvent]:
        """Supply-control events in one chaincode event (blocking: may ask the ledger)."""
        if event.name not in (EVENT_READINGS, EVENT_MINTED, EVENT_TRANSFERRED):
            return []
        payload = event.json()
        if not isinstance(payload, dict):
            return []
        txid = event.transaction_id
        if event.name == EVENT_READINGS:
            if self._was_delivered(txid):
                return []
            return self._reading_events(payload, txid)
        if not payload.get("restored"):
            return []
        customer = payload.get("customerId")
        if event.name == EVENT_TRANSFERRED and not customer:
            customer = self._customer_of_account(payload.get("to", ""))
        if not customer:
            return []       # an account that pays for no customer: no meters to reconnect
        return [LedgerEvent("restored", self.meters_of(customer), customer, txid=txid,
                            detail=payload)]

    def _customer_of_account(self, address: str) -> str | None:
        if not address:
            return None
        try:
            account = Wattcoin(self.network(), self.config.chaincode).balance(address)
        except GatewayError as exc:
            if exc.chaincode_status == 404:
                return None
            raise _translate(exc) from None
        return account.get("customerId")

    async def events(self) -> AsyncIterator[LedgerEvent]:
        """Supply events, resumed from the checkpoint, reconnecting until cancelled."""
        checkpoint: Checkpoint = (FileCheckpoint(self.config.checkpoint)
                                  if self.config.checkpoint else Checkpoint())
        delay = self.config.reconnect_initial
        failing_since: float | None = None
        while True:
            try:
                async for event in self._stream(checkpoint):
                    delay, failing_since = self.config.reconnect_initial, None
                    yield event
            except Exception as exc:     # any failure: reconnect (cancellation passes)
                self.health.last_error = f"events: {exc}".splitlines()[0]
                log.warning("ledger event stream failed (%s); reconnecting in %.1f s",
                            str(exc).splitlines()[0], delay)
                failing_since = failing_since or time.time()
                self._maybe_redial(failing_since)
            finally:
                self.health.events_connected = False
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(self.config.reconnect_max, delay * 2)

    def _open_stream(self, checkpoint: Checkpoint) -> Any:
        """Open the chaincode event stream at the checkpoint (first start: the next block).

        The Gateway takes no "newest" start position for chaincode events, so a first
        start reads the channel's height and records it as the checkpoint: events from
        then on are handled even if the bridge stops before the first one arrives.
        """
        network = self.network()
        if checkpoint.block_number is None:
            try:
                raw = network.contract("qscc").evaluate("GetChainInfo", network.name)
            except GatewayError as exc:
                raise _translate(exc) from None
            height = ledger_pb2.BlockchainInfo.FromString(raw).height
            checkpoint.checkpoint_block(height - 1)
            log.info("ledger events from block %d on (first start)", height)
        return network.chaincode_events(self.config.chaincode, checkpoint=checkpoint)

    async def _stream(self, checkpoint: Checkpoint) -> AsyncIterator[LedgerEvent]:
        """One connection of the event stream; ends by raising when it breaks."""
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[tuple[ChaincodeEvent, list[LedgerEvent]] | BaseException] = \
            asyncio.Queue()
        stream = await asyncio.to_thread(self._open_stream, checkpoint)
        stop = threading.Event()

        def pump() -> None:
            try:
                for ev in stream:
                    if stop.is_set():
                        return
                    item = (ev, self.translate_event(ev))
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


def parse_outcomes(batch: Sequence[dict[str, Any]], report: dict[str, Any]
                   ) -> tuple[ReadingOutcome, ...]:
    """One outcome per batch item from SubmitReadings' report (matched by ``index``)."""
    by_index = {r.get("index"): r for r in report.get("results") or ()}
    outcomes = []
    for index, item in enumerate(batch):
        reading = item.get("reading") or {}
        meter_id, seq = str(reading.get("meterId", "")), int(reading.get("seq", 0))
        entry = by_index.get(index)
        if entry is None:
            raise LedgerUnavailable(f"the ledger's report has no result for item {index}")
        status = entry.get("status")
        if status not in ("accepted", "duplicate", "refused"):
            raise LedgerUnavailable(f"the ledger's report has status {status!r} at {index}")
        outcomes.append(ReadingOutcome(meter_id, seq, status, entry.get("code", "") or "",
                                       entry.get("reason", "") if status == "refused" else ""))
    return tuple(outcomes)


def _code_name(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    return code.name if code is not None else "UNKNOWN"


def _translate(exc: GatewayError) -> Exception:
    """The ledger seam's error for one of the client's."""
    status = exc.chaincode_status
    first = str(exc).splitlines()[0]
    if status is not None and 400 <= status < 500:
        detail = next((d.message for d in exc.details if str(status) in d.message), first)
        return BatchRefused(detail, f"chaincode-{status}")
    if exc.access_denied:
        # The peers refuse the bridge's identity (revoked, expired, wrong MSP). No batch
        # can pass until an operator fixes it, but the readings are not at fault: they
        # stay queued (the sender backs off; a redial reloads the credentials).
        log.error("the ledger refuses the bridge's identity: %s", exc)
        return LedgerUnavailable(f"identity refused: {first}")
    # Unavailable, deadline, a chaincode 5xx, or an unexpected gRPC code: the outcome is
    # not known to be final, so the sender retries with backoff rather than drop readings.
    return LedgerUnavailable(first)
