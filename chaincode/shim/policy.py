"""Key-level endorsement policies (state-based endorsement).

The bytes built here are what ``Stub.set_state_validation_parameter`` stores under the
metadata key ``VALIDATION_PARAMETER``; the peer's validator then requires the policy for
every later write of that key, instead of the chaincode-wide endorsement policy.

Two shapes: "all of these MSPs" (:func:`all_of_policy`: the Regulator's tariff keys) and
"all of these and one of those" (:func:`all_and_one_of_policy`: the market's keys, the
Aggregator and one other organisation).
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


def _principals(msp_ids: list[str], role: str) -> list[msp_principal_pb2.MSPPrincipal]:
    """One ``role`` principal per MSP, in the order given (signed_by indexes them)."""
    return [
        msp_principal_pb2.MSPPrincipal(
            principal_classification=msp_principal_pb2.MSPPrincipal.ROLE,
            principal=msp_principal_pb2.MSPRole(
                msp_identifier=msp_id, role=_ROLES[role]
            ).SerializeToString(),
        )
        for msp_id in msp_ids
    ]


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
    principals = _principals(ids, role)
    rules = [policies_pb2.SignaturePolicy(signed_by=i) for i in range(len(ids))]
    envelope = policies_pb2.SignaturePolicyEnvelope(
        version=0,
        rule=policies_pb2.SignaturePolicy(
            n_out_of=policies_pb2.SignaturePolicy.NOutOf(n=len(ids), rules=rules)
        ),
        identities=principals,
    )
    return envelope.SerializeToString(deterministic=True)


def all_and_one_of_policy(required: Iterable[str], one_of: Iterable[str],
                         role: str = "PEER") -> bytes:
    """Marshalled SignaturePolicyEnvelope: a ``role`` signature from EVERY MSP in
    ``required`` and from AT LEAST ONE MSP in ``one_of``.

    ``all_and_one_of_policy(["AggregatorMSP"], ["UtilityMSP", "RegulatorMSP"])`` is
    ``AND('AggregatorMSP.peer', OR('UtilityMSP.peer', 'RegulatorMSP.peer'))``: the market
    keys' policy. Identities are listed once, sorted, so every endorser builds identical
    bytes; the rule is ``NOutOf(len(required) + 1, [required..., NOutOf(1, one_of)])``.
    """
    need, alternatives = sorted(set(required)), sorted(set(one_of))
    if not need or not alternatives or any(not i for i in (*need, *alternatives)):
        raise ValueError("a policy needs non-empty MSP IDs in both required and one_of")
    if set(need) & set(alternatives):
        raise ValueError("an MSP cannot be both required and one of the alternatives")
    if role not in _ROLES:
        raise ValueError(f"unknown MSP role {role!r}; expected one of {sorted(_ROLES)}")
    ids = sorted({*need, *alternatives})
    principals = _principals(ids, role)
    signed = {msp_id: policies_pb2.SignaturePolicy(signed_by=i) for i, msp_id in enumerate(ids)}
    any_of = policies_pb2.SignaturePolicy(n_out_of=policies_pb2.SignaturePolicy.NOutOf(
        n=1, rules=[signed[m] for m in alternatives]))
    envelope = policies_pb2.SignaturePolicyEnvelope(
        version=0,
        rule=policies_pb2.SignaturePolicy(n_out_of=policies_pb2.SignaturePolicy.NOutOf(
            n=len(need) + 1, rules=[*(signed[m] for m in need), any_of])),
        identities=principals,
    )
    return envelope.SerializeToString(deterministic=True)


def satisfied_by(policy: bytes, msp_ids: Iterable[str]) -> bool:
    """Whether one signature from each of ``msp_ids`` (in the policy's role) meets a policy
    built here: the rule tree evaluated as Fabric's cauthdsl does, for tests and checks."""
    envelope = policies_pb2.SignaturePolicyEnvelope()
    envelope.ParseFromString(policy)
    signers: set[int] = set()
    for index, principal in enumerate(envelope.identities):
        role = msp_principal_pb2.MSPRole()
        role.ParseFromString(principal.principal)
        if role.msp_identifier in set(msp_ids):
            signers.add(index)

    def holds(rule: policies_pb2.SignaturePolicy) -> bool:
        if rule.WhichOneof("Type") == "signed_by":
            return rule.signed_by in signers
        return sum(holds(r) for r in rule.n_out_of.rules) >= rule.n_out_of.n

    return holds(envelope.rule)


def policy_msp_ids(policy: bytes) -> tuple[int, list[tuple[str, str]]]:
    """Decode a SignaturePolicyEnvelope built by :func:`all_of_policy`: (n required,
    [(msp_id, role)]). (For a nested rule it gives the top rule's n; see satisfied_by.)"""
    envelope = policies_pb2.SignaturePolicyEnvelope()
    envelope.ParseFromString(policy)
    names = {v: k for k, v in _ROLES.items()}
    members: list[tuple[str, str]] = []
    for principal in envelope.identities:
        role = msp_principal_pb2.MSPRole()
        role.ParseFromString(principal.principal)
        members.append((role.msp_identifier, names.get(role.role, str(role.role))))
    return envelope.rule.n_out_of.n, members
