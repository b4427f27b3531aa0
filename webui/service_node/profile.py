"""A customer's consumption profile, produced from the Utility's private readings.

The profile is what an aggregator forecasts a virtual power plant with: energy per
interval, nothing else. It names no customer and no meter (those are the owner's
identifying fields, kept beside it and served only when the DACT grants them), and it
carries a random nonce, so its hash address cannot be confirmed by guessing its values.
Bytes: canonical JSON (sorted members, no spaces).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from gridledger.formats.canonical import canonical_json

MEDIA_TYPE = "application/json"
KIND = "gridledger/consumption-profile/v1"


def build(readings: Sequence[dict[str, Any]]) -> bytes:
    """The profile of ``readings`` (records as metering:GetReadings answers them)."""
    intervals = [{"end": r["intervalEnd"], "importWh": r["importDeltaWh"],
                  "exportWh": r["exportDeltaWh"]} for r in readings]
    return canonical_json({
        "kind": KIND,
        "from": intervals[0]["end"] if intervals else None,
        "to": intervals[-1]["end"] if intervals else None,
        "intervals": intervals,
        "importWh": sum(i["importWh"] for i in intervals),
        "exportWh": sum(i["exportWh"] for i in intervals),
        "nonce": os.urandom(16).hex(),
    })
