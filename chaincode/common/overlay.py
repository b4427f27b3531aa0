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

Key names are data too: the channel also stores the SHA-256 of every private *key*, and
``meterhead~<meter>`` or ``wcacct~<address>`` can be hashed by anyone who knows the meter
or the address. In a keyed collection the overlay therefore stores a private key under
its *physical* name, the kind and then, instead of the first id, a tag of it:
HMAC-SHA-256 under the collection's key secret (a random value kept in the collection
itself, ``keysecret``), first 128 bits in hex; the rest of the key stays, so a range over
one meter's readings is still a range. Domain code keeps using logical names
(``reading~<meter>~<seq>``); each private value names its logical key in its ``key``
member, so those entitled to read it (the collection's members, their portals' mirrors)
know what it is, and nobody else can compute or confirm which key hash is whose.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gridledger.formats.canonical import canonical_json

from ..shim import KV, ChaincodeError, PeerError, Stub
from .keys import SEP

# Transient key with the transaction's secret salt (the client draws it at random).
TRANSIENT_SALT = "salt"
MIN_SALT_BYTES = 16
# The private record holding a keyed collection's key secret (its name has no id part,
# so it is stored under this very name), and how long a tag is.
KEY_SECRET = "keysecret"
TAG_HEX = 32
# Members every private value carries besides its own: the salt and its logical key.
SALT_MEMBER, KEY_MEMBER = "salt", "key"
_RANGE_END = "\x7f"


def dump_json(value: Any) -> bytes:
    """Canonical JSON bytes for the ledger."""
    return canonical_json(value)


def load_json(raw: bytes | None) -> Any:
    """Decode a ledger value written by ``dump_json`` (None stays None)."""
    return None if raw is None else json.loads(raw)


@dataclass(frozen=True)
class PrivateKinds:
    """Which record kinds live in which private data collection, and which of them are
    stored under keyed names (module docstring): those whose first id names a person, a
    meter, an account or a pseudonym."""

    collection: str
    kinds: frozenset[str]
    keyed: frozenset[str] = frozenset()
    # Where the key secret is kept, when not in the collection itself: a collection of
    # one member (regulatorOnly) keys its names with the secret of a collection that
    # member belongs to (customerData), so no second secret is needed.
    secret_collection: str | None = None

    def holds(self, k: str) -> bool:
        """True when key ``k`` belongs in the collection."""
        return k.split(SEP, 1)[0] in self.kinds

    def is_keyed(self, k: str) -> bool:
        """True when key ``k`` is stored under a keyed name."""
        kind, sep, rest = k.partition(SEP)
        return kind in self.keyed and bool(sep) and bool(rest)


def key_tag(secret: bytes, identifier: str) -> str:
    """The tag that stands for ``identifier`` in a keyed collection's key names."""
    return hmac.new(secret, identifier.encode("utf-8"), hashlib.sha256).hexdigest()[:TAG_HEX]


def physical_key(secret: bytes, k: str) -> str:
    """``k`` as a keyed collection stores it: its first id replaced by that id's tag
    (a key with no id part, such as ``keysecret``, is stored as it is)."""
    kind, sep, rest = k.partition(SEP)
    if not sep or not rest:
        return k
    first, sep2, tail = rest.partition(SEP)
    return f"{kind}{SEP}{key_tag(secret, first)}{sep2}{tail}"


def logical_key(raw: bytes | None, fallback: str) -> str:
    """The logical key a private value names (``fallback`` when it names none)."""
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:
        return fallback
    named = value.get(KEY_MEMBER) if isinstance(value, dict) else None
    return named if isinstance(named, str) else fallback


def _merge_sorted(stored: Iterator[KV], written: list[tuple[str, bytes | None]]
                  ) -> Iterator[KV]:
    """Committed keys (in key order) overlaid with this transaction's view of the same
    range (``written``, sorted: a value replaces the committed one, None hides it)."""
    i = 0
    for kv in stored:
        while i < len(written) and written[i][0] < kv.key:
            if written[i][1] is not None:
                yield KV(written[i][0], written[i][1])
            i += 1
        if i < len(written) and written[i][0] == kv.key:
            if written[i][1] is not None:
                yield KV(written[i][0], written[i][1])
            i += 1
            continue
        yield kv
    for k, v in written[i:]:
        if v is not None:
            yield KV(k, v)


def _merge_unordered(stored: Iterator[KV], written: dict[str, bytes | None]) -> Iterator[KV]:
    """As :func:`_merge_sorted`, in storage order (the keys ``written`` holds that are not
    committed come last)."""
    pending = dict(written)
    for kv in stored:
        if kv.key in pending:
            value = pending.pop(kv.key)
            if value is not None:
                yield KV(kv.key, value)
            continue
        yield kv
    for k in sorted(pending):
        if pending[k] is not None:
            yield KV(k, pending[k])


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
        self._key_secret: bytes | None = None

    def is_private(self, k: str) -> bool:
        """True when ``k`` lives in the private collection."""
        return self._private is not None and self._private.holds(k)

    def physical(self, k: str) -> str:
        """The name ``k`` is stored under: keyed for a private key of a keyed collection,
        else ``k`` itself."""
        if not self.is_private(k) or not self._private.is_keyed(k):
            return k
        return physical_key(self.key_secret(), k)

    def key_secret(self) -> bytes:
        """The keyed collection's key secret, read once per transaction (a member's peer
        holds it; on any other peer this is a refusal, as every private read would be)."""
        if self._key_secret is None:
            collection = self._private.secret_collection or self._private.collection
            try:
                raw = self.stub.get_private_data(collection, KEY_SECRET)
            except PeerError:
                raise ChaincodeError(f"this peer does not hold {collection}: ask a peer of "
                                     "its members", status=404) from None
            if raw is None:
                raise ChaincodeError(f"{collection} has no key secret yet: the Utility's "
                                     "operator sets it once with metering:InitKeySecret "
                                     "(gridledger network up does)", status=503)
            secret = load_json(raw).get("secret")
            self._key_secret = bytes.fromhex(secret)
        return self._key_secret

    def holds_collection(self) -> bool:
        """Whether this peer holds the (keyed) collection: True on its members' peers.

        Only the key secret is read (a peer outside the collection records nothing: its
        read fails before the peer notes it)."""
        try:
            self.key_secret()
        except ChaincodeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def private_hash(self, k: str) -> bytes | None:
        """SHA-256 of the stored value of private key ``k`` (any peer has it)."""
        return self.stub.get_private_data_hash(self._private.collection, self.physical(k))

    # -- reads -------------------------------------------------------------------------

    def get(self, k: str) -> bytes | None:
        """Value of ``k`` as this transaction left it."""
        if k in self._objects:
            return dump_json(self._objects[k])
        if k not in self._cache:
            self._cache[k] = (self.stub.get_private_data(self._private.collection,
                                                         self.physical(k))
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
            values = self.stub.get_private_data_multiple(
                self._private.collection, [self.physical(k) for k in private])
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
            # The salt protects the hash and the key names the record: nobody's data.
            value.pop(SALT_MEMBER, None)
            value.pop(KEY_MEMBER, None)
        return value

    def scan(self, start: str, end: str, *, limit: int | None = None,
             ordered: bool = True) -> Iterator[KV]:
        """Committed keys in [start, end), overlaid with this transaction's writes.

        The range must lie within one record kind, so it is wholly public or private; in
        a keyed collection, within one kind or within one first id (``reading~<meter>~``).
        Private keys come back as the logical keys their values name.

        Lazy: the peer's iterator is read page by page as the caller consumes, and closed
        (QUERY_STATE_CLOSE) when the caller stops (``close()`` on the generator, or the
        generator dropped) or after ``limit`` keys; so a caller that needs the first n
        keys reads about n, whatever the range holds, and never meets the peer's silent
        truncation at ``ledger.state.totalQueryLimit``. Keys come in key order, except a
        whole keyed private kind (stored under tags, not names): with ``ordered`` it is
        read whole and sorted (as before), with ``ordered=False`` it streams in storage
        order (for sums, which need no order).
        """
        self.flush()
        if self.is_private(start):
            if not getattr(self.stub, "read_only", False):
                # The peer refuses any write after a private range query, and the query
                # after a write ("Queries on pvt data is supported only in a read-only
                # transaction"): a submit function reads private records by key only.
                raise ChaincodeError(f"range scan of private {start.split('~', 1)[0]} records "
                                     "in a transaction that may write", status=500)
            first, last = self._physical_range(start, end)
            opened = self.stub.get_private_data_by_range(self._private.collection, first, last)
            # Storage order is key order, except over a whole keyed kind: tags, not ids.
            kind = start.partition(SEP)[0]
            in_order = first != start or not self._private.is_keyed(f"{kind}{SEP}x")
        else:
            opened = self.stub.get_state_by_range(start, end)
            in_order = True
        written = sorted((k, v) for k, v in self._cache.items() if start <= k < end)
        count = 0
        if limit is not None and limit <= 0:
            opened.close()
            return
        with opened as it:
            stored = (KV(logical_key(kv.value, kv.key), kv.value) if self.is_private(start)
                      else kv for kv in it)
            if in_order:
                merged = _merge_sorted(stored, written)
            elif ordered:
                merged = _merge_sorted(iter(sorted(stored, key=lambda kv: kv.key)), written)
            else:
                merged = _merge_unordered(stored, dict(written))
            for kv in merged:
                count += 1
                yield kv
                if limit is not None and count >= limit:
                    return  # before pulling one more: the range is closed here

    def _physical_range(self, start: str, end: str) -> tuple[str, str]:
        """Range bounds as stored: a whole kind stays as it is; a range within one first
        id gets that id's tag at both ends."""
        if not self._private.is_keyed(start):
            return start, end
        kind, _, rest = start.partition(SEP)
        logical = f"{kind}{SEP}{rest.partition(SEP)[0]}"
        after = end[len(logical):]
        if not end.startswith(logical) or not (after in ("", _RANGE_END)
                                               or after.startswith(SEP)):
            raise ChaincodeError(f"a range over keyed {kind} records must stay within one "
                                 f"id ({start!r} .. {end!r})", status=500)
        stored = f"{kind}{SEP}{key_tag(self.key_secret(), rest.partition(SEP)[0])}"
        return stored + start[len(logical):], stored + after

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
        stored = self.physical(k)
        raw = dump_json({**value, SALT_MEMBER: self._salt_for(stored), KEY_MEMBER: k})
        self.stub.put_private_data(self._private.collection, stored, raw)
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
