"""The identifier rule: 1-64 characters of ``A-Z a-z 0-9 . _ -``.

Meters, customers, tariffs, accounts and the rest share it. Ledger keys join ids with
``~`` (0x7E), which the rule excludes, so ``prefix~id~`` .. ``prefix~id\\x7f`` bounds a
range scan exactly.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import FormatError

ID_PATTERN = r"[A-Za-z0-9._-]{1,64}"
ID_RE = re.compile(ID_PATTERN)


def is_id(value: Any) -> bool:
    """True when ``value`` is a string that follows the identifier rule."""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def check_id(value: Any, what: str) -> str:
    """Return ``value`` if it is a usable id; else :class:`FormatError` naming ``what``."""
    if not is_id(value):
        raise FormatError(f"{what} must be 1-64 characters of A-Z a-z 0-9 . _ -, got {value!r}")
    return value
