"""Seals on mirror rows: an HMAC over each ledger row, under a key kept outside the database.

Whoever can write the mirror's database but not read the portal's key file (0600, beside
the database, never in it) cannot change a row without breaking its seal, so the local
integrity check finds the edit without asking the peer. Someone who has the key too is
caught by the ledger check, which re-derives rows from the peer's blocks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import inspect

from gridledger.network.layout import write_private

KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """The sealing key in ``path`` (made on first use, mode 0600)."""
    path = Path(path)
    if not path.exists():
        write_private(path, os.urandom(KEY_BYTES).hex())
    raw = bytes.fromhex(path.read_text().strip())
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{path} does not hold a {KEY_BYTES}-byte hex key")
    return raw


def sealed_columns(model: type) -> tuple[str, ...]:
    """The columns a seal covers: all but ``mac``, in table order."""
    return tuple(c.key for c in inspect(model).columns if c.key != "mac")


class Sealer:
    """Computes and checks row seals."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a sealing key needs at least 16 bytes")
        self._key = key
        self._columns: dict[type, tuple[str, ...]] = {}

    def _message(self, model: type, values: dict[str, Any]) -> bytes:
        cols = self._columns.get(model)
        if cols is None:
            cols = self._columns[model] = sealed_columns(model)
        body = [model.__tablename__, *(values.get(c) for c in cols)]
        return json.dumps(body, separators=(",", ":"), default=str).encode()

    def seal(self, model: type, values: dict[str, Any]) -> str:
        """The seal of a row given as its column values."""
        return hmac.new(self._key, self._message(model, values), hashlib.sha256).hexdigest()

    def seal_tuple(self, model: type, values: tuple) -> str:
        """The seal of a row given as its sealed columns' values, in
        :func:`sealed_columns` order (the fast path of the integrity check)."""
        body = [model.__tablename__, *values]
        msg = json.dumps(body, separators=(",", ":"), default=str).encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def seal_row(self, row: Any) -> str:
        return self.seal(type(row), row_values(row))

    def valid(self, row: Any) -> bool:
        """Whether ``row`` (an ORM object) carries its own seal."""
        return hmac.compare_digest(self.seal_row(row), row.mac or "")


def row_values(row: Any) -> dict[str, Any]:
    """Column values of an ORM row."""
    return {c: getattr(row, c) for c in sealed_columns(type(row))}
