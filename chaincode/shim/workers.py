"""Worker threads for one stream's transactions, safe for chaincode-to-chaincode calls.

A stream runs each INIT/TRANSACTION on a worker thread, at most ``size`` at once. A
transaction that calls another chaincode (INVOKE_CHAINCODE) then waits until the peer has
run the called one, and the called one needs a worker too: on this very stream when one
package is defined on two channels (``health`` on ``energy`` and ``market``: the peer
keeps one stream per package id), or on another stream of this process. With a fixed
pool, ``size`` callers waiting at once would leave no worker for the called transactions
queued behind them, and all would wait until the peer's execute timeout.

So a worker waiting for a called chaincode does not count against ``size``
(:meth:`TxWorkers.waiting`, the "managed blocking" of Java's ForkJoinPool): another
thread takes the next transaction. At most ``size`` transactions run chaincode code at
once (a caller resuming may briefly make it one more each); the threads are those plus
the ones waiting for a call, and idle threads beyond that exit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

# Which TxWorkers (if any) the current thread belongs to.
_local = threading.local()


class TxWorkers:
    """A small thread pool with managed blocking; ``submit`` never blocks."""

    def __init__(self, size: int, name: str = "cc-tx") -> None:
        if size < 1:
            raise ValueError(f"a stream needs at least one transaction worker, got {size}")
        self._size = size
        self._name = name
        self._cond = threading.Condition()
        self._queue: deque[Callable[[], None]] = deque()
        self._threads = 0  # alive
        self._active = 0  # running a task and not waiting for a called chaincode
        self._blocked = 0  # running a task that waits for a called chaincode
        self._idle = 0  # waiting for a task
        self._waking = 0  # started or woken, not yet looking at the queue
        self._started = 0  # for thread names
        self._closed = False

    @property
    def size(self) -> int:
        """How many transactions may run at once (not counting those waiting on a call)."""
        return self._size

    def submit(self, task: Callable[[], None]) -> None:
        """Queue ``task``; a worker runs it as soon as fewer than ``size`` run."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the stream's transaction workers are shut down")
            self._queue.append(task)
            self._dispatch()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a wait for a called chaincode: this worker's slot goes to queued work.

        Outside a worker of this pool (a test calling in directly) it does nothing.
        """
        if getattr(_local, "workers", None) is not self:
            yield
            return
        with self._cond:
            self._active -= 1
            self._blocked += 1
            self._dispatch()
        try:
            yield
        finally:
            with self._cond:
                self._blocked -= 1
                self._active += 1

    def close(self) -> None:
        """Drop queued tasks and let idle threads exit; running tasks finish on their own."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._waking += self._idle
            self._idle = 0
            self._cond.notify_all()

    def counts(self) -> dict[str, int]:
        """Thread counts, for tests and logs."""
        with self._cond:
            return {"threads": self._threads, "active": self._active,
                    "blocked": self._blocked, "idle": self._idle, "queued": len(self._queue)}

    # -- internals (self._cond held) ---------------------------------------------------------

    def _dispatch(self) -> None:
        # Enough threads on their way for the queued tasks that may start now.
        wanted = min(len(self._queue), self._size - self._active) - self._waking
        for _ in range(max(wanted, 0)):
            if self._idle:
                self._idle -= 1
                self._waking += 1
                self._cond.notify()
            else:
                self._threads += 1
                self._waking += 1
                self._started += 1
                threading.Thread(
                    target=self._run, name=f"{self._name}-{self._started}", daemon=True
                ).start()

    def _run(self) -> None:
        _local.workers = self
        with self._cond:
            self._waking -= 1
            while True:
                if self._queue and self._active < self._size:
                    task = self._queue.popleft()
                    self._active += 1
                    self._cond.release()
                    try:
                        task()
                    except Exception:  # tasks report their own failures; this is a bug
                        log.exception("transaction task raised")
                    finally:
                        self._cond.acquire()
                        self._active -= 1
                    continue
                if self._closed or self._threads > self._size + self._blocked:
                    self._threads -= 1
                    return
                self._idle += 1
                self._cond.wait()
                # Whoever woke us moved us from idle to waking.
                self._waking -= 1
