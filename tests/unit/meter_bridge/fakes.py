"""In-memory stand-ins for the sender/poller/relay unit tests (never used elsewhere).

``FakeLedger`` follows the metering chaincode's rules that matter to the bridge: per meter,
seq n+1 after n; a replay of recorded bytes is a duplicate no-op; a different replay, a
skip, a bad signature or a backwards register is refused. It also checks the bridge's
promise of one batch in flight per meter, in order, and answers ``supply_status`` from
its own state (``cut``, ``saving``): what the relay controller acts on, whatever events
say (``emit`` delivers any event, as a forger's transaction would).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any

from gridledger.formats import reading as encoding
from gridledger.meter_bridge.ledger import (
    LedgerEvent,
    LedgerUnavailable,
    ReadingOutcome,
    SubmitResult,
    SupplyState,
)
from gridledger.meter_bridge.reading import MeterSample


class FakeLedger:
    """A ReadingLedger in memory."""

    def __init__(self, keys: dict[str, str] | None = None, *, delay: float = 0.0) -> None:
        self.keys = keys or {}                       # meterId -> public key PEM
        self.delay = delay
        self.heads: dict[str, dict[str, Any]] = {}
        self.recorded: dict[tuple[str, int], bytes] = {}
        # Next submissions: raise, or "invalid" (ENDORSEMENT_POLICY_FAILURE at commit), or
        # "mvcc" (MVCC_READ_CONFLICT), or a set of meter ids: MVCC_READ_CONFLICT when the
        # batch holds any of them (a customer rewriting its account every block).
        self.failures: list[BaseException | str] = []
        self.conflicting: set[str] = set()
        self.batches: list[list[dict[str, Any]]] = []
        self.exhaust: set[str] = set()               # meters whose next reading exhausts
        self.cut: set[str] = set()                   # state: supply off (account exhausted)
        self.saving: set[str] = set()                # state: power-saving policy applies
        self.unknown: set[str] = set()               # meters this peer has no record of
        self.status_calls: list[list[str]] = []
        self.status_failures: list[BaseException] = []
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []
        self._events: asyncio.Queue[LedgerEvent] = asyncio.Queue()
        self._tx = itertools.count(1)

    async def submit_readings(self, batch: list[dict[str, Any]]) -> SubmitResult:
        meters = {item["reading"]["meterId"] for item in batch}
        self.overlaps += sorted(meters & self.in_flight)
        self.in_flight |= meters
        try:
            await asyncio.sleep(self.delay)
            txid = f"tx{next(self._tx)}"
            if meters & self.conflicting:
                return SubmitResult(txid, False, validation_code="MVCC_READ_CONFLICT")
            if self.failures:
                failure = self.failures.pop(0)
                if failure == "invalid":
                    return SubmitResult(txid, False,
                                        validation_code="ENDORSEMENT_POLICY_FAILURE")
                if failure == "mvcc":
                    return SubmitResult(txid, False, validation_code="MVCC_READ_CONFLICT")
                assert isinstance(failure, BaseException)
                raise failure
            self.batches.append(batch)
            outcomes = tuple(self._one(item) for item in batch)
            events = tuple(
                LedgerEvent("exhausted", (o.meter_id,), txid=txid) for o in outcomes
                if o.status == "accepted" and o.meter_id in self.exhaust
            )
            for event in events:
                self.exhaust.discard(event.meter_ids[0])
                self.cut.add(event.meter_ids[0])
                self._events.put_nowait(event)
            return SubmitResult(txid, True, outcomes, events=events)
        finally:
            self.in_flight -= meters

    def _one(self, item: dict[str, Any]) -> ReadingOutcome:
        reading = item["reading"]
        meter, seq = reading["meterId"], reading["seq"]
        canonical = encoding.encode_reading(reading)
        head = self.heads.get(meter, {"seq": 0})

        def refuse(code: str, reason: str) -> ReadingOutcome:
            return ReadingOutcome(meter, seq, "refused", code, reason)

        if seq <= head["seq"]:
            if self.recorded.get((meter, seq)) == canonical:
                return ReadingOutcome(meter, seq, "duplicate")
            return refuse("replay", f"sequence {seq} already recorded")
        if seq != head["seq"] + 1:
            return refuse("skip", f"sequence {seq} skips ahead: expected {head['seq'] + 1}")
        if meter in self.keys and not encoding.verify_signature(
                self.keys[meter], "P-256", canonical,
                encoding.decode_signature(item["signature"])):
            return refuse("bad-signature", "signature does not verify")
        if "importWh" in head and reading["importWh"] < head["importWh"]:
            return refuse("register-backwards", "importWh below the previous reading's")
        self.heads[meter] = reading
        self.recorded[(meter, seq)] = canonical
        return ReadingOutcome(meter, seq, "accepted")

    def emit(self, event: LedgerEvent) -> None:
        self._events.put_nowait(event)

    async def supply_status(self, meter_ids: Sequence[str]) -> dict[str, SupplyState]:
        self.status_calls.append(list(meter_ids))
        if self.status_failures:
            raise self.status_failures.pop(0)
        return {m: SupplyState(m, m not in self.unknown, m not in self.cut, m in self.saving)
                for m in meter_ids}

    def unavailable(self, times: int = 1) -> None:
        """The next ``times`` supply checks fail as an unreachable peer would."""
        self.status_failures += [LedgerUnavailable("peer away")] * times

    async def events(self) -> AsyncIterator[LedgerEvent]:
        while True:
            yield await self._events.get()


class FakeMeter:
    """A scripted meter: returns samples in turn, raises listed errors, obeys switches."""

    def __init__(self, meter_id: str, samples: list[MeterSample | BaseException] | None = None,
                 *, switches: tuple[str, ...] = ("relay",)) -> None:
        self.meter_id = meter_id
        self.samples = list(samples or [])
        self.reads = 0
        self.switches = switches
        self.state = {"relay": True, "power_saving": False}
        self.switch_failures: list[BaseException] = []
        self.switch_calls: list[tuple[str, bool]] = []
        self.alarm = asyncio.Event()
        self.alarms: frozenset[str] = frozenset()

    async def read(self) -> MeterSample:
        self.reads += 1
        item = self.samples.pop(0) if len(self.samples) > 1 else self.samples[0]
        if isinstance(item, BaseException):
            raise item
        return item

    async def wait_alarm(self, timeout: float) -> frozenset[str] | None:
        try:
            await asyncio.wait_for(self.alarm.wait(), timeout)
        except TimeoutError:
            return None
        self.alarm.clear()
        return self.alarms

    def supports(self, switch: str) -> bool:
        return switch in self.switches

    async def switch(self, switch: str, on: bool) -> bool:
        self.switch_calls.append((switch, on))
        if self.switch_failures:
            raise self.switch_failures.pop(0)
        self.state[switch] = on
        return on


def sample(import_wh: int, export_wh: int = 0, *, power_w: int = 500,
           alarms: frozenset[str] = frozenset()) -> MeterSample:
    return MeterSample(import_wh, export_wh, 2300, 2170, power_w, alarms)
