"""Canonical JSON: sorted members, no whitespace, UTF-8, no NaN: identical bytes everywhere."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes (what endorsers, signers and hashes agree on)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
