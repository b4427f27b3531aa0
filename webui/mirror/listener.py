"""The block listener: follows one channel's blocks on the peer into the mirror, from where
it stopped. A portal runs one per channel of the topology (``energy``, ``market``), in the
same process and database: each is a thread blocked on its Deliver stream while nothing
happens.

The mirror is its own checkpoint: the next block to read is one past the channel's highest
block in ``blocks``, and each block is written in one SQL transaction, so a crash between
blocks loses nothing and repeats nothing. When the peer is down the listener retries with a
growing pause (1 s up to 30 s) and says so in :attr:`Listener.status`; pages keep reading
what the mirror has.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gridledger.errors import GridLedgerError

from .decode import decode
from .source import LedgerSource
from .store import Applied, MirrorStore

log = logging.getLogger(__name__)


@dataclass
class ListenerStatus:
    """What the listener is doing, for the status bar and ``/api/v1/status``."""

    channel: str = ""
    running: bool = False
    connected: bool = False
    height: int = 0  # next block the mirror expects
    blocks_applied: int = 0
    last_block_at: dt.datetime | None = None
    error: str | None = None
    error_since: dt.datetime | None = None
    listeners: list[Callable[[Applied], None]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {"channel": self.channel, "running": self.running,
                "connected": self.connected, "height": self.height,
                "blocksApplied": self.blocks_applied,
                "lastBlockAt": self.last_block_at.isoformat() if self.last_block_at else None,
                "error": self.error,
                "errorSince": self.error_since.isoformat() if self.error_since else None}


class Listener:
    """Follows ``source`` (one channel: ``source.channel``) into ``store`` on a thread of
    its own."""

    def __init__(self, store: MirrorStore, source: LedgerSource, *,
                 namespaces: Sequence[str] | None = None,
                 retry: tuple[float, float] = (1.0, 30.0)) -> None:
        self.store = store
        self.source = source
        self.channel = source.channel
        self.namespaces = namespaces
        self.retry = retry
        self.status = ListenerStatus(channel=self.channel)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"mirror-{self.channel}",
                                        daemon=True)
        self.status.running = True
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.source.close()
        if self._thread is not None:
            self._thread.join(timeout)
        self.status.running = False

    def catch_up(self, stop: int) -> int:
        """Mirror blocks up to ``stop`` (included) in this thread; the blocks applied."""
        count = 0
        start = self.store.height(self.channel)
        if start > stop:
            return 0
        for item in self.source.blocks(start, stop):
            if self._apply(item) is not None:
                count += 1
        return count

    def _apply(self, item) -> Applied | None:
        applied = self.store.apply(decode(item.block, item.private_writes, self.namespaces,
                                          channel=self.channel))
        st = self.status
        st.height = item.number + 1
        st.connected = True
        st.error = st.error_since = None
        if applied is not None:
            st.blocks_applied += 1
            st.last_block_at = dt.datetime.now(dt.UTC)
            for callback in list(st.listeners):
                try:
                    callback(applied)
                except Exception:  # a subscriber's failure is not the mirror's
                    log.exception("block subscriber failed")
        return applied

    def _run(self) -> None:
        pause = self.retry[0]
        while not self._stop.is_set():
            try:
                self.status.height = self.store.height(self.channel)
                for item in self.source.blocks(self.status.height):
                    if self._stop.is_set():
                        break
                    self._apply(item)
                    pause = self.retry[0]
            except (GridLedgerError, OSError, RuntimeError, ValueError) as exc:
                self._failed(exc)
            except Exception as exc:  # the thread must survive anything the peer sends
                log.exception("mirror listener failed")
                self._failed(exc)
            if self._stop.wait(pause):
                break
            pause = min(pause * 2, self.retry[1])
            self.source.close()  # reconnect afresh

    def _failed(self, exc: BaseException) -> None:
        st = self.status
        st.connected = False
        if st.error is None:
            st.error_since = dt.datetime.now(dt.UTC)
        st.error = f"{type(exc).__name__}: {exc}"
        log.warning("mirror listener of %s: %s (retrying)", self.channel, st.error)
