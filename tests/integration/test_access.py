"""DACT/IDoT access on the real network (seed 001, Fig. 8), with the Utility's service
node as a real process: an aggregator gets a customer's consumption profile for VPP
forecasting in seven steps, and every refusal the issue lists, each with its reason and
nothing disclosed. Every disclosure is on the ledger's access log, and the log matches
what the service node served.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import transaction_pb2

from gridledger.clients.access import Access, private_call
from gridledger.clients.access_service import ServiceNodeClient, ServiceNodeError
from gridledger.clients.errors import CommitError, EndorseError, EvaluateError
from gridledger.clients.proposal import Proposal, transaction_id
from gridledger.formats.access import certificate_fingerprint, certify_challenge, hash_address
from gridledger.formats.utc import format_utc

from .access_world import (
    PURPOSE,
    aggregator_device,
    household,
    owner_grant,
    produce_and_register,
    service_node,
)

pytestmark = pytest.mark.integration
TOKENS: list[str] = []  # every token issued here, for the log check at the end





@pytest.fixture(scope="module")
def node(consortium, tmp_path_factory):
    with service_node(consortium, tmp_path_factory.mktemp("service-node") / "store") as n:
        yield n


@pytest.fixture(scope="module")
def home(consortium, utility, tariff):
    return household(consortium, utility, tariff)


@pytest.fixture(scope="module")
def device(consortium, aggregator, channel):
    return aggregator_device(aggregator, channel)


@pytest.fixture(scope="module")
def shared(consortium, home, node):
    """Two profiles of the customer at the service node, registered by the customer."""
    return [produce_and_register(consortium, home, node) for _ in range(2)]


def _access(gw, channel) -> Access:
    return Access(gw.network(channel))


def _certify(access: Access, dact, device, **kw) -> str:
    token = access.certify(dact, device.device_id, device.signer, **kw)["tokenId"]
    TOKENS.append(token)
    return token


def _endorsing_msps(gw, channel, block_number: int, tx_id: str) -> set[str]:
    (block,) = gw.network(channel).block_events(start_block=block_number,
                                                stop_block=block_number)
    for raw in block.raw.data.data:
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(raw).payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        if header.tx_id != tx_id:
            continue
        tx = transaction_pb2.Transaction.FromString(payload.data)
        action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        return {identities_pb2.SerializedIdentity.FromString(e.endorser).mspid
                for e in action.action.endorsements}
    raise AssertionError(f"{tx_id} not in block {block_number}")


# -- the seven steps ------------------------------------------------------------------------


def test_seven_steps_an_aggregator_gets_a_customers_profile_for_vpp_forecasting(
        consortium, channel, aggregator, admin_of, home, device, shared, node):
    (resource_id, address), _ = shared
    # In advance: the owner's profile is at the Utility's service node (produced from the
    # Utility's collection), its hash address on the ledger, and the owner's DACT.
    dact = owner_grant(consortium, home, aggregator, device, [resource_id])
    access = _access(aggregator, channel)
    # (1)-(4) The aggregator's device asks; each endorser's own chaincode checks the DACT
    # and the device's proof; the token is valid only with two organisations' endorsements.
    commit = access.certify_async(dact, device.device_id, device.signer)
    token_id = json.loads(commit.wait())["tokenId"]
    TOKENS.append(token_id)
    endorsers = _endorsing_msps(aggregator, channel, commit.status().block_number,
                                commit.transaction_id)
    # The requester's organisation and the data holder; no third organisation was sent
    # the DACT table.
    assert endorsers == {"AggregatorMSP", "UtilityMSP"}, endorsers
    token = access.get_token(token_id)
    assert token["state"] == "active" and token["purpose"] == PURPOSE
    assert token["holder"] == {"mspId": "AggregatorMSP", "fingerprint": certificate_fingerprint(
        aggregator.identity.certificate)}
    # (5)-(6) With the token the aggregator runs the contract: the hash address.
    answer = access.access(token_id)
    assert answer["resources"] == [{"resourceId": resource_id, "hashAddress": address}]
    # (7) The service node provides the data, after the ledger agreed and logged it.
    with ServiceNodeClient(node.url, *admin_of("aggregator")) as client:
        fetched = client.fetch(address, token_id)
    assert hash_address(fetched.content) == address
    profile = json.loads(fetched.content)
    assert [i["importWh"] for i in profile["intervals"]] == home.deltas
    assert home.meter_id.encode() not in fetched.content
    assert home.customer.customer_id.encode() not in fetched.content
    assert fetched.owner_info is None  # one hash address: the owner's fields withheld
    log = access.access_log(token_id)
    assert [e["kind"] for e in log] == ["contract", "service"]
    assert log[1]["txId"] == fetched.access_tx and log[1]["hashAddresses"] == [address]
    assert log[1]["service"]["mspId"] == "UtilityMSP"
    assert fetched.access_tx in {s["txId"] for s in node.served()}


def test_with_more_than_one_hash_address_the_owners_fields_come_along(
        consortium, channel, aggregator, admin_of, home, device, shared, node):
    ids = [r for r, _ in shared]
    dact = owner_grant(consortium, home, aggregator, device, ids)  # if-several: the default
    token_id = _certify(_access(aggregator, channel), dact, device)
    with ServiceNodeClient(node.url, *admin_of("aggregator")) as client:
        fetched = client.fetch(shared[1][1], token_id)
    # The owner's fields as the ledger's owner record has them (never the store's).
    assert fetched.owner_info == {"customerId": home.customer.customer_id,
                                  "description": "15-minute consumption profile, one day"}
    assert fetched.media_type == "application/json"
    (entry,) = [e for e in _access(aggregator, channel).access_log(token_id)
                if e["kind"] == "service"]
    assert entry["ownerInfo"] is True


# -- refusals: each with its reason, nothing disclosed ----------------------------------------


def _refused(call, status: int, reason: str) -> str:
    with pytest.raises((EndorseError, EvaluateError)) as err:
        call()
    assert err.value.chaincode_status == status, err.value
    assert reason in str(err.value), err.value
    return str(err.value)


def test_a_dact_that_does_not_match_earns_no_token(consortium, channel, aggregator, home,
                                                   device, shared, regulator):
    dact = owner_grant(consortium, home, aggregator, device, [shared[0][0]])
    access = _access(aggregator, channel)
    message = _refused(lambda: access.certify({**dact, "purpose": "marketing"},
                                              device.device_id, device.signer),
                       403, "does not match")
    assert shared[0][1] not in message
    _refused(lambda: access.certify({**dact, "resources": [r for r, _ in shared]},
                                    device.device_id, device.signer), 403, "does not match")
    # The right table from the wrong requester (the Regulator): not the one it names.
    _refused(lambda: _access(regulator, channel).certify(dact, device.device_id,
                                                         device.signer),
             403, "does not name the caller")


def _certify_with(gw, channel, request: dict, nonce: bytes):
    """Endorse, order and wait for a Certify proposal with the given nonce."""
    _, transient = private_call("Certify", (json.dumps(request),))
    proposal = Proposal.build(gw.creator, channel, "metering", "access:Certify", (),
                              transient=transient, nonce=nonce)
    return gw.submit(gw.endorse(proposal)).wait(), proposal


def test_a_stale_or_replayed_challenge_signature_is_refused(consortium, channel, aggregator,
                                                            home, device, shared):
    dact = owner_grant(consortium, home, aggregator, device, [shared[0][0]])
    access = _access(aggregator, channel)
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    _refused(lambda: access.certify(dact, device.device_id, device.signer, signed_at=stale),
             401, "stale challenge")
    # A good certification, then its signed challenge again in a new transaction.
    nonce = os.urandom(24)
    challenge = certify_challenge(
        dact_id=dact["dactId"], dact_version=1, device_id=device.device_id,
        holder=certificate_fingerprint(aggregator.identity.certificate),
        tx_id=transaction_id(nonce, aggregator.creator),
        signed_at=format_utc(dt.datetime.now(dt.UTC)))
    request = {"dact": dact, "deviceId": device.device_id, "challenge": challenge,
               "signature": device.signer(challenge)}
    result, first = _certify_with(aggregator, channel, request, nonce)
    TOKENS.append(json.loads(result)["tokenId"])
    _refused(lambda: _certify_with(aggregator, channel, request, os.urandom(24)),
             401, "good for one transaction only")
    # The very same proposal again: the peer refuses a transaction id it has seen.
    with pytest.raises(EndorseError) as err:
        aggregator.endorse(first)
    assert "duplicate" in str(err.value).lower()


def test_a_token_endorsed_by_one_organisation_only_fails_validation(
        consortium, channel, aggregator, home, device, shared):
    dact = owner_grant(consortium, home, aggregator, device, [shared[0][0]])
    access = _access(aggregator, channel)
    commit = access.certify_async(dact, device.device_id, device.signer,
                                  endorsing_organizations=["AggregatorMSP"])
    with pytest.raises(CommitError) as err:
        commit.wait()
    assert err.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    _refused(lambda: access.get_token("tok-" + commit.transaction_id[:40]), 404, "no token")


def test_an_expired_or_revoked_token_is_refused(consortium, channel, aggregator, admin_of,
                                                home, device, shared, node):
    resource_id, address = shared[0]
    dact = owner_grant(consortium, home, aggregator, device, [resource_id])
    access = _access(aggregator, channel)
    short = _certify(access, dact, device, lifetime_seconds=2)
    revoked = _certify(access, dact, device)
    by_dact = _certify(access, dact, device)
    time.sleep(3)
    _refused(lambda: access.access(short), 410, "has expired")
    access.revoke_token(revoked)  # the holder gives it back
    _refused(lambda: access.access(revoked), 410, "was revoked")
    with home.gateway(consortium) as gw:  # the owner withdraws the DACT
        _access(gw, channel).revoke_dact(dact["dactId"], "no longer")
    _refused(lambda: access.access(by_dact), 410, "DACT was revoked")
    with ServiceNodeClient(node.url, *admin_of("aggregator")) as client:
        for token_id in (short, revoked, by_dact):
            with pytest.raises(ServiceNodeError) as err:
                client.fetch(address, token_id)
            assert err.value.status == 410, err.value
    for token_id in (short, revoked, by_dact):
        assert [e["kind"] for e in access.access_log(token_id)] == []


def test_a_hash_address_outside_the_tokens_scope_is_refused(
        consortium, channel, aggregator, admin_of, home, device, shared, node):
    (first, _), (_, other) = shared
    token_id = _certify(_access(aggregator, channel),
                        owner_grant(consortium, home, aggregator, device, [first]), device)
    with (ServiceNodeClient(node.url, *admin_of("aggregator")) as client,
          pytest.raises(ServiceNodeError) as err):
        client.fetch(other, token_id)
    assert err.value.status == 403 and "outside the scope" in str(err.value)
    assert _access(aggregator, channel).access_log(token_id) == []


def test_the_service_node_serves_no_one_without_their_own_token(
        consortium, channel, aggregator, admin_of, home, device, shared, node):
    resource_id, address = shared[0]
    token_id = _certify(_access(aggregator, channel),
                        owner_grant(consortium, home, aggregator, device, [resource_id]), device)
    with ServiceNodeClient(node.url, *admin_of("aggregator")) as client:
        with pytest.raises(ServiceNodeError) as err:
            client.fetch(address, "")
        assert err.value.status == 400 and "tokenId" in str(err.value)
        with pytest.raises(ServiceNodeError) as err:
            client.fetch(address, "tok-" + "0" * 40)
        assert err.value.status == 404
    with ServiceNodeClient(node.url, *admin_of("regulator")) as client:
        with pytest.raises(ServiceNodeError) as err:
            client.fetch(address, token_id)  # the Aggregator's token
        assert err.value.status == 403 and "not the holder" in str(err.value)
    assert _access(aggregator, channel).access_log(token_id) == []


def test_every_disclosure_is_on_the_access_log_and_matches_what_was_served(
        channel, aggregator, node):
    # Last in the module: every token issued above, every serving the node made.
    access = _access(aggregator, channel)
    logged = {e["txId"]: e for token in TOKENS for e in access.access_log(token)
              if e["kind"] == "service"}
    served = {s["txId"]: s for s in node.served()}
    assert served and set(served) == set(logged)
    for tx, s in served.items():
        assert (s["tokenId"], [s["hashAddress"]], s["ownerInfo"]) == (
            logged[tx]["tokenId"], logged[tx]["hashAddresses"], logged[tx]["ownerInfo"])
