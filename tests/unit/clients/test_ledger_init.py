"""initialise's wait for discovery: transient endorsement failures are tried again,
a chaincode's refusal is not."""

from __future__ import annotations

import grpc
import pytest

from gridledger.clients import ledger_init
from gridledger.clients.errors import EndorseError, EndpointDetail


def _failing(errors: list[EndorseError], result: str = "done"):
    calls = []

    def step() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result
    return step, calls


def test_unavailable_endorsers_are_waited_for(monkeypatch) -> None:
    monkeypatch.setattr(ledger_init.time, "sleep", lambda s: None)
    unavailable = EndorseError(grpc.StatusCode.UNAVAILABLE,
                               "failed to find any endorsing peers for org(s): RegulatorMSP")
    step, calls = _failing([unavailable, unavailable])
    assert ledger_init._until_endorsable(step) == "done"
    assert len(calls) == 3


def test_a_refusal_is_raised_at_once(monkeypatch) -> None:
    monkeypatch.setattr(ledger_init.time, "sleep", lambda s: None)
    refused = EndorseError(grpc.StatusCode.ABORTED, "failed to endorse transaction", details=(
        EndpointDetail("peer0:7051", "UtilityMSP", "chaincode response 403, not yours"),))
    step, calls = _failing([refused])
    with pytest.raises(EndorseError):
        ledger_init._until_endorsable(step)
    assert len(calls) == 1


def test_the_wait_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(ledger_init.time, "sleep", lambda s: None)
    unavailable = EndorseError(grpc.StatusCode.UNAVAILABLE, "failed to find any endorsing peers")
    step, calls = _failing([unavailable] * 5)
    with pytest.raises(EndorseError):
        ledger_init._until_endorsable(step, wait=-1.0)
    assert len(calls) == 1
