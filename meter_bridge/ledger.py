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
- ``events()`` yields :class:`LedgerEvent` for supply control, with meter ids already
  resolved (the chaincode's Exhausted/LowBalance signals in ``ReadingsProcessed``, and
  ``restored`` from a Wattcoin top-up or transfer). It runs until cancelled and should
  resume after reconnecting (a relay command repeated is harmless).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

# The seam's errors belong to the bridge's one tree; they are named here too because
# implementers and callers of the seam raise and catch them.
from .errors import BatchRefused, LedgerError, LedgerUnavailable

__all__ = ["BatchRefused", "EventKind", "LedgerError", "LedgerEvent", "LedgerUnavailable",
           "ReadingLedger", "ReadingOutcome", "Status", "SubmitResult"]

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
    """Something the ledger decided that the field must act on.

    - ``exhausted``: the prepaid balance ran out -> open the relays of ``meter_ids``;
    - ``restored``: a top-up/transfer restored supply -> close them;
    - ``low_balance``: below the owner's threshold; ``policy`` is the owner's choice
      ("notify" or "power-saving").
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


@runtime_checkable
class ReadingLedger(Protocol):
    """What the bridge needs from the ledger."""

    async def submit_readings(self, batch: list[dict[str, Any]]) -> SubmitResult:
        """Submit one batch of signed readings; wait for its commit status."""
        ...

    def events(self) -> AsyncIterator[LedgerEvent]:
        """Supply-control events, with meter ids resolved, until cancelled."""
        ...
