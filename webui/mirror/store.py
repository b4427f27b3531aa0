"""Writing blocks into the mirror: one SQL transaction per block, every row sealed.

``apply`` adds a block the mirror does not have yet; ``replace`` (repair) swaps a block's
rows for ones derived again from the ledger and re-projects the state of every key the
block wrote. ``state`` always holds, per channel and key, its latest write in ``writes``.
Every channel is a chain and a world state of its own: a block is named by its channel
and number, a key by its channel, namespace, collection and key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from .decode import DecodedBlock
from .index import Owners, decode_value, index_of
from .schema import BlockRow, StateRow, TransactionRow, WriteRow
from .seal import Sealer

StateKey = tuple[str, str, str, str]  # channel, namespace, collection, key
_CHUNK = 400  # keys per IN (...) clause


@dataclass
class Applied:
    """What one block brought: for logs and live updates."""

    number: int
    channel: str = ""
    transactions: int = 0
    writes: int = 0
    customers: set[str] = field(default_factory=set)
    kinds: dict[str, int] = field(default_factory=dict)


class MirrorStore:
    """The mirror's tables as the listener and repair write them."""

    def __init__(self, engine: Engine, sealer: Sealer) -> None:
        self.engine = engine
        self.sealer = sealer
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    # -- reading the position --------------------------------------------------------

    def height(self, channel: str) -> int:
        """The number of the next block of ``channel`` to mirror (0 for none yet)."""
        with self.sessions() as s:
            top = s.scalar(select(func.max(BlockRow.number)).where(BlockRow.channel == channel))
        return 0 if top is None else int(top) + 1

    def has_block(self, channel: str, number: int) -> bool:
        with self.sessions() as s:
            return s.get(BlockRow, (channel, number)) is not None

    # -- writing -----------------------------------------------------------------------

    def apply(self, decoded: DecodedBlock) -> Applied | None:
        """Add a block (None when the mirror has it already: delivery is at least once)."""
        with self.sessions.begin() as s:
            if s.get(BlockRow, (decoded.block["channel"], decoded.block["number"])) is not None:
                return None
            return self._insert(s, decoded)

    def replace(self, decoded: DecodedBlock) -> Applied:
        """Replace every row of a block by ``decoded`` and re-project the keys touched
        (by the rows replaced or the new ones)."""
        channel, number = decoded.block["channel"], decoded.block["number"]
        with self.sessions.begin() as s:
            old_keys = {(channel, w.namespace, w.collection, w.key) for w in
                        s.scalars(select(WriteRow).where(WriteRow.channel == channel,
                                                         WriteRow.block_number == number))}
            old_keys |= {(channel, r.namespace, r.collection, r.key) for r in
                         s.scalars(select(StateRow).where(StateRow.channel == channel,
                                                          StateRow.block_number == number))}
            for model in (WriteRow, TransactionRow):
                s.execute(delete(model).where(model.channel == channel,
                                              model.block_number == number))
            s.execute(delete(BlockRow).where(BlockRow.channel == channel,
                                             BlockRow.number == number))
            applied = self._insert(s, decoded)
            s.flush()
            self.reproject(s, old_keys)
            return applied

    def _insert(self, s: Session, decoded: DecodedBlock) -> Applied:
        seal = self.sealer.seal
        channel, number = decoded.block["channel"], decoded.block["number"]
        applied = Applied(number, channel, len(decoded.transactions), len(decoded.writes))
        # Plain INSERTs (executemany) rather than ORM objects: a block of readings writes
        # thousands of rows, and the unit of work would cost more than the SQL.
        s.execute(insert(BlockRow), [{**decoded.block, "mac": seal(BlockRow, decoded.block)}])
        if decoded.transactions:
            s.execute(insert(TransactionRow), [{**t, "mac": seal(TransactionRow, t)}
                                               for t in decoded.transactions])
        owners = Owners(lambda kind, key: _current(s, channel, kind, key))
        latest: dict[StateKey, dict[str, Any]] = {}
        rows = []
        values = [decode_value(w["value"]) for w in decoded.writes]
        for w, value in zip(decoded.writes, values, strict=True):
            # A transaction writes a meter's public record before its private owner record:
            # learn the block's owners first.
            owners.learn(w["kind"], w["key"], value)
        for w, value in zip(decoded.writes, values, strict=True):
            idx = index_of(w["kind"], w["key"], value, owners)
            row = {**w, "customer_id": idx.customer_id, "meter_id": idx.meter_id}
            rows.append({**row, "mac": seal(WriteRow, row)})
            latest[(channel, w["namespace"], w["collection"], w["key"])] = {**row,
                                                                          "ref": idx.ref}
            applied.kinds[w["kind"]] = applied.kinds.get(w["kind"], 0) + 1
            if idx.customer_id:
                applied.customers.add(idx.customer_id)
        if rows:
            s.execute(insert(WriteRow), rows)
        self._replace_state(s, latest)
        return applied

    def _replace_state(self, s: Session, latest: dict[StateKey, dict[str, Any]]) -> None:
        keys = list(latest)
        for i in range(0, len(keys), _CHUNK):
            s.execute(delete(StateRow).where(
                tuple_(StateRow.channel, StateRow.namespace, StateRow.collection, StateRow.key)
                .in_(keys[i:i + _CHUNK])))
        fresh = [self.state_values(w) for w in latest.values() if w["value"] is not None]
        if fresh:
            s.execute(insert(StateRow), fresh)

    def state_values(self, w: dict[str, Any]) -> dict[str, Any]:
        """The sealed state row of an (indexed) write, as column values."""
        values = {"channel": w["channel"], "namespace": w["namespace"],
                  "collection": w["collection"], "key": w["key"],
                  "kind": w["kind"], "value": w["value"], "customer_id": w["customer_id"],
                  "meter_id": w["meter_id"], "ref": w.get("ref"),
                  "block_number": w["block_number"], "tx_index": w["tx_index"],
                  "seq": w["seq"]}
        return {**values, "mac": self.sealer.seal(StateRow, values)}

    def state_row(self, w: dict[str, Any]) -> StateRow:
        """The sealed state row of an (indexed) write, as an ORM object."""
        return StateRow(**self.state_values(w))

    def reproject(self, s: Session, keys: Iterable[StateKey]) -> int:
        """Rebuild the state rows of ``keys`` from their latest write; the count rebuilt."""
        keys = sorted(set(keys))
        done = 0
        owners: dict[str, Owners] = {}
        for i in range(0, len(keys), _CHUNK):
            part = keys[i:i + _CHUNK]
            s.execute(delete(StateRow).where(
                tuple_(StateRow.channel, StateRow.namespace, StateRow.collection, StateRow.key)
                .in_(part)))
            for channel, ns, coll, key in part:
                w = s.scalars(select(WriteRow).where(
                    WriteRow.channel == channel, WriteRow.namespace == ns,
                    WriteRow.collection == coll, WriteRow.key == key)
                    .order_by(WriteRow.block_number.desc(), WriteRow.tx_index.desc(),
                              WriteRow.seq.desc()).limit(1)).first()
                if w is None or w.value is None:
                    continue
                if channel not in owners:
                    owners[channel] = Owners(
                        lambda kind, k, c=channel: _current(s, c, kind, k))
                idx = index_of(w.kind, w.key, decode_value(w.value), owners[channel])
                s.add(self.state_row({
                    "channel": channel, "namespace": ns, "collection": coll, "key": key,
                    "kind": w.kind,
                    "value": w.value, "customer_id": w.customer_id, "meter_id": w.meter_id,
                    "ref": idx.ref, "block_number": w.block_number, "tx_index": w.tx_index,
                    "seq": w.seq}))
                done += 1
            s.flush()
        return done


def _current(s: Session, channel: str, kind: str, key: str) -> Any:
    value = s.scalar(select(StateRow.value).where(StateRow.channel == channel,
                                                  StateRow.kind == kind, StateRow.key == key)
                     .limit(1))
    return decode_value(value)
