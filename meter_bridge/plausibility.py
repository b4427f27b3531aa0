"""Plausibility of a reading against the meter's previous one.

An energy register that runs backwards, or forward faster than the meter's maximum power
allows over the elapsed time, is *suspect*: the reading gets ``quality: "suspect"`` and is
still signed, queued and submitted - never dropped. Deciding what a suspect reading means
(a meter swap, a fault, tampering) is for people and the chaincode, not the bridge; the
bridge's job is to record what the meter said and say that it looked wrong.

The comparison is always with the previous reading the bridge produced for the meter
(suspect or not), which the queue keeps across restarts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .reading import interval_end


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a meter can plausibly do.

    ``max_power_w``: the largest power the installation can draw or feed (e.g. the main
    fuse: 63 A x 230 V x 3 phases = 43.5 kW). ``slack_wh``: register resolution to forgive
    (float32 registers, or a meter that rounds to 0.1 kWh, step by more than 1 Wh).
    ``max_voltage_dv``: above this the voltage value is suspect.
    """

    max_power_w: int = 50_000
    slack_wh: int = 100
    max_voltage_dv: int = 5_000


def problems(previous: dict[str, Any] | None, reading: dict[str, Any],
             limits: Limits = Limits()) -> list[str]:
    """Reasons ``reading`` is implausible after ``previous`` (empty when it is fine)."""
    found: list[str] = []
    if reading["voltageDv"] > limits.max_voltage_dv:
        found.append(f"voltage {reading['voltageDv'] / 10} V above "
                     f"{limits.max_voltage_dv / 10} V")
    if abs(reading["powerW"]) > limits.max_power_w:
        found.append(f"power {reading['powerW']} W beyond +-{limits.max_power_w} W")
    if previous is None:
        return found
    elapsed = interval_end(reading) - interval_end(previous)
    seconds = elapsed.total_seconds()
    if seconds <= 0:
        found.append(f"intervalEnd {reading['intervalEnd']} not after "
                     f"{previous['intervalEnd']}")
        seconds = 0
    # Energy can grow at most max power x elapsed time (plus register resolution).
    allowed = limits.max_power_w * seconds / 3600 + limits.slack_wh
    for member in ("importWh", "exportWh"):
        delta = reading[member] - previous[member]
        if delta < 0:
            found.append(f"{member} went backwards by {-delta} Wh "
                         f"({previous[member]} -> {reading[member]})")
        elif delta > allowed:
            found.append(f"{member} jumped {delta} Wh in {seconds:.0f} s "
                         f"(at most {allowed:.0f} Wh at {limits.max_power_w} W)")
    return found


def check(previous: dict[str, Any] | None, reading: dict[str, Any],
          limits: Limits = Limits()) -> tuple[dict[str, Any], list[str]]:
    """Return the reading (marked suspect when implausible) and the reasons."""
    found = problems(previous, reading, limits)
    if not found:
        return reading, found
    return {**reading, "quality": "suspect"}, found
