import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2

from gridledger.clients.errors import ArgumentError
from gridledger.clients.proposal import Proposal, Transaction
from gridledger.clients.signing import private_key_signer


def _decode(p: Proposal):
    header = common_pb2.Header.FromString(p.proposal.header)
    ch = common_pb2.ChannelHeader.FromString(header.channel_header)
    sh = common_pb2.SignatureHeader.FromString(header.signature_header)
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(p.proposal.payload)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    return ch, sh, payload, spec


def test_transaction_id_is_sha256_of_nonce_and_creator(identity):
    creator = identity.serialize()
    p = Proposal.build(creator, "energy", "metering", "GetMeter", ["M-1"])
    ch, sh, _, _ = _decode(p)
    assert sh.creator == creator
    assert len(sh.nonce) == 24
    assert p.transaction_id == ch.tx_id == hashlib.sha256(sh.nonce + creator).hexdigest()
    assert ch.channel_id == "energy" and ch.type == common_pb2.ENDORSER_TRANSACTION
    ext = proposal_pb2.ChaincodeHeaderExtension.FromString(ch.extension)
    assert ext.chaincode_id.name == "metering"


def test_arguments_and_transient_data_are_carried(identity):
    p = Proposal.build(
        identity.serialize(), "energy", "metering", "wattcoin:TopUp", ["C-1", b"\x00\xff"],
        transient={"secret": "s3cret"},
    )
    _, _, payload, spec = _decode(p)
    assert list(spec.chaincode_spec.input.args) == [b"wattcoin:TopUp", b"C-1", b"\x00\xff"]
    assert dict(payload.TransientMap) == {"secret": b"s3cret"}


def test_non_string_argument_is_an_argument_error(identity):
    with pytest.raises(ArgumentError, match="str or bytes"):
        Proposal.build(identity.serialize(), "energy", "metering", "F", [42])  # type: ignore[list-item]
    with pytest.raises(ArgumentError, match="channel"):
        Proposal.build(identity.serialize(), "", "metering", "F")


def test_offline_signing_round_trips_through_bytes(identity, key):
    unsigned = Proposal.build(identity.serialize(), "energy", "health", "Ping",
                              endorsing_organizations=["UtilityMSP"])
    with pytest.raises(ArgumentError, match="not signed"):
        unsigned.signed_proposal()
    # Hand the bytes out, sign elsewhere, bring the proposal back.
    carried = Proposal.from_bytes(unsigned.to_bytes())
    assert carried.bytes == unsigned.bytes
    signature = private_key_signer(key)(carried.bytes)
    signed = carried.signed(signature)
    key.public_key().verify(signed.signature, unsigned.bytes, ec.ECDSA(hashes.SHA256()))
    back = Proposal.from_bytes(signed.to_bytes())
    assert back.transaction_id == unsigned.transaction_id
    assert back.channel == "energy" and back.chaincode == "health"
    assert back.endorsing_organizations == ("UtilityMSP",)
    assert back.signed_proposal().signature == signature


def test_transaction_envelope_signing_keeps_payload():
    ch = common_pb2.ChannelHeader(type=common_pb2.ENDORSER_TRANSACTION, channel_id="energy",
                                  tx_id="abc")
    payload = common_pb2.Payload(header=common_pb2.Header(channel_header=ch.SerializeToString()))
    tx = Transaction("energy", "abc", common_pb2.Envelope(payload=payload.SerializeToString()))
    assert not tx.signed_by
    carried = Transaction.from_bytes(tx.to_bytes())
    assert (carried.channel, carried.transaction_id) == ("energy", "abc")
    signed = carried.signed(b"sig")
    assert signed.signed_by and signed.bytes == tx.bytes
