"""The simulated household behind every simulated meter, and the simulated clock.

Load follows a daily curve (night base, morning and evening peaks) with noise; prosumers
(every third meter) have solar panels exporting around noon. The import and export
registers integrate power over simulated time and only grow. The relay cuts both
directions (anti-islanding); power-saving mode trims the load.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time

from ..reading import MeterSample


class SimClock:
    """Simulated UNIX time: starts at ``start`` (default now) and runs ``speed`` x real."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self.speed = speed
        self._origin = time.time() if start is None else start
        self._t0 = time.monotonic()

    def now(self) -> float:
        """Simulated seconds since the epoch."""
        return self._origin + (time.monotonic() - self._t0) * self.speed


@dataclasses.dataclass
class SimMeter:
    """One simulated household meter (a consumer, or a prosumer with solar)."""

    meter_id: str
    base_load_w: float
    solar_peak_w: float
    t: float                              # simulated time integrated up to
    rng: random.Random
    import_wh: float = 0.0
    export_wh: float = 0.0
    power_w: float = 0.0
    voltage_dv: int = 2300
    relay_closed: bool = True
    power_saving: bool = False
    alarms: set[str] = dataclasses.field(default_factory=set)
    utc_offset_h: float = 7.0             # local time for the daily curve (Vietnam)
    meter_seq: int = 0                    # line protocol counter

    def demand_w(self, t: float) -> float:
        """Load minus solar at simulated time ``t``, before noise and the relay."""
        hour = ((t / 3600.0) + self.utc_offset_h) % 24.0
        shape = (0.35 + 0.8 * math.exp(-(((hour - 7.5) / 1.2) ** 2))
                 + 1.5 * math.exp(-(((hour - 19.5) / 2.0) ** 2)))
        load = self.base_load_w * shape * (0.6 if self.power_saving else 1.0)
        solar = 0.0
        if self.solar_peak_w and 6.0 < hour < 18.0:
            solar = self.solar_peak_w * math.sin(math.pi * (hour - 6.0) / 12.0) ** 1.5
        return load - solar

    def advance(self, now: float) -> None:
        """Integrate energy up to ``now`` (steps of at most one simulated minute), then
        take the instantaneous values at ``now``."""
        while self.t < now:
            step = min(60.0, now - self.t)
            power = self._noisy(self.t + step / 2)
            if power >= 0:
                self.import_wh += power * step / 3600.0
            else:
                self.export_wh += -power * step / 3600.0
            self.t += step
        self.power_w = self._noisy(now)
        self.voltage_dv = round(2300 + self.rng.gauss(0, 15))

    def _noisy(self, t: float) -> float:
        if not self.relay_closed:
            return 0.0
        return self.demand_w(t) * self.rng.uniform(0.85, 1.15)

    def sample(self) -> MeterSample:
        """Register values now, in reading units (energy floors: registers never round up)."""
        current = abs(self.power_w) / (self.voltage_dv / 10) * 1000 if self.voltage_dv else 0
        return MeterSample(
            import_wh=int(self.import_wh), export_wh=int(self.export_wh),
            voltage_dv=self.voltage_dv, current_ma=round(current), power_w=round(self.power_w),
            alarms=frozenset(self.alarms), relay_closed=self.relay_closed,
            power_saving=self.power_saving,
        )


def make_meters(count: int, prefix: str, clock: SimClock, seed: int | None) -> list[SimMeter]:
    """``count`` meters; every third one is a prosumer. Deterministic for a given seed."""
    meters = []
    for i in range(1, count + 1):
        rng = random.Random(None if seed is None else seed * 1000 + i)
        meters.append(SimMeter(
            meter_id=f"{prefix}{i}", base_load_w=rng.uniform(400, 900),
            solar_peak_w=rng.uniform(3000, 5000) if i % 3 == 0 else 0.0,
            t=clock.now(), rng=rng, import_wh=float(rng.randint(1_000_000, 5_000_000)),
            export_wh=float(rng.randint(0, 500_000)) if i % 3 == 0 else 0.0,
        ))
    return meters
