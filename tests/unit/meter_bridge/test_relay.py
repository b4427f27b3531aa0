"""Relay control: ledger events become confirmed switch states, every command is logged."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gridledger.meter_bridge.errors import MeterNotAnswering
from gridledger.meter_bridge.ledger import LedgerEvent
from gridledger.meter_bridge.relay import RelayController

from .fakes import FakeLedger, FakeMeter

pytestmark = pytest.mark.anyio


async def test_exhausted_opens_restored_closes(tmp_path: Path) -> None:
    meter = FakeMeter("m-1", switches=("relay", "power_saving"))
    audit = tmp_path / "relay.jsonl"
    relays = RelayController({"m-1": meter}, audit_path=audit)
    relays.handle([LedgerEvent("exhausted", ("m-1", "elsewhere"), txid="tx7")])
    await relays.wait_idle()
    assert meter.state["relay"] is False
    relays.handle([LedgerEvent("restored", ("m-1",), txid="tx8")])
    await relays.wait_idle()
    assert meter.state == {"relay": True, "power_saving": False}
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [(x["switch"], x["on"], x["result"], x["reason"]) for x in lines] == [
        ("relay", False, "ack", "exhausted tx7"),
        ("relay", True, "ack", "restored tx8"),
        ("power_saving", False, "ack", "restored tx8"),
    ]
    assert lines[0]["detail"] == "meter reports OPEN"


async def test_low_balance_power_saving_policy() -> None:
    meter = FakeMeter("m-1", switches=("relay", "power_saving"))
    relays = RelayController({"m-1": meter})
    relays.handle([LedgerEvent("low_balance", ("m-1",), policy="notify")])
    relays.handle([LedgerEvent("low_balance", ("m-1",), policy="power-saving")])
    await relays.wait_idle()
    assert meter.switch_calls == [("power_saving", True)]


async def test_unreachable_meter_is_retried_until_it_confirms() -> None:
    meter = FakeMeter("m-1")
    meter.switch_failures = [MeterNotAnswering("no reply"), MeterNotAnswering("no reply")]
    relays = RelayController({"m-1": meter}, retry_initial=0.01)
    relays.desire("m-1", "relay", False, "exhausted")
    await relays.wait_idle()
    assert [r.result for r in relays.history] == ["error", "error", "ack"]
    assert [r.attempt for r in relays.history] == [1, 2, 3]
    assert relays.pending() == {}


async def test_a_newer_request_replaces_an_undelivered_one() -> None:
    meter = FakeMeter("m-1")
    meter.switch_failures = [MeterNotAnswering("no reply")]
    relays = RelayController({"m-1": meter}, retry_initial=0.05)
    relays.desire("m-1", "relay", False, "exhausted")
    await asyncio.sleep(0.01)                          # first attempt failed, waiting
    relays.desire("m-1", "relay", True, "restored")    # top-up arrived meanwhile
    await relays.wait_idle()
    assert meter.switch_calls == [("relay", False), ("relay", True)]
    assert meter.state["relay"] is True


async def test_meter_without_relay_is_logged_not_commanded() -> None:
    meter = FakeMeter("m-1", switches=())
    relays = RelayController({"m-1": meter})
    relays.handle([LedgerEvent("exhausted", ("m-1",))])
    assert [r.result for r in relays.history] == ["unsupported"]
    assert meter.switch_calls == []


async def test_follows_the_ledger_event_stream() -> None:
    meter = FakeMeter("m-1")
    ledger = FakeLedger()
    relays = RelayController({"m-1": meter})
    task = asyncio.ensure_future(relays.run(ledger))
    ledger.emit(LedgerEvent("exhausted", ("m-1",)))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if meter.state["relay"] is False:
            break
    task.cancel()
    assert meter.state["relay"] is False
