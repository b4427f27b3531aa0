"""Ledger plumbing shared by the metering and wattcoin contracts.

- ``Overlay``: a per-transaction cache over the stub. Fabric gives no read-your-own-writes,
  so a batch that touches one key several times (two readings of one meter, two charges to
  one account) must see its own earlier writes: every domain function reads and writes
  through the overlay, which writes through to the stub (the shim batches the puts).
- key builders: one prefix per record kind, ``~`` between parts. Ids are restricted to
  ``[A-Za-z0-9._-]``, so ``prefix~id~`` .. ``prefix~id\\x7f`` bounds a range scan exactly
  (``~`` is 0x7E, ``\\x7f`` the next byte). Plain keys, not Fabric composite keys: the
  stub has no partial-composite-key query.
- ``load_json`` / ``dump_json``: canonical JSON (identical bytes on every endorser).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..shim import KV, ChaincodeError, Stub, canonical_json

ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
SEP = "~"
_END = "\x7f"

# Private data collection holding interval detail (UtilityMSP + RegulatorMSP).
DETAIL_COLLECTION = "intervalDetail"


def check_id(value: Any, what: str) -> str:
    """Return ``value`` if it is a usable id (1-64 of ``A-Za-z0-9._-``); else 400."""
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise ChaincodeError(
            f"{what} must be 1-64 characters of A-Z a-z 0-9 . _ -, got {value!r}", status=400
        )
    return value


def check_object(value: Any, what: str, allowed: set[str] | frozenset[str]) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object with no members outside ``allowed``; else 400."""
    if not isinstance(value, dict):
        raise ChaincodeError(f"{what} must be a JSON object", status=400)
    extra = sorted(set(value) - set(allowed))
    if extra:
        raise ChaincodeError(f"{what} has unknown member(s) {', '.join(extra)}", status=400)
    return value


def key(*parts: str) -> str:
    """Join key parts with ``~``."""
    return SEP.join(parts)


def prefix_range(*parts: str) -> tuple[str, str]:
    """[start, end) covering every key that begins with ``parts`` plus ``~``."""
    base = key(*parts)
    return base + SEP, base + _END


def seq_part(seq: int) -> str:
    """Zero-padded sequence number, so key order is numeric order."""
    return f"{seq:012d}"


def dump_json(value: Any) -> bytes:
    """Canonical JSON bytes for the ledger."""
    return canonical_json(value)


def load_json(raw: bytes | None) -> Any:
    """Decode a ledger value written by ``dump_json`` (None stays None)."""
    return None if raw is None else json.loads(raw)


class Overlay:
    """Read-through, write-through cache of one transaction's public state."""

    def __init__(self, stub: Stub, *, defer_json: bool = False) -> None:
        self.stub = stub
        self._cache: dict[str, bytes | None] = {}
        # With defer_json, JSON values are kept as objects and encoded once at flush():
        # a batch rewrites a meter's head and usage day once per reading.
        self._defer = defer_json
        self._objects: dict[str, Any] = {}

    def get(self, k: str) -> bytes | None:
        """Value of ``k`` as this transaction left it."""
        if k in self._objects:
            return dump_json(self._objects[k])
        if k not in self._cache:
            self._cache[k] = self.stub.get_state(k)
        return self._cache[k]

    def prefetch(self, keys: Iterable[str]) -> None:
        """Load the keys not cached yet in one ``get_state_multiple`` round trip."""
        missing = sorted({k for k in keys if k not in self._cache})
        if missing:
            for k, v in zip(missing, self.stub.get_state_multiple(missing), strict=True):
                self._cache[k] = v

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of several keys, in order (one round trip for the uncached ones)."""
        self.prefetch(keys)
        return [self._cache[k] for k in keys]

    def get_json(self, k: str) -> Any:
        """Decoded JSON value of ``k`` (None if absent)."""
        if k in self._objects:
            return self._objects[k]
        return load_json(self.get(k))

    def put(self, k: str, value: bytes) -> None:
        """Write ``k`` (visible to later reads of this overlay)."""
        self._objects.pop(k, None)
        self.stub.put_state(k, value)
        self._cache[k] = value

    def put_json(self, k: str, value: Any) -> None:
        """Write ``value`` as canonical JSON (at flush() when deferring)."""
        if self._defer:
            self._objects[k] = value
        else:
            self.put(k, dump_json(value))

    def flush(self) -> None:
        """Encode and write the deferred JSON values; a deferring caller must call it."""
        objects, self._objects = self._objects, {}
        for k, value in objects.items():
            self.put(k, dump_json(value))

    def scan(self, start: str, end: str) -> Iterator[KV]:
        """Committed keys in [start, end), overlaid with this transaction's writes."""
        self.flush()
        with self.stub.get_state_by_range(start, end) as it:
            seen: dict[str, bytes] = {kv.key: kv.value for kv in it}
        for k, v in self._cache.items():
            if start <= k < end:
                if v is None:
                    seen.pop(k, None)
                else:
                    seen[k] = v
        for k in sorted(seen):
            yield KV(k, seen[k])
