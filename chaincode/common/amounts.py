"""Integer rounding for money and energy: no floats anywhere near them."""

from __future__ import annotations


def div_round(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero (half up for amounts >= 0)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q
