"""The access log: every disclosure, on the ledger (seed 001 steps 6 and 7).

    accesslog~<tokenId>~<micros>~<txId>
                                 public: which token, its holder, what was disclosed
                                 (hash addresses), how (``contract``: Access returned the
                                 hash addresses; ``service``: a service node served the
                                 content), when (transaction time), whether the owner's
                                 identifying fields went with it, and for a serving the
                                 service node's identity and the request's nonce
    servenonce~<digest>          public: a service-node request nonce already used, so
                                 one signed request is logged (and served) once

Keyed by transaction time (16 digits of microseconds) and id, not a counter, so
concurrent accesses of one token never conflict and key order is time order: AccessLog
reads one page at a time (:func:`page`, at most :data:`MAX_PAGE` entries, resumed after
the last key seen), so a holder who runs Access a million times cannot make the owner's
audit view unreadable. The log names tokens, holders and hash addresses only, never an
owner.

What it is not: a complete record of who learned a hash address. Token records are
public (``token~`` lists the hash addresses in scope), and a hash address is a name, not
a capability: ``contract`` entries record who ran Access, not who read a token. What is
complete is the ``service`` entries: content leaves a service node only after its Serve
committed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from gridledger.formats.numbers import check_int
from gridledger.formats.utc import format_utc

from ..common.keys import key, prefix_range
from ..common.overlay import Overlay, load_json
from ..shim import ChaincodeError

CONTRACT, SERVICE = "contract", "service"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_PAGE = 100
# A page cursor: the part of a log key after the token (time and transaction id).
_CURSOR = re.compile(r"\d{16}~[A-Za-z0-9]{1,128}")


def _micros(when: dt.datetime) -> int:
    return (when - _EPOCH) // dt.timedelta(microseconds=1)


def log_key(token_id: str, when: dt.datetime, tx_id: str) -> str:
    """Ledger key of one access of a token (key order is time order)."""
    return key("accesslog", token_id, f"{_micros(when):016d}", tx_id)


def nonce_key(token_id: str, nonce: str) -> str:
    """Ledger key marking a service-node request nonce as used."""
    digest = hashlib.sha256(f"{token_id}\n{nonce}".encode()).hexdigest()
    return key("servenonce", digest)


def use_nonce(ov: Overlay, token_id: str, nonce: str) -> None:
    """Mark ``nonce`` used for ``token_id``; 409 if it was (a replayed request)."""
    k = nonce_key(token_id, nonce)
    if ov.get(k) is not None:
        raise ChaincodeError("Serve: this signed request was served already (its nonce is "
                             "used): a request is good once", status=409)
    ov.put_json(k, {"tokenId": token_id, "txId": ov.stub.tx_id})


def record(ov: Overlay, token: dict[str, Any], how: str, hash_addresses: list[str],
           **extra: Any) -> dict[str, Any]:
    """Write one access log entry for this transaction."""
    stub = ov.stub
    entry = {"tokenId": token["tokenId"], "kind": how, "holder": token["holder"],
             "dactId": token["dactId"], "hashAddresses": hash_addresses,
             "ownerInfo": token["ownerInfo"], "at": format_utc(stub.tx_timestamp),
             # The transaction time to the microsecond, to order the log: two accesses
             # often share a second.
             "atMicros": _micros(stub.tx_timestamp),
             "txId": stub.tx_id, **extra}
    ov.put_json(log_key(token["tokenId"], stub.tx_timestamp, stub.tx_id), entry)
    return entry


def page(ov: Overlay, token_id: str, after: str, limit: str) -> dict[str, Any]:
    """One page of a token's log, oldest first (an evaluate: it scans at most ``limit``
    + 1 keys): {"entries", "next"}; ``next`` is the cursor of the following page, or
    None at the end. ``after`` "" starts at the beginning."""
    if not limit.isascii() or not limit.isdigit() or len(limit) > 3:
        raise ChaincodeError(f"limit must be a number of entries 1-{MAX_PAGE}", status=400)
    count = check_int(int(limit), "limit", minimum=1, maximum=MAX_PAGE)
    if after and not _CURSOR.fullmatch(after):
        raise ChaincodeError("after must be a page's next cursor (or empty)", status=400)
    start, end = prefix_range("accesslog", token_id)
    first = start + after if after else start
    found: list[tuple[str, dict[str, Any]]] = []
    with ov.stub.get_state_by_range(first, end) as it:
        for kv in it:
            if after and kv.key == first:
                continue  # the last entry of the previous page
            found.append((kv.key, load_json(kv.value)))
            if len(found) > count:
                break
    more = len(found) > count
    found = found[:count]
    return {"entries": [e for _, e in found],
            "next": found[-1][0][len(start):] if more else None}
