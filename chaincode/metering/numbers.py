"""Integer arithmetic and time formats: no floats anywhere near money or energy."""

from __future__ import annotations

import datetime as dt
import functools
import re

from ..shim import ChaincodeError

# JSON numbers above 2**53 lose precision in many clients: refuse them.
MAX_INT = 2**53 - 1
_RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def div_round(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero (half up for amounts >= 0)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q


def check_int(value: object, what: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """Return ``value`` if it is an int (not bool) within [minimum, maximum]; else 400."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChaincodeError(f"{what} must be an integer, got {value!r}", status=400)
    if not minimum <= value <= maximum:
        raise ChaincodeError(f"{what} must be in [{minimum}, {maximum}], got {value}", status=400)
    return value


def parse_utc(text: object, what: str) -> dt.datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ`` (RFC 3339, UTC, second precision); else 400."""
    if not isinstance(text, str) or not _RFC3339_Z.fullmatch(text):
        raise ChaincodeError(
            f"{what} must be RFC 3339 UTC like 2025-03-01T10:15:00Z, got {text!r}", status=400
        )
    try:
        return _utc(text)
    except ValueError:
        raise ChaincodeError(f"{what} is not a valid date and time: {text!r}", status=400) from None


@functools.lru_cache(maxsize=4096)
def _utc(text: str) -> dt.datetime:
    # The pattern is already checked; building the datetime directly is several times
    # cheaper than strptime, and each reading's instant is parsed more than once.
    return dt.datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                       int(text[14:16]), int(text[17:19]), tzinfo=dt.UTC)


def format_utc(when: dt.datetime) -> str:
    """``when`` as ``YYYY-MM-DDTHH:MM:SSZ`` (sub-seconds dropped)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_hour(text: object, what: str) -> dt.datetime:
    """Parse an RFC 3339 UTC instant that must fall on a whole hour; else 400."""
    when = parse_utc(text, what)
    if when.minute or when.second:
        raise ChaincodeError(f"{what} must be on a whole hour, got {text}", status=400)
    return when
