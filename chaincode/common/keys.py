"""Ledger key layout shared by every contract served in one chaincode namespace.

A key is its record kind's prefix and the record's ids joined by ``~``. Ids follow
:mod:`gridledger.formats.ids`, which excludes ``~`` (0x7E), so ``prefix~id~`` ..
``prefix~id\\x7f`` (the next byte) bounds a range scan exactly. Plain keys, not Fabric
composite keys: the stub has no partial-composite-key query.
"""

from __future__ import annotations

SEP = "~"
_END = "\x7f"


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
