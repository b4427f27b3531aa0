"""The bridge's :class:`~.ledger.ReadingLedger` on the real network, over our Gateway client.

``submit_readings`` is one ``metering:SubmitReadings`` transaction: endorse, order, wait
for the commit status (the Gateway client is synchronous, so each call runs in a worker
thread). The client's errors are translated here, so the sender only ever sees the
ledger seam's::

    gRPC UNAVAILABLE / DEADLINE_EXCEEDED,      -> LedgerUnavailable  (outcome unknown:
    any GatewayError.retryable, chaincode 5xx                          resend later)
    chaincode 4xx for the whole batch          -> BatchRefused       (resending cannot help)
    transaction invalid at commit              -> SubmitResult(committed=False, code)

Supply hints of a batch this ledger submitted are returned in its ``SubmitResult`` (the
relay controller checks at once, the moment the batch commits). ``events`` - the
chaincode's event stream, resumed from a checkpoint - lives in :mod:`.ledger_events`; it
skips the events already returned here. ``supply_status`` is what the relay controller
acts on: ``wattcoin:SupplyStatus`` evaluated on the bridge's own peer (the Gateway
evaluates on its own organisation's peer), in pages of 1000 meters. The channel's height
is a method of :class:`FabricLedger` too, with the same translation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from fabric_protos.common import ledger_pb2

from gridledger.clients.errors import CommitError, GatewayError
from gridledger.clients.gateway import Deadlines, Gateway, Network
from gridledger.clients.metering import CHAINCODE, Metering, Wattcoin
from gridledger.errors import GridLedgerError
from gridledger.formats.events import READINGS_PROCESSED
from gridledger.network.topology import default_topology

from .errors import BatchRefused, LedgerUnavailable
from .ledger import LedgerEvent, ReadingOutcome, SubmitResult, SupplyState
from .ledger_events import LedgerEventStream, reading_events

log = logging.getLogger(__name__)

# Meters per SupplyStatus evaluate (the chaincode's limit).
SUPPLY_PAGE = 1000
# Deadlines for a bridge: fail fast while the network is away; the sender retries.
BRIDGE_DEADLINES = Deadlines(evaluate=5.0, endorse=15.0, submit=10.0, commit_status=30.0)


def _shipped_channel() -> str:
    # The one place the channel is named is the topology; a network made from another
    # topology file names its channel in the bridge's configuration.
    return default_topology().channel


@dataclasses.dataclass(frozen=True)
class LedgerConfig:
    """Where and as whom the bridge submits, and how it follows the ledger's events."""

    channel: str = dataclasses.field(default_factory=_shipped_channel)
    chaincode: str = CHAINCODE
    checkpoint: Path | None = None          # events checkpoint file (None: in memory)
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
        """The fields as a JSON-ready dict."""
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

    def redial_if_stale(self, since: float | None = None) -> None:
        """After ``redial_after`` seconds of unavailability (since ``since``, default the
        current outage's start), start a fresh channel for the next call."""
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

    def network(self) -> Network:
        """The configured channel on the current Gateway."""
        return self.gateway().network(self.config.channel)

    def close(self) -> None:
        """Close the Gateway connection (the next call dials again)."""
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
            self.redial_if_stale()
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
            raise translate_error(exc) from None
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
        if event is not None and event.event_name == READINGS_PROCESSED:
            with contextlib.suppress(ValueError):
                payload = json.loads(event.payload) or {}
        events = tuple(reading_events(payload, txid, batch))
        if events:
            self._remember(txid)
        return SubmitResult(txid, True, outcomes, events=events)

    def _remember(self, txid: str) -> None:
        with self._lock:
            self._delivered[txid] = None
            while len(self._delivered) > 10_000:
                self._delivered.popitem(last=False)

    def delivered(self, txid: str) -> bool:
        """True when transaction ``txid``'s supply events came back in a SubmitResult."""
        with self._lock:
            return txid in self._delivered

    # -- queries (blocking; the event stream calls them from its thread) ---------------

    async def supply_status(self, meter_ids: Sequence[str]) -> dict[str, SupplyState]:
        """What the ledger's state says of each meter's supply, from the bridge's own peer
        (``wattcoin:SupplyStatus``); LedgerUnavailable when it cannot be asked."""
        return await asyncio.to_thread(self._supply_status, list(meter_ids))

    def _supply_status(self, meter_ids: list[str]) -> dict[str, SupplyState]:
        out: dict[str, SupplyState] = {}
        for first in range(0, len(meter_ids), SUPPLY_PAGE):
            page = meter_ids[first:first + SUPPLY_PAGE]
            try:
                answer = Wattcoin(self.network(), self.config.chaincode).supply_status(page)
            except GatewayError as exc:
                error = translate_error(exc)
                # Whatever the chaincode said, the relays cannot be decided now: ask again.
                raise LedgerUnavailable(str(error)) from None
            except GridLedgerError as exc:
                raise LedgerUnavailable(f"{type(exc).__name__}: {exc}") from None
            for meter_id, state in (answer.get("meters") or {}).items():
                out[meter_id] = SupplyState(meter_id, bool(state.get("known")),
                                            bool(state.get("supply", True)),
                                            bool(state.get("powerSaving", False)))
        return out

    def channel_height(self) -> int:
        """The number of blocks on the channel (``qscc GetChainInfo``)."""
        network = self.network()
        try:
            raw = network.contract("qscc").evaluate("GetChainInfo", network.name)
        except GatewayError as exc:
            raise translate_error(exc) from None
        return ledger_pb2.BlockchainInfo.FromString(raw).height

    # -- events -------------------------------------------------------------------------

    def events(self) -> AsyncIterator[LedgerEvent]:
        """Supply events, resumed from the checkpoint, reconnecting until cancelled."""
        return LedgerEventStream(self).events()


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


def translate_error(exc: GatewayError) -> Exception:
    """The ledger seam's error for one of the Gateway client's."""
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
