"""Integer ranges for money and energy: no floats, nothing a JSON client would round."""

from __future__ import annotations

from typing import Any

from .errors import FormatError

# JSON numbers above 2**53 lose precision in many clients: refuse them.
MAX_INT = 2**53 - 1


def check_int(value: Any, what: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """Return ``value`` if it is an int (not bool) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f"{what} must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise FormatError(f"{what} must be in [{minimum}, {maximum}], got {value}")
    return value


def parse_decimal(text: Any, what: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """An integer written in ASCII decimal digits (no sign, no spaces, no other scripts)."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 16:
        raise FormatError(f"{what} must be a whole number in ASCII digits, got {text!r}")
    return check_int(int(text), what, minimum=minimum, maximum=maximum)


def check_object(value: Any, what: str, allowed: set[str] | frozenset[str]) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object with no members outside ``allowed``."""
    if not isinstance(value, dict):
        raise FormatError(f"{what} must be a JSON object")
    extra = sorted(set(value) - set(allowed))
    if extra:
        raise FormatError(f"{what} has unknown member(s) {', '.join(extra)}")
    return value
