"""UTC instants as ``YYYY-MM-DDTHH:MM:SSZ`` (RFC 3339, second precision)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from .errors import FormatError

_RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)
# Instants before this cannot have a meaning for metering, and keeping them out means
# no arithmetic on them can fall off the start of the calendar.
EARLIEST_YEAR = 1970


def parse_utc(text: Any, what: str) -> dt.datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ`` into an aware UTC datetime."""
    if not isinstance(text, str) or not _RFC3339_Z.fullmatch(text):
        raise FormatError(f"{what} must be RFC 3339 UTC like 2025-03-01T10:15:00Z, got {text!r}")
    try:
        return _utc(text)
    except ValueError:
        raise FormatError(f"{what} is not a valid date and time: {text!r}") from None


@functools.lru_cache(maxsize=4096)
def _utc(text: str) -> dt.datetime:
    # The pattern is already checked; building the datetime directly is several times
    # cheaper than strptime, and each reading's instant is parsed more than once.
    year = int(text[0:4])
    if year < EARLIEST_YEAR:
        raise ValueError(text)
    return dt.datetime(year, int(text[5:7]), int(text[8:10]), int(text[11:13]),
                       int(text[14:16]), int(text[17:19]), tzinfo=dt.UTC)


def format_utc(when: dt.datetime) -> str:
    """``when`` as ``YYYY-MM-DDTHH:MM:SSZ`` (sub-seconds dropped)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_hour(text: Any, what: str) -> dt.datetime:
    """Parse an instant that must fall on a whole hour."""
    when = parse_utc(text, what)
    if when.minute or when.second:
        raise FormatError(f"{what} must be on a whole hour, got {text}")
    return when
