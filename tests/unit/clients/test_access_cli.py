"""`gridledger access`: tables made for owners, and private arguments kept out of blocks."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gridledger.cli import cli
from gridledger.clients.access import amended, private_call
from gridledger.formats.access import dact_commitment, validate_dact


def test_dact_new_prints_a_valid_table_with_a_fresh_salt():
    args = ["access", "dact", "new", "--device", "AGG-GW-1", "--resource", "R-1",
            "--requester-msp", "AggregatorMSP", "--purpose", "vpp-forecasting",
            "--not-after", "2027-01-01T00:00:00Z"]
    first, second = (CliRunner().invoke(cli, args) for _ in range(2))
    assert first.exit_code == 0, first.output
    table = validate_dact(json.loads(first.output))
    assert table["requester"] == {"kind": "organisation", "mspId": "AggregatorMSP"}
    assert table["ownerInfo"] == "if-several" and table["version"] == 1
    assert json.loads(second.output)["salt"] != table["salt"]
    nxt = amended(table, purpose="vpp-dispatch")
    assert nxt["version"] == 2 and dact_commitment(nxt) != dact_commitment(table)


def test_an_identity_requester_needs_its_certificate():
    res = CliRunner().invoke(cli, ["access", "dact", "new", "--device", "d", "--resource", "r",
                                   "--requester-kind", "identity", "--requester-msp", "A",
                                   "--purpose", "p", "--not-after", "2027-01-01T00:00:00Z"])
    assert res.exit_code != 0 and "--requester-cert" in res.output


def test_tables_and_requests_travel_in_the_transient_map():
    args, transient = private_call("Certify", ('{"dact":{}}',))
    assert args == () and json.loads(transient["args"]) == ['{"dact":{}}']
    args, transient = private_call("RegisterDact", ("{}",))
    assert args == () and len(transient["salt"]) == 32
    assert private_call("Access", ("tok-1",)) == (("tok-1",), None)


def test_a_device_revocation_travels_in_the_transient_map_with_a_salt():
    args, transient = private_call("RevokeDevice", ("dev-1", "lost on the bus"))
    assert args == () and json.loads(transient["args"]) == ["dev-1", "lost on the bus"]
    assert len(transient["salt"]) == 32


class _Recorder:
    """A Gateway that records the proposals it is asked to endorse and refuses them."""

    def __init__(self, identity, signer):
        self.identity, self.creator, self._signer = identity, identity.serialize(), signer
        self.proposals = []

    def endorse(self, proposal):
        self.proposals.append(proposal)
        raise RuntimeError("recorded")

    def submit(self, transaction):  # never reached: endorse refuses
        raise AssertionError("submitted")


def _recording_access(msp_id: str):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from gridledger.clients.access import Access
    from gridledger.clients.gateway import Network
    from gridledger.clients.identity import Identity
    from gridledger.clients.signing import private_key_signer

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    identity = Identity(msp_id, cert.public_bytes(serialization.Encoding.PEM))
    gateway = _Recorder(identity, private_key_signer(key))
    return Access(Network(gateway, "energy")), gateway, key


def test_certify_asks_the_callers_organisation_and_the_data_holder_and_no_third():
    import pytest

    from gridledger.clients.access import holder_endorsers, new_dact

    assert holder_endorsers("AggregatorMSP") == ("AggregatorMSP", "UtilityMSP")
    assert holder_endorsers("RegulatorMSP") == ("RegulatorMSP", "UtilityMSP")
    assert holder_endorsers("UtilityMSP") == ("UtilityMSP", "RegulatorMSP")
    for msp, want in (("AggregatorMSP", ("AggregatorMSP", "UtilityMSP")),
                      ("UtilityMSP", ("UtilityMSP", "RegulatorMSP"))):
        access, gateway, _ = _recording_access(msp)
        table = new_dact(devices=["d"], resources=["r"], purpose="p",
                         requester={"kind": "organisation", "mspId": msp},
                         not_after="2030-01-01T00:00:00Z")
        with pytest.raises(RuntimeError):
            access.certify(table, "d", lambda challenge: "c2ln")
        with pytest.raises(RuntimeError):
            access.revoke_token("tok-1")
        assert [p.endorsing_organizations for p in gateway.proposals] == [want, want]


def test_a_holder_proof_is_a_signed_prove_holder_proposal_a_node_can_evaluate():
    from gridledger.clients.access import holder_proof, proof_proposal
    from gridledger.formats.access_proof import parse

    _, gateway, _ = _recording_access("AggregatorMSP")
    raw = holder_proof(gateway.identity, gateway._signer, channel="energy",
                       chaincode="metering", token_id="tok-1", hash_address="ab" * 32,
                       nonce="cd" * 16, node_msp_id="UtilityMSP", node_fingerprint="ef" * 32)
    proof = parse(raw)
    assert proof.signature_valid()
    assert (proof.token_id, proof.hash_address, proof.nonce, proof.node_msp_id,
            proof.node_fingerprint, proof.channel, proof.chaincode, proof.msp_id) == (
        "tok-1", "ab" * 32, "cd" * 16, "UtilityMSP", "ef" * 32, "energy", "metering",
        "AggregatorMSP")
    proposal = proof_proposal(raw, ["UtilityMSP"])
    assert proposal.transaction_id == proof.tx_id and proposal.signature == proof.signature
    assert proposal.endorsing_organizations == ("UtilityMSP",)
    assert proposal.bytes == proof.proposal_bytes
