"""The market bindings: what goes in the transient map, who is asked to endorse, the
transaction time and the participant's key file."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import grpc
import pytest

from gridledger.clients.errors import ArgumentError, CommitError, EndorseError, EndpointDetail
from gridledger.clients.market import STEP_ATTEMPTS, Market, MarketKey
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
    def __init__(self, gateway: FakeGateway, channel: str, name: str) -> None:
        self.gateway, self.channel, self.name = gateway, channel, name

    def new_proposal(self, fn: str, *args: str, transient=None, timestamp=None,
                     endorsing_organizations=()) -> dict[str, Any]:
        proposal = {"fn": fn, "args": args, "transient": transient, "timestamp": timestamp,
                    "orgs": endorsing_organizations, "channel": self.channel,
                    "contract": self.name}
        self.gateway.proposals.append(proposal)
        return proposal


class FakeNetwork:
    def __init__(self, gateway: FakeGateway, name: str) -> None:
        self.gateway, self.name = gateway, name

    def contract(self, chaincode: str, contract: str | None = None) -> FakeContract:
        assert (self.name, chaincode, contract) in {("market", "market", "market"),
                                                    ("energy", "metering", "marketlink")}
        return FakeContract(self.gateway, self.name, f"{chaincode}/{contract}")


class FakeGatewayOfNetworks(FakeGateway):
    def network(self, name: str) -> FakeNetwork:
        return FakeNetwork(self, name)


def _market() -> tuple[Market, FakeGateway]:
    gw = FakeGatewayOfNetworks()
    return Market(gw), gw  # type: ignore[arg-type]


def test_a_deposit_is_funded_on_the_energy_channel_then_credited_on_the_market_channel(
        ) -> None:
    market, gw = _market()
    key = MarketKey.generate(PSEUDONYM)
    signed = key.deposit(100)
    request_id = json.loads(signed)["message"]["requestId"]
    market.deposit(signed)
    fund, credit = gw.proposals
    # The energy half: everything in the transient map, with a salt, to both members.
    assert (fund["channel"], fund["contract"], fund["fn"], fund["args"]) == (
        "energy", "metering/marketlink", "FundMarket", ())
    (sent,) = json.loads(fund["transient"]["args"])
    assert json.loads(sent)["message"]["amount"] == 100
    assert len(fund["transient"]["salt"]) == 32
    assert fund["orgs"] == ("UtilityMSP", "RegulatorMSP")
    # The market half names the pseudonym and the request, nothing else.
    assert (credit["channel"], credit["fn"], credit["args"], credit["transient"]) == (
        "market", "Deposit", (PSEUDONYM, request_id), None)
    assert credit["orgs"] == ("UtilityMSP", "RegulatorMSP")


def test_a_withdrawal_is_paid_out_on_the_market_channel_then_redeemed_on_energy() -> None:
    market, gw = _market()
    signed = MarketKey.generate(PSEUDONYM).withdrawal(40)
    market.withdraw(signed)
    pay, redeem = gw.proposals
    assert (pay["channel"], pay["fn"]) == ("market", "Withdraw")
    assert (redeem["channel"], redeem["fn"], redeem["args"]) == ("energy", "RedeemPayout", ())
    assert json.loads(redeem["transient"]["args"]) == [
        PSEUDONYM, json.loads(signed)["message"]["requestId"]]


def test_market_functions_ask_the_aggregator_and_the_utility_and_carry_the_time() -> None:
    market, gw = _market()
    at = dt.datetime(2026, 1, 5, 10, 14, 20, tzinfo=dt.UTC)
    market.place_bid("{}", at=at)
    market.record_pseudonym(PSEUDONYM, "C-1")
    market.request_resolution(PSEUDONYM, "audit")
    bid, record, audit = gw.proposals
    assert (bid["fn"], bid["args"], bid["timestamp"], bid["orgs"], bid["channel"]) == (
        "PlaceBid", ("{}",), at, ("AggregatorMSP", "UtilityMSP"), "market")
    assert record["orgs"] == ("RegulatorMSP",) and record["args"] == ()
    assert record["channel"] == "energy"
    assert audit["orgs"] == ("RegulatorMSP", "AggregatorMSP")


class _Refusing(FakeGatewayOfNetworks):
    """Refuses one function with a chaincode status and message, as a peer would."""

    def __init__(self, fn: str, status: int, message: str) -> None:
        super().__init__()
        self.refused = (fn, status, message)

    def endorse(self, proposal: dict[str, Any]) -> str:
        fn, status, message = self.refused
        if proposal["fn"] == fn:
            raise EndorseError(grpc.StatusCode.ABORTED, "failed to endorse", details=(
                EndpointDetail("peer0", "UtilityMSP", f"chaincode response {status}, "
                                                      f"{message}"),))
        return "tx"


def test_running_a_step_again_finishes_it_and_never_doubles_it() -> None:
    # The energy half went through before (a crash, a timeout): its 409 says so, and the
    # market half runs.
    gw = _Refusing("FundMarket", 409, "deposit r of p is funded already")
    steps = Market(gw).deposit(MarketKey.generate(PSEUDONYM).deposit(5))  # type: ignore[arg-type]
    assert steps["FundMarket"] == {"doneAlready": True} and steps["Deposit"] == {"ok": True}
    # Another 409 (the balance lacks the tokens) is the caller's to see: nothing more runs.
    gw = _Refusing("FundMarket", 409, "account a cannot pay 5 into the market")
    with pytest.raises(EndorseError):
        Market(gw).deposit(MarketKey.generate(PSEUDONYM).deposit(5))  # type: ignore[arg-type]
    assert [p["fn"] for p in gw.proposals] == ["FundMarket"]


class _Conflicting(FakeGatewayOfNetworks):
    """Commits ``fn`` invalid (``code``) its first ``times`` sends, as a peer would when
    another transaction changed what it read."""

    def __init__(self, fn: str, times: int, code: int = 11) -> None:
        super().__init__()
        self.fn, self.left, self.code = fn, times, code

    def submit(self, transaction: str) -> Any:
        proposal = self.proposals[-1]
        if proposal["fn"] != self.fn or self.left == 0:
            return super().submit(transaction)
        self.left -= 1
        code = self.code

        class Invalid:
            def wait(self, timeout: float | None = None) -> bytes:
                raise CommitError("t", code, 7)

        return Invalid()


def test_a_half_that_lost_an_mvcc_race_is_sent_again_and_others_are_the_callers() -> None:
    # The meter bridge billed the customer's account between FundMarket's endorsement and
    # its commit (code 11, MVCC_READ_CONFLICT): nothing was written, so it is sent again.
    gw = _Conflicting("FundMarket", 2)
    steps = Market(gw).deposit(MarketKey.generate(PSEUDONYM).deposit(5))  # type: ignore[arg-type]
    assert steps == {"FundMarket": {"ok": True}, "Deposit": {"ok": True}}
    assert [p["fn"] for p in gw.proposals] == ["FundMarket"] * 3 + ["Deposit"]
    # Bounded: a half that keeps losing is the caller's to see, and nothing more runs.
    gw = _Conflicting("FundMarket", STEP_ATTEMPTS)
    with pytest.raises(CommitError, match="MVCC_READ_CONFLICT"):
        Market(gw).deposit(MarketKey.generate(PSEUDONYM).deposit(5))  # type: ignore[arg-type]
    assert [p["fn"] for p in gw.proposals] == ["FundMarket"] * STEP_ATTEMPTS
    # Any other invalid commit (code 10, ENDORSEMENT_POLICY_FAILURE) is not sent again.
    gw = _Conflicting("Withdraw", 1, code=10)
    with pytest.raises(CommitError, match="ENDORSEMENT_POLICY_FAILURE"):
        Market(gw).withdraw(MarketKey.generate(PSEUDONYM).withdrawal(5))  # type: ignore[arg-type]
    assert [p["fn"] for p in gw.proposals] == ["Withdraw"]


class _Behind(_Refusing):
    """Another endorser has not committed the earlier half's block yet: ``fn`` is
    refused 404 its first ``times`` sends."""

    def __init__(self, fn: str, times: int) -> None:
        super().__init__(fn, 404, "no deposit r of p is funded on the energy channel")
        self.left = times

    def endorse(self, proposal: dict[str, Any]) -> str:
        if proposal["fn"] == self.refused[0] and self.left:
            self.left -= 1
            return super().endorse(proposal)
        return "tx"


def test_a_later_half_waits_for_the_earlier_ones_block_to_reach_its_endorsers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gridledger.clients.market.PROPAGATION_POLL", 0.0)
    gw = _Behind("Deposit", 2)
    steps = Market(gw).deposit(MarketKey.generate(PSEUDONYM).deposit(5))  # type: ignore[arg-type]
    assert steps == {"FundMarket": {"ok": True}, "Deposit": {"ok": True}}
    assert [p["fn"] for p in gw.proposals] == ["FundMarket"] + ["Deposit"] * 3
    # Bounded: a 404 that outlasts PROPAGATION_SECONDS is the caller's to see.
    monkeypatch.setattr("gridledger.clients.market.PROPAGATION_SECONDS", 0.0)
    with pytest.raises(EndorseError, match="404"):
        Market(_Behind("Deposit", 1)).deposit(  # type: ignore[arg-type]
            MarketKey.generate(PSEUDONYM).deposit(5))
    # A first half's 404 is never waited on: nothing before it can be on its way.
    gw = _Behind("FundMarket", 1)
    with pytest.raises(EndorseError, match="404"):
        Market(gw).deposit(MarketKey.generate(PSEUDONYM).deposit(5))  # type: ignore[arg-type]
    assert [p["fn"] for p in gw.proposals] == ["FundMarket"]


def test_a_signed_message_file_that_is_not_one_is_refused_before_anything_is_sent() -> None:
    market, gw = _market()
    with pytest.raises(ArgumentError, match="not a signed market message"):
        market.deposit('{"message": {"amount": 1}}')
    assert gw.proposals == []


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
