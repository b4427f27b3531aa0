"""String arguments to integers. Fabric passes every argument as a string.

Both refuse with status 400 (the integer range checks raise
:class:`gridledger.formats.errors.FormatError`, which the shim answers with 400 too).
"""

from __future__ import annotations

from gridledger.formats.numbers import check_int

from ..shim import ChaincodeError


def int_arg(text: str, what: str, minimum: int = 0) -> int:
    """An integer argument (as Python's ``int()`` reads it) of at least ``minimum``."""
    try:
        value = int(text)
    except ValueError:
        raise ChaincodeError(f"{what} must be an integer, got {text!r}", status=400) from None
    return check_int(value, what, minimum=minimum)


def amount_arg(text: str) -> int:
    """A token amount: decimal digits only (no sign), at most 16 of them, above zero."""
    # isascii: str.isdigit alone accepts superscripts and other scripts digits, which int()
    # then rejects (a 500) or reads as a number nobody typed.
    if not text.isascii() or not text.isdigit() or len(text) > 16:
        raise ChaincodeError(f"amount must be a positive integer, got {text!r}", status=400)
    value = int(text)
    if value <= 0:
        raise ChaincodeError("amount must be positive", status=400)
    return value
