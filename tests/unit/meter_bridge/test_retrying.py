"""Backoff and polling on tenacity: the pauses the sender, relays and event stream take."""

from __future__ import annotations

import asyncio

import pytest

from gridledger.meter_bridge.retrying import Backoff, poll

pytestmark = pytest.mark.anyio


def test_backoff_doubles_up_to_its_maximum_and_starts_over_after_a_success() -> None:
    backoff = Backoff(2.0, 10.0)
    assert backoff.delay == 0
    assert [backoff.failed() for _ in range(5)] == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.delay == 10.0 and backoff.failures == 5
    backoff.reset()
    assert backoff.delay == 0 and backoff.failed() == 2.0


def test_backoff_starting_above_its_maximum_waits_the_maximum() -> None:
    assert Backoff(60.0, 30.0).failed() == 30.0


def test_jitter_waits_half_to_all_of_the_delay() -> None:
    backoff = Backoff(4.0, 100.0, jitter=True)
    for _ in range(5):
        pause = backoff.failed()
        assert backoff.delay / 2 <= pause <= backoff.delay


async def test_poll_returns_the_first_answer() -> None:
    answers = iter([None, None, "raised"])

    async def probe() -> str | None:
        return next(answers)

    assert await poll(probe, timeout=5, interval=0.01) == "raised"


async def test_poll_gives_up_at_the_deadline_and_never_waits_longer() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def probe() -> None:
        calls.append(loop.time() - start)

    assert await poll(probe, timeout=0.25, interval=0.1) is None
    took = loop.time() - start
    assert 0.25 <= took < 0.4
    # The first probe after one interval; the last at the deadline, not past it.
    assert calls[0] >= 0.1 and len(calls) == 3
    assert await poll(probe, timeout=0, interval=0.1) is None and len(calls) == 3


async def test_poll_lets_a_probes_error_through() -> None:
    async def probe() -> None:
        raise RuntimeError("the device is gone")

    with pytest.raises(RuntimeError, match="gone"):
        await poll(probe, timeout=1, interval=0.01)
