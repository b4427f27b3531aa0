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
LEDGER_AVAILABLE = Gauge("gridledger_bridge_ledger_available",
                         "1 while the last submission reached the ledger, 0 during an outage")
LAST_COMMIT = Gauge("gridledger_bridge_last_commit_timestamp_seconds",
                    "UNIX time of the last committed batch (0: none yet)")
EVENTS_CONNECTED = Gauge("gridledger_bridge_ledger_events_connected",
                         "1 while the ledger event stream is connected")
REFUSED = Gauge("gridledger_bridge_refused_readings",
                "Readings the ledger refused, kept in the queue for an operator")
