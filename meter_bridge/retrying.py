"""How the bridge waits before trying again, on ``tenacity``: backoff and polling.

- :class:`Backoff`: the pause after consecutive failures - ``initial``, twice that, four
  times, ... up to ``maximum`` (tenacity's ``wait_exponential``), optionally with jitter
  (50-100 % of it). The sender, the relay workers and the ledger event stream use it:
  loops that keep running while they wait, or start over when something succeeds, which
  a tenacity ``Retrying`` around a single call does not model.
- :func:`poll`: ask again every so often until there is an answer or the time is up
  (tenacity's ``AsyncRetrying``); the wait never outlasts the deadline.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    wait_exponential,
    wait_none,
)
from tenacity.wait import wait_base

T = TypeVar("T")


class _Jitter(wait_base):
    """50-100 % of another wait: spreads retries out, never waits longer than it says."""

    def __init__(self, wait: wait_base) -> None:
        self.wait = wait

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.wait(retry_state) * random.uniform(0.5, 1.0)


class Backoff:
    """Exponential backoff over a run of failures; :meth:`reset` after a success.

    ``jitter``: many bridges coming back after the same outage should not retry in step.
    """

    def __init__(self, initial: float, maximum: float, *, jitter: bool = False) -> None:
        self._nominal = wait_exponential(multiplier=initial, max=maximum)
        self._wait: wait_base = _Jitter(self._nominal) if jitter else self._nominal
        self.failures = 0

    def _state(self) -> RetryCallState:
        # tenacity's waits read the attempt number from a call state; the failures so far
        # are that number here (the first failure waits ``initial``).
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = self.failures
        return state

    @property
    def delay(self) -> float:
        """The pause (without jitter) the current run of failures calls for; 0 after a success."""
        return self._nominal(self._state()) if self.failures else 0.0

    def failed(self) -> float:
        """Count one more failure; return the seconds to wait before the next attempt."""
        self.failures += 1
        return self._wait(self._state())

    def reset(self) -> None:
        """The last attempt succeeded: the next failure waits ``initial`` again."""
        self.failures = 0


async def poll(probe: Callable[[], Awaitable[T | None]], *, timeout: float,
               interval: float) -> T | None:
    """Await ``probe`` every ``interval`` seconds until it returns something other than None
    (returned), or ``timeout`` seconds have passed (None).

    The first probe comes after one interval, the last pause is cut short at the deadline,
    so ``poll`` returns within ``timeout`` plus one probe. An exception from ``probe`` ends
    the wait and propagates: a probe answers None while waiting longer can still help.
    """
    if timeout <= 0:
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    async def after_a_pause() -> T | None:
        await asyncio.sleep(max(0.0, min(interval, deadline - loop.time())))
        return await probe()

    retrying = AsyncRetrying(
        stop=lambda _: loop.time() >= deadline,
        wait=wait_none(),           # the pause is part of each attempt: see above
        retry=retry_if_result(lambda answer: answer is None),
        retry_error_callback=lambda _: None,    # out of time: no answer, not an error
    )
    return await retrying(after_a_pause)
