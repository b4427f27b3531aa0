"""Creator, Fabric CA attributes and proposal parsing from real certificates."""

from __future__ import annotations

import pytest
from fabric_protos.common import common_pb2

from gridledger.chaincode.shim import parse_creator
from gridledger.chaincode.shim.proposal import parse_signed_proposal

from .support import TX_TIME, make_cert, serialized_identity, signed_proposal


def test_creator_with_fabric_ca_attributes() -> None:
    pem = make_cert("alice", attrs={"role": "prosumer", "customerId": "C-42"})
    ident = parse_creator(serialized_identity("UtilityMSP", pem))
    assert ident.msp_id == "UtilityMSP"
    assert ident.cert_pem == pem
    assert ident.common_name == "alice"
    assert "CN=alice" in ident.subject
    assert ident.attributes == {"role": "prosumer", "customerId": "C-42"}
    assert ident.get_attribute("role") == "prosumer"
    assert ident.has_attribute("customerId", "C-42")
    assert not ident.has_attribute("role", "admin")
    assert ident.get_attribute("missing") is None


def test_creator_without_attributes() -> None:
    ident = parse_creator(serialized_identity("RegulatorMSP", make_cert("peer0")))
    assert ident.attributes == {}


@pytest.mark.parametrize("raw", [b"{not json", b'{"other": 1}', b"[1]"])
def test_malformed_attribute_extension_is_an_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_creator(serialized_identity("UtilityMSP", make_cert(raw_ext=raw)))


def test_creator_without_msp_is_refused() -> None:
    with pytest.raises(ValueError, match="MSP"):
        parse_creator(serialized_identity("", make_cert()))


def test_proposal_facts() -> None:
    creator = serialized_identity("AggregatorMSP", make_cert())
    facts = parse_signed_proposal(signed_proposal(creator, tx_id="abc", transient={"price": b"12"}))
    assert facts.creator == creator
    assert facts.transient == {"price": b"12"}
    assert facts.timestamp_datetime == TX_TIME
    assert facts.timestamp_rfc3339 == "2025-03-01T12:30:15.250Z"
    assert facts.channel_header_tx_id == "abc"


def test_proposal_with_wrong_header_type_is_refused() -> None:
    sp = signed_proposal(b"x", header_type=common_pb2.MESSAGE)
    with pytest.raises(ValueError, match="not a transaction"):
        parse_signed_proposal(sp)
