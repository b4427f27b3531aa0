"""Durable store-and-forward queue of signed readings, in SQLite.

A reading is inserted *before* anything tries to send it, so an outage or a crash loses
nothing. Row states::

    queued ──mark_in_flight(txid)──> in_flight ──mark_committed(txid)──> (deleted/archived)
       ^                                 │  └──mark_refused(meter, seq)──> refused (kept)
       └──── mark_failed(txid), recover_in_flight() on restart ┘

Replaying an in-flight row after a crash is safe: the chaincode treats a reading whose
(meterId, seq) and bytes are already recorded as a no-op ("duplicate").

The database runs in WAL mode with ``synchronous=FULL``: a committed insert survives power
loss. Several processes may open the same file; SQLite serialises writers (every write is
a ``BEGIN IMMEDIATE`` transaction, with a busy timeout), so there is one writer at a time.
The queue also keeps each meter's last sequence number and last reading, so the poller
continues the sequence and the plausibility check after a restart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import QueueError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    meter_id    TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    reading     TEXT    NOT NULL,          -- canonical JSON of the reading
    signature   TEXT    NOT NULL,          -- base64 DER ECDSA signature
    state       TEXT    NOT NULL CHECK (state IN ('queued', 'in_flight', 'refused')),
    txid        TEXT,
    code        TEXT,
    reason      TEXT,
    enqueued_at REAL    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (meter_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_state ON readings (state, meter_id, seq);
CREATE INDEX IF NOT EXISTS readings_by_txid ON readings (txid);
CREATE TABLE IF NOT EXISTS committed (
    meter_id     TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    reading      TEXT    NOT NULL,
    signature    TEXT    NOT NULL,
    txid         TEXT    NOT NULL,
    committed_at REAL    NOT NULL,
    PRIMARY KEY (meter_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meters (
    meter_id     TEXT    PRIMARY KEY,
    last_seq     INTEGER NOT NULL,
    last_reading TEXT
) WITHOUT ROWID;
"""


@dataclasses.dataclass(frozen=True)
class QueuedReading:
    """One row of the queue."""

    meter_id: str
    seq: int
    reading: dict[str, Any]
    signature: str
    state: str
    txid: str | None
    code: str | None
    reason: str | None
    enqueued_at: float
    attempts: int

    def item(self) -> dict[str, Any]:
        """The chaincode's batch item: {"reading": {...}, "signature": "..."}."""
        return {"reading": self.reading, "signature": self.signature}


_COLUMNS = "meter_id, seq, reading, signature, state, txid, code, reason, enqueued_at, attempts"


def _row(values: Sequence[Any]) -> QueuedReading:
    meter_id, seq, reading, signature, state, txid, code, reason, enqueued_at, attempts = values
    return QueuedReading(meter_id, seq, json.loads(reading), signature, state, txid, code,
                         reason, enqueued_at, attempts)


class ReadingQueue:
    """The bridge's durable queue; see the module docstring for the state machine.

    ``archive=True`` keeps committed readings in a ``committed`` table instead of deleting
    them (useful for audits; the ledger is the record either way).
    """

    def __init__(self, path: str | Path, *, archive: bool = False,
                 busy_timeout_s: float = 10.0, clock: Any = time.time) -> None:
        self.path = Path(path)
        self.archive = archive
        self._clock = clock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes
            # the lock before reading what it will change.
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s,
                                       isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise QueueError(f"cannot open queue {self.path}: {exc}") from None

    # -- plumbing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise QueueError(f"queue {self.path} is locked or unwritable: {exc}") from None
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise QueueError(f"queue {self.path}: commit failed: {exc}") from None

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise QueueError(f"queue {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    # -- the poller's side --------------------------------------------------------------

    def last(self, meter_id: str) -> tuple[int, dict[str, Any] | None]:
        """The meter's last enqueued sequence number (0 if none) and that reading."""
        rows = self._read("SELECT last_seq, last_reading FROM meters WHERE meter_id = ?",
                          (meter_id,))
        if not rows:
            return 0, None
        last_seq, last_reading = rows[0]
        return last_seq, json.loads(last_reading) if last_reading else None

    def put(self, reading: dict[str, Any], signature: str) -> None:
        """Insert a signed reading; its seq must be the meter's last seq + 1.

        The check and the insert are one transaction, so two pollers that raced for a
        meter cannot both enqueue the same seq with different content.
        """
        meter_id, seq = reading["meterId"], reading["seq"]
        text = json.dumps(reading, sort_keys=True, separators=(",", ":"))
        with self._write() as db:
            row = db.execute("SELECT last_seq FROM meters WHERE meter_id = ?",
                             (meter_id,)).fetchone()
            last_seq = row[0] if row else 0
            if seq != last_seq + 1:
                raise QueueError(f"meter {meter_id}: seq {seq} does not follow {last_seq}")
            db.execute(
                "INSERT INTO readings (meter_id, seq, reading, signature, state, enqueued_at)"
                " VALUES (?, ?, ?, ?, 'queued', ?)",
                (meter_id, seq, text, signature, self._clock()),
            )
            db.execute(
                "INSERT INTO meters (meter_id, last_seq, last_reading) VALUES (?, ?, ?)"
                " ON CONFLICT (meter_id) DO UPDATE SET last_seq = excluded.last_seq,"
                " last_reading = excluded.last_reading",
                (meter_id, seq, text),
            )

    # -- the sender's side --------------------------------------------------------------

    def waiting(self) -> list[tuple[str, int, float]]:
        """(meter, queued count, oldest enqueue time) for meters with nothing in flight.

        One query for all meters, so a sender looking every fraction of a second stays
        cheap with thousands of meters.
        """
        return [tuple(r) for r in self._read(
            "SELECT meter_id, COUNT(*), MIN(enqueued_at) FROM readings r"
            " WHERE state = 'queued' AND NOT EXISTS (SELECT 1 FROM readings f"
            "  WHERE f.meter_id = r.meter_id AND f.state = 'in_flight')"
            " GROUP BY meter_id ORDER BY MIN(enqueued_at), meter_id"
        )]

    def meters_waiting(self) -> list[str]:
        """Meters with queued rows and nothing in flight (ready for their next batch)."""
        return sorted(meter for meter, _, _ in self.waiting())

    def next_batch(self, meter_id: str, max_count: int) -> list[QueuedReading]:
        """Up to ``max_count`` queued readings of one meter, oldest seq first."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM readings WHERE meter_id = ? AND state = 'queued'"
            " ORDER BY seq LIMIT ?",
            (meter_id, max_count),
        )
        return [_row(r) for r in rows]

    def mark_in_flight(self, rows: Sequence[QueuedReading], txid: str) -> None:
        """Record that ``rows`` were sent in transaction ``txid``."""
        with self._write() as db:
            for r in rows:
                cur = db.execute(
                    "UPDATE readings SET state = 'in_flight', txid = ?, attempts = attempts + 1"
                    " WHERE meter_id = ? AND seq = ? AND state = 'queued'",
                    (txid, r.meter_id, r.seq),
                )
                if cur.rowcount != 1:
                    raise QueueError(f"meter {r.meter_id} seq {r.seq} is not queued")

    def mark_committed(self, txid: str, ledger_txid: str | None = None) -> int:
        """Transaction ``txid`` committed: its rows still in flight leave the queue.

        Rows already marked refused stay. With ``archive=True`` the rows are kept in the
        ``committed`` table under ``ledger_txid`` (the Fabric transaction id, when the
        sender's ``txid`` is its own submission id). Returns the number of rows removed.
        """
        with self._write() as db:
            if self.archive:
                db.execute(
                    "INSERT OR REPLACE INTO committed (meter_id, seq, reading, signature, txid,"
                    " committed_at) SELECT meter_id, seq, reading, signature, ?, ?"
                    " FROM readings WHERE txid = ? AND state = 'in_flight'",
                    (ledger_txid or txid, self._clock(), txid),
                )
            cur = db.execute("DELETE FROM readings WHERE txid = ? AND state = 'in_flight'",
                             (txid,))
            return cur.rowcount

    def mark_refused(self, meter_id: str, seq: int, reason: str, code: str = "") -> None:
        """The ledger refused this reading: keep it, with the reason, never resend it."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE readings SET state = 'refused', code = ?, reason = ?"
                " WHERE meter_id = ? AND seq = ?",
                (code or None, reason, meter_id, seq),
            )
            if cur.rowcount != 1:
                raise QueueError(f"meter {meter_id} seq {seq} is not in the queue")

    def mark_failed(self, txid: str) -> int:
        """Transaction ``txid`` did not commit (transient): its rows go back to queued."""
        with self._write() as db:
            cur = db.execute(
                "UPDATE readings SET state = 'queued', txid = NULL"
                " WHERE txid = ? AND state = 'in_flight'",
                (txid,),
            )
            return cur.rowcount

    def recover_in_flight(self) -> int:
        """After a restart: every in-flight row goes back to queued (a replay is safe)."""
        with self._write() as db:
            return db.execute(
                "UPDATE readings SET state = 'queued', txid = NULL WHERE state = 'in_flight'"
            ).rowcount

    def requeue_refused(self, meter_id: str) -> int:
        """Operator action: send a meter's refused readings again (e.g. after re-keying)."""
        with self._write() as db:
            return db.execute(
                "UPDATE readings SET state = 'queued', txid = NULL, code = NULL, reason = NULL"
                " WHERE meter_id = ? AND state = 'refused'",
                (meter_id,),
            ).rowcount

    # -- observation ----------------------------------------------------------------------

    def depth(self) -> int:
        """Readings not yet committed or refused (queued + in flight)."""
        return self._read("SELECT COUNT(*) FROM readings WHERE state != 'refused'")[0][0]

    def oldest_age(self) -> float | None:
        """Seconds since the oldest uncommitted reading was enqueued; None when empty."""
        oldest = self._read(
            "SELECT MIN(enqueued_at) FROM readings WHERE state != 'refused'"
        )[0][0]
        return None if oldest is None else max(0.0, self._clock() - oldest)

    def refused(self, meter_id: str | None = None) -> list[QueuedReading]:
        """Refused readings (all meters, or one), with their code and reason."""
        where, args = ("AND meter_id = ?", (meter_id,)) if meter_id else ("", ())
        rows = self._read(
            f"SELECT {_COLUMNS} FROM readings WHERE state = 'refused' {where}"
            " ORDER BY meter_id, seq",
            args,
        )
        return [_row(r) for r in rows]

    def in_flight(self, txid: str | None = None) -> list[QueuedReading]:
        """Rows currently in flight (optionally of one transaction)."""
        where, args = ("AND txid = ?", (txid,)) if txid else ("", ())
        rows = self._read(
            f"SELECT {_COLUMNS} FROM readings WHERE state = 'in_flight' {where}"
            " ORDER BY meter_id, seq",
            args,
        )
        return [_row(r) for r in rows]

    def archived(self, meter_id: str) -> list[tuple[int, str]]:
        """(seq, txid) of a meter's committed readings kept with ``archive=True``."""
        return [tuple(r) for r in self._read(
            "SELECT seq, txid FROM committed WHERE meter_id = ? ORDER BY seq", (meter_id,)
        )]
