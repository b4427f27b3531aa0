"""The ledger mirror: an organisation's blocks, transactions and state in SQL.

A block listener (:mod:`.listener`) per channel (``energy``, ``market``) follows the
organisation's peer through ``DeliverWithPrivateData`` as an operator and writes each
block, in one SQL transaction, into the tables of :mod:`.schema`, where every ledger row
is named by its channel (SQLite by default, PostgreSQL by URL; Alembic migrations run at
start, :mod:`.database`). Private values come only from the collections
the organisation belongs to, so the mirror holds only what the organisation may hold.
Every ledger row is sealed (:mod:`.seal`); :mod:`.integrity` walks the chain, holds the
mirror against the ledger, raises tamper alerts and repairs from the ledger;
:mod:`.queries` is what pages read.

    mirror = Mirror.open("sqlite:///portal/mirror.sqlite", key_file="portal/mirror.key")
    for channel in ("energy", "market"):
        Listener(mirror.store, PeerSource(connect, channel)).start()
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from .database import migrate, open_engine
from .listener import Listener, ListenerStatus
from .seal import Sealer, load_or_create_key
from .source import LedgerSource, PeerSource
from .store import MirrorStore


@dataclass
class Mirror:
    """An opened mirror database: its engine and store (migrated on open)."""

    engine: Engine
    store: MirrorStore

    @classmethod
    def open(cls, url: str, *, key: bytes | None = None, key_file: Path | None = None,
             run_migrations: bool = True) -> Mirror:
        if key is None:
            if key_file is None:
                raise ValueError("a mirror needs its sealing key or a key file")
            key = load_or_create_key(key_file)
        engine = open_engine(url)
        if run_migrations:
            migrate(engine)
        return cls(engine, MirrorStore(engine, Sealer(key)))

    @property
    def sessions(self):
        return self.store.sessions

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["LedgerSource", "Listener", "ListenerStatus", "Mirror", "MirrorStore",
           "PeerSource"]
