"""One transaction's view of the ledger: public state and the private collection.

Fabric gives no read-your-own-writes, so a batch that touches one key several times (two
readings of one meter, two charges to one account) must see its own earlier writes:
domain functions read and write through an ``Overlay``, which writes through to the stub
(the shim batches the puts). Values are canonical JSON, identical bytes on every endorser.

Where a key lives is decided by its kind (the part before the first ``~``), once, in
:mod:`.privacy`: domain code never says "public" or "private", so a record cannot end up
in public state by a slip. Every private JSON value carries a ``salt`` member derived
from the transaction's secret salt (transient ``salt``), because the channel stores the
SHA-256 of each private value and an unsalted hash of a guessable value (a register, a
balance) can be confirmed by guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gridledger.formats.canonical import canonical_json

from ..shim import KV, ChaincodeError, Stub
from .keys import SEP

# Transient key with the transaction's secret salt (the client draws it at random).
TRANSIENT_SALT = "salt"
MIN_SALT_BYTES = 16


def dump_json(value: Any) -> bytes:
    """Canonical JSON bytes for the ledger."""
    return canonical_json(value)


def load_json(raw: bytes | None) -> Any:
    """Decode a ledger value written by ``dump_json`` (None stays None)."""
    return None if raw is None else json.loads(raw)


@dataclass(frozen=True)
class PrivateKinds:
    """Which record kinds live in which private data collection."""

    collection: str
    kinds: frozenset[str]

    def holds(self, k: str) -> bool:
        """True when key ``k`` belongs in the collection."""
        return k.split(SEP, 1)[0] in self.kinds


class Overlay:
    """Read-through, write-through cache of one transaction's state, public and private."""

    def __init__(self, stub: Stub, *, defer_json: bool = False,
                 private: PrivateKinds | None = None) -> None:
        self.stub = stub
        self._cache: dict[str, bytes | None] = {}
        # With defer_json, JSON values are kept as objects and encoded once at flush():
        # a batch rewrites a meter's head and usage day once per reading.
        self._defer = defer_json
        self._objects: dict[str, Any] = {}
        self._private = private
        self._salt: bytes | None = None

    def is_private(self, k: str) -> bool:
        """True when ``k`` lives in the private collection."""
        return self._private is not None and self._private.holds(k)

    # -- reads -------------------------------------------------------------------------

    def get(self, k: str) -> bytes | None:
        """Value of ``k`` as this transaction left it."""
        if k in self._objects:
            return dump_json(self._objects[k])
        if k not in self._cache:
            self._cache[k] = (self.stub.get_private_data(self._private.collection, k)
                              if self.is_private(k) else self.stub.get_state(k))
        return self._cache[k]

    def prefetch(self, keys: Iterable[str]) -> None:
        """Load the keys not cached yet: one round trip for public, one for private keys."""
        missing = sorted({k for k in keys if k not in self._cache})
        public = [k for k in missing if not self.is_private(k)]
        private = [k for k in missing if self.is_private(k)]
        if public:
            for k, v in zip(public, self.stub.get_state_multiple(public), strict=True):
                self._cache[k] = v
        if private:
            values = self.stub.get_private_data_multiple(self._private.collection, private)
            for k, v in zip(private, values, strict=True):
                self._cache[k] = v

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of several keys, in order (one round trip for the uncached ones)."""
        self.prefetch(keys)
        return [self.get(k) for k in keys]

    def get_json(self, k: str) -> Any:
        """Decoded JSON value of ``k`` (None if absent; a private value without its salt)."""
        if k in self._objects:
            return self._objects[k]
        value = load_json(self.get(k))
        if isinstance(value, dict) and self.is_private(k):
            value.pop("salt", None)  # the salt protects the hash; it is nobody's data
        return value

    def scan(self, start: str, end: str) -> Iterator[KV]:
        """Committed keys in [start, end), overlaid with this transaction's writes.

        The range must lie within one record kind, so it is wholly public or private.
        """
        self.flush()
        if self.is_private(start):
            if not getattr(self.stub, "read_only", False):
                # The peer refuses any write after a private range query, and the query
                # after a write ("Queries on pvt data is supported only in a read-only
                # transaction"): a submit function reads private records by key only.
                raise ChaincodeError(f"range scan of private {start.split('~', 1)[0]} records "
                                     "in a transaction that may write", status=500)
            it = self.stub.get_private_data_by_range(self._private.collection, start, end)
        else:
            it = self.stub.get_state_by_range(start, end)
        with it:
            seen: dict[str, bytes] = {kv.key: kv.value for kv in it}
        for k, v in self._cache.items():
            if start <= k < end:
                if v is None:
                    seen.pop(k, None)
                else:
                    seen[k] = v
        for k in sorted(seen):
            yield KV(k, seen[k])

    # -- writes ------------------------------------------------------------------------

    def put(self, k: str, value: bytes) -> None:
        """Write raw bytes to a public key (private values go through :meth:`put_json`)."""
        if self.is_private(k):
            raise ValueError(f"{k} is private: write it with put_json, which salts it")
        self._objects.pop(k, None)
        self.stub.put_state(k, value)
        self._cache[k] = value

    def put_json(self, k: str, value: Any) -> None:
        """Write ``value`` as canonical JSON (at flush() when deferring)."""
        if self._defer:
            self._objects[k] = value
        else:
            self._write_json(k, value)

    def flush(self) -> None:
        """Encode and write the deferred JSON values; a deferring caller must call it."""
        objects, self._objects = self._objects, {}
        for k, value in objects.items():
            self._write_json(k, value)

    def _write_json(self, k: str, value: Any) -> None:
        if not self.is_private(k):
            self.put(k, dump_json(value))
            return
        if not isinstance(value, dict):
            raise ValueError(f"{k} is private: its value must be a JSON object (it is salted)")
        raw = dump_json({**value, "salt": self._salt_for(k)})
        self.stub.put_private_data(self._private.collection, k, raw)
        self._cache[k] = raw

    def _salt_for(self, k: str) -> str:
        if self._salt is None:
            salt = self.stub.get_transient(TRANSIENT_SALT)
            if salt is None or len(salt) < MIN_SALT_BYTES:
                raise ChaincodeError(
                    f"this transaction writes private data: send a fresh random "
                    f"{TRANSIENT_SALT!r} of at least {MIN_SALT_BYTES} bytes in the transient "
                    "map (it salts the hashes the channel keeps of private values)",
                    status=400)
            self._salt = salt
        # Per key, so two equal values under different keys hash differently.
        return hmac.new(self._salt, k.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
