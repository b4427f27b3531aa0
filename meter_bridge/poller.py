"""Per-meter polling: read -> reading -> plausibility -> signature -> queue.

Each meter has its own loop. Readings are taken at interval boundaries of the UTC clock
(every 15 minutes by default, at :00, :15, :30, :45, so intervals line up across meters
and with tariff hours), and at once when the meter reports a newly raised fire, flood or
gas alarm. Sequence numbers continue from the queue, which survives restarts.

The chaincode refuses an ``intervalEnd`` that is not strictly after the previous one or
that lies in the future, so the interval end is the bridge's clock truncated to the second
and, if an alarm reading follows another within the same second, the poller waits for
the next second rather than invent a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Callable
from typing import Any, Protocol

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_fixed,
)

from . import metrics
from .errors import KeyStoreError, MeterError, QueueError
from .keys import SignedReading, pass_through
from .plausibility import Limits, check
from .queue import ReadingQueue
from .reading import MeterSample, build_reading, interval_end

log = logging.getLogger(__name__)


class Meter(Protocol):
    """What the poller and the relay controller need from a meter (Modbus or serial)."""

    meter_id: str

    async def read(self) -> MeterSample:
        """Read every quantity now."""
        ...

    async def wait_alarm(self, timeout: float) -> frozenset[str] | None:
        """Return the alarm set when an alarm is newly raised, or None at timeout."""
        ...

    def supports(self, switch: str) -> bool:
        """True when the meter has ``switch`` ("relay" or "power_saving")."""
        ...

    async def switch(self, switch: str, on: bool) -> bool:
        """Set ``switch``; return the state the meter confirms."""
        ...


class SelfSigningMeter(Protocol):
    """A meter that signs its own readings (keeps its own seq): passed through as given."""

    meter_id: str

    async def read_signed(self) -> tuple[dict[str, Any], str]:
        """The meter's reading object and its base64 DER signature."""
        ...

    async def wait_alarm(self, timeout: float) -> frozenset[str] | None:
        """As :meth:`Meter.wait_alarm`."""
        ...


class Signer(Protocol):
    """Signs for meters that cannot (:class:`.keys.KeyStore`)."""

    def sign(self, reading: dict[str, Any]) -> SignedReading:
        """Sign one reading for its meter."""
        ...


def utc_now() -> dt.datetime:
    """The bridge's clock."""
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class PollConfig:
    """How a meter is polled."""

    interval: float = 900.0        # seconds between readings (15 min; seconds for demos)
    retries: int = 2               # more attempts after a transient read error, per cycle
    retry_delay: float = 2.0
    limits: Limits = dataclasses.field(default_factory=Limits)


class Poller:
    """Polls one meter and queues its signed readings."""

    def __init__(self, meter: Meter | SelfSigningMeter, queue: ReadingQueue, signer: Signer,
                 config: PollConfig = PollConfig(), *,
                 clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.meter = meter
        self.queue = queue
        self.signer = signer
        self.config = config
        self.clock = clock

    async def _sample(self) -> MeterSample:
        """Read the meter; a transient failure is tried again, ``retries`` times at most."""

        async def read() -> MeterSample:
            try:
                return await self.meter.read()  # type: ignore[union-attr]
            except MeterError as exc:
                metrics.READ_ERRORS.labels(type(exc).__name__).inc()
                raise

        def say(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.info("%s: read failed (%s); attempt %d of %d", self.meter.meter_id, exc,
                     state.attempt_number + 1, self.config.retries + 1)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.retries + 1),
            wait=wait_fixed(self.config.retry_delay),
            retry=retry_if_exception(lambda exc: isinstance(exc, MeterError) and exc.transient),
            before_sleep=say,
            reraise=True,       # the meter's own error, not tenacity's RetryError
        )
        return await retrying(read)

    async def _interval_end(self, previous: dict[str, Any] | None) -> dt.datetime:
        now = self.clock().replace(microsecond=0)
        if previous is not None:
            last = interval_end(previous)
            if now <= last:
                # Never reuse or invent a time: wait until the clock passes the last one.
                await asyncio.sleep((last - now).total_seconds() + 1)
                now = max(self.clock().replace(microsecond=0), last + dt.timedelta(seconds=1))
        return now

    async def poll_once(self, reason: str = "interval") -> dict[str, Any] | None:
        """Take one reading and queue it; None when the meter could not be read."""
        meter_id = self.meter.meter_id
        last_seq, previous = self.queue.last(meter_id)
        try:
            if hasattr(self.meter, "read_signed"):
                return await self._pass_through(previous)
            sample = await self._sample()
            interval_end = await self._interval_end(previous)
            reading = build_reading(meter_id, last_seq + 1, interval_end, sample)
            reading, found = check(previous, reading, self.config.limits)
            if found:
                log.warning("%s seq %d suspect: %s", meter_id, reading["seq"], "; ".join(found))
            signed = self.signer.sign(reading)
            self.queue.put(signed.reading, signed.signature)
        except (MeterError, KeyStoreError, QueueError) as exc:
            log.error("%s: no reading this time (%s): %s", meter_id, reason, exc)
            return None
        metrics.READINGS.labels(reading.get("quality", "measured"), reason).inc()
        log.debug("%s seq %d queued (%s)", meter_id, reading["seq"], reason)
        return reading

    async def _pass_through(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        reading, signature = await self.meter.read_signed()  # type: ignore[union-attr]
        signed = pass_through(reading, signature)
        # The meter's signature covers quality: the bridge can only report, not mark.
        _, found = check(previous, reading, self.config.limits)
        if found:
            log.warning("%s seq %s implausible (meter-signed, left as is): %s",
                        reading["meterId"], reading["seq"], "; ".join(found))
        self.queue.put(signed.reading, signed.signature)
        return reading

    def _next_tick(self) -> float:
        """Seconds until the next interval boundary of the UTC clock."""
        now = self.clock().timestamp()
        interval = self.config.interval
        return max(0.0, math.floor(now / interval + 1) * interval - now)

    async def run(self) -> None:
        """Poll forever: at each interval boundary, and at once on a new alarm."""
        while True:
            wait = self._next_tick()
            raised = await self.meter.wait_alarm(wait)
            if raised:
                log.warning("%s: alarm %s raised: reading now", self.meter.meter_id,
                            ", ".join(sorted(raised)))
                await self.poll_once("alarm")
                continue
            await self.poll_once("interval")
