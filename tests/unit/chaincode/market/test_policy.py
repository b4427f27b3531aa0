"""The key-level policy "the Aggregator and one of the Utility or the Regulator"."""

from __future__ import annotations

import itertools

import pytest
from fabric_protos.common import policies_pb2

from gridledger.chaincode.shim import all_and_one_of_policy, all_of_policy, satisfied_by

A, U, R = "AggregatorMSP", "UtilityMSP", "RegulatorMSP"


def test_the_market_policy_needs_the_aggregator_and_one_other() -> None:
    policy = all_and_one_of_policy([A], [U, R])
    for n in range(4):
        for signers in itertools.combinations((A, U, R), n):
            assert satisfied_by(policy, signers) == (A in signers and len(signers) >= 2), signers


def test_its_bytes_are_the_same_whatever_the_order_and_its_shape_is_fabrics() -> None:
    policy = all_and_one_of_policy([A], [U, R])
    assert policy == all_and_one_of_policy([A, A], [R, U, R])
    envelope = policies_pb2.SignaturePolicyEnvelope()
    envelope.ParseFromString(policy)
    # NOutOf(2, [A, NOutOf(1, [R, U])]) over the identities A, R, U (sorted), role PEER.
    assert envelope.rule.n_out_of.n == 2
    first, second = envelope.rule.n_out_of.rules
    assert first.signed_by == 0
    assert second.n_out_of.n == 1 and [r.signed_by for r in second.n_out_of.rules] == [1, 2]
    assert len(envelope.identities) == 3


def test_it_refuses_what_would_make_no_sense() -> None:
    for required, one_of in (([], [U]), ([A], []), ([A], [A, U]), ([""], [U])):
        with pytest.raises(ValueError):
            all_and_one_of_policy(required, one_of)
    with pytest.raises(ValueError):
        all_and_one_of_policy([A], [U], role="KING")


def test_satisfied_by_reads_all_of_policies_too() -> None:
    assert satisfied_by(all_of_policy([U, R]), [U, R, A])
    assert not satisfied_by(all_of_policy([U, R]), [U, A])
