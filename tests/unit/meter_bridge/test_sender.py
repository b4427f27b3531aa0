"""The sender: batches, one batch in flight per meter in order, retries, refusals kept."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gridledger.meter_bridge.keys import KeyStore
from gridledger.meter_bridge.ledger import (
    BatchRefused,
    LedgerEvent,
    LedgerUnavailable,
    ReadingLedger,
)
from gridledger.meter_bridge.queue import ReadingQueue
from gridledger.meter_bridge.sender import SendConfig, Sender

from .fakes import FakeLedger

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def reading(meter: str, seq: int, imp: int | None = None) -> dict[str, Any]:
    return {"meterId": meter, "seq": seq, "intervalEnd": f"2025-03-01T10:{seq % 60:02d}:00Z",
            "importWh": 1000 + seq if imp is None else imp, "exportWh": 0, "voltageDv": 2300,
            "currentMa": 100, "powerW": 23}


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


@pytest.fixture
def queue(tmp_path: Path) -> ReadingQueue:
    return ReadingQueue(tmp_path / "q.sqlite", clock=CLOCK)


CLOCK = Clock()


def enqueue(queue: ReadingQueue, keys: KeyStore, meter: str, seqs: range,
            **overrides: Any) -> None:
    for seq in seqs:
        signed = keys.sign({**reading(meter, seq), **overrides})
        queue.put(signed.reading, signed.signature)


def ledger_for(keys: KeyStore, *meters: str, delay: float = 0.0) -> FakeLedger:
    return FakeLedger({m: keys.public_key_pem(m) for m in meters}, delay=delay)


def test_fake_ledger_is_a_reading_ledger() -> None:
    assert isinstance(FakeLedger(), ReadingLedger)


async def test_batches_by_count_and_age(queue: ReadingQueue, keys: KeyStore) -> None:
    ledger = ledger_for(keys, "m-1")
    sender = Sender(queue, ledger, SendConfig(max_batch=3, max_age=60), clock=CLOCK)
    enqueue(queue, keys, "m-1", range(1, 3))
    await sender.drain(force=False)
    assert ledger.batches == []                  # 2 waiting, young: not yet
    enqueue(queue, keys, "m-1", range(3, 5))
    await sender.drain(force=False)
    assert [len(b) for b in ledger.batches] == [3]   # full batch goes at once
    CLOCK.t += 61
    await sender.drain(force=False)
    assert [len(b) for b in ledger.batches] == [3, 1]   # the rest once old enough
    assert queue.depth() == 0


async def test_order_and_one_batch_in_flight_per_meter(queue: ReadingQueue,
                                                       keys: KeyStore) -> None:
    ledger = ledger_for(keys, "m-1", "m-2", delay=0.01)
    enqueue(queue, keys, "m-1", range(1, 26))
    enqueue(queue, keys, "m-2", range(1, 11))
    sender = Sender(queue, ledger, SendConfig(max_batch=4, max_in_flight=8), clock=CLOCK)
    await sender.drain()
    assert ledger.overlaps == []
    sent = [(i["reading"]["meterId"], i["reading"]["seq"]) for b in ledger.batches for i in b]
    for meter, count in (("m-1", 25), ("m-2", 10)):
        assert [s for m, s in sent if m == meter] == list(range(1, count + 1))
    assert all(len({i["reading"]["meterId"] for i in b}) == 1 for b in ledger.batches)
    assert queue.depth() == 0 and queue.refused() == []


async def test_several_meters_per_batch(queue: ReadingQueue, keys: KeyStore) -> None:
    ledger = ledger_for(keys, "a", "b", "c")
    for meter in ("a", "b", "c"):
        enqueue(queue, keys, meter, range(1, 3))
    sender = Sender(queue, ledger, SendConfig(max_batch=100, meters_per_batch=10), clock=CLOCK)
    await sender.drain()
    assert len(ledger.batches) == 1 and len(ledger.batches[0]) == 6


async def test_refused_readings_are_kept_and_never_resent(queue: ReadingQueue,
                                                          keys: KeyStore) -> None:
    ledger = ledger_for(keys, "m-1")
    enqueue(queue, keys, "m-1", range(1, 3))
    signed = keys.sign(reading("m-1", 3, imp=5))            # register went backwards
    queue.put(signed.reading, signed.signature)
    await Sender(queue, ledger, clock=CLOCK).drain()
    [refused] = queue.refused()
    assert (refused.seq, refused.code) == (3, "register-backwards")
    assert queue.depth() == 0
    await Sender(queue, ledger, clock=CLOCK).drain()
    assert len(ledger.batches) == 1                          # not sent again


async def test_bad_signature_is_refused(queue: ReadingQueue, keys: KeyStore,
                                        tmp_path: Path) -> None:
    other = KeyStore(tmp_path / "other")
    ledger = FakeLedger({"m-1": other.public_key_pem("m-1")})
    enqueue(queue, keys, "m-1", range(1, 2))
    await Sender(queue, ledger, clock=CLOCK).drain()
    assert [(r.seq, r.code) for r in queue.refused()] == [(1, "bad-signature")]


async def test_transient_failures_back_off_then_succeed(queue: ReadingQueue,
                                                        keys: KeyStore) -> None:
    ledger = ledger_for(keys, "m-1")
    ledger.failures = [LedgerUnavailable("peer down"), "invalid", RuntimeError("bug")]
    enqueue(queue, keys, "m-1", range(1, 4))
    sender = Sender(queue, ledger, SendConfig(backoff_initial=5, backoff_max=20), clock=CLOCK)
    for expected_backoff in (5, 10, 20):
        await sender.drain()
        assert sender.backoff.delay == expected_backoff
        assert queue.in_flight() == [] and queue.depth() == 3     # back to queued
        await sender.drain()                                      # still backing off
        assert ledger.batches == []
        CLOCK.t += expected_backoff
    await sender.drain()
    assert len(ledger.batches) == 1 and queue.depth() == 0
    assert sender.backoff.delay == 0


async def test_a_replay_after_lost_outcome_is_a_duplicate(queue: ReadingQueue,
                                                          keys: KeyStore) -> None:
    ledger = ledger_for(keys, "m-1")
    enqueue(queue, keys, "m-1", range(1, 3))
    rows = queue.next_batch("m-1", 5)
    await ledger.submit_readings([r.item() for r in rows])    # committed, answer "lost"
    queue.mark_in_flight(rows, "b-lost")
    sender = Sender(queue, ledger, SendConfig(max_age=0, idle=0.01), clock=CLOCK)
    run = asyncio.ensure_future(sender.run())                 # a restart: recovers in-flight
    for _ in range(100):
        await asyncio.sleep(0.01)
        if queue.depth() == 0:
            break
    run.cancel()
    assert queue.depth() == 0 and queue.refused() == []
    assert [len(b) for b in ledger.batches] == [2, 2]          # the replay was a no-op


async def test_batch_refused_as_a_whole(queue: ReadingQueue, keys: KeyStore) -> None:
    ledger = ledger_for(keys, "m-1")
    ledger.failures = [BatchRefused("access denied: not a gateway identity", "forbidden")]
    enqueue(queue, keys, "m-1", range(1, 3))
    await Sender(queue, ledger, clock=CLOCK).drain()
    assert [(r.seq, r.code, r.reason) for r in queue.refused()] == [
        (1, "forbidden", "access denied: not a gateway identity"),
        (2, "forbidden", "access denied: not a gateway identity")]
    assert queue.in_flight() == []


async def test_events_reach_the_hook(queue: ReadingQueue, keys: KeyStore) -> None:
    ledger = ledger_for(keys, "m-1")
    ledger.exhaust.add("m-1")
    seen: list[LedgerEvent] = []
    enqueue(queue, keys, "m-1", range(1, 2))
    await Sender(queue, ledger, on_events=seen.extend, clock=CLOCK).drain()
    assert [(e.kind, e.meter_ids) for e in seen] == [("exhausted", ("m-1",))]


def test_config_limits() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        SendConfig(max_batch=1001)


async def test_a_conflicting_meter_is_isolated_and_holds_back_no_other(
        queue: ReadingQueue, keys: KeyStore) -> None:
    """Issue 17: a customer that rewrites its own account every block (one-token
    transfers, SetLowBalancePolicy) makes every batch holding its meters fail with
    MVCC_READ_CONFLICT. The batch is halved by meter until that meter is alone; it waits on
    its own, every other meter's readings commit at once."""
    meters = [f"m-{i}" for i in range(8)]
    ledger = ledger_for(keys, *meters)
    ledger.conflicting = {"m-5"}
    for meter in meters:
        enqueue(queue, keys, meter, range(1, 3))
    sender = Sender(queue, ledger, SendConfig(meters_per_batch=8, backoff_initial=5),
                    clock=CLOCK)
    await sender.drain()
    committed = {item["reading"]["meterId"] for batch in ledger.batches for item in batch}
    assert committed == set(meters) - {"m-5"}
    assert all(ledger.heads[m]["seq"] == 2 for m in committed)
    assert sender.backoff.delay == 0                     # the sender never waited
    assert [r.meter_id for r in queue.in_flight()] == []
    assert queue.depth() == 2                            # m-5's two readings, queued
    # m-5 waits on its own; when its account stops changing, it goes through.
    await sender.drain()
    assert "m-5" not in ledger.heads
    ledger.conflicting.clear()
    CLOCK.t += 5
    await sender.drain()
    assert ledger.heads["m-5"]["seq"] == 2 and queue.depth() == 0
