"""The bridge as a service: its configuration file, health and metrics endpoint, JSON logs,
and the simulator's registers kept across restarts (for the demo)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from gridledger.meter_bridge.cli import bridge
from gridledger.meter_bridge.config import load_config, parse_config
from gridledger.meter_bridge.errors import ConfigError
from gridledger.meter_bridge.fabric_ledger import FabricLedger
from gridledger.meter_bridge.http_endpoint import serve_http
from gridledger.meter_bridge.queue import ReadingQueue
from gridledger.meter_bridge.service import Health, JsonFormatter
from gridledger.meter_bridge.simulators import RegisterState, SimClock, make_meters

pytestmark = pytest.mark.anyio

METERS = [{"id": "m1", "modbus": "tcp://127.0.0.1:5020", "unit": 1,
           "profile": "gridledger-sim"}]


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_config_defaults_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {
        "ledger": {"state_dir": "net", "identity": "bridge1"},
        "meters": METERS, "poll": {"interval": 2, "max_power_w": 3_000_000},
        "send": {"max_batch": 50, "max_age": 1.5}, "http": {"port": 0},
    }))
    assert config.ledger.state_dir == tmp_path / "net"
    assert config.ledger.org == "utility" and config.ledger.identity == "bridge1"
    assert config.queue == tmp_path / "queue.sqlite" and config.keys == tmp_path / "keys"
    assert config.checkpoint == tmp_path / "events-checkpoint.json"
    assert config.poll.interval == 2.0 and config.poll.limits.max_power_w == 3_000_000
    assert config.send.max_batch == 50 and config.send.max_age == 1.5
    assert config.send.meters_per_batch == 1              # untouched defaults stay
    assert config.http.host == "127.0.0.1" and config.http.port == 0
    assert config.log_format == "json"
    data_dir = parse_config({"meters": METERS, "data_dir": "/srv/b", "queue": "q.db"},
                            tmp_path / "x.yaml")
    assert data_dir.queue == Path("/srv/b/q.db")


@pytest.mark.parametrize(("data", "message"), [
    ({}, "meters: must be a non-empty list"),
    ({"meters": [{"unit": 1}]}, "meters[0]: needs an id"),
    ({"meters": [{"id": "a", "line": "/dev/x", "modbus": "tcp://h:1"}]}, "exactly one of"),
    ({"meters": METERS, "poll": {"interval": "fast"}}, "poll.interval: must be a number"),
    ({"meters": METERS, "poll": {"retries": 1.5}}, "poll.retries: must be an integer"),
    ({"meters": METERS, "send": {"max_batch": 5000}}, "send: max_batch must be 1..1000"),
    ({"meters": METERS, "send": {"batch": 5}}, "send.batch: unknown field"),
    ({"meters": METERS, "http": {"host": "localhost"}}, "http.host: must be an IP address"),
    ({"meters": METERS, "http": {"port": 70000}}, "http.port: must be an integer from 0 to 65535"),
    ({"meters": METERS, "log": {"format": "xml"}}, "log.format: must be one of json, text"),
    ({"meters": METERS, "ledgr": {}}, "ledgr: unknown field"),
])
def test_config_mistakes_name_the_file_and_field(tmp_path: Path, data: dict[str, Any],
                                                 message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_bridge_commands_refuse_a_bad_config_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(bridge, ["run", "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1 and "cannot read" in result.output
    assert "Traceback" not in result.output


def test_bridge_run_without_a_network_says_why_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, {"meters": METERS, "ledger": {"state_dir": str(tmp_path / "none")},
                            "http": {"port": None}})
    run = subprocess.run([sys.executable, "-m", "gridledger", "bridge", "run", "--config",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    (entry,) = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert entry["level"] == "ERROR" and entry["msg"].startswith("bridge cannot run: ")
    assert "no identity 'Admin' in wallet" in entry["msg"] and "Traceback" not in run.stderr


def test_bridge_status_shows_waiting_and_refused_readings(tmp_path: Path) -> None:
    path = write(tmp_path, {"meters": METERS})
    queue = ReadingQueue(tmp_path / "queue.sqlite")
    for seq in (1, 2):
        queue.put({"meterId": "m1", "seq": seq, "intervalEnd": f"2026-01-01T00:00:0{seq}Z",
                   "importWh": 1, "exportWh": 0, "voltageDv": 2300, "currentMa": 1,
                   "powerW": 1}, "c2ln")
    queue.mark_refused("m1", 2, "importWh went backwards", "register-backwards")
    queue.close()
    result = CliRunner().invoke(bridge, ["status", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["waiting"] == 1 and report["meters"]["m1"]["lastSeq"] == 2
    assert report["refused"] == [{"meterId": "m1", "seq": 2, "code": "register-backwards",
                                  "reason": "importWh went backwards"}]
    requeue = CliRunner().invoke(bridge, ["requeue", "--config", str(path), "m1"])
    assert "1 readings of m1 queued again" in requeue.output


async def _get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = (await reader.read()).decode()
    writer.close()
    head, _, body = raw.partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_health_is_503_while_the_ledger_is_away_and_metrics_are_served(
        tmp_path: Path) -> None:
    config = parse_config({"meters": METERS, "health": {"max_queue_age": 60}},
                          tmp_path / "b.yaml")
    queue = ReadingQueue(tmp_path / "q.sqlite")
    ledger = FabricLedger(lambda: None)  # type: ignore[arg-type,return-value]
    health = Health(config, queue, ledger, ["m1"])
    server = await serve_http("127.0.0.1", 0, health.report)
    port = server.address[1]
    try:
        status, body = await _get(port, "/healthz")
        report = json.loads(body)
        assert status == 200 and report["status"] == "ok" and report["staleMeters"] == []
        health.started -= 3600          # an hour without a reading of m1
        assert json.loads((await _get(port, "/healthz"))[1])["staleMeters"] == ["m1"]
        ledger.health.unavailable_since = time.time() - 42
        ledger.health.last_error = "endorse failed: UNAVAILABLE"
        status, body = await _get(port, "/healthz")
        report = json.loads(body)
        assert status == 503 and report["status"] == "degraded"
        assert report["problems"][0].startswith("ledger unreachable for 42 s")
        status, text = await _get(port, "/metrics")
        assert status == 200 and "gridledger_bridge_ledger_available 0.0" in text
        assert "gridledger_bridge_queue_depth" in text
        assert (await _get(port, "/other"))[0] == 404
    finally:
        server.close()
        queue.close()


def test_json_logs_carry_extra_fields() -> None:
    record = logging.LogRecord("gridledger.x", logging.WARNING, __file__, 1, "seq %d refused",
                               (7,), None)
    record.meter_id = "m1"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "seq 7 refused" and line["level"] == "WARNING"
    assert line["meter_id"] == "m1" and line["ts"].endswith("Z")


def test_simulator_registers_survive_a_restart_and_never_go_back(tmp_path: Path) -> None:
    clock = SimClock(60.0)
    meters = make_meters(3, "sim-meter-", clock, seed=5)
    state = RegisterState(tmp_path / "sim.json", every=1.0, speed=60.0)
    for m in meters:
        m.advance(clock.now() + 600)
    state.save(meters)
    before = [(m.import_wh, m.export_wh) for m in meters]
    # A fresh simulator from the same seed starts lower; the state puts it forward.
    fresh = make_meters(3, "sim-meter-", SimClock(60.0), seed=5)
    assert fresh[0].import_wh < before[0][0]
    assert state.restore(fresh) == 3
    for (imp, exp), m in zip(before, fresh, strict=True):
        assert m.import_wh >= imp + state.margin_wh and m.export_wh >= exp
    assert RegisterState(tmp_path / "missing.json").restore(fresh) == 0
