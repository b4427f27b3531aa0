"""Chaincode-to-chaincode calls across channels on the real network (issue 17, hole 3).

The market lives on channel ``market`` and reads what it needs of ``energy`` by calling
``metering`` there (``Stub.invoke_chaincode``; Fabric: core/chaincode/handler.go
HandleInvokeChaincode). What these tests show, with a probe contract served in chaincode
``health`` (one server per organisation, defined on both channels;
tests/integration/crosschannel_probe.py):

- the called chaincode runs as the same client: the Utility's admin reads a private
  customerData record across, a customer only its own meter;
- nothing of the call is in the calling transaction's read/write set (no namespace of
  ``energy``'s chaincode, no private key hash), while the same call on ``energy`` itself
  puts them there; and what the called chaincode writes is thrown away;
- only the endorsing peer runs the call: the Aggregator's peer, which holds no
  customerData, has none to answer, so a transaction it endorses cannot use any;
- the peer refuses a call to a chaincode or a channel it does not have.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

from gridledger.clients.errors import EndorseError
from gridledger.clients.gateway import Commit, Gateway
from gridledger.clients.metering import Metering
from gridledger.clients.wallet import Wallet

from .customers import connect_customer, register_customer
from .gateways import endpoint
from .rogue import modified_chaincode

ENERGY, MARKET = "energy", "market"
U, R, A = "UtilityMSP", "RegulatorMSP", "AggregatorMSP"
PROBE = "health,tests.integration.crosschannel_probe"
CUSTOMER_DATA = "customerData"


@pytest.fixture(scope="module")
def probe(consortium):
    """Every organisation's health server also serves the probe (on both channels)."""
    assert {ENERGY, MARKET} <= set(consortium.topology.channels), consortium.topology.channels
    with contextlib.ExitStack() as stack:
        for org in ("utility", "regulator", "aggregator"):
            stack.enter_context(modified_chaincode(consortium, org, PROBE, chaincode="health"))
        yield


@dataclass
class Meter:
    meter_id: str
    customer: Any


def new_meter(net, utility: Gateway) -> Meter:
    """A meter of a new customer of the Utility (its record in customerData)."""
    from .test_metering import TARIFF

    customer = register_customer(net)
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    meter_id = "XC-" + uuid.uuid4().hex[:8]
    Metering(utility.network(ENERGY)).register_meter({
        "meterId": meter_id, "publicKeyPem": pem, "curve": "P-256",
        "customerId": customer.customer_id, "tariffId": TARIFF["tariffId"],
        "deviceProfile": "EPM5500P", "location": "Hanoi", "installDate": "2026-01-01"})
    return Meter(meter_id, customer)


@pytest.fixture(scope="module")
def meters(consortium, utility, tariff, probe) -> tuple[Meter, Meter]:
    return new_meter(consortium, utility), new_meter(consortium, utility)


def read_across(gw: Gateway, org: str, *call: str, channel: str = MARKET,
                target: str = ENERGY, chaincode: str = "metering") -> dict[str, Any]:
    """xprobe:Read on ``channel`` at ``org``'s peer: ``chaincode`` on ``target``."""
    contract = gw.network(channel).contract("health", "xprobe")
    return json.loads(contract.evaluate("Read", target, chaincode, json.dumps(list(call)),
                                        target_organizations=[org]))


def mark(gw: Gateway, key: str, *call: str, channel: str = MARKET, target: str = ENERGY,
         endorsers: tuple[str, ...] = (U, R)) -> Commit:
    """xprobe:Mark on ``channel``, endorsed by ``endorsers``, committed."""
    contract = gw.network(channel).contract("health", "xprobe")
    commit = contract.submit_async("Mark", key, target, "metering", json.dumps(list(call)),
                                   endorsing_organizations=list(endorsers))
    commit.wait()
    return commit


def health_value(gw: Gateway, channel: str, key: str) -> str | None:
    from gridledger.clients.errors import EvaluateError

    try:
        return gw.network(channel).contract("health", "health").evaluate("Get", key).decode()
    except EvaluateError as exc:
        assert exc.chaincode_status == 404, exc
        return None


# -- what a committed transaction holds ---------------------------------------------------------


@dataclass
class Recorded:
    """The parts of one committed transaction that matter here."""

    namespaces: dict[str, kv_rwset_pb2.KVRWSet] = field(default_factory=dict)
    hashed: dict[str, list[str]] = field(default_factory=dict)  # namespace -> collections
    response: proposal_response_pb2.Response | None = None

    def keys(self, namespace: str) -> tuple[set[str], set[str]]:
        """(read keys, written keys) of ``namespace``."""
        kv = self.namespaces[namespace]
        return {r.key for r in kv.reads}, {w.key for w in kv.writes}


def recorded(gw: Gateway, channel: str, commit: Commit) -> Recorded:
    """Read the transaction back from its block (qscc, as an operator may)."""
    number = commit.status().block_number
    raw = gw.network(channel).contract("qscc").evaluate("GetBlockByNumber", channel, str(number))
    block = common_pb2.Block.FromString(raw)
    for data in block.data.data:
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(data).payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        if header.tx_id != commit.transaction_id:
            continue
        out = Recorded()
        for action in transaction_pb2.Transaction.FromString(payload.data).actions:
            cap = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
            prp = proposal_response_pb2.ProposalResponsePayload.FromString(
                cap.action.proposal_response_payload)
            cca = proposal_pb2.ChaincodeAction.FromString(prp.extension)
            out.response = cca.response
            for ns in rwset_pb2.TxReadWriteSet.FromString(cca.results).ns_rwset:
                out.namespaces[ns.namespace] = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
                out.hashed[ns.namespace] = [c.collection_name for c in ns.collection_hashed_rwset]
        return out
    raise AssertionError(f"{commit.transaction_id} is not in block {number} of {channel}")


def gateway_as(net, org: str, at: str) -> Gateway:
    """A Gateway to ``at``'s peer, signing as ``org``'s admin."""
    o = net.topology.org(org)
    identity, signer = Wallet.from_msp_dir(net.layout.msp(o.name, "Admin"), o.msp_id)
    return Gateway.connect(endpoint(net, at), identity, signer)


# -- (a) the same client, across ----------------------------------------------------------------


@pytest.mark.parametrize("org", [U, R])
def test_a_chaincode_on_market_reads_a_private_meter_record_on_energy_for_an_operator(
        utility, regulator, meters, org):
    gw = utility if org == U else regulator
    answer = read_across(gw, org, "GetMeter", meters[0].meter_id)
    assert answer["status"] == 200, answer
    record = json.loads(answer["payload"])
    # customerData: the meter's owner, only in the Utility's and Regulator's private state.
    assert record["meter"]["customerId"] == meters[0].customer.customer_id


def test_a_customer_reading_across_gets_its_own_meter_and_not_anothers(consortium, meters):
    own, other = meters
    with connect_customer(consortium, own.customer) as gw:
        mine = read_across(gw, U, "GetMeter", own.meter_id)
        theirs = read_across(gw, U, "GetMeter", other.meter_id)
    # The called chaincode sees the customer, as the caller does: its own checks apply.
    assert mine["status"] == 200, mine
    assert json.loads(mine["payload"])["meter"]["customerId"] == own.customer.customer_id
    assert theirs["status"] == 403, theirs
    assert f"may not read meter {other.meter_id}" in theirs["message"]
    assert theirs["payload"] == ""


# -- (b) nothing of the call in the calling transaction ----------------------------------------


def test_a_transaction_on_market_that_reads_energy_records_no_key_of_energy(
        utility, meters):
    key = "xc/" + uuid.uuid4().hex[:8]
    commit = mark(utility, key, "GetMeter", meters[0].meter_id)
    tx = recorded(utility, MARKET, commit)
    # Only health's own namespace (and the chaincode definition the peer read) on market.
    assert "metering" not in tx.namespaces, sorted(tx.namespaces)
    assert set(tx.namespaces) <= {"health", "_lifecycle"}, sorted(tx.namespaces)
    assert all(not collections for collections in tx.hashed.values()), tx.hashed
    reads, writes = tx.keys("health")
    assert reads == set()
    assert writes == {f"health:{key}/before", f"health:{key}"}
    lifecycle_reads = tx.keys("_lifecycle")[0] if "_lifecycle" in tx.namespaces else set()
    assert not any("metering" in k for k in lifecycle_reads), lifecycle_reads
    # The answer in the block is the probe's: no byte of what was read across.
    assert json.loads(tx.response.payload) == {"status": 200}
    assert health_value(utility, MARKET, key) == "200"


def test_the_same_call_on_energy_itself_is_in_the_transaction(utility, meters):
    # The control: on its own channel the called chaincode shares the simulator, so its
    # reads (customerData's key hashes) are the transaction's. The probe's write before
    # the call reached the peer first (the shim sends pending writes before calling).
    key = "xc/" + uuid.uuid4().hex[:8]
    commit = mark(utility, key, "GetMeter", meters[0].meter_id, channel=ENERGY, target="")
    tx = recorded(utility, ENERGY, commit)
    assert "metering" in tx.namespaces, sorted(tx.namespaces)
    assert CUSTOMER_DATA in tx.hashed["metering"], tx.hashed
    assert tx.keys("health")[1] == {f"health:{key}/before", f"health:{key}"}
    assert health_value(utility, ENERGY, key) == "200"


def test_what_the_called_chaincode_writes_across_is_thrown_away(utility, meters):
    metering = Metering(utility.network(ENERGY))
    before = metering.get_meter(meters[1].meter_id)
    assert before["meter"]["status"] == "active"
    key = "xc/" + uuid.uuid4().hex[:8]
    # SuspendMeter succeeds in the throw-away simulator of energy at each endorser...
    commit = mark(utility, key, "SuspendMeter", meters[1].meter_id, "cross-channel test")
    assert json.loads(recorded(utility, MARKET, commit).response.payload) == {"status": 200}
    # ...and the meter on energy is as it was.
    assert metering.get_meter(meters[1].meter_id) == before


# -- (c) the Aggregator's peer has nothing to answer ---------------------------------------------


def test_the_aggregators_peer_reading_customer_data_across_finds_none(consortium, meters):
    # The Utility's admin asks the Aggregator's peer: the creator may read, the peer has
    # no copy (not a member of customerData), so metering on energy answers 404.
    with gateway_as(consortium, "utility", at="aggregator") as gw:
        answer = read_across(gw, A, "GetMeter", meters[0].meter_id)
    assert answer["status"] == 404, answer
    assert "this peer does not hold customerData" in answer["message"]
    assert meters[0].customer.customer_id not in json.dumps(answer)


def test_the_aggregators_admin_is_refused_by_the_called_chaincode(aggregator, meters):
    answer = read_across(aggregator, A, "GetMeter", meters[0].meter_id)
    assert answer["status"] == 403, answer
    assert "AggregatorMSP" in answer["message"] and answer["payload"] == ""


def test_a_transaction_endorsed_by_the_aggregator_cannot_use_customer_data_across(
        utility, meters):
    key = "xc/" + uuid.uuid4().hex[:8]
    with pytest.raises(EndorseError) as refused:
        mark(utility, key, "GetMeter", meters[0].meter_id, endorsers=(A, U))
    assert refused.value.chaincode_status == 404, refused.value
    assert "this peer does not hold customerData" in str(refused.value)
    assert health_value(utility, MARKET, key) is None
    assert health_value(utility, MARKET, key + "/before") is None


# -- the peer refusing the call itself ------------------------------------------------------------


def test_a_call_to_a_chaincode_the_channel_does_not_have_is_refused_by_the_peer(utility, probe):
    # `market` (the chaincode) is defined on channel market only.
    answer = read_across(utility, U, "market:Anything", chaincode="market")
    assert set(answer) == {"refused"}, answer
    assert "calling chaincode 'market' on channel 'energy'" in answer["refused"]
    assert "failed to get chaincode container info for market" in answer["refused"], answer


def test_a_call_to_a_channel_the_peer_has_not_joined_is_refused_by_the_peer(utility, probe):
    answer = read_across(utility, U, "GetMeter", "m-1", target="nowhere")
    assert set(answer) == {"refused"}, answer
    assert "calling chaincode 'metering' on channel 'nowhere'" in answer["refused"]
    # The ACL check on the called channel comes first, and finds no such channel.
    assert "Failed to get policy manager for channel [nowhere]" in answer["refused"], answer
