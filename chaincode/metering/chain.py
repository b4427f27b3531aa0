"""The per-meter hash chain: hash_n = SHA-256(hash_{n-1} || canonical reading n).

Hashes are 32 bytes, kept as lowercase hex; the genesis "previous hash" is 32 zero bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS_HASH = "00" * 32


def link_hash(prev_hash_hex: str, canonical: bytes) -> str:
    """Hash of one reading given its predecessor's hash (hex in, hex out)."""
    return hashlib.sha256(bytes.fromhex(prev_hash_hex) + canonical).hexdigest()


@dataclass(frozen=True)
class RecordedLink:
    """What the ledger holds for one reading: public hashes, private canonical bytes."""

    seq: int
    prev_hash: str
    hash: str
    canonical: bytes | None  # None when the private detail is missing


def first_broken_link(links: Iterable[RecordedLink]) -> dict[str, object] | None:
    """Walk the chain from seq 1; return the first inconsistency, or None if intact.

    Checked per link: the sequence has no gap, the recorded previous hash equals the hash
    recomputed for the preceding reading, and the recorded hash equals the hash recomputed
    from the canonical bytes. ``expected`` is what recomputation gives, ``found`` what the
    ledger records.
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for link in links:
        if link.seq != expected_seq:
            return {"seq": expected_seq, "reason": "missing reading",
                    "expected": expected_seq, "found": link.seq}
        if link.prev_hash != expected_prev:
            return {"seq": link.seq, "reason": "previous hash differs",
                    "expected": expected_prev, "found": link.prev_hash}
        if link.canonical is None:
            return {"seq": link.seq, "reason": "interval detail missing",
                    "expected": link.hash, "found": None}
        recomputed = link_hash(expected_prev, link.canonical)
        if recomputed != link.hash:
            return {"seq": link.seq, "reason": "hash differs",
                    "expected": recomputed, "found": link.hash}
        expected_prev = recomputed
        expected_seq += 1
    return None
