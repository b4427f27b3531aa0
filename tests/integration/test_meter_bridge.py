"""The meter bridge on the real network: simulated meters -> `gridledger bridge run` -> ledger.

The simulator runs in this process (a thread with its own event loop) and records every
register sample it serves, so a committed reading can be checked against what the meter
said. The bridge runs as its own process (``python -m gridledger bridge run --config``),
as in production, so it can be killed with SIGKILL. Each test uses meters with ids of its
own, registered with the bridge's keys (``KeyStore``) and the registers as they stand.

What is shown:
- Modbus TCP and Modbus RTU (over a pty pair): readings commit with the meter's values;
- an outage (the bridge's peer stopped; then every orderer stopped) under load: each
  reading committed exactly once, in order, as many as the simulator served;
- SIGKILL of the bridge with a batch in flight, then a restart: the same;
- an exhausted prepaid balance opens the relay within one poll; a top-up closes it;
  a low balance with policy power-saving turns power saving on;
- a register that runs backwards: recorded as suspect (tamper evidence), chain continues;
- metrics and health endpoints, structured logs; ``gridledger demo up`` run again (nothing
  changes) and with one meter more (the bridge restarts with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridledger.clients.access import Access
from gridledger.clients.market import Market
from gridledger.clients.metering import Metering, Wattcoin
from gridledger.meter_bridge.keys import KeyStore
from gridledger.meter_bridge.reading import MeterSample
from gridledger.meter_bridge.simulators import Simulation, start_simulator
from gridledger.network.consortium import Consortium
from gridledger.network.health import wait_healthy

from .customers import connect_customer, open_prepaid_account, register_customer
from .gateways import connect
from .test_metering import TARIFF

pytestmark = pytest.mark.integration

CHANNEL = "energy"
POLL = 1.0          # seconds between readings: fast, to keep the tests short
ValueTuple = tuple[int, int, int, int, int]


# -- the simulator, in a thread ---------------------------------------------------------


class SimThread:
    """A simulation on its own event loop, recording every register sample it serves."""

    def __init__(self, meters: int, *, rtu: bool = False, speed: float = 1.0,
                 start: float | None = None) -> None:
        self.prefix = f"BR{uuid.uuid4().hex[:6]}-"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim: Simulation = self.run(start_simulator(
            meters, 0, rtu=rtu, speed=speed, seed=11, prefix=self.prefix, start=start))
        self.samples: dict[str, list[MeterSample]] = {}
        for meter in self.sim.modbus.meters.values():
            self.samples[meter.meter_id] = []
            meter.sample = self._recording(meter.meter_id, meter.sample)  # type: ignore

    def _recording(self, meter_id: str, sample: Callable[[], MeterSample]
                   ) -> Callable[[], MeterSample]:
        def recorded() -> MeterSample:
            value = sample()
            self.samples[meter_id].append(value)
            return value
        return recorded

    def run(self, coro: Any, timeout: float = 15) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def meter(self, unit: int):  # -> SimMeter
        return self.sim.modbus.meters[unit]

    def meter_id(self, unit: int) -> str:
        return self.meter(unit).meter_id

    def freeze(self) -> None:
        """Answer every read with SERVER_DEVICE_BUSY: no new samples, no new readings."""
        for unit in self.sim.modbus.meters:
            self.sim.modbus.faults[unit] = "busy"

    def values(self, meter_id: str) -> list[ValueTuple]:
        return [(s.import_wh, s.export_wh, s.voltage_dv, s.current_ma, s.power_w)
                for s in list(self.samples[meter_id])]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def sims() -> Iterator[Callable[..., SimThread]]:
    started: list[SimThread] = []

    def make(meters: int, **kw: Any) -> SimThread:
        sim = SimThread(meters, **kw)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


# -- the bridge, as a process ------------------------------------------------------------


class BridgeProcess:
    """``python -m gridledger bridge run --config FILE`` with its log in the data dir."""

    def __init__(self, consortium: Consortium, data: Path, meters: list[dict[str, Any]],
                 **overrides: Any) -> None:
        self.data = data
        self.config_path = data / "bridge.yaml"
        self.log_path = data / "bridge.log"
        config: dict[str, Any] = {
            "ledger": {"state_dir": str(consortium.layout.root), "org": "utility",
                       "identity": "Admin"},
            "queue": "queue.sqlite", "keys": "keys", "checkpoint": "events.json",
            "audit": "relay-audit.jsonl",
            "meters": meters,
            "poll": {"interval": POLL, "retries": 1, "retry_delay": 0.2, "timeout": 2.0},
            "send": {"max_age": 0.5, "meters_per_batch": 8, "max_in_flight": 4,
                     "backoff_initial": 0.5, "backoff_max": 4.0},
            "http": {"host": "127.0.0.1", "port": 0},
            "health": {"max_queue_age": 600},
            "log": {"level": "INFO", "format": "json"},
        }
        config.update(overrides)
        data.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config))
        self.keys = KeyStore(data / "keys")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gridledger", "bridge", "run", "--config",
                 str(self.config_path)], stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for entry in self.log_entries(offset):
                if "http_port" in entry:
                    self.port = entry["http_port"]
                    return
            assert self.proc.poll() is None, f"bridge exited:\n{self.log_path.read_text()}"
            time.sleep(0.1)
        raise AssertionError(f"bridge did not start:\n{self.log_path.read_text()}")

    def log_entries(self, offset: int = 0) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode(errors="replace").splitlines()
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def health(self) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/healthz")
        return status, json.loads(body)

    def metric(self, name: str, labels: str = "") -> float:
        _, body = self.get("/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name + (("{" + labels) if labels else "")) and \
                    (labels or line.startswith(name + " ") or line.startswith(name + "{")):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    # The bridge's queue, read directly (SQLite WAL: readers never block the bridge).
    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        db = sqlite3.connect(f"file:{self.data / 'queue.sqlite'}?mode=ro", uri=True,
                             timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def queued_last_seq(self, meter_id: str) -> int:
        rows = self._query("SELECT last_seq FROM meters WHERE meter_id = ?", (meter_id,))
        return rows[0][0] if rows else 0

    def waiting(self) -> int:
        return self._query("SELECT count(*) FROM readings WHERE state != 'refused'")[0][0]

    def in_flight(self) -> int:
        return self._query("SELECT count(*) FROM readings WHERE state = 'in_flight'")[0][0]

    def refused(self, meter_id: str) -> list[tuple[int, str, str]]:
        return self._query("SELECT seq, code, reason FROM readings WHERE meter_id = ? AND "
                           "state = 'refused' ORDER BY seq", (meter_id,))


@pytest.fixture
def bridges(consortium: Consortium, tmp_path: Path) -> Iterator[Callable[..., BridgeProcess]]:
    made: list[BridgeProcess] = []

    def make(meters: list[dict[str, Any]], name: str = "bridge", **kw: Any) -> BridgeProcess:
        bridge = BridgeProcess(consortium, tmp_path / name, meters, **kw)
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        bridge.stop()


# -- the ledger side -----------------------------------------------------------------------


def register(metering: Metering, keys: KeyStore, sim: SimThread, unit: int,
             customer: str | None = None, tariff_id: str = TARIFF["tariffId"]) -> str:
    """Register the simulated meter ``unit`` with the bridge's key and its registers now."""
    meter = sim.meter(unit)
    metering.register_meter({
        "meterId": meter.meter_id, "publicKeyPem": keys.public_key_pem(meter.meter_id),
        "curve": "P-256", "customerId": customer or f"C-{meter.meter_id}",
        "tariffId": tariff_id, "deviceProfile": "gridledger-sim",
        "location": "test bench", "installDate": "2026-01-01",
        "initialImportWh": int(meter.import_wh), "initialExportWh": int(meter.export_wh),
    })  # fmt: skip
    return meter.meter_id


def tcp(sim: SimThread, unit: int) -> dict[str, Any]:
    return {"id": sim.meter_id(unit), "modbus": f"tcp://127.0.0.1:{sim.sim.tcp_port}",
            "unit": unit, "profile": "gridledger-sim"}


def rtu(sim: SimThread, unit: int) -> dict[str, Any]:
    return {"id": sim.meter_id(unit), "modbus": f"rtu://{sim.sim.rtu_device}", "unit": unit,
            "profile": "gridledger-sim"}


def head_seq(metering: Metering, meter_id: str) -> int:
    return metering.get_meter(meter_id)["head"]["seq"]


def wait_for(what: str, check: Callable[[], bool], timeout: float, step: float = 0.5) -> float:
    """Poll ``check`` until true; return the seconds it took."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(step)
    return time.monotonic() - t0


def ledger_values(metering: Metering, meter_id: str) -> list[tuple[int, ValueTuple]]:
    """Every committed reading of the meter as (seq, values), from the private detail."""
    out = []
    for seq in range(1, head_seq(metering, meter_id) + 1):
        r = metering.get_reading_detail(meter_id, seq)["reading"]
        assert r["seq"] == seq and r["meterId"] == meter_id
        out.append((seq, (r["importWh"], r["exportWh"], r["voltageDv"], r["currentMa"],
                          r["powerW"])))
    return out


def settle(sim: SimThread, bridge: BridgeProcess, metering: Metering,
           meter_ids: list[str], timeout: float = 90) -> None:
    """Stop new samples, then wait until every queued reading is on the ledger."""
    sim.freeze()
    time.sleep(2 * POLL + 1.5)       # a read under way when frozen still becomes a reading

    def caught_up() -> bool:
        return bridge.waiting() == 0 and all(
            head_seq(metering, m) == bridge.queued_last_seq(m) for m in meter_ids)

    wait_for("the bridge's queue drained onto the ledger", caught_up, timeout, 1.0)


def assert_exactly_once(sim: SimThread, metering: Metering, meter_id: str, *,
                        unqueued: int = 0, monotonic: bool = True) -> int:
    """Ledger seqs 1..N, contiguous; their values are the simulator's samples, in order.

    ``unqueued``: samples the simulator served that may never have become readings (a
    bridge killed between reading a meter and queueing the reading).
    """
    committed = ledger_values(metering, meter_id)
    served = sim.values(meter_id)
    seqs = [seq for seq, _ in committed]
    assert seqs == list(range(1, len(committed) + 1))
    values = [v for _, v in committed]
    if unqueued == 0:
        assert values == served, f"{meter_id}: ledger and simulator differ"
    else:
        it = iter(served)
        assert all(any(v == s for s in it) for v in values), \
            f"{meter_id}: a committed reading is not one of the simulator's samples, in order"
        assert 0 <= len(served) - len(values) <= unqueued
    imports = [v[0] for v in values]
    assert imports == sorted(imports) or not monotonic
    assert metering.verify_meter_chain(meter_id)["ok"] is True
    return len(committed)


# -- tests --------------------------------------------------------------------------------


def test_modbus_tcp_and_rtu_readings_commit_with_the_meters_values(
        consortium, utility, tariff, sims, bridges):
    sim = sims(4, rtu=True)
    metering = Metering(utility.network(CHANNEL))
    specs = [tcp(sim, 1), tcp(sim, 2), rtu(sim, 3), rtu(sim, 4)]
    bridge = bridges(specs)
    ids = [register(metering, bridge.keys, sim, u) for u in (1, 2, 3, 4)]
    bridge.start()
    wait_for("4 readings of each meter on the ledger",
             lambda: all(head_seq(metering, m) >= 4 for m in ids), 60)

    status, health = bridge.health()
    assert status == 200 and health["status"] == "ok", health
    assert set(health["meters"]) == set(ids)
    assert bridge.metric("gridledger_bridge_submitted_total", 'status="accepted"') >= 16
    assert bridge.metric("gridledger_bridge_ledger_available") == 1
    assert bridge.get("/nope")[0] == 404

    settle(sim, bridge, metering, ids)
    for meter_id in ids:
        n = assert_exactly_once(sim, metering, meter_id)
        assert n >= 4
        # Never suspect: the registers moved as a real meter's do.
        first = metering.get_readings(meter_id, 1, 1000)
        assert len(first) == n and all(r.get("quality", "measured") == "measured"
                                       for r in first)
    bridge.stop()
    entries = bridge.log_entries()
    assert entries and {"ts", "level", "logger", "msg"} <= set(entries[0])
    assert any(e["msg"] == "bridge stopped" for e in entries)


def _peer(consortium: Consortium, org: str):
    return next(p for p in consortium.processes() if p.kind == "peer" and p.org == org)


def _restart(consortium: Consortium, proc) -> None:
    sup = consortium.supervisor
    sup.start_process(proc.name)
    host = consortium.topology.org(proc.org).host
    wait_healthy(proc.name, host, proc.ports[-1],
                 lambda: sup.info(proc.name)["statename"] in ("RUNNING", "STARTING"))


def test_outage_under_load_every_reading_committed_exactly_once_in_order(
        consortium, utility, tariff, sims, bridges):
    sim = sims(3)
    metering = Metering(utility.network(CHANNEL))
    bridge = bridges([tcp(sim, u) for u in (1, 2, 3)])
    ids = [register(metering, bridge.keys, sim, u) for u in (1, 2, 3)]
    bridge.start()
    wait_for("readings flowing", lambda: all(head_seq(metering, m) >= 2 for m in ids), 60)

    # 1. The bridge's own peer goes away for 20 s.
    peer = _peer(consortium, "utility")
    consortium.supervisor.stop_process(peer.name)
    try:
        before = bridge.queued_last_seq(ids[0])
        wait_for("health reports the outage", lambda: bridge.health()[0] == 503, 15)
        time.sleep(20)
        status, health = bridge.health()
        assert status == 503 and "ledger unreachable" in health["problems"][0]
        assert bridge.metric("gridledger_bridge_ledger_available") == 0
        # Readings kept coming and wait in the queue.
        assert bridge.queued_last_seq(ids[0]) >= before + 10
        assert bridge.waiting() >= 20
    finally:
        _restart(consortium, peer)
    with connect(consortium, "utility") as gw:
        fresh = Metering(gw.network(CHANNEL))
        wait_for("the backlog committed", lambda: all(
            head_seq(fresh, m) >= bridge.queued_last_seq(m) - 2 for m in ids), 90, 1.0)
    wait_for("health recovers", lambda: bridge.health()[0] == 200, 30)

    # 2. Every orderer goes away for 15 s: batches are endorsed but cannot be ordered,
    # or are ordered with their commit status never seen: outcomes unknown, resent.
    orderers = [p for p in consortium.processes() if p.kind == "orderer"]
    for proc in orderers:
        consortium.supervisor.stop_process(proc.name)
    try:
        time.sleep(15)
        assert bridge.waiting() >= 10
    finally:
        for proc in orderers:
            _restart(consortium, proc)

    with connect(consortium, "utility") as gw:
        fresh = Metering(gw.network(CHANNEL))
        settle(sim, bridge, fresh, ids, timeout=120)
        total = sum(assert_exactly_once(sim, fresh, m) for m in ids)
    assert total >= 3 * 25
    # Batches failed during the outages and went back to the queue; none was refused.
    assert bridge.metric("gridledger_bridge_batches_total", 'result="unavailable"') >= 1
    assert all(bridge.refused(m) == [] for m in ids)


def test_bridge_killed_mid_batch_restarts_without_loss_or_duplicates(
        consortium, utility, tariff, sims, bridges):
    sim = sims(3)
    metering = Metering(utility.network(CHANNEL))
    bridge = bridges([tcp(sim, u) for u in (1, 2, 3)])
    ids = [register(metering, bridge.keys, sim, u) for u in (1, 2, 3)]
    kills = 0
    bridge.start()
    wait_for("readings flowing", lambda: all(head_seq(metering, m) >= 2 for m in ids), 60)
    for _ in range(2):
        # Kill at the moment a batch is in flight (endorsing, ordering or committing).
        wait_for("a batch in flight", lambda: bridge.in_flight() > 0, 30, 0.02)
        bridge.kill9()
        kills += 1
        assert bridge.in_flight() > 0, "the killed bridge left its batch in flight"
        time.sleep(2)
        offset = bridge.log_path.stat().st_size
        bridge.start()
        wait_for("in-flight readings recovered", lambda at=offset: any(
            "were in flight at the last stop" in e["msg"]
            for e in bridge.log_entries(at)), 20, 0.2)
        assert bridge.health()[0] == 200
        time.sleep(3)
    settle(sim, bridge, metering, ids)
    for meter_id in ids:
        assert_exactly_once(sim, metering, meter_id, unqueued=kills)
        assert bridge.refused(meter_id) == []


def test_exhausted_balance_opens_the_relay_within_one_poll_and_top_up_closes_it(
        consortium, utility, tariff, sims, bridges):
    # Frozen simulated time: the registers move only when the test moves them.
    sim = sims(2, speed=0)
    network = utility.network(CHANNEL)
    metering, wattcoin = Metering(network), Wattcoin(network)
    bridge = bridges([tcp(sim, 1), tcp(sim, 2)], poll={"interval": 2.0, "timeout": 2.0})
    owner = register_customer(consortium)
    customer = owner.customer_id
    ids = [register(metering, bridge.keys, sim, u, customer) for u in (1, 2)]
    # The customer opens its own account and makes it pay for its meters.
    address = open_prepaid_account(consortium, owner)
    wattcoin.mint(address, 50, "PAY-" + customer)
    bridge.start()
    wait_for("readings flowing", lambda: head_seq(metering, ids[0]) >= 2, 30)
    assert sim.meter(1).relay_closed and sim.meter(2).relay_closed

    # 100 Wh more on meter 1: about 214 VND at 1984 VND/kWh + 8 % VAT; the account has 50.
    seen = head_seq(metering, ids[0])
    sim.meter(1).import_wh += 100
    wait_for("the exhausting reading committed",
             lambda: wattcoin.balance(address)["exhausted"], 3 * 2.0 + 15, 0.2)
    took = wait_for("relay of meter 1 open", lambda: not sim.meter(1).relay_closed, 2.0, 0.05)
    assert took <= 2.0                  # within one poll of the commit
    # Every meter of the customer is cut, not only the one that used the energy.
    wait_for("relay of meter 2 open", lambda: not sim.meter(2).relay_closed, 2.0, 0.05)
    account = wattcoin.balance(address)
    assert account["balance"] == 0 and account["arrears"] > 0
    assert head_seq(metering, ids[0]) > seen
    # With the relay open the meter measures no power.
    wait_for("a reading with the supply cut", lambda: head_seq(metering, ids[0]) >= seen + 2,
             15)

    # A top-up pays the arrears and restores supply: the ledger's event closes the relays.
    wattcoin.mint(address, 10_000, "PAY2-" + customer)
    t_topup = time.monotonic()
    wait_for("relays closed again", lambda: sim.meter(1).relay_closed
             and sim.meter(2).relay_closed, 15, 0.05)
    restore_s = time.monotonic() - t_topup
    assert restore_s < 15

    # Low balance with the owner's policy "power-saving": power-saving mode on. The owner
    # sets it, in its own transaction (it controls the account).
    balance = wattcoin.balance(address)["balance"]
    with connect_customer(consortium, owner) as gw:
        Wattcoin(gw.network(CHANNEL)).set_low_balance_policy(address, balance - 100,
                                                             "power-saving")
    sim.meter(1).import_wh += 100
    wait_for("power saving on", lambda: sim.meter(1).power_saving, 20, 0.1)
    assert sim.meter(1).relay_closed

    def acks() -> list[tuple[str, str, bool]]:
        audit = [json.loads(line) for line in
                 (bridge.data / "relay-audit.jsonl").read_text().splitlines()]
        return [(a["meter_id"], a["switch"], a["on"]) for a in audit if a["result"] == "ack"]

    # Regression (issue 11, finding 11): the simulator's power-saving state changes a moment
    # before the bridge writes its acknowledgement: wait for the record itself.
    wait_for("power saving acknowledged in the audit",
             lambda: (ids[0], "power_saving", True) in acks(), 10, 0.1)
    for meter_id in ids:
        assert (meter_id, "relay", False) in acks() and (meter_id, "relay", True) in acks()
    assert bridge.metric("gridledger_bridge_relay_commands_total",
                         'command="relay",result="ack"') >= 4


def test_a_refused_reading_waits_in_the_dead_letter_table_and_blocks_no_other_meter(
        consortium, utility, tariff, sims, bridges):
    """Regression (issue 11, finding 9): a chaincode 500 for bad input made the bridge
    resend one reading for ever. Now every refusal is a 4xx with a reason: the bridge keeps
    the reading (refused, with the reason: `bridge status`, the refused gauge) and goes on;
    other meters never wait; and after the cause is fixed `bridge requeue` sends the kept
    readings again, in order, so nothing is lost."""
    sim = sims(2)
    metering = Metering(utility.network(CHANNEL))
    bridge = bridges([tcp(sim, 1), tcp(sim, 2)])
    known = register(metering, bridge.keys, sim, 1)
    unknown = sim.meter_id(2)               # not registered: every reading is refused
    bridge.start()
    wait_for("the unregistered meter's readings refused", lambda: len(bridge.refused(unknown))
             >= 2, 30)
    seq, code, reason = bridge.refused(unknown)[0]
    assert (seq, code) == (1, "unknown-meter") and unknown in reason
    wait_for("the registered meter goes on", lambda: head_seq(metering, known) >= 4, 30)
    assert bridge.metric("gridledger_bridge_refused_readings") >= 2
    status = subprocess.run([sys.executable, "-m", "gridledger", "bridge", "status", "--config",
                             str(bridge.config_path)], capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0, status.stderr
    assert f"refused {unknown} seq 1: unknown-meter" in status.stdout

    # Fixed (the meter registered), then sent again: every kept reading commits, in order.
    bridge.stop()
    metering.register_meter({
        "meterId": unknown, "publicKeyPem": bridge.keys.public_key_pem(unknown),
        "curve": "P-256", "customerId": f"C-{unknown}", "tariffId": TARIFF["tariffId"],
        "deviceProfile": "gridledger-sim", "location": "test bench",
        "installDate": "2026-01-01", "initialImportWh": 0, "initialExportWh": 0,
    })  # fmt: skip
    kept = len(bridge.refused(unknown))
    requeue = subprocess.run([sys.executable, "-m", "gridledger", "bridge", "requeue",
                              "--config", str(bridge.config_path), unknown],
                             capture_output=True, text=True, timeout=60)
    assert requeue.returncode == 0 and f"{kept} readings of {unknown} queued" in requeue.stdout
    bridge.start()
    wait_for("the kept readings committed", lambda: head_seq(metering, unknown) >= kept, 60)
    assert bridge.refused(unknown) == []


def test_register_running_backwards_is_recorded_as_suspect_and_the_chain_continues(
        consortium, utility, tariff, sims, bridges):
    """A register that runs backwards: the bridge marks the reading suspect and submits it;
    the chaincode records it as tamper evidence (billing nothing for it) and the meter's
    later readings carry on from its value, billing nothing below the old high mark.
    Nothing is refused."""
    sim = sims(1, speed=0)
    metering = Metering(utility.network(CHANNEL))
    bridge = bridges([tcp(sim, 1)])
    meter_id = register(metering, bridge.keys, sim, 1)
    bridge.start()
    wait_for("readings flowing", lambda: head_seq(metering, meter_id) >= 2, 30)
    sim.freeze()
    time.sleep(2 * POLL + 1.5)
    wait_for("queue drained", lambda: bridge.waiting() == 0, 30)
    before = head_seq(metering, meter_id)
    sim.meter(1).import_wh -= 500
    sim.sim.modbus.faults.clear()
    wait_for("three more readings", lambda: head_seq(metering, meter_id) >= before + 3, 30)
    sim.freeze()
    time.sleep(2 * POLL + 1.5)
    wait_for("queue drained", lambda: bridge.waiting() == 0, 30)

    public = metering.get_readings(meter_id, 1, 1000)
    suspect = public[before]                      # seq before + 1
    assert suspect["quality"] == "suspect" and suspect["importDeltaWh"] == 0
    assert "importWh runs backwards" in suspect["tamper"][0]
    assert all(r["quality"] == "measured" and "tamper" not in r
               for i, r in enumerate(public) if i != before)
    # Below the highest register billed so far: nothing billed twice.
    assert all(r["importDeltaWh"] == 0 for r in public[before + 1:])
    head = metering.get_meter(meter_id)["head"]
    assert 0 < head["highImportWh"] - head["importWh"] <= 500
    assert bridge.refused(meter_id) == []
    assert_exactly_once(sim, metering, meter_id, monotonic=False)
    assert any("suspect: importWh went backwards by 500 Wh" in e["msg"]
               for e in bridge.log_entries())
    assert bridge.metric("gridledger_bridge_readings_total", 'quality="suspect"') == 1


def test_demo_up_is_idempotent_and_shows_readings_flowing(consortium, tariff):
    env = {**os.environ, "GRIDLEDGER_STATE": str(consortium.layout.root)}
    offset = os.environ.get("GRIDLEDGER_TEST_PORT_OFFSET", "1000")
    cmd = [sys.executable, "-m", "gridledger", "demo", "--port-offset", offset, "up",
           "--meters", "2", "--interval", "2", "--json"]
    nodes = {p["name"]: p["pid"] for p in consortium.supervisor.all_info()}
    try:
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        assert all(h["seq"] >= 1 for h in summary["heads"].values())
        info = {p["name"]: p for p in consortium.supervisor.all_info()}
        assert info["demo-bridge"]["statename"] == "RUNNING"
        pid = info["demo-bridge"]["pid"]
        # The market's demo day: one interval traded, cleared and settled after delivery.
        market = summary["market"]
        assert market["marketId"] == "demo" and market["trades"] >= 1
        (interval,) = market["intervals"]
        assert interval["status"] == "settled" and interval["volumeWh"] > 0
        assert {t["side"] for t in market["traders"]} == {"sell", "buy"}
        seller = next(t["pseudonym"] for t in market["traders"] if t["side"] == "sell")
        # The DACT grant: customer 1's profile for the Aggregator's VPP forecasting.
        dact = summary["dact"]
        assert dact["registered"] == "registered" and dact["status"] == "active"
        _assert_demo_ledger(consortium, interval, seller, dact["dactId"])
        _assert_demo_profile_is_served(consortium, dact)

        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert second.returncode == 0, second.stderr
        again = json.loads(second.stdout)
        assert [m["meter"] for m in again["meters"]] == ["kept", "kept"]
        # Traded once: a second run reports the same settled interval, trades no more.
        assert again["market"]["intervals"] == market["intervals"]
        assert again["dact"]["registered"] == "kept"
        assert again["dact"]["dactId"] == dact["dactId"]
        assert again["dact"]["serviceNode"] == dact["serviceNode"]
        assert again["dact"]["hashAddress"] == dact["hashAddress"]
        # Topped up once: a second run does not mint again.
        for before, after in zip(summary["meters"], again["meters"], strict=True):
            assert after["balance"] <= before["balance"]
        # Same configuration: the processes were left running, not restarted.
        assert consortium.supervisor.info("demo-bridge")["pid"] == pid
        for mid, head in again["heads"].items():
            assert head["seq"] >= summary["heads"][mid]["seq"]
        status, body = _http(again["health"])
        assert status == 200 and json.loads(body)["status"] == "ok"
        # The three portals it started answer, each for its own organisation.
        portals = {p["org"]: p["url"] for p in again["portal"]["portals"]}
        assert set(portals) == {"utility", "regulator", "aggregator"}
        for org, url in portals.items():
            status, body = _http(url + "healthz")
            assert status == 200 and json.loads(body)["org"] == org
        # The network's nodes were not restarted by adding the demo's programs.
        now = {p["name"]: p["pid"] for p in consortium.supervisor.all_info()}
        assert {name: now[name] for name in nodes} == nodes

        # A third meter: the configuration changes, so the bridge restarts with it.
        third = subprocess.run([*cmd[:-4], "3", *cmd[-3:]], env=env, capture_output=True,
                               text=True, timeout=240)
        assert third.returncode == 0, third.stderr
        grown = json.loads(third.stdout)
        assert [m["meter"] for m in grown["meters"]] == ["kept", "kept", "registered"]
        assert consortium.supervisor.info("demo-bridge")["pid"] != pid
        with connect(consortium, "utility") as gw:
            metering = Metering(gw.network(CHANNEL))
            wait_for("readings of the third meter", lambda: all(
                head_seq(metering, f"sim-meter-{u}") >= 1 for u in (1, 2, 3)), 60)
            # The restarted simulator carried on from its saved registers.
            assert all(r["quality"] == "measured"
                       for r in metering.get_readings("sim-meter-1", 1, 1000))
    finally:
        # Everything the demo added (bridge, simulator, portals): later modules start
        # portals of their own on the same ports.
        for p in consortium.supervisor.all_info():
            if p["name"] not in nodes:
                with contextlib.suppress(Exception):
                    consortium.supervisor.stop_process(p["name"])


def _assert_demo_ledger(consortium: Consortium, interval: dict[str, Any], seller: str,
                        dact_id: str) -> None:
    """What the demo summary says about the market and the DACT, read from the ledger."""
    iv = interval["intervalId"]
    with connect(consortium, "aggregator") as gw:
        market = Market(gw)
        record = market.interval(iv)
        assert record["status"] == "settled" and record["trades"] == len(interval["trades"])
        assert record["volumeWh"] == interval["volumeWh"] > 0
        trades = market.trades_of(seller, iv)
        assert trades and all(t["side"] == "sell" and t["settlement"] is not None
                              for t in trades)
    # GetDact answers the owner and the Utility's (and Regulator's) operators.
    with connect(consortium, "utility") as gw:
        found = Access(gw.network(CHANNEL)).get_dact(dact_id)
    assert found["customerId"] == "DEMO-CUST-1" and found["dact"]["status"] == "active"
    table = found["table"]
    assert table["requester"] == {"kind": "organisation", "mspId": "AggregatorMSP"}
    assert table["purpose"] == "vpp-forecasting" and table["resources"]


def _assert_demo_profile_is_served(consortium: Consortium, dact: dict[str, Any]) -> None:
    """Issue 17, hole 8: the demo's profile is the Utility's service node's, names nobody,
    and is really served under the demo's DACT: the Aggregator certifies with the kept
    table and device key and fetches it from the demo's service node."""
    from cryptography.hazmat.primitives import serialization

    from gridledger.clients.access import device_signer
    from gridledger.clients.access_service import ServiceNodeClient
    from gridledger.clients.wallet import Wallet
    from gridledger.formats.access import hash_address

    # Random ids: none names the customer, the meter or the grant.
    for name in (dact["resourceId"], dact["dactId"], dact["deviceId"]):
        assert "CUST" not in name.upper() and "METER" not in name.upper(), name
    table = json.loads(Path(dact["table"]).read_text())
    key = serialization.load_pem_private_key(Path(dact["deviceKey"]).read_bytes(), None)
    with connect(consortium, "aggregator") as gw:
        access = Access(gw.network(CHANNEL))
        token = access.certify(table, dact["deviceId"], device_signer(key))["tokenId"]
        (granted,) = access.access(token)["resources"]
        assert granted == {"resourceId": dact["resourceId"], "hashAddress": dact["hashAddress"]}
        identity, signer = Wallet.from_msp_dir(consortium.layout.msp("aggregator", "Admin"),
                                               "AggregatorMSP")
        with ServiceNodeClient(dact["serviceNode"], identity, signer) as node:
            fetched = node.fetch(dact["hashAddress"], token)
        assert hash_address(fetched.content) == dact["hashAddress"]
        profile = json.loads(fetched.content)
        assert profile["intervals"] and len(profile["nonce"]) == 32
        for identifying in (b"DEMO-CUST", b"sim-meter", b"customerId", b"meterId"):
            assert identifying not in fetched.content, identifying
        assert fetched.owner_info is None  # one hash address: withheld (seed 001, step 7)
        assert [e["kind"] for e in access.access_log(token)] == ["contract", "service"]


def _http(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
