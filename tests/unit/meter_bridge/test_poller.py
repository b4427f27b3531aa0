"""The poller: seq continues across restarts, suspect readings are queued, alarms read now."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.formats import reading as encoding
from gridledger.meter_bridge.errors import DecodeError, MeterNotAnswering
from gridledger.meter_bridge.keys import KeyStore
from gridledger.meter_bridge.plausibility import Limits
from gridledger.meter_bridge.poller import PollConfig, Poller
from gridledger.meter_bridge.queue import ReadingQueue

from .fakes import FakeMeter, sample

pytestmark = pytest.mark.anyio


class Clock:
    """A settable UTC clock."""

    def __init__(self, start: str = "2025-03-01T10:00:00") -> None:
        self.now = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def queue_path(tmp_path: Path) -> Path:
    return tmp_path / "queue.sqlite"


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


def verify(keys: KeyStore, row: Any) -> bool:
    return encoding.verify_signature(keys.public_key_pem(row.meter_id), "P-256",
                                     encoding.encode_reading(row.reading),
                                     encoding.decode_signature(row.signature))


async def test_readings_are_signed_and_seq_survives_restart(queue_path: Path,
                                                            keys: KeyStore) -> None:
    clock = Clock()
    meter = FakeMeter("m-1", [sample(1000), sample(1100), sample(1200)])
    poller = Poller(meter, ReadingQueue(queue_path), keys, clock=clock)
    first = await poller.poll_once()
    assert first == {"meterId": "m-1", "seq": 1, "intervalEnd": "2025-03-01T10:00:00Z",
                     "importWh": 1000, "exportWh": 0, "voltageDv": 2300, "currentMa": 2170,
                     "powerW": 500}
    clock.advance(900)
    assert (await poller.poll_once())["seq"] == 2
    # The bridge restarts: a new queue connection, a new poller.
    clock.advance(900)
    restarted = Poller(meter, ReadingQueue(queue_path), keys, clock=clock)
    assert (await restarted.poll_once())["seq"] == 3
    rows = ReadingQueue(queue_path).next_batch("m-1", 10)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert all(verify(keys, r) for r in rows)


async def test_implausible_reading_is_suspect_and_still_queued(queue_path: Path,
                                                               keys: KeyStore) -> None:
    clock = Clock()
    meter = FakeMeter("m-1", [sample(50_000), sample(40_000), sample(10_000_000)])
    queue = ReadingQueue(queue_path)
    poller = Poller(meter, queue, keys, PollConfig(limits=Limits(max_power_w=20_000)),
                    clock=clock)
    for _ in range(3):
        await poller.poll_once()
        clock.advance(900)
    rows = queue.next_batch("m-1", 10)
    assert [r.reading.get("quality") for r in rows] == [None, "suspect", "suspect"]
    assert all(verify(keys, r) for r in rows)      # the signature covers the quality


async def test_read_errors_retry_then_give_up_without_a_reading(queue_path: Path,
                                                                keys: KeyStore) -> None:
    queue = ReadingQueue(queue_path)
    flaky = FakeMeter("m-1", [MeterNotAnswering("no reply"), sample(1000)])
    cfg = PollConfig(retries=2, retry_delay=0)
    assert (await Poller(flaky, queue, keys, cfg, clock=Clock()).poll_once())["seq"] == 1
    assert flaky.reads == 2
    dead = FakeMeter("m-2", [MeterNotAnswering("no reply")])
    assert await Poller(dead, queue, keys, cfg, clock=Clock()).poll_once() is None
    assert dead.reads == 3
    wrong_profile = FakeMeter("m-3", [DecodeError("nan")])
    assert await Poller(wrong_profile, queue, keys, cfg, clock=Clock()).poll_once() is None
    assert wrong_profile.reads == 1                # not transient: no retry
    assert queue.last("m-2") == (0, None)


async def test_same_second_waits_for_the_next(queue_path: Path, keys: KeyStore,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    queue = ReadingQueue(queue_path)
    poller = Poller(FakeMeter("m-1", [sample(1000)]), queue, keys, clock=clock)
    await poller.poll_once()
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    second = await poller.poll_once("alarm")      # same second as the first
    assert slept == [1.0]
    assert second is not None and second["intervalEnd"] == "2025-03-01T10:00:01Z"


async def test_alarm_triggers_an_immediate_reading(queue_path: Path, keys: KeyStore) -> None:
    queue = ReadingQueue(queue_path)
    meter = FakeMeter("m-1", [sample(1000, alarms=frozenset({"gas"}))])
    poller = Poller(meter, queue, keys, PollConfig(interval=3600))
    task = asyncio.ensure_future(poller.run())
    await asyncio.sleep(0.05)
    assert queue.last("m-1")[0] == 0              # an hour to the next boundary
    meter.alarms = frozenset({"gas"})
    meter.alarm.set()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if queue.last("m-1")[0]:
            break
    task.cancel()
    seq, last = queue.last("m-1")
    assert seq == 1 and last is not None and last["alarms"] == ["gas"]


async def test_interval_boundaries(queue_path: Path, keys: KeyStore) -> None:
    clock = Clock("2025-03-01T10:07:30")
    poller = Poller(FakeMeter("m-1", [sample(1)]), ReadingQueue(queue_path), keys,
                    PollConfig(interval=900), clock=clock)
    assert poller._next_tick() == 450.0           # 10:15:00


class SigningMeter(FakeMeter):
    """A meter with its own key and counter: the bridge must not touch its readings."""

    def __init__(self) -> None:
        super().__init__("self-1", [sample(1)])
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.seq = 0

    async def read_signed(self) -> tuple[dict[str, Any], str]:
        self.seq += 1
        reading = {"meterId": "self-1", "seq": self.seq,
                   "intervalEnd": f"2025-03-01T10:0{self.seq}:00Z",
                   "importWh": 10 if self.seq == 2 else 100 * self.seq, "exportWh": 0,
                   "voltageDv": 2300, "currentMa": 1, "powerW": 1}
        return reading, encoding.sign(self.key, encoding.encode_reading(reading))


async def test_self_signing_meter_passes_through(queue_path: Path, keys: KeyStore) -> None:
    queue = ReadingQueue(queue_path)
    meter = SigningMeter()
    poller = Poller(meter, queue, keys)
    await poller.poll_once()
    await poller.poll_once()                      # implausible, but signed by the meter
    rows = queue.next_batch("self-1", 5)
    assert [r.reading.get("quality") for r in rows] == [None, None]
    pem = meter.key.public_key().public_bytes(
        encoding.serialization.Encoding.PEM,
        encoding.serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert all(encoding.verify_signature(pem, "P-256", encoding.encode_reading(r.reading),
                                         encoding.decode_signature(r.signature)) for r in rows)
    assert not (keys.directory / "self-1.pem").exists()   # the bridge holds no key for it
