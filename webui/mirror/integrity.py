"""Integrity of the mirror: the block chain walked, the mirror held against the ledger,
tamper alerts that name block, transaction and customer, and repair from the ledger.

Three checks (seed 000's integrity walk, on Fabric's hashes and ours):

``local``   on the mirror's own rows, no peer needed: every row's seal (:mod:`.seal`),
            each block's header hash recomputed from its number, previous hash and data
            hash (:func:`gridledger.clients.blocks.header_hash`) and equal to the next
            block's previous hash, no block missing, each block's transaction and write
            counts, and ``state`` equal to the latest write of each key;
``ledger``  blocks fetched again from the peer: their data hash over their envelopes and
            their links (the peer's own store), then every row derived from them compared
            with the mirror's; a window of blocks per run, cycling, or all of them;
``meters``  metering's ``VerifyMeterChain`` for every meter (the per-meter reading chain,
            on the peer's private data; Utility and Regulator only).

Each channel the mirror follows (``energy``, ``market``) is a chain of its own: the walk,
the counts, the state and the ledger comparison run per channel, and every problem and
alert names its channel ("market block 7 ..."); meters are on the main channel only.

A problem becomes an :class:`~.schema.AlertRow` (one per customer it concerns) until a
complete check no longer finds it or :meth:`Integrity.repair` rebuilds the rows from the
ledger. Editing the database behind the portal's back is found by ``local`` when the
editor lacks the sealing key, and by ``ledger`` in any case.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_
from sqlalchemy.orm import Session

from gridledger.clients.blocks import header_hash

from .decode import DecodedBlock, decode
from .schema import AlertRow, BlockRow, IntegrityRunRow, StateRow, TransactionRow, WriteRow
from .seal import row_values, sealed_columns
from .source import LedgerSource
from .store import MirrorStore, StateKey

log = logging.getLogger(__name__)

KINDS = {
    "seal": "a row was changed outside the portal (its seal does not match)",
    "chain": "block hashes do not link (header hash or previous hash changed)",
    "missing-block": "a block is missing from the mirror",
    "count": "a block's transactions or writes are missing or extra",
    "state": "current state differs from the latest write of its key",
    "ledger": "the mirror differs from the block on the peer",
    "peer-block": "a block on the peer fails its own data hash or link",
    "meter-chain": "VerifyMeterChain found a broken link in a meter's reading chain",
}
GROUPS = {"local": ("seal", "chain", "missing-block", "count", "state"),
          "ledger": ("ledger", "peer-block"), "meters": ("meter-chain",)}
REPAIRABLE = frozenset(GROUPS["local"]) | {"ledger"}
_POS = 10**10, 10**5  # a write's position as one integer: block*1e10 + tx*1e5 + seq


@dataclass
class Problem:
    kind: str
    detail: str
    block_number: int | None = None
    tx_index: int | None = None
    tx_id: str | None = None
    customer_id: str | None = None
    meter_id: str | None = None
    key: str | None = None
    where: str = ""  # table and primary key, for the fingerprint
    channel: str | None = None  # the channel of the block or row (None: not about one)

    @property
    def fingerprint(self) -> str:
        return "|".join(str(x) for x in (self.kind, self.channel, self.where,
                                         self.block_number, self.tx_index, self.key,
                                         self.customer_id))[:200]


@dataclass
class CheckResult:
    group: str
    problems: list[Problem] = field(default_factory=list)
    complete: bool = True  # covered everything of its group (so absent alerts are resolved)
    scope: set[tuple[str, int]] | None = None  # else: the blocks (channel, number) it covered
    rows: int = 0
    blocks: int = 0
    detail: str = ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Integrity:
    """Checks, alerts and repair for one mirror, over every channel it follows.

    ``source(channel)`` opens a :class:`LedgerSource` on that channel (None: local checks
    only); ``channels`` are the channels mirrored, the main one (metering's: meters are
    verified there) first. ``rows_per_run`` bounds the seal checks of one run (they resume
    where the last run stopped), and ``ledger_blocks_per_run`` the blocks a ledger check
    fetches again per channel.
    """

    def __init__(self, store: MirrorStore,
                 source: Callable[[str], LedgerSource] | None = None, *,
                 channels: Sequence[str] = ("energy",),
                 namespaces: Iterable[str] | None = None, rows_per_run: int = 500_000,
                 ledger_blocks_per_run: int = 200, meter_chains: bool = True) -> None:
        if not channels:
            raise ValueError("an integrity check needs the channels the mirror follows")
        self.store = store
        self.sessions = store.sessions
        self.source_factory = source
        self.channels = tuple(channels)
        self.namespaces = tuple(namespaces) if namespaces is not None else None
        self.rows_per_run = rows_per_run
        self.ledger_blocks_per_run = ledger_blocks_per_run
        self.meter_chains = meter_chains
        self.lock = threading.Lock()
        self._cursors: dict[str, Any] = {}
        self._ledger_cursors: dict[str, int] = {}
        self.last_run: dt.datetime | None = None

    @property
    def main_channel(self) -> str:
        """The channel of metering (and of the meters' chains)."""
        return self.channels[0]

    # -- local ---------------------------------------------------------------------------

    def check_local(self) -> CheckResult:
        res = CheckResult("local")
        with self.sessions() as s:
            self._check_blocks(s, res)
            self._check_counts(s, res)
            for model in (TransactionRow, WriteRow, StateRow):
                if not self._check_seals(s, model, res):
                    res.complete = False
            self._check_state(s, res)
            _name_transactions(s, res.problems)
        # One edit, one alert: a state row whose seal is broken is not also "stale".
        sealed = {(p.channel, p.key) for p in res.problems
                  if p.kind == "seal" and p.where.startswith("state")}
        res.problems = [p for p in res.problems
                        if not (p.kind == "state" and (p.channel, p.key) in sealed)]
        return res

    def _check_blocks(self, s: Session, res: CheckResult) -> None:
        """Each channel's chain, walked from its block 0."""
        previous: BlockRow | None = None
        expected = 0
        for b in s.scalars(select(BlockRow).order_by(BlockRow.channel, BlockRow.number)) \
                .yield_per(2000):
            res.blocks += 1
            ch = b.channel
            if previous is not None and previous.channel != ch:
                previous, expected = None, 0
            while expected < b.number:
                res.problems.append(Problem("missing-block", f"{ch} block {expected} is "
                                            "missing from the mirror", expected,
                                            where="blocks", channel=ch))
                expected += 1
            expected = b.number + 1
            if not self.store.sealer.valid(b):
                res.problems.append(Problem("seal", f"{ch} block {b.number}'s row was changed",
                                            b.number, where=f"blocks:{b.number}", channel=ch))
            try:
                recomputed = header_hash(b.number, bytes.fromhex(b.previous_hash),
                                         bytes.fromhex(b.data_hash)).hex()
            except ValueError:
                recomputed = ""
            if recomputed != b.header_hash:
                res.problems.append(Problem(
                    "chain", f"{ch} block {b.number}: header hash {b.header_hash[:16]}... is "
                    f"not the hash of its number, previous hash and data hash "
                    f"({recomputed[:16]}...)", b.number, where=f"blocks:{b.number}",
                    channel=ch))
            if previous is not None and previous.number == b.number - 1 \
                    and b.previous_hash != recomputed_header(previous):
                res.problems.append(Problem(
                    "chain", f"{ch} block {b.number}'s previous hash does not match block "
                    f"{previous.number}'s header", b.number, where=f"blocks:{b.number}:prev",
                    channel=ch))
            previous = b

    def _check_counts(self, s: Session, res: CheckResult) -> None:
        expected = {(c, n): (t, w) for c, n, t, w in s.execute(select(
            BlockRow.channel, BlockRow.number, BlockRow.tx_count, BlockRow.write_count))}
        for model, i, what in ((TransactionRow, 0, "transactions"), (WriteRow, 1, "writes")):
            found = {(c, n): k for c, n, k in s.execute(
                select(model.channel, model.block_number, func.count())
                .group_by(model.channel, model.block_number))}
            for ch, number in set(expected) | set(found):
                want = expected.get((ch, number), (0, 0))[i]
                have = found.get((ch, number), 0)
                if (ch, number) in expected and want != have:
                    res.problems.append(Problem(
                        "count", f"{ch} block {number} should have {want} {what} in the "
                        f"mirror, it has {have}", number, where=f"{what}:{number}",
                        channel=ch))
                elif (ch, number) not in expected:
                    res.problems.append(Problem(
                        "count", f"{have} {what} name {ch} block {number}, which the mirror "
                        "does not have", number, where=f"{what}:{number}", channel=ch))

    def _check_seals(self, s: Session, model: type, res: CheckResult) -> bool:
        """Seals of up to ``rows_per_run`` rows of ``model`` from its cursor; True when the
        scan reached the end (the table was covered, over this and earlier runs).

        Rows are read as plain tuples in the seal's column order (no ORM objects: a
        million rows take seconds, not minutes); a bad one is then loaded to be named.
        """
        table = model.__table__
        cols = sealed_columns(model)
        pk = list(table.primary_key.columns)
        pk_at = [cols.index(c.key) for c in pk]
        cursor = self._cursors.get(model.__tablename__)
        query = select(*[table.c[c] for c in cols], table.c.mac).order_by(*pk)
        if cursor is not None:
            query = query.where(tuple_(*pk) > cursor)
        seal = self.store.sealer.seal_tuple
        seen = 0
        last = None
        bad = []
        for row in s.execute(query.limit(self.rows_per_run)).yield_per(10_000):
            seen += 1
            values = tuple(row[:-1])
            if not hmac.compare_digest(seal(model, values), row[-1] or ""):
                bad.append(tuple(values[i] for i in pk_at))
            last = tuple(values[i] for i in pk_at)
        for key in bad:
            res.problems.append(_row_problem(model, s.get(model, key)))
        res.rows += seen
        finished = seen < self.rows_per_run
        self._cursors[model.__tablename__] = None if finished else last
        return finished and cursor is None

    def _check_state(self, s: Session, res: CheckResult) -> None:
        w, st = WriteRow, StateRow
        # State rows whose write is gone, or says something else.
        stale = select(st).outerjoin(w, and_(
            w.channel == st.channel, w.block_number == st.block_number,
            w.tx_index == st.tx_index, w.seq == st.seq)) \
            .where(or_(w.key.is_(None), w.key != st.key, w.namespace != st.namespace,
                       w.collection != st.collection, w.value.is_(None), w.value != st.value))
        for row in s.scalars(stale):
            res.problems.append(Problem(
                "state", f"state of {row.key} is not what {row.channel} block "
                f"{row.block_number} wrote", row.block_number, row.tx_index,
                customer_id=row.customer_id, meter_id=row.meter_id, key=row.key,
                where=f"state:{row.key}", channel=row.channel))
        # Keys whose latest write is not what state holds.
        pos = w.block_number * _POS[0] + w.tx_index * _POS[1] + w.seq
        latest = select(w.channel, w.namespace, w.collection, w.key, func.max(pos).label("pos")) \
            .group_by(w.channel, w.namespace, w.collection, w.key).subquery()
        spos = st.block_number * _POS[0] + st.tx_index * _POS[1] + st.seq
        missing = select(latest.c.channel, latest.c.namespace, latest.c.collection,
                         latest.c.key, latest.c.pos) \
            .outerjoin(st, and_(st.channel == latest.c.channel,
                                st.namespace == latest.c.namespace,
                                st.collection == latest.c.collection, st.key == latest.c.key)) \
            .where(or_(st.key.is_(None), spos != latest.c.pos))
        for ch, ns, coll, key, p in s.execute(missing):
            block, tx, seq = p // _POS[0], (p % _POS[0]) // _POS[1], p % _POS[1]
            wr = s.get(WriteRow, (ch, block, tx, seq))
            if wr is not None and wr.value is None and \
                    s.get(StateRow, (ch, ns, coll, key)) is None:
                continue  # deleted on the ledger: no state, rightly
            res.problems.append(Problem(
                "state", f"state of {key} does not hold its latest write ({ch} block "
                f"{block}, transaction {tx})", block, tx,
                customer_id=wr.customer_id if wr else None,
                meter_id=wr.meter_id if wr else None, key=key, where=f"state:{key}",
                channel=ch))

    # -- ledger --------------------------------------------------------------------------

    def check_ledger(self, *, full: bool = False,
                     blocks: Mapping[str, Iterable[int]] | None = None) -> CheckResult:
        """Compare the mirror's blocks with the peer's, channel by channel (a window per
        run, or ``full``, or the ``blocks`` named per channel)."""
        res = CheckResult("ledger", complete=full)
        if self.source_factory is None:
            res.complete = False
            res.detail = "no ledger source configured"
            return res
        notes = []
        for channel in self.channels:
            if blocks is not None and channel not in blocks:
                continue
            try:
                self._check_channel(channel, res, full,
                                    None if blocks is None else blocks[channel])
            except Exception as exc:  # one channel's peer down must not stop the other's
                log.warning("integrity check could not reach %s on the ledger: %s",
                            channel, exc)
                res.complete = False
                notes.append(f"{channel}: ledger unreachable: {exc}")
        res.detail = "; ".join(notes)
        return res

    def _check_channel(self, channel: str, res: CheckResult, full: bool,
                       blocks: Iterable[int] | None) -> None:
        source = self.source_factory(channel)
        try:
            height = min(self.store.height(channel), source.height())
            numbers = sorted(set(blocks)) if blocks is not None else \
                self._window(channel, height, full)
            numbers = [n for n in numbers if n < height]
            for start, stop in _runs(numbers):
                previous = None
                for item in source.blocks(start, stop):
                    res.blocks += 1
                    block = item.block
                    if not block.data_hash_matches:
                        res.problems.append(Problem(
                            "peer-block", f"{channel} block {block.number} on the peer: its "
                            "data hash does not match its transactions", block.number,
                            where=f"peer:{block.number}", channel=channel))
                    if previous is not None and block.previous_hash != previous.header_hash:
                        res.problems.append(Problem(
                            "peer-block", f"{channel} block {block.number} on the peer does "
                            f"not link to block {previous.number}", block.number,
                            where=f"peer:{block.number}:prev", channel=channel))
                    previous = block
                    expected = decode(block, item.private_writes, self.namespaces,
                                      channel=channel)
                    with self.sessions() as s:
                        found = compare_block(s, expected)
                        _name_transactions(s, found)
                    res.problems += found
        finally:
            source.close()

    def _window(self, channel: str, height: int, full: bool) -> list[int]:
        if full or height <= self.ledger_blocks_per_run:
            return list(range(height))
        start = self._ledger_cursors.get(channel, 0) % height
        picked = {(start + i) % height for i in range(self.ledger_blocks_per_run)}
        picked |= set(range(max(0, height - 5), height))  # always the newest
        self._ledger_cursors[channel] = (start + self.ledger_blocks_per_run) % height
        return sorted(picked)

    # -- meters --------------------------------------------------------------------------

    def check_meters(self) -> CheckResult:
        res = CheckResult("meters")
        if self.source_factory is None or not self.meter_chains:
            res.complete = False
            return res
        main = self.main_channel
        with self.sessions() as s:
            meters = [(r.key.split("~", 1)[1], r.customer_id) for r in
                      s.scalars(select(StateRow).where(StateRow.channel == main,
                                                       StateRow.kind == "meter"))]
        source = self.source_factory(main)
        try:
            for meter_id, customer in meters:
                try:
                    out = source.verify_meter_chain(meter_id)
                except Exception as exc:
                    res.complete = False
                    res.detail = f"VerifyMeterChain failed: {exc}"
                    break
                res.rows += 1
                if out.get("ok"):
                    continue
                seq = out.get("seq")
                where = (None, None)
                if isinstance(seq, int):
                    with self.sessions() as s:
                        row = s.scalar(select(StateRow).where(
                            StateRow.channel == main, StateRow.kind == "reading",
                            StateRow.key == f"reading~{meter_id}~{seq:012d}"))
                        if row is not None:
                            where = (row.block_number, row.tx_index)
                res.problems.append(Problem(
                    "meter-chain", f"meter {meter_id}, reading {seq}: {out.get('reason')} "
                    f"(expected {out.get('expected')}, found {out.get('found')})", *where,
                    customer_id=customer, meter_id=meter_id, where=f"meter:{meter_id}",
                    channel=main))
        finally:
            source.close()
        with self.sessions() as s:
            _name_transactions(s, res.problems)
        return res

    # -- running, alerts, repair ---------------------------------------------------------

    def run(self, *, full: bool = False) -> list[CheckResult]:
        """Every check; alerts recorded. One run at a time."""
        with self.lock:
            results = [self.check_local()]
            for group, check in (("ledger", lambda: self.check_ledger(full=full)),
                                 ("meters", self.check_meters)):
                try:
                    results.append(check())
                except Exception as exc:  # a peer down must not stop the local check
                    log.warning("integrity check could not reach the ledger: %s", exc)
                    results.append(CheckResult(group, complete=False,
                                               detail=f"ledger unreachable: {exc}"))
            # One edit, one alert: what the local check names is not repeated by the ledger's.
            named = {(p.channel, p.block_number, p.tx_index, p.key)
                     for p in results[0].problems}
            for res in results[1:]:
                res.problems = [p for p in res.problems if p.kind != "ledger" or
                                (p.channel, p.block_number, p.tx_index, p.key) not in named]
            self.record(results)
            self.last_run = _now()
            return results

    def record(self, results: list[CheckResult], resolution: str = "no longer found") -> None:
        """Turn problems into alerts; resolve the open alerts a complete check no longer
        finds."""
        now = _now()
        with self.sessions.begin() as s:
            for res in results:
                run = IntegrityRunRow(kind=res.group, started_at=now, finished_at=_now(),
                                      rows_checked=res.rows, blocks_checked=res.blocks,
                                      problems=len(res.problems), detail=res.detail[:2000])
                s.add(run)
                found = set()
                for p in res.problems:
                    for alert in _alerts_of(s, p, now):
                        found.add(alert.fingerprint)
                        if s.scalar(select(AlertRow.id).where(
                                AlertRow.fingerprint == alert.fingerprint,
                                AlertRow.resolved_at.is_(None)).limit(1)) is None:
                            s.add(alert)
                if res.complete or res.scope:
                    for alert in s.scalars(select(AlertRow).where(
                            AlertRow.resolved_at.is_(None),
                            AlertRow.kind.in_(GROUPS.get(res.group, ())))):
                        covered = res.complete or \
                            (alert.channel, alert.block_number) in (res.scope or ())
                        if covered and alert.fingerprint not in found:
                            alert.resolved_at, alert.resolution = now, resolution

    def repair(self, by: str) -> dict[str, Any]:
        """Rebuild, from the ledger, every block and key that open alerts name (each on
        its channel); then check again. Returns what was done: ``blocks`` rebuilt per
        channel, ``keys`` re-projected, ``problemsLeft``."""
        if self.source_factory is None:
            raise RuntimeError("repair needs the ledger: no source configured")
        with self.lock:
            with self.sessions() as s:
                alerts = list(s.scalars(select(AlertRow).where(
                    AlertRow.resolved_at.is_(None), AlertRow.kind.in_(REPAIRABLE))))
            numbers: dict[str, set[int]] = {}
            keys: set[tuple[str, str]] = set()
            for a in alerts:
                channel = a.channel or self.main_channel
                if a.block_number is not None:
                    numbers.setdefault(channel, set()).add(a.block_number)
                if a.key:
                    keys.add((channel, a.key))
            rebuilt: dict[str, list[int]] = {}
            for channel in sorted(numbers):
                source = self.source_factory(channel)
                try:
                    height = source.height()
                    with self.sessions.begin() as s:
                        for number in [n for n in numbers[channel] if n >= height]:
                            # rows of a block the ledger does not have
                            _drop_block(s, channel, number)
                    for start, stop in _runs(sorted(n for n in numbers[channel]
                                                    if n < height)):
                        for item in source.blocks(start, stop):
                            self.store.replace(decode(item.block, item.private_writes,
                                                      self.namespaces, channel=channel))
                            rebuilt.setdefault(channel, []).append(item.number)
                finally:
                    source.close()
            with self.sessions.begin() as s:
                state_keys: set[StateKey] = set()
                for channel, key in keys:
                    for model in (StateRow, WriteRow):
                        state_keys |= {(r.channel, r.namespace, r.collection, r.key)
                                       for r in s.scalars(select(model).where(
                                           model.channel == channel, model.key == key))}
                reprojected = self.store.reproject(s, state_keys)
            self._cursors.clear()
            results = [self.check_local()]
            if rebuilt:
                results.append(self.check_ledger(blocks=rebuilt))
                results[-1].complete = False
                results[-1].scope = {(c, n) for c, ns in rebuilt.items() for n in ns}
            when = _now().strftime("%Y-%m-%d %H:%M:%SZ")
            self.record(results, resolution=f"repaired from the ledger by {by} at {when}")
            left = sum(len(r.problems) for r in results)
            return {"blocks": rebuilt, "keys": reprojected, "problemsLeft": left}


# -- helpers -------------------------------------------------------------------------------


def recomputed_header(b: BlockRow) -> str:
    try:
        return header_hash(b.number, bytes.fromhex(b.previous_hash),
                           bytes.fromhex(b.data_hash)).hex()
    except ValueError:
        return ""


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted block numbers, as (first, last)."""
    out: list[tuple[int, int]] = []
    for n in numbers:
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _row_problem(model: type, row: Any) -> Problem:
    ch = row.channel
    if model is TransactionRow:
        return Problem("seal", f"transaction {row.tx_id or row.tx_index} of {ch} block "
                       f"{row.block_number} was changed in the mirror", row.block_number,
                       row.tx_index, tx_id=row.tx_id,
                       where=f"transactions:{row.block_number}:{row.tx_index}", channel=ch)
    if model is WriteRow:
        return Problem("seal", f"write of {row.key} in {ch} block {row.block_number} was "
                       "changed in the mirror", row.block_number, row.tx_index,
                       customer_id=row.customer_id, meter_id=row.meter_id, key=row.key,
                       where=f"writes:{row.block_number}:{row.tx_index}:{row.seq}",
                       channel=ch)
    return Problem("seal", f"current {row.kind} record {row.key} was changed in the mirror "
                   f"(written by {ch} block {row.block_number})", row.block_number,
                   row.tx_index, customer_id=row.customer_id, meter_id=row.meter_id,
                   key=row.key, where=f"state:{row.namespace}:{row.collection}:{row.key}",
                   channel=ch)


_COMPARED_TX = ("tx_id", "type", "timestamp", "creator_msp", "creator_name",
                "validation_code", "chaincode", "function", "args", "endorsers",
                "response_status", "response_message", "response_payload", "event_name",
                "event_payload", "refused")
_COMPARED_WRITE = ("namespace", "collection", "key", "kind", "value")


def compare_block(s: Session, expected: DecodedBlock) -> list[Problem]:
    """Differences between the mirror's rows of a block and the rows derived from the
    ledger's copy of it (on the channel ``expected`` names)."""
    ch, number = expected.block["channel"], expected.block["number"]
    out: list[Problem] = []
    row = s.get(BlockRow, (ch, number))
    if row is None:
        return [Problem("ledger", f"{ch} block {number} is on the ledger but not in the "
                        "mirror", number, where=f"ledger:{number}", channel=ch)]
    have = row_values(row)
    diff = [k for k, v in expected.block.items() if have.get(k) != v]
    if diff:
        out.append(Problem("ledger", f"{ch} block {number}: {', '.join(diff)} differ from the "
                           "ledger", number, where=f"ledger:{number}", channel=ch))
    txs = {t.tx_index: t for t in s.scalars(select(TransactionRow).where(
        TransactionRow.channel == ch, TransactionRow.block_number == number))}
    for t in expected.transactions:
        got = txs.pop(t["tx_index"], None)
        fields = _COMPARED_TX if got is None else \
            [f for f in _COMPARED_TX if getattr(got, f) != t[f]]
        if fields:
            out.append(Problem("ledger", f"transaction {t['tx_id']} of {ch} block {number}: "
                               f"{'missing' if got is None else ', '.join(fields) + ' differ'}",
                               number, t["tx_index"], tx_id=t["tx_id"],
                               where=f"ledger:{number}:{t['tx_index']}", channel=ch))
    out += [Problem("ledger", f"{ch} block {number} has no transaction {i} on the ledger",
                    number, i, where=f"ledger:{number}:{i}", channel=ch) for i in txs]
    writes = {(w.tx_index, w.seq): w for w in s.scalars(select(WriteRow).where(
        WriteRow.channel == ch, WriteRow.block_number == number))}
    for w in expected.writes:
        got = writes.pop((w["tx_index"], w["seq"]), None)
        if got is None or any(getattr(got, f) != w[f] for f in _COMPARED_WRITE):
            out.append(Problem(
                "ledger", f"{ch} block {number}: the write of {w['key']} "
                f"{'is missing' if got is None else 'differs from the ledger'}", number,
                w["tx_index"], customer_id=got.customer_id if got else None,
                meter_id=got.meter_id if got else None, key=w["key"],
                where=f"ledger:{number}:{w['tx_index']}:{w['seq']}", channel=ch))
    out += [Problem("ledger", f"{ch} block {number}: the mirror has a write of {w.key} the "
                    "ledger does not", number, w.tx_index, customer_id=w.customer_id,
                    key=w.key, where=f"ledger:{number}:{w.tx_index}:{w.seq}", channel=ch)
            for w in writes.values()]
    return out


def _name_transactions(s: Session, problems: list[Problem]) -> None:
    """Fill in transaction ids (and, for whole-transaction problems, customers)."""
    for p in problems:
        if p.block_number is not None and p.tx_index is not None and not p.tx_id \
                and p.channel is not None:
            p.tx_id = s.scalar(select(TransactionRow.tx_id).where(
                TransactionRow.channel == p.channel,
                TransactionRow.block_number == p.block_number,
                TransactionRow.tx_index == p.tx_index))


def _alerts_of(s: Session, p: Problem, now: dt.datetime) -> list[AlertRow]:
    """One alert per customer a problem concerns (one without a customer if none)."""
    customers = [p.customer_id] if p.customer_id else []
    if not customers and p.block_number is not None and p.channel is not None \
            and p.kind != "missing-block":
        q = select(WriteRow.customer_id).where(WriteRow.channel == p.channel,
                                               WriteRow.block_number == p.block_number,
                                               WriteRow.customer_id.is_not(None))
        if p.tx_index is not None:
            q = q.where(WriteRow.tx_index == p.tx_index)
        customers = sorted(set(s.scalars(q.distinct())))
    out = []
    for customer in customers or [None]:
        q = Problem(**{**p.__dict__, "customer_id": customer})
        out.append(AlertRow(kind=p.kind, channel=p.channel, fingerprint=q.fingerprint,
                            block_number=p.block_number, tx_index=p.tx_index, tx_id=p.tx_id,
                            customer_id=customer, meter_id=p.meter_id, key=p.key,
                            detail=p.detail, detected_at=now))
    return out


def _drop_block(s: Session, channel: str, number: int) -> None:
    for model in (WriteRow, TransactionRow):
        s.execute(delete(model).where(model.channel == channel, model.block_number == number))
    s.execute(delete(StateRow).where(StateRow.channel == channel,
                                     StateRow.block_number == number))
    s.execute(delete(BlockRow).where(BlockRow.channel == channel, BlockRow.number == number))


def alert_dict(a: AlertRow) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "what": KINDS.get(a.kind, a.kind),
            "channel": a.channel, "blockNumber": a.block_number, "txIndex": a.tx_index,
            "txId": a.tx_id, "customerId": a.customer_id, "meterId": a.meter_id,
            "key": a.key, "detail": a.detail, "detectedAt": a.detected_at.isoformat(),
            "resolvedAt": a.resolved_at.isoformat() if a.resolved_at else None,
            "resolution": a.resolution}


__all__ = ["KINDS", "CheckResult", "Integrity", "Problem", "alert_dict", "compare_block"]
