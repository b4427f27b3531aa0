"""The access log: every disclosure, on the ledger (seed 001 steps 6 and 7).

    accesslog~<tokenId>~<txId>   public: which token, its holder, what was disclosed
                                 (hash addresses), how (``contract``: Access returned the
                                 hash addresses; ``service``: a service node served the
                                 content), when (transaction time), whether the owner's
                                 identifying fields went with it, and for a serving the
                                 service node's identity and the request's nonce
    servenonce~<digest>          public: a service-node request nonce already used, so
                                 one signed request is logged (and served) once

Keyed by transaction id, not a counter, so concurrent accesses of one token never
conflict; :func:`entries` orders them by time. The log names tokens, holders and hash
addresses only, never an owner.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from gridledger.formats.utc import format_utc

from ..common.keys import key, prefix_range
from ..common.overlay import Overlay, load_json
from ..shim import ChaincodeError

CONTRACT, SERVICE = "contract", "service"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def log_key(token_id: str, tx_id: str) -> str:
    """Ledger key of one access of a token."""
    return key("accesslog", token_id, tx_id)


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
             "atMicros": (stub.tx_timestamp - _EPOCH) // dt.timedelta(microseconds=1),
             "txId": stub.tx_id, **extra}
    ov.put_json(log_key(token["tokenId"], stub.tx_id), entry)
    return entry


def entries(ov: Overlay, token_id: str) -> list[dict[str, Any]]:
    """A token's log, oldest first (an evaluate: it scans)."""
    start, end = prefix_range("accesslog", token_id)
    found = [load_json(kv.value) for kv in ov.scan(start, end)]
    return sorted(found, key=lambda e: (e["atMicros"], e["txId"]))
