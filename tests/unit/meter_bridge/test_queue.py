"""The durable queue: state machine, crash and restart, several connections on one file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gridledger.meter_bridge.errors import QueueError
from gridledger.meter_bridge.queue import ReadingQueue


def reading(meter: str, seq: int) -> dict[str, Any]:
    return {"meterId": meter, "seq": seq, "intervalEnd": f"2025-03-01T10:{seq:02d}:00Z",
            "importWh": 1000 + seq, "exportWh": 0, "voltageDv": 2300, "currentMa": 100,
            "powerW": 23}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "bridge" / "queue.sqlite"


def fill(q: ReadingQueue, meter: str, n: int) -> None:
    for seq in range(1, n + 1):
        q.put(reading(meter, seq), f"sig-{meter}-{seq}")


def test_database_is_wal_and_full_sync(path: Path) -> None:
    q = ReadingQueue(path)
    assert q._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert q._db.execute("PRAGMA synchronous").fetchone()[0] == 2          # FULL


def test_put_keeps_the_sequence_and_last_reading(path: Path) -> None:
    q = ReadingQueue(path)
    assert q.last("m-1") == (0, None)
    fill(q, "m-1", 3)
    assert q.last("m-1") == (3, reading("m-1", 3))
    with pytest.raises(QueueError, match="seq 5 does not follow 3"):
        q.put(reading("m-1", 5), "s")
    with pytest.raises(QueueError, match="seq 3 does not follow 3"):
        q.put(reading("m-1", 3), "s")
    assert q.depth() == 3


def test_batch_committed_rows_leave_refused_rows_stay(path: Path) -> None:
    q = ReadingQueue(path)
    fill(q, "m-1", 4)
    batch = q.next_batch("m-1", 3)
    assert [r.seq for r in batch] == [1, 2, 3]
    assert batch[0].item() == {"reading": reading("m-1", 1), "signature": "sig-m-1-1"}
    q.mark_in_flight(batch, "tx-1")
    assert q.meters_waiting() == []                 # one batch in flight per meter
    assert [r.seq for r in q.in_flight("tx-1")] == [1, 2, 3]
    q.mark_refused("m-1", 2, "signature does not verify", "bad-signature")
    assert q.mark_committed("tx-1") == 2
    assert q.depth() == 1                            # seq 4 still queued
    [refused] = q.refused()
    assert (refused.seq, refused.state, refused.code, refused.reason) == (
        2, "refused", "bad-signature", "signature does not verify")
    assert [r.seq for r in q.next_batch("m-1", 10)] == [4]   # refused never comes back
    assert q.requeue_refused("m-1") == 1
    assert [r.seq for r in q.next_batch("m-1", 10)] == [2, 4]


def test_failed_transaction_goes_back_to_queued(path: Path) -> None:
    q = ReadingQueue(path)
    fill(q, "m-1", 2)
    q.mark_in_flight(q.next_batch("m-1", 2), "tx-1")
    assert q.mark_failed("tx-1") == 2
    rows = q.next_batch("m-1", 2)
    assert [(r.seq, r.state, r.txid, r.attempts) for r in rows] == [(1, "queued", None, 1),
                                                                    (2, "queued", None, 1)]
    q.mark_in_flight(rows[1:], "tx-2")
    with pytest.raises(QueueError, match="seq 2 is not queued"):
        q.mark_in_flight(rows, "tx-3")          # all or nothing: seq 1 stays queued
    assert [r.seq for r in q.next_batch("m-1", 2)] == [1]


def test_archive_keeps_committed_rows_with_the_ledger_txid(path: Path) -> None:
    q = ReadingQueue(path, archive=True)
    fill(q, "m-1", 2)
    q.mark_in_flight(q.next_batch("m-1", 2), "b-1")
    q.mark_committed("b-1", "fabric-tx-9")
    assert q.depth() == 0
    assert q.archived("m-1") == [(1, "fabric-tx-9"), (2, "fabric-tx-9")]


def test_depth_and_oldest_age(path: Path) -> None:
    clock = Clock()
    q = ReadingQueue(path, clock=clock)
    assert (q.depth(), q.oldest_age()) == (0, None)
    q.put(reading("m-1", 1), "s")
    clock.t += 30
    q.put(reading("m-2", 1), "s")
    clock.t += 12
    assert (q.depth(), q.oldest_age()) == (2, 42.0)
    assert q.meters_waiting() == ["m-1", "m-2"]
    assert q.waiting() == [("m-1", 1, 1000.0), ("m-2", 1, 1030.0)]


CRASHING_WRITER = textwrap.dedent("""
    import os, sys
    from gridledger.meter_bridge.queue import ReadingQueue
    q = ReadingQueue(sys.argv[1])
    for seq in range(1, 6):
        q.put({"meterId": "m-1", "seq": seq, "intervalEnd": f"2025-03-01T10:0{seq}:00Z",
               "importWh": seq, "exportWh": 0, "voltageDv": 2300, "currentMa": 1,
               "powerW": 1}, "sig")
    q.mark_in_flight(q.next_batch("m-1", 3), "tx-lost")
    os._exit(9)    # killed mid-submission: no close, no cleanup
""")


def test_crash_while_in_flight_then_restart(path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(path)], check=False)
    assert done.returncode == 9
    q = ReadingQueue(path)                              # the restarted bridge
    assert [r.seq for r in q.in_flight("tx-lost")] == [1, 2, 3]
    assert q.recover_in_flight() == 3
    assert [(r.seq, r.state) for r in q.next_batch("m-1", 10)] == [
        (1, "queued"), (2, "queued"), (3, "queued"), (4, "queued"), (5, "queued")]
    assert q.last("m-1")[0] == 5                        # the sequence survives too
    q.put(reading("m-1", 6), "sig")


def test_two_connections_see_each_others_commits(path: Path) -> None:
    poller_side, sender_side = ReadingQueue(path), ReadingQueue(path)
    fill(poller_side, "m-1", 2)
    batch = sender_side.next_batch("m-1", 5)
    sender_side.mark_in_flight(batch, "tx-1")
    assert poller_side.meters_waiting() == []
    poller_side.put(reading("m-1", 3), "sig")
    sender_side.mark_committed("tx-1")
    assert [r.seq for r in poller_side.next_batch("m-1", 5)] == [3]
    sender_side.close()
    poller_side.close()
    reopened = ReadingQueue(path)
    assert reopened.depth() == 1 and reopened.last("m-1")[0] == 3


def test_a_writer_holding_the_lock_makes_others_wait_then_fail(path: Path) -> None:
    q = ReadingQueue(path, busy_timeout_s=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")            # another process mid-write
    with pytest.raises(QueueError, match="locked"):
        q.put(reading("m-1", 1), "s")
    other.execute("ROLLBACK")
    q.put(reading("m-1", 1), "s")
    assert q.depth() == 1


def test_unopenable_queue_is_a_queue_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(QueueError, match="cannot open queue"):
        ReadingQueue(tmp_path / "file" / "queue.sqlite")
