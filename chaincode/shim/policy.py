"""Key-level endorsement policies (state-based endorsement).

The bytes built here are what ``Stub.set_state_validation_parameter`` stores under the
metadata key ``VALIDATION_PARAMETER``; the peer's validator then requires the policy for
every later write of that key, instead of the chaincode-wide endorsement policy.
"""

from __future__ import annotations

from collections.abc import Iterable

from fabric_protos.common import policies_pb2
from fabric_protos.msp import msp_principal_pb2

_ROLES = {
    "MEMBER": msp_principal_pb2.MSPRole.MEMBER,
    "PEER": msp_principal_pb2.MSPRole.PEER,
    "ADMIN": msp_principal_pb2.MSPRole.ADMIN,
    "CLIENT": msp_principal_pb2.MSPRole.CLIENT,
}


def all_of_policy(msp_ids: Iterable[str], role: str = "PEER") -> bytes:
    """Marshalled SignaturePolicyEnvelope: one ``role`` signature from EVERY MSP listed.

    MSP IDs are de-duplicated and sorted, so every endorser builds identical bytes (the
    write set must match across endorsements). Endorsements come from peers, hence the
    default role PEER, as in Fabric's own statebased package.
    """
    ids = sorted(set(msp_ids))
    if not ids or any(not i for i in ids):
        raise ValueError("an endorsement policy needs at least one non-empty MSP ID")
    if role not in _ROLES:
        raise ValueError(f"unknown MSP role {role!r}; expected one of {sorted(_ROLES)}")
    principals = [
        msp_principal_pb2.MSPPrincipal(
            principal_classification=msp_principal_pb2.MSPPrincipal.ROLE,
            principal=msp_principal_pb2.MSPRole(
                msp_identifier=msp_id, role=_ROLES[role]
            ).SerializeToString(),
        )
        for msp_id in ids
    ]
    rules = [policies_pb2.SignaturePolicy(signed_by=i) for i in range(len(ids))]
    envelope = policies_pb2.SignaturePolicyEnvelope(
        version=0,
        rule=policies_pb2.SignaturePolicy(
            n_out_of=policies_pb2.SignaturePolicy.NOutOf(n=len(ids), rules=rules)
        ),
        identities=principals,
    )
    return envelope.SerializeToString(deterministic=True)


def policy_msp_ids(policy: bytes) -> tuple[int, list[tuple[str, str]]]:
    """Decode a SignaturePolicyEnvelope built as above: (n required, [(msp_id, role)])."""
    envelope = policies_pb2.SignaturePolicyEnvelope()
    envelope.ParseFromString(policy)
    names = {v: k for k, v in _ROLES.items()}
    members: list[tuple[str, str]] = []
    for principal in envelope.identities:
        role = msp_principal_pb2.MSPRole()
        role.ParseFromString(principal.principal)
        members.append((role.msp_identifier, names.get(role.role, str(role.role))))
    return envelope.rule.n_out_of.n, members
