"""The one error the format modules raise."""

from __future__ import annotations


class FormatError(ValueError):
    """A value does not follow a shared format; the message says which and why."""
