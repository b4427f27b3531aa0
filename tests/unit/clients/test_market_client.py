"""The market bindings: what goes in the transient map, who is asked to endorse, the
transaction time and the participant's key file."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from gridledger.clients.errors import ArgumentError
from gridledger.clients.market import Market, MarketKey
from gridledger.formats.market import message_bytes, verifies

PSEUDONYM = "p-" + "ab" * 12


class FakeGateway:
    """Records proposals."""

    def __init__(self) -> None:
        self.proposals: list[dict[str, Any]] = []

    def endorse(self, proposal: dict[str, Any]) -> str:
        return "tx"

    def submit(self, transaction: str) -> Any:
        class Done:
            transaction_id = "t"

            def wait(self, timeout: float | None = None) -> bytes:
                return b'{"ok":true}'

        return Done()


class FakeContract:
    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway = gateway

    def new_proposal(self, fn: str, *args: str, transient=None, timestamp=None,
                     endorsing_organizations=()) -> dict[str, Any]:
        proposal = {"fn": fn, "args": args, "transient": transient, "timestamp": timestamp,
                    "orgs": endorsing_organizations}
        self.gateway.proposals.append(proposal)
        return proposal


class FakeNetwork:
    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway = gateway

    def contract(self, chaincode: str, contract: str | None = None) -> FakeContract:
        assert (chaincode, contract) == ("metering", "market")
        return FakeContract(self.gateway)


def _market() -> tuple[Market, FakeGateway]:
    gw = FakeGateway()
    return Market(FakeNetwork(gw)), gw  # type: ignore[arg-type]


def test_private_functions_travel_in_the_transient_map_with_a_salt() -> None:
    market, gw = _market()
    key = MarketKey.generate(PSEUDONYM)
    market.deposit(key.deposit(100))
    (p,) = gw.proposals
    assert p["fn"] == "Deposit" and p["args"] == ()
    (signed,) = json.loads(p["transient"]["args"])
    assert json.loads(signed)["message"]["amount"] == 100
    assert len(p["transient"]["salt"]) == 32
    assert p["orgs"] == ("UtilityMSP", "RegulatorMSP")


def test_market_functions_ask_the_aggregator_and_the_utility_and_carry_the_time() -> None:
    market, gw = _market()
    at = dt.datetime(2026, 1, 5, 10, 14, 20, tzinfo=dt.UTC)
    market.place_bid("{}", at=at)
    market.record_pseudonym(PSEUDONYM, "C-1")
    market.request_resolution(PSEUDONYM, "audit")
    bid, record, audit = gw.proposals
    assert (bid["fn"], bid["args"], bid["timestamp"], bid["orgs"]) == (
        "PlaceBid", ("{}",), at, ("AggregatorMSP", "UtilityMSP"))
    assert record["orgs"] == ("RegulatorMSP",) and record["args"] == ()
    assert audit["orgs"] == ("RegulatorMSP", "AggregatorMSP")


def test_a_signed_message_verifies_with_the_key_file_and_the_file_is_private(
        tmp_path: Path) -> None:
    key = MarketKey.generate(PSEUDONYM)
    path = tmp_path / "key.json"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = MarketKey.load(path)
    envelope = json.loads(loaded.order("bid", "m.20260105T1015Z", "o1", 1000, 1500))
    assert envelope["message"]["pseudonym"] == PSEUDONYM
    assert verifies(key.public_pem, message_bytes(envelope["message"]),
                    base64.b64decode(envelope["signature"]))
    (tmp_path / "bad.json").write_text('{"pseudonym": "x"}')
    with pytest.raises(ArgumentError):
        MarketKey.load(tmp_path / "bad.json")
