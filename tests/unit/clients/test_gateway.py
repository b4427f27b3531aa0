"""Gateway.endorse asks again while the endorsers disagree (a peer a block behind), and
only then: any other refusal, or a disagreement that lasts, reaches the caller."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from google.protobuf import any_pb2
from google.rpc import status_pb2

from gridledger.clients.errors import ENDORSERS_DISAGREE, EndorseError
from gridledger.clients.gateway import Deadlines, Gateway
from gridledger.clients.signing import private_key_signer


class Refusal(grpc.RpcError):
    """What grpc raises for an Endorse the Gateway refused, with its ErrorDetails."""

    def __init__(self, message: str) -> None:
        detail = any_pb2.Any()
        detail.Pack(gateway_pb2.ErrorDetail(address="127.0.0.1:8151", msp_id="UtilityMSP",
                                            message=message))
        self._status = status_pb2.Status(code=10, message="failed to collect enough "
                                         "transaction endorsements", details=[detail])

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.ABORTED

    def details(self) -> str:
        return self._status.message

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return (("grpc-status-details-bin", self._status.SerializeToString()),)


class Stub:
    """Refuses the first ``refusals`` Endorse calls with ``message``; then endorses."""

    def __init__(self, refusals: int, message: str) -> None:
        self.refusals, self.message = refusals, message
        self.requests: list[gateway_pb2.EndorseRequest] = []

    def Endorse(self, request: gateway_pb2.EndorseRequest, timeout: float) -> Any:
        self.requests.append(request)
        if len(self.requests) <= self.refusals:
            raise Refusal(self.message)
        return gateway_pb2.EndorseResponse(prepared_transaction=common_pb2.Envelope())


def _gateway(identity, key, stub: Stub, disagreement: float = 5.0) -> Gateway:
    gw = Gateway(grpc.insecure_channel("127.0.0.1:1"), identity, private_key_signer(key),
                 deadlines=Deadlines(disagreement=disagreement))
    gw.stub = stub  # type: ignore[assignment]
    return gw


def _proposal(gw: Gateway):
    return gw.network("energy").contract("wattcoin").new_proposal("Mint", "a", "1", "p")


def test_the_same_proposal_is_endorsed_again_until_the_endorsers_agree(identity, key) -> None:
    stub = Stub(2, f"ProposalResponsePayloads do not match ({ENDORSERS_DISAGREE})")
    gw = _gateway(identity, key, stub)
    proposal = _proposal(gw)
    tx = gw.endorse(proposal)
    assert tx.transaction_id == proposal.transaction_id
    assert len(stub.requests) == 3
    # The same signed proposal each time: one transaction ID, nothing re-signed.
    assert len({r.SerializeToString() for r in stub.requests}) == 1


def test_a_disagreement_that_lasts_is_reported(identity, key) -> None:
    stub = Stub(10**6, ENDORSERS_DISAGREE)
    gw = _gateway(identity, key, stub, disagreement=0.3)
    with pytest.raises(EndorseError) as caught:
        gw.endorse(_proposal(gw))
    assert caught.value.endorsers_disagree
    assert "UtilityMSP" in str(caught.value)
    assert 2 <= len(stub.requests) < 20


def test_a_chaincode_refusal_is_not_asked_again(identity, key) -> None:
    stub = Stub(1, "chaincode response 403, only an operator may mint")
    gw = _gateway(identity, key, stub)
    with pytest.raises(EndorseError) as caught:
        gw.endorse(_proposal(gw))
    assert caught.value.chaincode_status == 403 and not caught.value.endorsers_disagree
    assert len(stub.requests) == 1


def test_no_second_try_when_the_caller_turns_it_off(identity, key) -> None:
    stub = Stub(1, ENDORSERS_DISAGREE)
    gw = _gateway(identity, key, stub, disagreement=0)
    with pytest.raises(EndorseError):
        gw.endorse(_proposal(gw))
    assert len(stub.requests) == 1
