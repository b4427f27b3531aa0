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


def test_every_organisation_is_asked_for_every_endorsement_on_every_channel(monkeypatch):
    # A network is usable only when discovery works on each channel: gossip is per channel.
    asked = []

    class Network:
        def __init__(self, msp_id, channel):
            self.msp_id, self.channel = msp_id, channel

        def contract(self, name):
            assert name == "health"
            return self

        def new_proposal(self, fn, endorsing_organizations):
            return (self.msp_id, self.channel, fn, tuple(endorsing_organizations))

    class Gateway:
        def __init__(self, msp_id):
            self.msp_id = msp_id

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def network(self, channel):
            return Network(self.msp_id, channel)

        def endorse(self, proposal):
            asked.append(proposal)

    class Session:
        def __init__(self, state_dir, org):
            self.org = org

        def gateway(self, label):
            assert label == "Admin"
            return Gateway(self.org)

    monkeypatch.setattr(ledger_init, "Session", Session)
    orgs = ["UtilityMSP", "RegulatorMSP", "AggregatorMSP"]
    ledger_init.wait_for_endorsers("state", ["energy", "market"], orgs)
    assert asked == [(o, c, "Ping", tuple(orgs)) for o in orgs for c in ("energy", "market")]
    asked.clear()
    ledger_init.wait_for_endorsers("state", "energy", orgs)  # one channel, by name
    assert asked == [(o, "energy", "Ping", tuple(orgs)) for o in orgs]
