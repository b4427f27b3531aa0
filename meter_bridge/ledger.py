"""The seam between the meter bridge and the ledger: what the bridge needs, nothing more.

The bridge depends only on the :class:`ReadingLedger` protocol below; the Fabric-backed
implementation (our Gateway client, SubmitReadings on the metering chaincode, chaincode
event listener) is :mod:`.fabric_ledger`. Unit tests use an in-memory fake.

Contract for implementers:

- ``submit_readings(batch)`` takes the chaincode's batch items exactly
  (``[{"reading": {...}, "signature": "..."}, ...]``, 1 to 1000, in order), submits one
  transaction and waits for its commit status. It returns :class:`SubmitResult`:

  * committed and valid -> ``committed=True`` and one :class:`ReadingOutcome` per item,
    in the batch's order (the chaincode's ``results``);
  * endorsed but invalidated at commit (e.g. MVCC_READ_CONFLICT) -> ``committed=False``
    with ``validation_code``; the bridge resends later (replays are no-ops).

  It raises :class:`LedgerUnavailable` when the outcome is unknown or the network cannot
  be reached (the bridge retries with backoff), and :class:`BatchRefused` when the batch as
  a whole is refused for a reason that resending cannot fix (e.g. access denied, malformed
  batch): the bridge then marks every reading of the batch refused.
- ``events()`` yields :class:`LedgerEvent` hints for supply control (the chaincode's
  exhausted/lowBalance signals in ``ReadingsProcessed``, and ``restored`` from a Wattcoin
  top-up or transfer). It runs until cancelled and should resume after reconnecting.
- ``supply_status(meter_ids)`` answers, from the ledger's *state* on the bridge's own
  organisation's peer, whether each meter's supply should be on and power saving on
  (:class:`SupplyState`). The relay controller acts on that answer only: an event is a
  hint, never an order, because any member's transaction may carry any event (one that
  writes only the Regulator's own collection needs only the Regulator's peer), and an
  event names no meter a customer's own transaction would reveal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

# The seam's errors belong to the bridge's one tree; they are named here too because
# implementers and callers of the seam raise and catch them.
from .errors import BatchRefused, LedgerError, LedgerUnavailable

__all__ = ["BatchRefused", "EventKind", "LedgerError", "LedgerEvent", "LedgerUnavailable",
           "ReadingLedger", "ReadingOutcome", "Status", "SubmitResult", "SupplyState"]

Status = Literal["accepted", "duplicate", "refused"]
EventKind = Literal["exhausted", "restored", "low_balance"]


@dataclasses.dataclass(frozen=True)
class ReadingOutcome:
    """The chaincode's verdict on one reading of a batch.

    ``code`` (for refusals) is the chaincode's: invalid, unknown-meter, meter-suspended,
    replay, skip, bad-signature, future, out-of-order, register-backwards, no-tariff.
    """

    meter_id: str
    seq: int
    status: Status
    code: str = ""
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class LedgerEvent:
    """A hint that supply may have to change: the relay controller asks the ledger's state
    (:meth:`ReadingLedger.supply_status`) before it switches anything.

    - ``exhausted``: a batch ran a prepaid balance out (``meter_ids``: the batch's meters
      of that account, when this bridge sent the batch; empty otherwise);
    - ``restored``: a top-up or transfer restored some supply (names no meter);
    - ``low_balance``: a batch took a balance below its owner's threshold.
    """

    kind: EventKind
    meter_ids: tuple[str, ...]
    customer_id: str = ""
    policy: str = ""
    txid: str = ""
    detail: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SubmitResult:
    """What became of one submitted batch."""

    txid: str
    committed: bool
    outcomes: tuple[ReadingOutcome, ...] = ()
    validation_code: str = ""            # Fabric's code when committed is False
    events: tuple[LedgerEvent, ...] = ()  # supply events this transaction raised


@dataclasses.dataclass(frozen=True)
class SupplyState:
    """What the ledger's state says of one meter's supply (``wattcoin:SupplyStatus``).

    ``known``: the peer holds the meter's private record (else nothing is decided);
    ``supply``: the relay should be closed (false while the account paying for the meter's
    customer is exhausted); ``power_saving``: the owner's power-saving policy applies (its
    balance is below its threshold).
    """

    meter_id: str
    known: bool
    supply: bool = True
    power_saving: bool = False


@runtime_checkable
class ReadingLedger(Protocol):
    """What the bridge needs from the ledger."""

    async def submit_readings(self, batch: list[dict[str, Any]]) -> SubmitResult:
        """Submit one batch of signed readings; wait for its commit status."""
        ...

    def events(self) -> AsyncIterator[LedgerEvent]:
        """Supply-control hints, until cancelled."""
        ...

    async def supply_status(self, meter_ids: Sequence[str]) -> Mapping[str, SupplyState]:
        """The ledger's state of each meter's supply, from the bridge's own peer."""
        ...
