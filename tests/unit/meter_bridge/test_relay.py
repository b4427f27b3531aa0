"""Relay control: ledger events are hints; the ledger's state (its own peer's) decides;
switch states are confirmed and every command is logged."""

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


async def test_a_hint_is_checked_against_the_ledgers_state(tmp_path: Path) -> None:
    meter = FakeMeter("m-1", switches=("relay", "power_saving"))
    ledger = FakeLedger()
    audit = tmp_path / "relay.jsonl"
    relays = RelayController({"m-1": meter}, ledger, audit_path=audit)
    ledger.cut.add("m-1")
    relays.handle([LedgerEvent("exhausted", ("m-1",), txid="tx7")])
    await relays.wait_idle()
    assert meter.state == {"relay": False, "power_saving": False}
    assert ledger.status_calls == [["m-1"]]          # every meter served here, one query
    ledger.cut.clear()
    relays.handle([LedgerEvent("restored", (), txid="tx8")])  # names no meter
    await relays.wait_idle()
    assert meter.state == {"relay": True, "power_saving": False}
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    # The first check sets every switch once (after a restart the bridge knows none);
    # later ones only what the ledger's answer changed.
    assert [(x["switch"], x["on"], x["result"], x["reason"]) for x in lines] == [
        ("relay", False, "ack", "exhausted tx7"),
        ("power_saving", False, "ack", "exhausted tx7"),
        ("relay", True, "ack", "restored tx8"),
    ]
    assert lines[0]["detail"] == "meter reports OPEN"


async def test_a_forged_event_switches_nothing() -> None:
    """Issue 17: a transaction endorsed by one organisation alone can carry any event. A
    paying customer's meter stays on whatever the event names; it costs one query."""
    paying, cut = FakeMeter("m-1"), FakeMeter("m-2")
    ledger = FakeLedger()
    ledger.cut.add("m-2")
    relays = RelayController({"m-1": paying, "m-2": cut}, ledger)
    relays.handle([LedgerEvent("exhausted", ("m-1",), txid="forged-1"),
                   LedgerEvent("restored", ("m-2",), txid="forged-2")])
    await relays.wait_idle()
    assert paying.state["relay"] is True and ("relay", False) not in paying.switch_calls
    assert cut.state["relay"] is False                # the ledger says cut: it stays cut
    assert relays.checks == 1                         # both hints in one check


async def test_every_meter_served_here_is_checked_not_only_those_named() -> None:
    # Another bridge's batch exhausted the customer; this bridge serves its other meter.
    mine = FakeMeter("m-2")
    ledger = FakeLedger()
    ledger.cut.add("m-2")
    relays = RelayController({"m-2": mine}, ledger)
    relays.handle([LedgerEvent("exhausted", (), txid="elsewhere")])
    await relays.wait_idle()
    assert mine.state["relay"] is False


async def test_low_balance_power_saving_follows_the_ledger() -> None:
    meter = FakeMeter("m-1", switches=("relay", "power_saving"))
    ledger = FakeLedger()
    relays = RelayController({"m-1": meter}, ledger)
    relays.hint("start")
    await relays.wait_idle()
    assert meter.switch_calls == [("relay", True), ("power_saving", False)]  # agree once
    relays.handle([LedgerEvent("low_balance", (), txid="tx1")])  # policy notify: nothing
    await relays.wait_idle()
    ledger.saving.add("m-1")
    relays.handle([LedgerEvent("low_balance", (), txid="tx2")])
    await relays.wait_idle()
    assert meter.switch_calls[2:] == [("power_saving", True)]


async def test_an_unreachable_ledger_is_asked_again_and_nothing_switched_meanwhile() -> None:
    meter = FakeMeter("m-1")
    ledger = FakeLedger()
    ledger.unavailable(2)
    ledger.cut.add("m-1")
    relays = RelayController({"m-1": meter}, ledger, retry_initial=0.01)
    relays.handle([LedgerEvent("exhausted", ("m-1",), txid="tx1")])
    await relays.wait_idle()
    assert len(ledger.status_calls) == 3
    assert meter.switch_calls == [("relay", False)]


async def test_meters_the_ledger_does_not_know_are_left_alone() -> None:
    meter = FakeMeter("m-1")
    ledger = FakeLedger()
    ledger.unknown.add("m-1")
    ledger.cut.add("m-1")
    relays = RelayController({"m-1": meter}, ledger)
    relays.hint("start")
    await relays.wait_idle()
    assert meter.switch_calls == []


async def test_unreachable_meter_is_retried_until_it_confirms() -> None:
    meter = FakeMeter("m-1")
    meter.switch_failures = [MeterNotAnswering("no reply"), MeterNotAnswering("no reply")]
    relays = RelayController({"m-1": meter}, FakeLedger(), retry_initial=0.01)
    relays.desire("m-1", "relay", False, "exhausted")
    await relays.wait_idle()
    assert [r.result for r in relays.history] == ["error", "error", "ack"]
    assert [r.attempt for r in relays.history] == [1, 2, 3]
    assert relays.pending() == {}


async def test_a_newer_request_replaces_an_undelivered_one() -> None:
    meter = FakeMeter("m-1")
    meter.switch_failures = [MeterNotAnswering("no reply")]
    relays = RelayController({"m-1": meter}, FakeLedger(), retry_initial=0.05)
    relays.desire("m-1", "relay", False, "exhausted")
    await asyncio.sleep(0.01)                          # first attempt failed, waiting
    relays.desire("m-1", "relay", True, "restored")    # top-up arrived meanwhile
    await relays.wait_idle()
    assert meter.switch_calls == [("relay", False), ("relay", True)]
    assert meter.state["relay"] is True


async def test_meter_without_relay_is_logged_not_commanded() -> None:
    meter = FakeMeter("m-1", switches=())
    ledger = FakeLedger()
    ledger.cut.add("m-1")
    relays = RelayController({"m-1": meter}, ledger)
    relays.handle([LedgerEvent("exhausted", ("m-1",))])
    await relays.wait_idle()
    assert [r.result for r in relays.history] == ["unsupported"]
    assert meter.switch_calls == []


async def test_follows_the_ledger_event_stream() -> None:
    meter = FakeMeter("m-1")
    ledger = FakeLedger()
    relays = RelayController({"m-1": meter}, ledger)
    task = asyncio.ensure_future(relays.run(ledger))
    ledger.cut.add("m-1")
    ledger.emit(LedgerEvent("exhausted", ("m-1",)))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if meter.state["relay"] is False:
            break
    task.cancel()
    assert meter.state["relay"] is False


async def test_without_a_ledger_to_ask_nothing_is_switched() -> None:
    meter = FakeMeter("m-1")
    relays = RelayController({"m-1": meter})
    relays.handle([LedgerEvent("exhausted", ("m-1",), txid="tx1")])
    await relays.wait_idle()
    assert meter.switch_calls == []
