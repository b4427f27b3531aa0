"""FabricLedger against an in-memory Gateway: error mapping, outcomes, events, resume.

The fake speaks the Gateway client's own types (proposals, endorsed envelopes with their
chaincode event, commit statuses, the ChaincodeEvents stream with start block and
``after_transaction_id``), so the real Network/Contract/ChaincodeEvents code runs.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from fabric_protos.common import common_pb2, ledger_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

from gridledger.clients.errors import (
    CommitStatusError,
    EndorseError,
    EndpointDetail,
    SubmitError,
)
from gridledger.clients.events import FileCheckpoint
from gridledger.clients.gateway import Network, Status
from gridledger.clients.proposal import Proposal, Transaction
from gridledger.meter_bridge.fabric_ledger import (
    FabricLedger,
    LedgerConfig,
    parse_outcomes,
)
from gridledger.meter_bridge.ledger import BatchRefused, LedgerUnavailable

pytestmark = pytest.mark.anyio


class RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[()]:
        return ()


def args_of(proposal: Proposal) -> list[str]:
    """The function and its arguments, as the chaincode sees them: arguments that carry
    customer data travel in the transient map (clients/metering.py), the others inline."""
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.proposal.payload)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    args = [a.decode() for a in spec.chaincode_spec.input.args]
    if "args" in payload.TransientMap:
        args += json.loads(payload.TransientMap["args"])
    return args


def envelope(result: bytes, event: tuple[str, dict[str, Any]] | None) -> common_pb2.Envelope:
    action = proposal_pb2.ChaincodeAction()
    action.response.payload = result
    if event is not None:
        action.events = chaincode_event_pb2.ChaincodeEvent(
            chaincode_id="metering", tx_id="tx", event_name=event[0],
            payload=json.dumps(event[1]).encode()).SerializeToString()
    prp = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    cap = transaction_pb2.ChaincodeActionPayload()
    cap.action.proposal_response_payload = prp.SerializeToString()
    tx = transaction_pb2.Transaction(
        actions=[transaction_pb2.TransactionAction(payload=cap.SerializeToString())])
    return common_pb2.Envelope(payload=common_pb2.Payload(
        data=tx.SerializeToString()).SerializeToString())


class FakeCommit:
    def __init__(self, gw: FakeGateway, transaction: Transaction) -> None:
        self.gw, self.transaction_id = gw, transaction.transaction_id
        self.result, self.chaincode_event = transaction.result, transaction.chaincode_event

    def status(self, timeout: float | None = None) -> Status:
        failure = self.gw.fail.pop("status", None)
        if failure:
            raise failure
        return Status(self.transaction_id, self.gw.validation_code, 7)


class EventCall:
    """One ChaincodeEvents call: the blocks from the requested position, then waits."""

    def __init__(self, blocks: list[tuple[int, list[tuple[str, str, dict[str, Any]]]]],
                 start: int, after: str, fail_after: int | None) -> None:
        self.blocks, self.start, self.after = blocks, start, after
        self.fail_after = fail_after
        self.cancelled = threading.Event()

    def __iter__(self):
        sent = 0
        for number, events in self.blocks:
            if number < self.start:
                continue
            out = []
            skipping = number == self.start and bool(self.after)
            for txid, name, payload in events:
                if skipping:
                    skipping = txid != self.after
                    continue
                out.append(gateway_pb2.ChaincodeEventsResponse().events.add(
                    chaincode_id="metering", tx_id=txid, event_name=name,
                    payload=json.dumps(payload).encode()))
            for ev in out:
                if self.fail_after is not None and sent >= self.fail_after:
                    raise RpcError(grpc.StatusCode.UNAVAILABLE, "peer went away")
                response = gateway_pb2.ChaincodeEventsResponse(block_number=number)
                response.events.append(ev)
                sent += 1
                yield response
        self.cancelled.wait(10)
        raise RpcError(grpc.StatusCode.CANCELLED)

    def cancel(self) -> None:
        self.cancelled.set()


class FakeStub:
    def __init__(self, gw: FakeGateway) -> None:
        self.gw = gw

    def ChaincodeEvents(self, signed: gateway_pb2.SignedChaincodeEventsRequest,
                        timeout: float | None = None) -> EventCall:
        request = gateway_pb2.ChaincodeEventsRequest.FromString(signed.request)
        assert request.start_position.WhichOneof("Type") == "specified", \
            "the Gateway refuses SeekNewest for chaincode events"
        start = request.start_position.specified.number
        self.gw.event_requests.append((start, request.after_transaction_id))
        fail_after = self.gw.stream_failures.pop(0) if self.gw.stream_failures else None
        return EventCall(self.gw.blocks, start, request.after_transaction_id, fail_after)


class FakeGateway:
    """What FabricLedger uses of a Gateway; answers like the metering chaincode."""

    creator = b"creator"

    def __init__(self) -> None:
        self.fail: dict[str, BaseException] = {}
        self.validation_code = 0
        self.report: Callable[[list[dict[str, Any]]], dict[str, Any]] = accept_all
        self.event: tuple[str, dict[str, Any]] | None = None
        self.height = 5
        self.blocks: list[tuple[int, list[tuple[str, str, dict[str, Any]]]]] = []
        self.event_requests: list[tuple[int, str]] = []
        self.stream_failures: list[int] = []
        self.submitted: list[list[dict[str, Any]]] = []
        self.evaluated: list[list[str]] = []
        self.cut: set[str] = set()          # SupplyStatus: meters whose account is exhausted
        self.closed = False
        self.stub = FakeStub(self)
        self._tx = 0

    def network(self, name: str) -> Network:
        return Network(self, name)  # type: ignore[arg-type]

    def sign(self, message: bytes) -> bytes:
        return b"sig"

    def close(self) -> None:
        self.closed = True

    def endorse(self, proposal: Proposal, timeout: float | None = None) -> Transaction:
        failure = self.fail.pop("endorse", None)
        if failure:
            raise failure
        fn, batch = args_of(proposal)
        assert fn == "metering:SubmitReadings"
        items = json.loads(batch)
        self.submitted.append(items)
        self._tx += 1
        return Transaction("energy", f"tx{self._tx}",
                           envelope(json.dumps(self.report(items)).encode(), self.event))

    def submit(self, transaction: Transaction, timeout: float | None = None) -> FakeCommit:
        failure = self.fail.pop("submit", None)
        if failure:
            raise failure
        return FakeCommit(self, transaction)

    def evaluate(self, proposal: Proposal, timeout: float | None = None) -> bytes:
        args = args_of(proposal)
        self.evaluated.append(args)
        if args[0] == "GetChainInfo":
            return ledger_pb2.BlockchainInfo(height=self.height).SerializeToString()
        if args[0] == "wattcoin:SupplyStatus":
            failure = self.fail.pop("evaluate", None)
            if failure:
                raise failure
            ids = json.loads(args[1])
            assert 1 <= len(ids) <= 1000
            return json.dumps({"meters": {m: {"known": m != "nobody", "prepaid": True,
                                              "supply": m not in self.cut,
                                              "powerSaving": False} for m in ids}}).encode()
        raise AssertionError(f"unexpected evaluate {args}")


def accept_all(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"accepted": len(items), "duplicate": 0, "refused": 0,
            "results": [{"index": i, "meterId": it["reading"]["meterId"],
                         "seq": it["reading"]["seq"], "status": "accepted", "hash": "h"}
                        for i, it in enumerate(items)]}


def item(meter: str, seq: int) -> dict[str, Any]:
    return {"reading": {"meterId": meter, "seq": seq}, "signature": "c2ln"}


def endorse_error(code: grpc.StatusCode, detail: str = "") -> EndorseError:
    details = (EndpointDetail("peer0:7051", "UtilityMSP", detail),) if detail else ()
    return EndorseError(code, "failed to endorse", transaction_id="tx", details=details)


def make(gw: FakeGateway, **config: Any) -> tuple[FabricLedger, list[int]]:
    dials: list[int] = []

    def connect() -> FakeGateway:
        dials.append(1)
        return gw

    return FabricLedger(connect, LedgerConfig(**config)), dials  # type: ignore[arg-type]


async def test_committed_batch_gives_one_outcome_per_item_and_its_supply_events() -> None:
    gw = FakeGateway()

    def mixed(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"results": [
            {"index": 0, "meterId": "m1", "seq": 1, "status": "accepted"},
            {"index": 1, "meterId": "m1", "seq": 2, "status": "duplicate",
             "reason": "duplicate: no-op, already recorded"},
            {"index": 2, "status": "refused", "code": "invalid", "reason": "bad item"},
        ]}

    gw.report = mixed
    gw.event = ("ReadingsProcessed", {
        "accepted": 1, "duplicate": 1, "refused": 1, "alarms": [],
        # Events are in every block: the chaincode names batch indices (the sender knows
        # which reading it sent where), never another meter, the customer or an amount.
        "exhausted": [0], "lowBalance": [0, 7]})
    ledger, _ = make(gw)
    result = await ledger.submit_readings([item("m1", 1), item("m1", 2), item("m1", 3)])
    assert result.committed and result.txid == "tx1"
    assert [(o.seq, o.status, o.code) for o in result.outcomes] == [
        (1, "accepted", ""), (2, "duplicate", ""), (3, "refused", "invalid")]
    assert result.outcomes[2].meter_id == "m1"     # taken from the batch item
    exhausted, low = result.events
    assert exhausted.kind == "exhausted" and exhausted.meter_ids == ("m1",)
    assert exhausted.txid == "tx1" and exhausted.detail == {"indices": [0]}
    assert low.kind == "low_balance" and low.meter_ids == ("m1",)   # 7: no such item
    assert ledger.health.last_commit is not None
    # The batch went as the chaincode's argument, items in order.
    assert gw.submitted == [[item("m1", 1), item("m1", 2), item("m1", 3)]]


@pytest.mark.parametrize(("phase", "error", "expected", "code"), [
    ("endorse", endorse_error(grpc.StatusCode.UNAVAILABLE), LedgerUnavailable, None),
    ("endorse", endorse_error(grpc.StatusCode.DEADLINE_EXCEEDED), LedgerUnavailable, None),
    ("endorse", endorse_error(grpc.StatusCode.ABORTED, "chaincode response 400, batch must "
                              "hold 1 to 1000 readings"), BatchRefused, "chaincode-400"),
    ("endorse", endorse_error(grpc.StatusCode.ABORTED, "chaincode response 403, SubmitReadings"
                              " needs an operator"), BatchRefused, "chaincode-403"),
    ("endorse", endorse_error(grpc.StatusCode.ABORTED, "chaincode response 500, internal"),
     LedgerUnavailable, None),
    ("submit", SubmitError(grpc.StatusCode.UNAVAILABLE, "no orderer"), LedgerUnavailable, None),
    ("status", CommitStatusError(grpc.StatusCode.DEADLINE_EXCEEDED, "waited"),
     LedgerUnavailable, None),
])
async def test_client_errors_become_the_seams_errors(phase: str, error: Exception,
                                                     expected: type, code: str | None) -> None:
    gw = FakeGateway()
    gw.fail[phase] = error
    ledger, _ = make(gw)
    with pytest.raises(expected) as raised:
        await ledger.submit_readings([item("m1", 1)])
    if code is not None:
        assert raised.value.code == code
        assert raised.value.reason.startswith(f"chaincode response {code[-3:]}")
    if expected is LedgerUnavailable:
        assert ledger.health.unavailable_since is not None
        await ledger.submit_readings([item("m1", 1)])          # the next one goes through
        assert ledger.health.unavailable_since is None


async def test_invalid_at_commit_is_not_committed_with_the_validation_code() -> None:
    gw = FakeGateway()
    gw.validation_code = 11
    ledger, _ = make(gw)
    result = await ledger.submit_readings([item("m1", 1)])
    assert not result.committed and result.validation_code == "MVCC_READ_CONFLICT"
    assert result.outcomes == ()


async def test_a_long_outage_dials_a_fresh_channel() -> None:
    gw = FakeGateway()
    ledger, dials = make(gw, redial_after=0.0)
    await ledger.submit_readings([item("m1", 1)])
    assert len(dials) == 1
    gw.fail["endorse"] = endorse_error(grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(LedgerUnavailable):
        await ledger.submit_readings([item("m1", 2)])
    await ledger.submit_readings([item("m1", 2)])
    assert len(dials) == 2


def test_report_without_a_result_for_an_item_is_an_unknown_outcome() -> None:
    with pytest.raises(LedgerUnavailable, match="no result for item 1"):
        parse_outcomes([item("m", 1), item("m", 2)],
                       {"results": [{"index": 0, "status": "accepted"}]})


def test_chaincode_event_is_read_from_the_endorsed_envelope() -> None:
    env = envelope(b"{}", ("ReadingsProcessed", {"exhausted": []}))
    event = Transaction("energy", "tx", env).chaincode_event
    assert event is not None and event.event_name == "ReadingsProcessed"
    assert Transaction("energy", "tx", envelope(b"{}", None)).chaincode_event is None


async def _take(ledger: FabricLedger, count: int, timeout: float = 5.0) -> list[Any]:
    """Follow the events like the relay controller does (handle, carry on) until ``count``
    have come and the stream has gone quiet; then cancel, as a stopping bridge does."""
    out: list[Any] = []

    async def consume() -> None:
        async for event in ledger.events():
            out.append(event)

    task = asyncio.ensure_future(consume())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(out) < count and loop.time() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(out) == count, out
    return out


async def test_events_are_hints_and_resume_after_a_restart(tmp_path: Path) -> None:
    gw = FakeGateway()
    gw.blocks = [
        (4, [("old", "WattcoinMinted", {"restored": True})]),
        (5, [("t1", "WattcoinMinted", {"restored": True}),
             ("t2", "WattcoinMinted", {"restored": False}),
             ("t3", "ReadingsProcessed", {"exhausted": [], "lowBalance": [], "alarms": []})]),
        (6, [("t4", "WattcoinTransferred", {"restored": True, "meters": ["m3"]}),
             ("t5", "Alarm", {"meterId": "m1", "kind": "fire"})]),
        (7, [("t6", "ReadingsProcessed", {"exhausted": [2]})]),
    ]
    checkpoint = tmp_path / "events.json"
    ledger, _ = make(gw, checkpoint=checkpoint)
    first = await _take(ledger, 3)
    # First start: from the channel's height (5), not from the beginning (block 4).
    assert gw.event_requests[0] == (5, "")
    # Another's batch: its indices name nothing here; a restore names nothing anywhere
    # (a "meters" member, as a forger might add, is ignored); an alarm is no supply hint.
    assert [(e.kind, e.meter_ids, e.txid) for e in first] == [
        ("restored", (), "t1"), ("restored", (), "t4"), ("exhausted", (), "t6")]

    # Everything handled is checkpointed, supply events or not (the alarm t5, block 7).
    assert FileCheckpoint(checkpoint).transaction_id == "t6"
    gw.blocks.append((8, [("t7", "WattcoinMinted", {"restored": True})]))
    # Restart (a new ledger object on the same checkpoint file): after t6, nothing again.
    again, _ = make(gw, checkpoint=checkpoint)
    rest = await _take(again, 1)
    assert gw.event_requests[-1] == (7, "t6")
    assert [(e.kind, e.meter_ids, e.txid) for e in rest] == [("restored", (), "t7")]


async def test_supply_status_asks_the_bridges_own_peer_in_pages() -> None:
    gw = FakeGateway()
    gw.cut = {"m-3"}
    ledger, _ = make(gw)
    ids = [f"m-{i}" for i in range(2500)] + ["nobody"]
    states = await ledger.supply_status(ids)
    assert [len(json.loads(a[1])) for a in gw.evaluated] == [1000, 1000, 501]
    assert states["m-3"].supply is False and states["m-4"].supply is True
    assert states["nobody"].known is False
    gw.fail["evaluate"] = endorse_error(grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(LedgerUnavailable):
        await ledger.supply_status(["m-1"])


async def test_event_stream_reconnects_and_misses_nothing(tmp_path: Path) -> None:
    gw = FakeGateway()
    gw.blocks = [(5, [(f"t{i}", "WattcoinMinted", {"restored": True, "meters": ["m1"]})
                      for i in range(1, 5)])]
    gw.stream_failures = [2]            # the first connection breaks after two events
    ledger, _ = make(gw, checkpoint=tmp_path / "cp.json", reconnect_initial=0.01)
    events = await _take(ledger, 4)
    assert [e.txid for e in events] == ["t1", "t2", "t3", "t4"]
    assert gw.event_requests == [(5, ""), (5, "t2")]


async def test_events_of_own_batches_are_not_delivered_twice(tmp_path: Path) -> None:
    gw = FakeGateway()
    payload = {"exhausted": [0]}
    gw.event = ("ReadingsProcessed", payload)
    ledger, _ = make(gw, checkpoint=tmp_path / "cp.json")
    result = await ledger.submit_readings([item("m1", 1)])
    assert [e.kind for e in result.events] == ["exhausted"]
    gw.blocks = [(5, [(result.txid, "ReadingsProcessed", payload),
                      ("other", "ReadingsProcessed", payload)])]
    (event,) = await _take(ledger, 1)
    assert event.txid == "other"
