"""The unit-test model of a cross-channel chaincode call (support.Network): the called
chaincode reads the other channel's committed state as the same client, its writes are
thrown away, and nothing of it enters the caller's state or read set."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gridledger.chaincode.common.privacy import CUSTOMER_DATA
from gridledger.chaincode.shim import (
    ChaincodeError,
    ChaincodeResponse,
    Contract,
    ContractRouter,
    PeerError,
    Stub,
    evaluate,
    submit,
)

from .metering.helpers import ROUTER, T0, Ledger, Meter, setup
from .support import MemoryStub, Network


class Looker(Contract):
    """A market-side contract that looks at metering on `energy`."""

    name = "looker"

    @submit
    def Look(self, stub: Stub, function: str, args: str) -> dict[str, Any]:
        answer = stub.invoke_chaincode("metering", [function, *json.loads(args)], "energy")
        stub.put_state("looked", str(answer.status).encode())
        return {"status": answer.status, "message": answer.message,
                "payload": json.loads(answer.payload) if answer.payload else None}

    @evaluate
    def Where(self, stub: Stub) -> dict[str, Any]:
        return {"channel": stub.channel_id, "proposalChannel": stub.proposal_channel_id,
                "txId": stub.tx_id, "msp": stub.creator.msp_id,
                "cn": stub.creator.common_name, "time": stub.tx_timestamp_rfc3339,
                "salt": (stub.get_transient("salt") or b"").hex()}


def two_channels() -> tuple[Ledger, Ledger, Network]:
    """`energy`: metering with meter m-1 of customer c-1; `market`: the Looker."""
    net = Network()
    energy = Ledger(now=T0, network=net)
    setup(energy, Meter("m-1", "c-1"))
    market = Ledger(now=T0, router=ContractRouter([Looker()]), key_secret=None,
                    channel="market", network=net)
    net.add("energy", "metering", energy.router, energy)
    net.add("market", "looker", market.router, market)
    return energy, market, net


def test_call_across_reads_committed_private_state_as_the_same_client() -> None:
    energy, market, net = two_channels()
    before = energy.snapshot()
    res = market.call("Look", "GetMeter", json.dumps(["m-1"]), msp="UtilityMSP",
                      name="utility-admin")
    assert res.status == 200, res.message
    assert res.payload["status"] == 200
    assert res.payload["payload"]["meter"]["customerId"] == "c-1"
    # The call read customerData on `energy`, in its own throw-away stub...
    (call,) = net.calls
    assert (call.from_channel, call.channel, call.chaincode) == ("market", "energy", "metering")
    assert (CUSTOMER_DATA, energy.stored("meterinfo~m-1")) in call.stub.hashed_reads
    # ...and the caller's read set holds nothing of it: only its own write.
    assert res.stub.reads == [] and res.stub.hashed_reads == []
    assert market.state == {"looked": b"200"}
    assert energy.snapshot() == before


def test_writes_of_the_called_chaincode_are_discarded() -> None:
    energy, market, net = two_channels()
    before = energy.snapshot()
    res = market.call("Look", "SuspendMeter", json.dumps(["m-1", "test"]), msp="UtilityMSP",
                      name="utility-admin")
    # metering suspended the meter in the called simulator...
    assert res.payload["status"] == 200, res.payload
    assert net.calls[0].stub.state or net.calls[0].stub.private  # it wrote
    # ...and none of it reached `energy`.
    assert energy.snapshot() == before
    assert energy.ok("GetMeter", "m-1")["meter"]["status"] == "active"


def test_private_function_cannot_be_called_with_arguments() -> None:
    # A called chaincode sees the caller's transient map, not arguments of its own there:
    # a function taking its arguments from the transient map refuses proposal arguments.
    _, market, _ = two_channels()
    res = market.call("Look", "RegisterMeter", json.dumps([Meter("m-2", "c-2").registration()]),
                      msp="UtilityMSP", name="utility-admin")
    assert res.payload["status"] == 400
    assert "takes its arguments in the transient map" in res.payload["message"]


def test_called_chaincode_refusal_comes_back_as_an_answer() -> None:
    energy, market, _ = two_channels()
    before = energy.snapshot()
    res = market.call("Look", "GetMeter", json.dumps(["m-1"]), msp="AggregatorMSP",
                      name="aggregator-admin")
    assert res.status == 200
    assert res.payload["status"] == 403
    assert "neither an operator of UtilityMSP or RegulatorMSP" in res.payload["message"]
    assert market.state == {"looked": b"403"}
    assert energy.snapshot() == before


def test_call_endorsed_by_a_peer_outside_customer_data_cannot_read_it() -> None:
    # The Aggregator's peer runs the called chaincode too: it holds only hashes.
    _, market, net = two_channels()
    res = market.call("Look", "GetMeter", json.dumps(["m-1"]), msp="UtilityMSP",
                      name="utility-admin", outside=[CUSTOMER_DATA])
    assert res.payload == {"status": 404, "payload": None,
                           "message": "this peer does not hold customerData: ask a peer of "
                                      "its members"}
    assert net.calls[0].stub.outside == frozenset({CUSTOMER_DATA})


def test_called_chaincode_gets_the_callers_proposal() -> None:
    energy, market, net = two_channels()
    net.add("energy", "looker", market.router, energy)  # the Looker on energy too
    stub = MemoryStub("Where", channel="market", network=net)
    stub.transient = {"salt": b"\x01\x02"}
    answer = stub.invoke_chaincode("looker", ["Where"], "energy")
    assert answer.ok
    assert json.loads(answer.payload) == {
        "channel": "energy", "proposalChannel": "market", "txId": stub.tx_id,
        "msp": "UtilityMSP", "cn": "tester", "time": stub.tx_timestamp_rfc3339,
        "salt": "0102"}
    assert stub.state == {} and stub.private == {}


@pytest.mark.parametrize(("channel", "chaincode", "message"), [
    ("ledger-x", "metering", "Failed to get policy manager for channel [ledger-x]"),
    ("energy", "nothing", "failed to get chaincode container info for nothing"),
])
def test_unknown_target_is_refused_by_the_peer(channel: str, chaincode: str,
                                               message: str) -> None:
    _, _, net = two_channels()
    stub = MemoryStub("f", channel="market", network=net)
    with pytest.raises(PeerError) as refused:
        stub.invoke_chaincode(chaincode, ["GetMeter", "m-1"], channel)
    assert refused.value.request_type == "INVOKE_CHAINCODE"
    assert message in refused.value.message
    assert net.calls == []


def test_without_a_network_there_is_no_other_channel() -> None:
    with pytest.raises(PeerError, match="has no network"):
        MemoryStub("f").invoke_chaincode("metering", ["GetMeter"], "market")


def test_call_on_own_channel_is_not_modelled() -> None:
    net = Network()
    net.add("energy", "metering", ROUTER, MemoryStub())
    with pytest.raises(NotImplementedError, match="cross-channel calls only"):
        MemoryStub("f", network=net).invoke_chaincode("metering", ["GetMeter"], "energy")


def test_evaluate_function_calls_across_through_the_read_only_stub() -> None:
    class Peeker(Contract):
        name = "peeker"

        @evaluate
        def Peek(self, stub: Stub, channel: str) -> dict[str, Any]:
            answer = stub.invoke_chaincode("looker", ["Where"], channel)
            if not answer.ok:
                raise ChaincodeError(answer.message, status=answer.status)
            return json.loads(answer.payload)

    _, _, net = two_channels()
    router = ContractRouter([Peeker()])
    across = router.invoke(MemoryStub("Peek", ["market"], channel="energy", network=net))
    assert across.status == 200 and json.loads(across.payload)["channel"] == "market"
    own = router.invoke(MemoryStub("Peek", ["energy"], network=net))
    assert own.status == 500
    assert "Peek is evaluate-only and cannot call chaincode 'looker' on its own channel" in (
        own.message)


def test_response_is_the_shims_type() -> None:
    _, market, _ = two_channels()
    answer = MemoryStub("f", channel="market", network=market.network).invoke_chaincode(
        "metering", ["GetMeter", "m-1"], "energy")
    assert isinstance(answer, ChaincodeResponse)
    assert answer.ok  # MemoryStub's creator: an operator of UtilityMSP
