"""Blocks are for each organisation's operators, never for clients (issue 11, finding 4).

Regression: the channel's Readers included every client and there was no ACL section,
so a customer could pull every block through qscc or the Deliver service, and follow
every other customer's chaincode events.  Checked on both channels (`energy`, `market`):
each has its own configuration, made from the same profile.
"""

from __future__ import annotations

import pytest

from gridledger.clients.errors import ChaincodeEventsError, DeliverError, EvaluateError

from .customers import connect_customer, register_customer
from .gateways import connect


@pytest.fixture(scope="module")
def customer(consortium):
    return register_customer(consortium)


CHANNELS = ["energy", "market"]
# The chaincode whose events a customer might follow, on each channel.
EVENTS_OF = {"energy": "metering", "market": "market"}


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_customer_cannot_read_blocks_through_qscc(consortium, customer, channel):
    with connect_customer(consortium, customer) as gw:
        qscc = gw.network(channel).contract("qscc")
        for call in (("GetChainInfo", channel), ("GetBlockByNumber", channel, "0")):
            with pytest.raises(EvaluateError) as refused:
                qscc.evaluate(*call)
            assert "access denied" in str(refused.value).lower() or \
                "authorization" in str(refused.value).lower(), refused.value
    # An operator may.
    with connect(consortium, "utility") as gw:
        assert gw.network(channel).contract("qscc").evaluate("GetBlockByNumber", channel, "0")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("filtered", [False, True])
def test_a_customer_cannot_pull_blocks_from_the_deliver_service(consortium, customer,
                                                                 filtered, channel):
    with connect_customer(consortium, customer) as gw, pytest.raises(DeliverError) as refused:
        list(gw.network(channel).block_events(start_block=0, stop_block=0,
                                              filtered=filtered, timeout=30))
    assert "FORBIDDEN" in str(refused.value)
    with connect(consortium, "aggregator") as gw:
        (block,) = gw.network(channel).block_events(start_block=0, stop_block=0,
                                                    filtered=filtered, timeout=30)
        assert block.number == 0


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_customer_cannot_follow_chaincode_events(consortium, customer, channel):
    with connect_customer(consortium, customer) as gw, \
            pytest.raises(ChaincodeEventsError) as refused:
        list(gw.network(channel).chaincode_events(EVENTS_OF[channel], start_block=0,
                                                  timeout=30))
    assert refused.value.code.name in ("PERMISSION_DENIED", "FAILED_PRECONDITION"), refused.value


def test_a_customer_still_transacts_and_learns_its_own_commit_status(consortium, customer):
    # What clients keep: proposals (Writers) and the status of their own transactions.
    with connect_customer(consortium, customer) as gw:
        commit = gw.network(consortium.topology.channel).contract(
            "metering", "wattcoin").submit_async("MyAddress")
        assert commit.status().successful
