"""Creator, Fabric CA attributes and proposal parsing from real certificates."""

from __future__ import annotations

import pytest
from fabric_protos.common import common_pb2

from gridledger.chaincode.shim import parse_creator
from gridledger.chaincode.shim.proposal import parse_signed_proposal
from gridledger.formats.errors import FormatError

from .support import TX_TIME, answer_to, make_cert, serialized_identity, signed_proposal


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


def test_unreadable_attributes_are_an_internal_error_not_the_callers() -> None:
    # The MSP accepted the certificate: its CA is at fault, so no 400 (FormatError) for it.
    with pytest.raises(ValueError, match="creator certificate") as info:
        parse_creator(serialized_identity("UtilityMSP", make_cert(raw_ext=b"{not json")))
    assert not isinstance(info.value, FormatError)
    assert answer_to(info.value).status == 500


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


def test_creator_ous_and_node_ou_role_as_fabric_ca_writes_them() -> None:
    # Fabric CA: the identity type, then one OU per affiliation level.
    pem = make_cert("alice", attrs={"role": "customer"}, ous=("client", "utility", "hanoi"))
    ident = parse_creator(serialized_identity("UtilityMSP", pem))
    assert ident.ous == ("client", "utility", "hanoi")
    assert ident.node_ou == "client"
    admin = parse_creator(serialized_identity("UtilityMSP", make_cert("Admin", ous=("admin",))))
    assert admin.node_ou == "admin"


@pytest.mark.parametrize("ous", [(), ("utility",), ("client", "admin"), ("admin", "peer")],
                         ids=["none", "affiliation-only", "client+admin", "admin+peer"])
def test_no_single_node_ou_means_no_role(ous: tuple[str, ...]) -> None:
    # Several roles: Fabric's MSP refuses such an identity; here it has no role either,
    # so an affiliation named "admin" cannot make a client an operator.
    ident = parse_creator(serialized_identity("UtilityMSP", make_cert("x", ous=ous)))
    assert ident.ous == ous
    assert ident.node_ou is None
