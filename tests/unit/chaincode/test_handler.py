"""The handler's message sequencing, driven by scripted ChaincodeMessages in memory.

Each test plays the peer's side of core/chaincode/handler.go by hand: it reads what the
chaincode put in its send queue and feeds back the answers a peer would give.
"""

from __future__ import annotations

import json

import pytest
from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    chaincode_shim_pb2,
    proposal_response_pb2,
)

from gridledger.chaincode.health import HealthContract
from gridledger.chaincode.shim import (
    Contract,
    Stub,
    all_of_policy,
    evaluate,
    parse_json_arg,
    submit,
)
from gridledger.chaincode.shim.handler import ProtocolError, State

from .support import PeerEnd, make_cert, serialized_identity, signed_proposal

Msg = chaincode_shim_pb2.ChaincodeMessage
CCID = "gridledger_1.0:0123abcd"
CHANNEL = "energy"


class Probe(Contract):
    """Touches each stub feature once so the wire traffic can be checked."""

    name = "probe"

    @evaluate
    def Read(self, stub: Stub, key: str) -> bytes:
        return stub.get_state(key) or b"<none>"

    @evaluate
    def ReadMany(self, stub: Stub, keys: str) -> list:
        values = stub.get_state_multiple(parse_json_arg(keys, "keys"))
        return [v.decode() if v is not None else None for v in values]

    @evaluate
    def Scan(self, stub: Stub, start: str, end: str, limit: str) -> list:
        out = []
        with stub.get_state_by_range(start, end) as it:
            for kv in it:
                out.append(kv.key)
                if len(out) == int(limit):
                    break
        return out

    @submit
    def WriteMany(self, stub: Stub, count: str) -> None:
        for i in range(int(count)):
            stub.put_state(f"k{i}", b"v")
        stub.del_state("gone")

    @submit
    def Secure(self, stub: Stub, key: str) -> None:
        stub.put_state(key, b"v")
        stub.set_state_validation_parameter(key, all_of_policy(["UtilityMSP", "RegulatorMSP"]))

    @submit
    def Private(self, stub: Stub, collection: str, key: str) -> bytes:
        stub.put_private_data(collection, key, stub.get_transient("secret") or b"")
        return stub.get_private_data(collection, key) or b""

    @evaluate
    def Who(self, stub: Stub) -> dict:
        return {"msp": stub.creator.msp_id, "role": stub.creator.get_attribute("role")}

    @submit
    def FailAfterWrite(self, stub: Stub) -> None:
        from gridledger.chaincode.shim import ChaincodeError

        stub.put_state("k", b"v")
        raise ChaincodeError("refused", status=403)


class Conversation(PeerEnd):
    """The peer's end of one stream, scripted by the test."""

    def __init__(self) -> None:
        super().__init__(CCID, [Probe(), HealthContract()], tx_workers=8, timeout=3.0)

    def transaction(self, txid: str, *args: str, creator: bytes | None = None, **kw) -> None:
        creator = creator or serialized_identity("UtilityMSP", make_cert())
        chaincode_input = chaincode_pb2.ChaincodeInput(args=[a.encode() for a in args])
        self.handler.handle(
            Msg(
                type=kw.pop("msg_type", Msg.TRANSACTION),
                txid=txid,
                channel_id=CHANNEL,
                payload=chaincode_input.SerializeToString(),
                proposal=signed_proposal(creator, tx_id=txid, **kw),
            )
        )

    def completed(self, txid: str) -> proposal_response_pb2.Response:
        msg = self.next()
        assert (msg.type, msg.txid, msg.channel_id) == (Msg.COMPLETED, txid, CHANNEL)
        response = proposal_response_pb2.Response()
        response.ParseFromString(msg.payload)
        return response


@pytest.fixture
def peer() -> Conversation:
    conv = Conversation()
    yield conv
    conv.handler.close()


def test_register_carries_package_id_then_ready_sets_capabilities(peer: Conversation) -> None:
    peer.handler.start()
    register = peer.next()
    assert register.type == Msg.REGISTER
    cc_id = chaincode_pb2.ChaincodeID()
    cc_id.ParseFromString(register.payload)
    assert cc_id.name == CCID
    assert peer.handler.state is State.CREATED
    peer.handler.handle(Msg(type=Msg.REGISTERED))
    assert peer.handler.state is State.ESTABLISHED
    params = chaincode_pb2.ChaincodeAdditionalParams(
        use_write_batch=True,
        max_size_write_batch=7,
        use_get_multiple_keys=True,
        max_size_get_multiple_keys=9,
    )
    peer.handler.handle(Msg(type=Msg.READY, payload=params.SerializeToString()))
    assert peer.handler.state is State.READY
    caps = peer.handler.capabilities
    assert (caps.use_write_batch, caps.write_batch_size) == (True, 7)
    assert (caps.use_get_multiple, caps.get_multiple_size) == (True, 9)


def test_ready_without_payload_means_no_batching(peer: Conversation) -> None:
    peer.handler.start()
    peer.next()
    peer.handler.handle(Msg(type=Msg.REGISTERED))
    peer.handler.handle(Msg(type=Msg.READY))
    assert peer.handler.state is State.READY
    assert not peer.handler.capabilities.use_write_batch
    assert not peer.handler.capabilities.use_get_multiple


@pytest.mark.parametrize("first", [Msg.READY, Msg.TRANSACTION, Msg.RESPONSE])
def test_out_of_order_message_sends_error_and_ends_stream(peer: Conversation, first) -> None:
    peer.handler.start()
    peer.next()
    with pytest.raises(ProtocolError):
        peer.handler.handle(Msg(type=first, txid="t0"))
    err = peer.next()
    assert err.type == Msg.ERROR and b"in state created" in err.payload


def test_keepalive_is_echoed_in_any_state(peer: Conversation) -> None:
    peer.handler.handle(Msg(type=Msg.KEEPALIVE))
    assert peer.next().type == Msg.KEEPALIVE
    peer.connect()
    peer.handler.handle(Msg(type=Msg.KEEPALIVE))
    assert peer.next().type == Msg.KEEPALIVE


def test_put_with_write_batch_sends_one_batch_then_completed_with_event(
    peer: Conversation,
) -> None:
    peer.connect(use_write_batch=True, max_size_write_batch=100)
    peer.transaction("tx1", "health:Put", "m1", "ok")
    batch_msg = peer.next()
    assert (batch_msg.type, batch_msg.txid, batch_msg.channel_id) == (
        Msg.WRITE_BATCH_STATE,
        "tx1",
        CHANNEL,
    )
    batch = chaincode_shim_pb2.WriteBatchState()
    batch.ParseFromString(batch_msg.payload)
    assert [(r.type, r.key, r.value) for r in batch.rec] == [
        (chaincode_shim_pb2.WriteRecord.PUT_STATE, "health:m1", b"ok")
    ]
    assert peer.nothing_sent()  # COMPLETED waits for the batch to be acknowledged
    peer.answer(batch_msg)
    done = peer.next()
    assert done.type == Msg.COMPLETED
    response = proposal_response_pb2.Response()
    response.ParseFromString(done.payload)
    assert response.status == 200
    assert json.loads(response.payload) == {"key": "m1"}
    assert done.chaincode_event.event_name == "HealthPut"
    assert done.chaincode_event.payload == b'{"key":"m1"}'


def test_put_without_batching_sends_put_state(peer: Conversation) -> None:
    peer.connect()
    peer.transaction("tx1", "health:Put", "m1", "ok")
    put = peer.next()
    assert put.type == Msg.PUT_STATE
    body = chaincode_shim_pb2.PutState()
    body.ParseFromString(put.payload)
    assert (body.key, body.value, body.collection) == ("health:m1", b"ok", "")
    peer.answer(put)
    assert peer.completed("tx1").status == 200


def test_write_batch_is_chunked_by_peer_maximum(peer: Conversation) -> None:
    peer.connect(use_write_batch=True, max_size_write_batch=2)
    peer.transaction("tx1", "probe:WriteMany", "3")
    sizes = []
    for _ in range(2):
        msg = peer.next()
        assert msg.type == Msg.WRITE_BATCH_STATE
        batch = chaincode_shim_pb2.WriteBatchState()
        batch.ParseFromString(msg.payload)
        sizes.append(len(batch.rec))
        kinds = {r.type for r in batch.rec}
        peer.answer(msg)
    assert sizes == [2, 2]
    assert chaincode_shim_pb2.WriteRecord.DEL_STATE in kinds
    assert peer.completed("tx1").status == 200


def test_failed_transaction_flushes_nothing(peer: Conversation) -> None:
    peer.connect(use_write_batch=True, max_size_write_batch=10)
    peer.transaction("tx1", "probe:FailAfterWrite")
    response = peer.completed("tx1")
    assert (response.status, response.message) == (403, "refused")


def test_failed_batch_reported_as_error_message(peer: Conversation) -> None:
    peer.connect(use_write_batch=True, max_size_write_batch=10)
    peer.transaction("tx1", "health:Put", "m1", "ok")
    batch_msg = peer.next()
    peer.answer(batch_msg, b"no ledger context", kind=Msg.ERROR)
    err = peer.next()
    assert (err.type, err.txid, err.channel_id) == (Msg.ERROR, "tx1", CHANNEL)
    assert b"no ledger context" in err.payload


def test_concurrent_transactions_get_their_own_answers(peer: Conversation) -> None:
    peer.connect()
    peer.transaction("txA", "probe:Read", "a")
    peer.transaction("txB", "probe:Read", "b")
    requests = {m.txid: m for m in (peer.next(), peer.next())}
    assert set(requests) == {"txA", "txB"}
    for m in requests.values():
        assert m.type == Msg.GET_STATE
    # Answer in reverse order: routing is by (channel, txid), not by arrival.
    peer.answer(requests["txB"], b"value-b")
    assert peer.completed("txB").payload == b"value-b"
    peer.answer(requests["txA"], b"")  # absent key
    assert peer.completed("txA").payload == b"<none>"


def test_same_txid_on_two_channels_is_routed_separately(peer: Conversation) -> None:
    peer.connect()
    for channel in ("energy", "other"):
        chaincode_input = chaincode_pb2.ChaincodeInput(args=[b"probe:Read", b"k"])
        peer.handler.handle(
            Msg(
                type=Msg.TRANSACTION,
                txid="same",
                channel_id=channel,
                payload=chaincode_input.SerializeToString(),
            )
        )
    got = {m.channel_id: m for m in (peer.next(), peer.next())}
    peer.answer(got["other"], b"from-other")
    peer.answer(got["energy"], b"from-energy")
    done = {}
    for _ in range(2):
        m = peer.next()
        r = proposal_response_pb2.Response()
        r.ParseFromString(m.payload)
        done[m.channel_id] = r.payload
    assert done == {"energy": b"from-energy", "other": b"from-other"}


def test_get_state_multiple_chunks_and_falls_back(peer: Conversation) -> None:
    peer.connect(use_get_multiple_keys=True, max_size_get_multiple_keys=2)
    peer.transaction("tx1", "probe:ReadMany", json.dumps(["a", "b", "c"]))
    seen = []
    for _ in range(2):
        msg = peer.next()
        assert msg.type == Msg.GET_STATE_MULTIPLE
        req = chaincode_shim_pb2.GetStateMultiple()
        req.ParseFromString(msg.payload)
        seen.append(list(req.keys))
        values = [b"" if k == "b" else k.upper().encode() for k in req.keys]
        peer.answer(
            msg, chaincode_shim_pb2.GetStateMultipleResult(values=values).SerializeToString()
        )
    assert seen == [["a", "b"], ["c"]]
    assert json.loads(peer.completed("tx1").payload) == ["A", None, "C"]


def test_get_state_multiple_without_peer_support_uses_get_state(peer: Conversation) -> None:
    peer.connect(use_get_multiple_keys=False)
    peer.transaction("tx1", "probe:ReadMany", json.dumps(["a", "b"]))
    for expected in ("a", "b"):
        msg = peer.next()
        assert msg.type == Msg.GET_STATE
        req = chaincode_shim_pb2.GetState()
        req.ParseFromString(msg.payload)
        assert req.key == expected
        peer.answer(msg, b"v")
    assert json.loads(peer.completed("tx1").payload) == ["v", "v"]


def _page(keys: list[str], has_more: bool, query_id: str = "it1") -> bytes:
    results = [
        chaincode_shim_pb2.QueryResultBytes(
            resultBytes=kv_query_result_pb2.KV(key=k, value=b"v").SerializeToString()
        )
        for k in keys
    ]
    return chaincode_shim_pb2.QueryResponse(
        results=results, has_more=has_more, id=query_id
    ).SerializeToString()


def test_range_query_pages_with_query_state_next(peer: Conversation) -> None:
    peer.connect()
    peer.transaction("tx1", "probe:Scan", "a", "z", "10")
    first = peer.next()
    assert first.type == Msg.GET_STATE_BY_RANGE
    req = chaincode_shim_pb2.GetStateByRange()
    req.ParseFromString(first.payload)
    assert (req.startKey, req.endKey) == ("a", "z")
    peer.answer(first, _page(["a1", "a2"], has_more=True))
    nxt = peer.next()
    assert nxt.type == Msg.QUERY_STATE_NEXT
    body = chaincode_shim_pb2.QueryStateNext()
    body.ParseFromString(nxt.payload)
    assert body.id == "it1"
    peer.answer(nxt, _page(["b1"], has_more=False))
    # Exhausted: the peer already released it, so no QUERY_STATE_CLOSE.
    assert json.loads(peer.completed("tx1").payload) == ["a1", "a2", "b1"]


def test_range_query_stopped_early_sends_close(peer: Conversation) -> None:
    peer.connect()
    peer.transaction("tx1", "probe:Scan", "", "", "1")
    first = peer.next()
    peer.answer(first, _page(["a1", "a2"], has_more=True))
    close = peer.next()
    assert close.type == Msg.QUERY_STATE_CLOSE
    peer.answer(close, _page([], has_more=False))
    assert json.loads(peer.completed("tx1").payload) == ["a1"]


def test_validation_parameter_uses_put_state_metadata(peer: Conversation) -> None:
    peer.connect()
    peer.transaction("tx1", "probe:Secure", "acct")
    peer.answer(peer.next())  # PUT_STATE
    meta = peer.next()
    assert meta.type == Msg.PUT_STATE_METADATA
    body = chaincode_shim_pb2.PutStateMetadata()
    body.ParseFromString(meta.payload)
    assert body.key == "acct"
    assert body.metadata.metakey == "VALIDATION_PARAMETER"
    assert body.metadata.value == all_of_policy(["RegulatorMSP", "UtilityMSP"])
    peer.answer(meta)
    assert peer.completed("tx1").status == 200


def test_validation_parameter_in_write_batch(peer: Conversation) -> None:
    peer.connect(use_write_batch=True, max_size_write_batch=10)
    peer.transaction("tx1", "probe:Secure", "acct")
    msg = peer.next()
    batch = chaincode_shim_pb2.WriteBatchState()
    batch.ParseFromString(msg.payload)
    kinds = [(r.type, r.key, r.metadata.metakey) for r in batch.rec]
    assert kinds == [
        (chaincode_shim_pb2.WriteRecord.PUT_STATE, "acct", ""),
        (chaincode_shim_pb2.WriteRecord.PUT_STATE_METADATA, "acct", "VALIDATION_PARAMETER"),
    ]
    peer.answer(msg)
    assert peer.completed("tx1").status == 200


def test_private_data_and_transient(peer: Conversation) -> None:
    peer.connect()
    peer.transaction("tx1", "probe:Private", "utilityPrivate", "k", transient={"secret": b"s3"})
    put = peer.next()
    assert put.type == Msg.PUT_STATE
    body = chaincode_shim_pb2.PutState()
    body.ParseFromString(put.payload)
    assert (body.collection, body.key, body.value) == ("utilityPrivate", "k", b"s3")
    peer.answer(put)
    get = peer.next()
    req = chaincode_shim_pb2.GetState()
    req.ParseFromString(get.payload)
    assert (get.type, req.collection, req.key) == (Msg.GET_STATE, "utilityPrivate", "k")
    peer.answer(get, b"s3")
    assert peer.completed("tx1").payload == b"s3"


def test_creator_comes_from_the_proposal(peer: Conversation) -> None:
    peer.connect()
    creator = serialized_identity("AggregatorMSP", make_cert(attrs={"role": "aggregator"}))
    peer.transaction("tx1", "probe:Who", creator=creator)
    assert json.loads(peer.completed("tx1").payload) == {
        "msp": "AggregatorMSP",
        "role": "aggregator",
    }


def test_peer_error_answer_becomes_500_response(peer: Conversation) -> None:
    peer.connect()
    peer.transaction("tx1", "probe:Read", "k")
    peer.answer(peer.next(), b"GET_STATE failed: no ledger context", kind=Msg.ERROR)
    response = peer.completed("tx1")
    assert (response.status, response.message) == (500, "internal error in probe:Read: PeerError")


def test_init_failure_is_an_error_message(peer: Conversation) -> None:
    peer.connect()
    peer.transaction("tx1", "NoSuchInit", msg_type=Msg.INIT)
    # 400 from an unknown function: Init reports only >= 500 as ERROR, like the Go shim.
    assert peer.completed("tx1").status == 400
    peer.transaction("tx2", "probe:Read", "k", msg_type=Msg.INIT)
    peer.answer(peer.next(), b"private data APIs are not allowed", kind=Msg.ERROR)
    err = peer.next()
    assert (err.type, err.txid) == (Msg.ERROR, "tx2")


def test_stray_response_is_dropped_and_stream_survives(peer: Conversation) -> None:
    peer.connect()
    peer.handler.handle(Msg(type=Msg.RESPONSE, txid="ghost", channel_id=CHANNEL))
    assert peer.nothing_sent()
    assert peer.handler.state is State.READY


def test_close_wakes_waiting_transaction(peer: Conversation) -> None:
    peer.connect()
    peer.transaction("tx1", "probe:Read", "k")
    assert peer.next().type == Msg.GET_STATE
    peer.handler.close()
    assert peer.nothing_sent(0.5)  # no COMPLETED for a transaction whose stream died
    assert peer.handler.state is State.CLOSED


def test_bad_proposal_is_an_error_message(peer: Conversation) -> None:
    peer.connect()
    chaincode_input = chaincode_pb2.ChaincodeInput(args=[b"health:Ping"])
    msg = Msg(
        type=Msg.TRANSACTION,
        txid="tx1",
        channel_id=CHANNEL,
        payload=chaincode_input.SerializeToString(),
    )
    msg.proposal.proposal_bytes = b"\xff\xff not a proposal"
    peer.handler.handle(msg)
    err = peer.next()
    assert (err.type, err.txid) == (Msg.ERROR, "tx1")
    assert b"signed proposal" in err.payload
