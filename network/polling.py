"""Waiting until something is so, or a timeout passes: one helper on ``tenacity``.

Bring-up and publishing wait for other processes (a node's health endpoint, Raft, a
committed definition, a config block on every peer).  Each waits the same way: ask,
and if the answer is not yet the one wanted, ask again after a pause until the time is
up.  The caller gets the last answer either way, so its error can say what it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")


@dataclass(frozen=True)
class Polled(Generic[T]):
    """The outcome of :func:`poll`: whether ``until`` held, and the last answer."""

    done: bool
    last: T


def poll(
    probe: Callable[[], T],
    until: Callable[[T], bool],
    *,
    timeout: float,
    interval: float,
) -> Polled[T]:
    """Call ``probe`` every ``interval`` seconds until ``until(answer)`` or ``timeout``.

    ``probe`` runs at least once.  An exception it raises ends the wait at once and
    propagates unchanged: a probe raises when waiting longer cannot help (the process
    died), and answers otherwise.
    """

    def attempt() -> Polled[T]:
        answer = probe()
        return Polled(until(answer), answer)

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda polled: not polled.done),
        # Out of time: hand back the last answer rather than tenacity's RetryError.
        retry_error_callback=lambda state: state.outcome.result(),
        reraise=True,
    )
    return retrying(attempt)
