"""INVOKE_CHAINCODE in the shim: what goes to the peer, what comes back, and that callers
waiting for a called chaincode neither starve it of workers nor get its replies.

The tests play the peer's side of core/chaincode/handler.go (HandleInvokeChaincode) by
hand, as tests/unit/chaincode/test_handler.py does: the peer answers INVOKE_CHAINCODE with
RESPONSE whose payload is the called chaincode's own ChaincodeMessage (COMPLETED with its
Response, or ERROR), or with ERROR when it refuses the call itself.
"""

from __future__ import annotations

import json
import queue
import threading

import pytest
from fabric_protos.peer import chaincode_pb2, chaincode_shim_pb2, proposal_response_pb2

from gridledger.chaincode.health import HealthContract
from gridledger.chaincode.shim import (
    ChaincodeError,
    ChaincodeResponse,
    Contract,
    PeerCapabilities,
    PeerError,
    PeerStub,
    Stub,
    evaluate,
    submit,
)
from gridledger.chaincode.shim.proposal import ProposalFacts, parse_signed_proposal
from gridledger.chaincode.shim.workers import TxWorkers

from .support import PeerEnd, make_cert, serialized_identity, signed_proposal

Msg = chaincode_shim_pb2.ChaincodeMessage
CCID = "health_1.0:0123abcd"
ENERGY, MARKET = "energy", "market"


class Caller(Contract):
    """Calls another chaincode between two writes and reports what it got."""

    name = "caller"

    @submit
    def Call(self, stub: Stub, chaincode: str, channel: str, args: str) -> dict:
        stub.put_state("before", b"1")
        try:
            answer = stub.invoke_chaincode(chaincode, json.loads(args), channel)
        except PeerError as exc:
            raise ChaincodeError(str(exc), status=502) from None
        stub.put_state("after", b"2")
        return {"status": answer.status, "message": answer.message,
                "payload": answer.payload.decode(), "ok": answer.ok}

    @evaluate
    def Peek(self, stub: Stub, chaincode: str, channel: str) -> dict:
        answer = stub.invoke_chaincode(chaincode, ["health:Get", "k"], channel)
        return {"status": answer.status, "payload": answer.payload.decode()}

    @evaluate
    def Where(self, stub: Stub) -> dict:
        return {"channel": stub.channel_id, "proposalChannel": stub.proposal_channel_id,
                "proposalChaincode": stub.proposal_chaincode, "msp": stub.creator.msp_id,
                "secret": (stub.get_transient("secret") or b"").decode(),
                "time": stub.tx_timestamp_rfc3339}


class Peer(PeerEnd):
    """The peer's end of one stream (one package: `health` on both channels)."""

    def __init__(self, tx_workers: int = 4, **ready: object) -> None:
        super().__init__(CCID, [Caller(), HealthContract()], tx_workers=tx_workers,
                         timeout=5.0)
        self.connect(**(ready or {"use_write_batch": True}))  # as a Fabric 3 peer announces
        self.creator = serialized_identity("UtilityMSP", make_cert("utility-admin"))

    def expect(self, msg_type: int, channel: str, txid: str) -> Msg:
        msg = self.next()
        assert (Msg.Type.Name(msg.type), msg.channel_id, msg.txid) == (
            Msg.Type.Name(msg_type), channel, txid), msg
        return msg

    def transaction(self, channel: str, txid: str, *args: str, proposal_channel: str = ENERGY,
                    **kw: object) -> None:
        """TRANSACTION on ``channel``; its proposal is the client's, made for
        ``proposal_channel`` (a called chaincode gets the caller's)."""
        chaincode_input = chaincode_pb2.ChaincodeInput(args=[a.encode() for a in args])
        self.handler.handle(Msg(
            type=Msg.TRANSACTION, txid=txid, channel_id=channel,
            payload=chaincode_input.SerializeToString(),
            proposal=signed_proposal(self.creator, tx_id=txid, channel=proposal_channel,
                                     **kw)))  # type: ignore[arg-type]

    def answer_call(self, request: Msg, inner: Msg) -> None:
        """RESPONSE to INVOKE_CHAINCODE: the called chaincode's message as payload."""
        self.answer(request, inner.SerializeToString())

    def result(self, channel: str, txid: str) -> proposal_response_pb2.Response:
        msg = self.expect(Msg.COMPLETED, channel, txid)
        response = proposal_response_pb2.Response()
        response.ParseFromString(msg.payload)
        return response


def finish_call(peer: Peer, txid: str) -> dict:
    """Acknowledge caller:Call's write batch; return its answer."""
    peer.answer(peer.expect(Msg.WRITE_BATCH_STATE, ENERGY, txid))
    return json.loads(peer.result(ENERGY, txid).payload)


def completed(status: int, payload: bytes = b"", message: str = "") -> Msg:
    response = proposal_response_pb2.Response(status=status, payload=payload, message=message)
    return Msg(type=Msg.COMPLETED, payload=response.SerializeToString())


def spec_of(msg: Msg) -> chaincode_pb2.ChaincodeSpec:
    spec = chaincode_pb2.ChaincodeSpec()
    spec.ParseFromString(msg.payload)
    return spec


def written_keys(msg: Msg) -> list[str]:
    batch = chaincode_shim_pb2.WriteBatchState()
    batch.ParseFromString(msg.payload)
    return [rec.key for rec in batch.rec]


@pytest.fixture
def peer() -> Peer:
    p = Peer(use_write_batch=True, max_size_write_batch=100)
    yield p
    p.handler.close()


def call(peer: Peer, txid: str, chaincode: str, channel: str, *args: str) -> None:
    peer.transaction(ENERGY, txid, "caller:Call", chaincode, channel, json.dumps(list(args)))


# -- the request and its answer ---------------------------------------------------------------


def test_cross_channel_call_names_chaincode_slash_channel_and_keeps_writes_batched(
        peer: Peer) -> None:
    call(peer, "tx1", "health", MARKET, "health:Get", "k")
    invoke = peer.expect(Msg.INVOKE_CHAINCODE, ENERGY, "tx1")
    spec = spec_of(invoke)
    assert spec.chaincode_id.name == "health/market"
    assert list(spec.input.args) == [b"health:Get", b"k"]
    # Across channels the called chaincode has a simulator of its own: the caller's
    # pending write stays in its batch, sent once, after the call, before COMPLETED.
    peer.answer_call(invoke, completed(200, b"v"))
    batch = peer.expect(Msg.WRITE_BATCH_STATE, ENERGY, "tx1")
    assert written_keys(batch) == ["before", "after"]
    peer.answer(batch)
    result = json.loads(peer.result(ENERGY, "tx1").payload)
    assert result == {"status": 200, "message": "", "payload": "v", "ok": True}


def test_call_on_own_channel_sends_pending_writes_first(peer: Peer) -> None:
    call(peer, "tx2", "metering", "", "GetMeter", "m-1")
    # Same channel: one simulator for both chaincodes, so the caller's write reaches it
    # before the called chaincode runs, in program order, as an unbatched shim would.
    first = peer.expect(Msg.WRITE_BATCH_STATE, ENERGY, "tx2")
    assert written_keys(first) == ["before"]
    assert peer.nothing_sent()  # the call waits for the batch to be acknowledged
    peer.answer(first)
    invoke = peer.expect(Msg.INVOKE_CHAINCODE, ENERGY, "tx2")
    assert spec_of(invoke).chaincode_id.name == "metering"
    peer.answer_call(invoke, completed(200, b"{}"))
    second = peer.expect(Msg.WRITE_BATCH_STATE, ENERGY, "tx2")
    assert written_keys(second) == ["after"]
    peer.answer(second)
    assert peer.result(ENERGY, "tx2").status == 200


def test_naming_own_channel_is_a_same_channel_call(peer: Peer) -> None:
    call(peer, "tx3", "metering", ENERGY, "GetMeter", "m-1")
    peer.answer(peer.expect(Msg.WRITE_BATCH_STATE, ENERGY, "tx3"))
    assert spec_of(peer.expect(Msg.INVOKE_CHAINCODE, ENERGY, "tx3")).chaincode_id.name == (
        "metering")


@pytest.mark.parametrize(("inner", "expected"), [
    (completed(404, message="health key 'k' not found"),
     {"status": 404, "message": "health key 'k' not found", "payload": "", "ok": False}),
    # A called chaincode that failed without a Response (ERROR): status 500, its text.
    (Msg(type=Msg.ERROR, payload=b"chaincode shim failure: boom"),
     {"status": 500, "message": "chaincode shim failure: boom", "payload": "", "ok": False}),
])
def test_called_chaincode_failure_is_an_answer(peer: Peer, inner: Msg, expected: dict) -> None:
    call(peer, "tx4", "health", MARKET, "health:Get", "k")
    peer.answer_call(peer.expect(Msg.INVOKE_CHAINCODE, ENERGY, "tx4"), inner)
    peer.answer(peer.expect(Msg.WRITE_BATCH_STATE, ENERGY, "tx4"))
    assert json.loads(peer.result(ENERGY, "tx4").payload) == expected


def test_peer_refusing_the_call_raises_peer_error_naming_the_target(peer: Peer) -> None:
    call(peer, "tx5", "health", MARKET, "health:Get", "k")
    invoke = peer.expect(Msg.INVOKE_CHAINCODE, ENERGY, "tx5")
    refusal = (b"access denied for [peer/ChaincodeToChaincode][market]: Failed evaluating "
               b"policy on signed data during check policy [/Channel/Application/Writers]")
    peer.answer(invoke, refusal, kind=Msg.ERROR)
    response = peer.result(ENERGY, "tx5")
    assert response.status == 502
    assert response.message == (
        "INVOKE_CHAINCODE refused by peer: calling chaincode 'health' on channel 'market': "
        + refusal.decode())
    assert peer.nothing_sent()  # a failed transaction flushes nothing


def test_answer_that_is_no_called_chaincode_message_raises_peer_error(peer: Peer) -> None:
    call(peer, "tx6", "health", MARKET, "health:Get", "k")
    invoke = peer.expect(Msg.INVOKE_CHAINCODE, ENERGY, "tx6")
    peer.answer_call(invoke, Msg(type=Msg.RESPONSE, payload=b"x"))
    response = peer.result(ENERGY, "tx6")
    assert response.status == 502
    assert "answered RESPONSE, expected COMPLETED or ERROR" in response.message


def test_evaluate_function_may_call_across_but_not_on_its_own_channel(peer: Peer) -> None:
    peer.transaction(ENERGY, "tx7", "caller:Peek", "health", "")
    response = peer.result(ENERGY, "tx7")
    assert response.status == 500
    assert "Peek is evaluate-only and cannot call chaincode 'health' on its own channel" in (
        response.message)
    peer.transaction(ENERGY, "tx8", "caller:Peek", "health", MARKET)
    invoke = peer.expect(Msg.INVOKE_CHAINCODE, ENERGY, "tx8")
    peer.answer_call(invoke, completed(200, b"v"))
    assert json.loads(peer.result(ENERGY, "tx8").payload) == {"status": 200, "payload": "v"}


@pytest.mark.parametrize(("chaincode", "args", "channel", "error"), [
    ("health/market", ["Get"], "", ValueError),  # would name channel "market"
    ("health:1.0", ["Get"], "", ValueError),  # would name a version
    ("", ["Get"], "", ValueError),
    ("health", ["Get"], "Market", ValueError),
    ("health", ["Get"], "market/x", ValueError),
    ("health", "Get", "market", TypeError),  # one string, not a list of arguments
    ("health", ["Get", 7], "market", TypeError),
])
def test_malformed_call_is_refused_before_anything_is_sent(
        chaincode: str, args: object, channel: str, error: type[Exception]) -> None:
    asked: list[int] = []
    stub = PeerStub(channel_id=ENERGY, tx_id="t", raw_args=[b"f"],
                    proposal=ProposalFacts(creator=b""),
                    ask=lambda t, p: asked.append(t) or b"",  # type: ignore[func-returns-value]
                    capabilities=PeerCapabilities(use_write_batch=True))
    stub.put_state("pending", b"1")
    with pytest.raises(error):
        stub.invoke_chaincode(chaincode, args, channel)  # type: ignore[arg-type]
    assert asked == []


def test_bytes_arguments_are_sent_as_they_are(peer: Peer) -> None:
    stub_args: list[bytes] = []

    def ask(msg_type: int, payload: bytes) -> bytes:
        stub_args.extend(spec_of(Msg(payload=payload)).input.args)
        return completed(200).SerializeToString()

    stub = PeerStub(channel_id=ENERGY, tx_id="t", raw_args=[b"f"],
                    proposal=ProposalFacts(creator=b""), ask=ask,
                    capabilities=PeerCapabilities())
    answer = stub.invoke_chaincode("health", ["Get", b"\xff\x00", "ü"], MARKET)
    assert answer == ChaincodeResponse(200, "", b"")
    assert stub_args == [b"Get", b"\xff\x00", "ü".encode()]


# -- the called transaction ---------------------------------------------------------------------


def test_called_chaincode_sees_the_callers_proposal() -> None:
    facts = parse_signed_proposal(signed_proposal(b"c", channel=MARKET, chaincode="market"))
    assert (facts.channel_id, facts.chaincode) == (MARKET, "market")

    peer = Peer()
    try:
        # The called transaction on `market` carries the client's proposal for `energy`.
        peer.transaction(MARKET, "tx9", "caller:Where", proposal_channel=ENERGY,
                         chaincode="metering", transient={"secret": b"s"})
        where = json.loads(peer.result(MARKET, "tx9").payload)
        assert where == {"channel": MARKET, "proposalChannel": ENERGY,
                         "proposalChaincode": "metering", "msp": "UtilityMSP",
                         "secret": "s", "time": "2025-03-01T12:30:15.250Z"}
    finally:
        peer.handler.close()


def test_called_transaction_on_the_same_stream_runs_while_its_caller_waits() -> None:
    # One worker: the caller holds it while waiting; with a fixed pool the called
    # transaction (same package on the other channel, so the same stream) would queue
    # behind it forever.
    peer = Peer(tx_workers=1)
    try:
        call(peer, "tx10", "health", MARKET, "health:Get", "k")
        invoke = peer.expect(Msg.INVOKE_CHAINCODE, ENERGY, "tx10")
        # The peer runs the called chaincode: same txid, other channel, this stream.
        peer.transaction(MARKET, "tx10", "health:Get", "k")
        get = peer.expect(Msg.GET_STATE, MARKET, "tx10")
        request = chaincode_shim_pb2.GetState()
        request.ParseFromString(get.payload)
        assert request.key == "health:k"
        peer.answer(get, b"market value")
        called = peer.result(MARKET, "tx10")
        assert (called.status, called.payload) == (200, b"market value")
        # The peer hands the called chaincode's COMPLETED back to the caller.
        peer.answer_call(invoke, completed(called.status, called.payload))
        assert finish_call(peer, "tx10")["payload"] == "market value"
    finally:
        peer.handler.close()


def test_replies_for_caller_and_called_do_not_mix_up() -> None:
    # The caller waits on (energy, tx11) for INVOKE_CHAINCODE while the called one waits on
    # (market, tx11) for GET_STATE: each answer reaches the one it names.
    peer = Peer(tx_workers=1)
    try:
        call(peer, "tx11", "health", MARKET, "health:Get", "k")
        invoke = peer.expect(Msg.INVOKE_CHAINCODE, ENERGY, "tx11")
        peer.transaction(MARKET, "tx11", "health:Get", "k")
        get = peer.expect(Msg.GET_STATE, MARKET, "tx11")
        # Answer the caller first (a peer never does this before the called one
        # completes; the routing must not care).
        peer.answer_call(invoke, completed(200, b"from the call"))
        assert finish_call(peer, "tx11")["payload"] == "from the call"
        peer.answer(get, b"from the state")
        assert peer.result(MARKET, "tx11").payload == b"from the state"
    finally:
        peer.handler.close()


def test_callers_waiting_on_every_worker_do_not_starve_called_transactions() -> None:
    peer = Peer(tx_workers=2)
    try:
        txids = ["tx21", "tx22", "tx23"]  # one more caller than workers
        for txid in txids:
            call(peer, txid, "health", MARKET, "health:Ping")
        invokes = {m.txid: m for m in (peer.next() for _ in txids)}
        assert {m.type for m in invokes.values()} == {Msg.INVOKE_CHAINCODE}
        for txid in txids:
            peer.transaction(MARKET, txid, "health:Ping")
        done: set[str] = set()
        while len(done) < len(txids):
            msg = peer.next()
            if msg.type == Msg.WRITE_BATCH_STATE:  # a caller finishing
                peer.answer(msg)
            elif (msg.type, msg.channel_id) == (Msg.COMPLETED, MARKET):  # a called one
                peer.answer_call(invokes[msg.txid], Msg(type=Msg.COMPLETED, payload=msg.payload))
            else:
                assert (msg.type, msg.channel_id) == (Msg.COMPLETED, ENERGY), msg
                response = proposal_response_pb2.Response()
                response.ParseFromString(msg.payload)
                assert json.loads(response.payload)["status"] == 200
                done.add(msg.txid)
        assert done == set(txids)
    finally:
        peer.handler.close()


# -- the workers themselves ---------------------------------------------------------------------


def test_workers_run_at_most_size_until_one_waits_for_a_call() -> None:
    workers = TxWorkers(1, name="t")
    started: queue.Queue[str] = queue.Queue()
    release = {n: threading.Event() for n in ("a", "b")}
    in_call = threading.Event()

    def task(name: str, waits_for_call: bool = False) -> None:
        started.put(name)
        if waits_for_call:
            with workers.waiting():
                in_call.set()
                release[name].wait(5)
        else:
            release[name].wait(5)

    workers.submit(lambda: task("a", waits_for_call=True))
    assert started.get(timeout=5) == "a"
    assert in_call.wait(5)
    workers.submit(lambda: task("b"))
    # a waits for a call, so b starts although size is 1.
    assert started.get(timeout=5) == "b"
    counts = workers.counts()
    assert (counts["active"], counts["blocked"]) == (1, 1)
    release["a"].set()
    release["b"].set()
    workers.close()


def test_workers_queue_beyond_size_and_drop_the_queue_on_close() -> None:
    workers = TxWorkers(1, name="t")
    started: queue.Queue[str] = queue.Queue()
    release = threading.Event()

    def task(name: str) -> None:
        started.put(name)
        release.wait(5)

    workers.submit(lambda: task("a"))
    assert started.get(timeout=5) == "a"
    workers.submit(lambda: task("b"))
    with pytest.raises(queue.Empty):
        started.get(timeout=0.2)  # b waits for a's worker
    assert workers.counts()["queued"] == 1
    workers.close()
    release.set()
    with pytest.raises(queue.Empty):
        started.get(timeout=0.2)  # dropped on close
    with pytest.raises(RuntimeError):
        workers.submit(lambda: task("c"))


def test_waiting_outside_a_worker_changes_nothing() -> None:
    workers = TxWorkers(2, name="t")
    with workers.waiting():
        assert workers.counts()["blocked"] == 0
    workers.close()
