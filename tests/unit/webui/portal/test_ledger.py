"""The portal's ledger writes across the two channels: the Regulator's resolution is the
market client's, on the market channel, with the marketlink side on the energy channel."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from gridledger.webui.portal.ledger import GatewayActions


class FakeNetwork:
    def __init__(self, channel: str) -> None:
        self.channel = channel

    def contract(self, chaincode: str, contract: str = "") -> Any:
        return (self.channel, chaincode, contract)


class FakeGateway:
    def __init__(self) -> None:
        self.closed = False

    def network(self, channel: str) -> FakeNetwork:
        return FakeNetwork(channel)

    def close(self) -> None:
        self.closed = True


class RecordingMarket:
    made: ClassVar[list[tuple[Any, str, str]]] = []
    calls: ClassVar[list[tuple[str, tuple]]] = []

    def __init__(self, gateway: Any, *, energy_channel: str, market_channel: str) -> None:
        RecordingMarket.made.append((gateway, energy_channel, market_channel))

    def request_resolution(self, pseudonym: str, reason: str) -> dict[str, Any]:
        RecordingMarket.calls.append(("request_resolution", (pseudonym, reason)))
        return {"auditId": "a" * 64}

    def resolve(self, audit_id: str) -> dict[str, Any]:
        RecordingMarket.calls.append(("resolve", (audit_id,)))
        return {"customerId": "C-2002", "auditId": audit_id}


@pytest.fixture
def market(monkeypatch):
    import gridledger.clients.market as client

    RecordingMarket.made, RecordingMarket.calls = [], []
    monkeypatch.setattr(client, "Market", RecordingMarket)
    return RecordingMarket


def test_resolving_a_pseudonym_logs_on_the_market_channel_then_asks(market):
    gateway = FakeGateway()
    actions = GatewayActions(lambda identity, signer: gateway, "power",
                             market_channel="trading")
    with actions.as_person(object(), object()) as person:
        out = person.resolve_pseudonym("p-" + "2" * 24, "suspected wash trading")
    assert out == {"customerId": "C-2002", "auditId": "a" * 64}
    # One gateway, both channels named: the market's, and energy's for its marketlink side.
    assert market.made == [(gateway, "power", "trading")]
    assert market.calls == [("request_resolution", ("p-" + "2" * 24, "suspected wash trading")),
                            ("resolve", ("a" * 64,))]
    assert gateway.closed


def test_the_portals_writes_know_the_configured_market_channel(tmp_path):
    from gridledger.webui.portal.config import PortalConfig

    config = PortalConfig.from_mapping({"org": "regulator", "msp_id": "RegulatorMSP",
                                        "data_dir": tmp_path, "market_channel": "trading"})
    assert config.channels == ("energy", "trading")
    same = PortalConfig.from_mapping({"org": "regulator", "msp_id": "RegulatorMSP",
                                      "data_dir": tmp_path, "market_channel": "energy"})
    assert same.channels == ("energy",)
