"""Key-level endorsement policy bytes."""

from __future__ import annotations

import pytest
from fabric_protos.common import policies_pb2
from fabric_protos.msp import msp_principal_pb2

from gridledger.chaincode.shim import all_of_policy, policy_msp_ids


def test_all_of_policy_decodes_to_n_of_n_signed_by() -> None:
    raw = all_of_policy(["UtilityMSP", "AggregatorMSP", "RegulatorMSP", "UtilityMSP"])
    env = policies_pb2.SignaturePolicyEnvelope()
    env.ParseFromString(raw)
    assert env.version == 0
    assert env.rule.n_out_of.n == 3
    assert [r.signed_by for r in env.rule.n_out_of.rules] == [0, 1, 2]
    ids = []
    for p in env.identities:
        assert p.principal_classification == msp_principal_pb2.MSPPrincipal.ROLE
        role = msp_principal_pb2.MSPRole()
        role.ParseFromString(p.principal)
        assert role.role == msp_principal_pb2.MSPRole.PEER
        ids.append(role.msp_identifier)
    assert ids == ["AggregatorMSP", "RegulatorMSP", "UtilityMSP"]


def test_same_set_same_bytes_and_member_role() -> None:
    assert all_of_policy(["B", "A"]) == all_of_policy(["A", "B"])
    n, members = policy_msp_ids(all_of_policy(["A"], role="MEMBER"))
    assert (n, members) == (1, [("A", "MEMBER")])


@pytest.mark.parametrize(("ids", "role"), [([], "PEER"), ([""], "PEER"), (["A"], "KING")])
def test_bad_policies_refused(ids: list[str], role: str) -> None:
    with pytest.raises(ValueError):
        all_of_policy(ids, role=role)
