"""Prometheus metrics of the bridge (labels never carry meter ids: thousands of meters
would make thousands of series; logs name the meter)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

READINGS = Counter("gridledger_bridge_readings", "Readings queued", ["quality", "reason"])
READ_ERRORS = Counter("gridledger_bridge_read_errors", "Failed meter reads", ["kind"])
QUEUE_DEPTH = Gauge("gridledger_bridge_queue_depth", "Readings queued or in flight")
QUEUE_OLDEST = Gauge("gridledger_bridge_queue_oldest_seconds",
                     "Age of the oldest uncommitted reading")
SUBMITTED = Counter("gridledger_bridge_submitted", "Readings by ledger outcome", ["status"])
BATCHES = Counter("gridledger_bridge_batches", "Submitted batches by result", ["result"])
RELAY_COMMANDS = Counter("gridledger_bridge_relay_commands", "Relay/mode commands",
                         ["command", "result"])
