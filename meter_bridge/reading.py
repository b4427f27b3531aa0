"""What one look at a meter yields (a sample), and the reading the chaincode records.

A *sample* is what the device said, already in reading units. A *reading* adds the
bridge's bookkeeping: the meter id, the per-meter sequence number, the interval end (the
bridge's UTC clock, second precision), quality and alarms. Its members, and the alarm
kinds, are those of the shared reading format, :mod:`gridledger.formats.reading`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from gridledger.formats.reading import ALARM_KINDS
from gridledger.formats.utc import format_utc, parse_utc


@dataclasses.dataclass(frozen=True)
class MeterSample:
    """Values read from a meter, in the reading's integer units."""

    import_wh: int
    export_wh: int
    voltage_dv: int
    current_ma: int
    power_w: int
    alarms: frozenset[str] = frozenset()
    relay_closed: bool | None = None       # None: the meter has no relay we can see
    power_saving: bool | None = None

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> MeterSample:
        """Build from decoded profile values (reading member names and bit quantities)."""
        alarms = frozenset(
            kind for kind in ALARM_KINDS if values.get(f"{kind}_alarm")
        )
        return cls(
            import_wh=int(values["importWh"]),
            export_wh=int(values.get("exportWh", 0)),  # import-only meters export nothing
            voltage_dv=int(values["voltageDv"]),
            current_ma=int(values["currentMa"]),
            power_w=int(values["powerW"]),
            alarms=alarms,
            relay_closed=values.get("relay"),
            power_saving=values.get("power_saving"),
        )


def build_reading(meter_id: str, seq: int, interval_end: dt.datetime, sample: MeterSample,
                  *, quality: str | None = None) -> dict[str, Any]:
    """The reading object the meter (or the bridge for it) signs."""
    reading: dict[str, Any] = {
        "meterId": meter_id,
        "seq": seq,
        "intervalEnd": format_utc(interval_end),
        "importWh": sample.import_wh,
        "exportWh": sample.export_wh,
        "voltageDv": sample.voltage_dv,
        "currentMa": sample.current_ma,
        "powerW": sample.power_w,
    }
    if quality:
        reading["quality"] = quality
    if sample.alarms:
        reading["alarms"] = sorted(sample.alarms)
    return reading


def interval_end(reading: Mapping[str, Any]) -> dt.datetime:
    """A reading's ``intervalEnd`` as an aware UTC datetime (FormatError if malformed)."""
    return parse_utc(reading["intervalEnd"], "intervalEnd")
