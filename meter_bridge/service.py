"""``gridledger bridge run``: the bridge as a long-running service.

A configuration (:mod:`.config`) in, a running bridge out: meters, queue, keys, the
Fabric ledger (:mod:`.fabric_ledger`), structured logs on standard error, and a small HTTP
endpoint (on 127.0.0.1 unless configured otherwise) with

- ``GET /metrics``: Prometheus text format (:mod:`.metrics`);
- ``GET /healthz``: JSON; 200 when the ledger is reachable and the oldest uncommitted
  reading is younger than ``health.max_queue_age``, else 503 with the reason
  (:class:`Health`; served by :mod:`.http_endpoint`).

SIGTERM or SIGINT stops it cleanly (what is queued stays queued for the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import signal
import sys
import time
from typing import Any

from gridledger.errors import GridLedgerError

from . import metrics
from .bridge import Bridge, open_meters
from .config import BridgeConfig
from .errors import BridgeError, ConfigError
from .fabric_ledger import FabricLedger, LedgerConfig
from .http_endpoint import serve_http
from .keys import KeyStore
from .queue import ReadingQueue
from .reading import interval_end

log = logging.getLogger(__name__)

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Structured (or plain) logs on standard error, replacing any earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # pymodbus logs every unanswered request at ERROR; the bridge logs its own summary.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class Health:
    """The /healthz answer, computed from the queue and the ledger's state."""

    def __init__(self, config: BridgeConfig, queue: ReadingQueue, ledger: FabricLedger,
                 meter_ids: list[str]) -> None:
        self.config = config
        self.queue = queue
        self.ledger = ledger
        self.meter_ids = meter_ids
        self.started = time.time()

    def report(self) -> tuple[bool, dict[str, Any]]:
        ledger = self.ledger.health.snapshot()
        depth, oldest = self.queue.depth(), self.queue.oldest_age() or 0.0
        refused = len(self.queue.refused())
        problems = []
        if ledger["unavailable_since"] is not None:
            away = time.time() - ledger["unavailable_since"]
            problems.append(f"ledger unreachable for {away:.0f} s: {ledger['last_error']}")
        if oldest > self.config.max_queue_age:
            problems.append(f"oldest uncommitted reading is {oldest:.0f} s old")
        meters, stale = {}, []
        now = time.time()
        for meter_id in self.meter_ids:
            seq, last = self.queue.last(meter_id)
            end = last["intervalEnd"] if last else None
            meters[meter_id] = {"lastSeq": seq, "lastIntervalEnd": end}
            # No reading for three intervals (since start, or since the last one): say so,
            # without failing the health check (a meter away is the meter's problem).
            since = max(self.started, interval_end(last).timestamp() if last else 0.0)
            if now - since > 3 * self.config.poll.interval + 10:
                stale.append(meter_id)
        metrics.LEDGER_AVAILABLE.set(0 if ledger["unavailable_since"] is not None else 1)
        metrics.LAST_COMMIT.set(ledger["last_commit"] or 0)
        metrics.EVENTS_CONNECTED.set(1 if ledger["events_connected"] else 0)
        metrics.QUEUE_DEPTH.set(depth)
        metrics.QUEUE_OLDEST.set(oldest)
        metrics.REFUSED.set(refused)
        body = {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "uptimeSeconds": round(time.time() - self.started, 1),
            "queue": {"depth": depth, "oldestAgeSeconds": round(oldest, 1), "refused": refused},
            "ledger": ledger,
            "meters": meters,
            "staleMeters": stale,
        }
        return not problems, body


async def run_bridge(config: BridgeConfig) -> None:
    """Run the configured bridge until cancelled."""
    from gridledger.clients.session import Session

    try:
        meters = open_meters(list(config.meters), timeout=config.read_timeout)
    except ValueError as exc:
        raise ConfigError(f"{config.source}: {exc}") from None
    queue = ReadingQueue(config.queue, archive=config.archive)
    keys = KeyStore(config.keys)
    session = Session(config.ledger.state_dir, config.ledger.org)
    # What the file leaves open (channel, chaincode) stays with the ledger's own defaults.
    chosen = {k: v for k, v in (("channel", config.ledger.channel),
                                ("chaincode", config.ledger.chaincode)) if v is not None}
    ledger = FabricLedger.from_session(
        session, config.ledger.identity, peer_org=config.ledger.peer_org,
        config=LedgerConfig(checkpoint=config.checkpoint, **chosen))
    try:
        # Fail at start, not at the first batch, when the profile or identity is missing.
        await asyncio.to_thread(ledger.gateway)
    except GridLedgerError as exc:
        queue.close()
        raise ConfigError(f"{config.source}: ledger: {exc}") from None
    bridge = Bridge(meters, queue, keys, ledger, poll=config.poll, send=config.send,
                    audit_path=config.audit)
    health = Health(config, queue, ledger, list(meters))
    server = None
    if config.http.port is not None:
        try:
            server = await serve_http(config.http.host, config.http.port, health.report)
        except OSError as exc:
            ledger.close()
            queue.close()
            raise ConfigError(f"{config.source}: http: cannot listen on {config.http.host}:"
                              f"{config.http.port}: {exc.strerror}") from None
        bound = server.address
        log.info("metrics and health on http://%s:%d/ (/metrics, /healthz)", bound[0],
                 bound[1], extra={"http_port": bound[1]})
    log.info("bridge started: %d meters, queue %s (%d waiting), ledger %s as %s/%s",
             len(meters), config.queue, queue.depth(), config.ledger.state_dir,
             config.ledger.org, config.ledger.identity,
             extra={"meters": sorted(meters), "poll_interval": config.poll.interval})
    try:
        await bridge.run()
    finally:
        if server is not None:
            # In a thread: a health request waiting for this loop can still be answered.
            await asyncio.to_thread(server.close)
        ledger.close()
        queue.close()
        log.info("bridge stopped")


def main(config: BridgeConfig) -> None:
    """Run until SIGTERM/SIGINT (the process entry point of ``bridge run``)."""
    setup_logging(config.log_level, config.log_format)

    async def runner() -> None:
        task = asyncio.ensure_future(run_bridge(config))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(runner())
    except BridgeError as exc:
        log.error("bridge cannot run: %s", exc)
        raise SystemExit(1) from None
