"""Simulated energy registers kept across restarts of the simulator."""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path

from .household import SimClock, SimMeter


class RegisterState:
    """Energy registers kept in a JSON file, so a restarted simulator never runs backwards.

    A real meter's registers survive a power cut; a restarted simulator would start again
    from its seed and the ledger would refuse every reading after (``register-backwards``).
    The registers are saved every ``every`` seconds and at a clean stop. After a crash
    the last save may be up to ``every`` seconds old, so a restored register is advanced by
    what ``max_power_w`` could have added meanwhile: forward, never back.
    """

    def __init__(self, path: str | Path, *, every: float = 1.0, speed: float = 1.0,
                 max_power_w: float = 10_000.0) -> None:
        self.path = Path(path)
        self.every = every
        self.margin_wh = math.ceil(max_power_w * every * max(speed, 1.0) / 3600.0)

    def restore(self, meters: list[SimMeter]) -> int:
        """Put saved registers (plus the margin) into ``meters``; return how many."""
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return 0
        restored = 0
        for meter in meters:
            entry = saved.get(meter.meter_id) if isinstance(saved, dict) else None
            if isinstance(entry, dict):
                meter.import_wh = max(meter.import_wh, float(entry["importWh"]) + self.margin_wh)
                meter.export_wh = max(meter.export_wh,
                                      float(entry["exportWh"]) + (self.margin_wh
                                                                  if meter.solar_peak_w else 0))
                meter.relay_closed = bool(entry.get("relayClosed", True))
                restored += 1
        return restored

    def save(self, meters: list[SimMeter]) -> None:
        """Write every register (temporary file, fsync, rename)."""
        data = {m.meter_id: {"importWh": m.import_wh, "exportWh": m.export_wh,
                             "relayClosed": m.relay_closed} for m in meters}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    async def keep(self, meters: list[SimMeter], clock: SimClock) -> None:
        """Save every ``every`` seconds until cancelled, and once more on the way out."""
        try:
            while True:
                await asyncio.sleep(self.every)
                for meter in meters:
                    meter.advance(clock.now())
                self.save(meters)
        finally:
            for meter in meters:
                meter.advance(clock.now())
            self.save(meters)
