"""Blocks are for each organisation's operators, never for clients (issue 11, finding 4).

Regression: the channel's Readers included every client and there was no ACL section,
so a customer could pull every block through qscc or the Deliver service, and follow
every other customer's chaincode events.
"""

from __future__ import annotations

import pytest

from gridledger.clients.errors import ChaincodeEventsError, DeliverError, EvaluateError

from .customers import connect_customer, register_customer
from .gateways import connect


@pytest.fixture(scope="module")
def customer(consortium):
    return register_customer(consortium)


def _network(gw, consortium):
    return gw.network(consortium.topology.channel)


def test_a_customer_cannot_read_blocks_through_qscc(consortium, customer):
    with connect_customer(consortium, customer) as gw:
        qscc = _network(gw, consortium).contract("qscc")
        for call in (("GetChainInfo", consortium.topology.channel),
                     ("GetBlockByNumber", consortium.topology.channel, "0")):
            with pytest.raises(EvaluateError) as refused:
                qscc.evaluate(*call)
            assert "access denied" in str(refused.value).lower() or \
                "authorization" in str(refused.value).lower(), refused.value
    # An operator may.
    with connect(consortium, "utility") as gw:
        assert _network(gw, consortium).contract("qscc").evaluate(
            "GetBlockByNumber", consortium.topology.channel, "0")


@pytest.mark.parametrize("filtered", [False, True])
def test_a_customer_cannot_pull_blocks_from_the_deliver_service(consortium, customer,
                                                                 filtered):
    with connect_customer(consortium, customer) as gw, pytest.raises(DeliverError) as refused:
        list(_network(gw, consortium).block_events(start_block=0, stop_block=0,
                                                   filtered=filtered, timeout=30))
    assert "FORBIDDEN" in str(refused.value)
    with connect(consortium, "aggregator") as gw:
        (block,) = _network(gw, consortium).block_events(start_block=0, stop_block=0,
                                                         filtered=filtered, timeout=30)
        assert block.number == 0


def test_a_customer_cannot_follow_chaincode_events(consortium, customer):
    with connect_customer(consortium, customer) as gw, \
            pytest.raises(ChaincodeEventsError) as refused:
        list(_network(gw, consortium).chaincode_events("metering", start_block=0, timeout=30))
    assert refused.value.code.name in ("PERMISSION_DENIED", "FAILED_PRECONDITION"), refused.value


def test_a_customer_still_transacts_and_learns_its_own_commit_status(consortium, customer):
    # What clients keep: proposals (Writers) and the status of their own transactions.
    with connect_customer(consortium, customer) as gw:
        commit = _network(gw, consortium).contract("metering", "wattcoin").submit_async(
            "MyAddress")
        assert commit.status().successful
