"""Attacks on data access (contract ``access`` and the Utility's service node), performed
on the real network (issue 17: holes 1, 5, 6, 8 and the reviewers' findings), each
refused with its reason and nothing changed: no record written, nothing served, nothing
logged. The service node runs as a real process; "modified chaincode" is a member's own
chaincode server swapped for ``tests/integration/rogue_access.py``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.chaincode.access.tokens import digest
from gridledger.clients.access import Access, holder_proof, new_dact, requester
from gridledger.clients.access_service import PROOF, ServiceNodeClient, ServiceNodeError
from gridledger.clients.ca import CAClient
from gridledger.clients.errors import CommitError, EndorseError, EvaluateError
from gridledger.clients.metering import Metering
from gridledger.formats.access import certificate_fingerprint
from gridledger.network.crl_publish import publish_crl
from gridledger.network.enroll import ca_admin_password

from .access_world import (
    PURPOSE,
    Device,
    aggregator_device,
    household,
    owner_grant,
    produce_and_register,
    service_node,
)
from .customers import Customer, connect_customer, register_customer
from .rogue import modified_chaincode

pytestmark = pytest.mark.integration
TOKENS: list[str] = []  # every token this module made, for the log check at the end


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _until(days: int = 1) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _refused(call, status: int, reason: str) -> str:
    """The chaincode's refusal (endorsement or evaluation), with its reason."""
    with pytest.raises((EndorseError, EvaluateError)) as err:
        call()
    assert err.value.chaincode_status == status, err.value
    assert reason in str(err.value), err.value
    return str(err.value)


def _node_refused(call, status: int, reason: str) -> None:
    with pytest.raises(ServiceNodeError) as err:
        call()
    assert err.value.status == status, err.value
    assert reason in str(err.value), err.value





@pytest.fixture(scope="module")
def node(consortium, tmp_path_factory):
    with service_node(consortium, tmp_path_factory.mktemp("attack-node") / "store") as n:
        yield n


@pytest.fixture(scope="module")
def victim(consortium, utility, tariff):
    """Customer A: a metered day, and its profile registered at the Utility's node."""
    return household(consortium, utility, tariff)


@pytest.fixture(scope="module")
def victim_profile(consortium, victim, node) -> tuple[str, str]:
    return produce_and_register(consortium, victim, node)


@pytest.fixture(scope="module")
def device(consortium, aggregator, channel) -> Device:
    return aggregator_device(aggregator, channel)


@dataclass
class Attacker:
    """Customer B: a customer of the Utility with a device of its own."""

    customer: Customer
    device: Device

    def access(self, consortium, gw) -> Access:
        return Access(gw.network(consortium.topology.channel))


@pytest.fixture(scope="module")
def attacker(consortium) -> Attacker:
    customer = register_customer(consortium)
    key = ec.generate_private_key(ec.SECP256R1())
    device = Device("B-PHONE-" + uuid.uuid4().hex[:6], key)
    with connect_customer(consortium, customer) as gw:
        Access(gw.network(consortium.topology.channel)).register_device(
            {"deviceId": device.device_id, "kind": "phone", "publicKeyPem": _pem(key)})
    return Attacker(customer, device)


def _client(node, customer: Customer) -> ServiceNodeClient:
    return ServiceNodeClient(node.url, customer.enrollment.identity("UtilityMSP"),
                             customer.enrollment.signer())


def _own_grant(consortium, attacker: Attacker, resource_id: str) -> dict:
    """B's DACT granting B itself its resource through B's phone."""
    with connect_customer(consortium, attacker.customer) as gw:
        dact = new_dact(devices=[attacker.device.device_id], resources=[resource_id],
                        requester=requester("identity", "UtilityMSP",
                                            gw.identity.certificate),
                        purpose=PURPOSE, not_after=_until())
        attacker.access(consortium, gw).register_dact(dact)
    return dact


def _served_tx(node) -> set[str]:
    return {s["txId"] for s in node.served()}


def _service_entries(access: Access, token_id: str) -> list[dict]:
    return [e for e in access.access_log(token_id) if e["kind"] == "service"]


# -- hole 1: shared data stolen through a borrowed hash address ---------------------------


def test_customer_registering_a_victims_hash_address_as_its_own_resource_is_refused(
        consortium, channel, attacker, victim_profile, node):
    # The attack: B reads A's hash address from the public resource record,
    # registers a resource of its own with it, grants it to itself, certifies, fetches.
    victim_resource, _ = victim_profile
    served = _served_tx(node)
    with connect_customer(consortium, attacker.customer) as gw:
        access = attacker.access(consortium, gw)
        address = access.get_resource(victim_resource)["hashAddress"]  # public: a name
        stolen = "R-B-" + uuid.uuid4().hex[:8]
        _refused(lambda: access.register_resource({
            "resourceId": stolen, "hashAddress": address, "mediaType": "application/json",
            "size": 1, "description": "my consumption, honestly"}),
            409, "a hash address names one owner's content")
        # Nothing was written, so there is nothing to grant, certify or fetch.
        _refused(lambda: access.get_resource(stolen), 404, "no resource")
        dact = new_dact(devices=[attacker.device.device_id], resources=[stolen],
                        requester=requester("identity", "UtilityMSP", gw.identity.certificate),
                        purpose=PURPOSE, not_after=_until())
        _refused(lambda: access.register_dact(dact), 404, "no resource")
        assert access.get_resource(victim_resource)["hashAddress"] == address
    assert _served_tx(node) == served


def test_customer_granting_itself_content_another_uploaded_but_never_registered_is_served_nothing(
        consortium, channel, attacker, victim, node):
    # The second layer: A stored content at the node and never registered it; B learned
    # its address and registered it first, granted it to itself and certified. The ledger
    # says the resource is B's; the node holds the content as A's, and serves B nothing.
    with _client(node, victim.customer) as a:
        address = a.upload(json.dumps({"intervals": [131, 140], "nonce": uuid.uuid4().hex})
                           .encode(), "application/json")
    resource_id = "R-B-" + uuid.uuid4().hex[:8]
    with connect_customer(consortium, attacker.customer) as gw:
        access = attacker.access(consortium, gw)
        access.register_resource({"resourceId": resource_id, "hashAddress": address,
                                  "mediaType": "application/json", "size": 2,
                                  "description": "mine"})
    dact = _own_grant(consortium, attacker, resource_id)
    served = _served_tx(node)
    with connect_customer(consortium, attacker.customer) as gw:
        access = attacker.access(consortium, gw)
        token = access.certify(dact, attacker.device.device_id, attacker.device.signer)[
            "tokenId"]
        TOKENS.append(token)
        with _client(node, attacker.customer) as b:
            _node_refused(lambda: b.fetch(address, token), 403,
                          f"is not the owner's of resource {resource_id}")
        assert _service_entries(access, token) == []
    assert _served_tx(node) == served


# -- hole 6: a token without the data holder ------------------------------------------------


def test_aggregator_certifying_with_only_the_regulators_endorsement_is_refused(
        consortium, channel, aggregator, victim, victim_profile, device, utility):
    dact = owner_grant(consortium, victim, aggregator, device, [victim_profile[0]])
    access = Access(aggregator.network(channel))
    before = Access(utility.network(channel)).get_dact(dact["dactId"])["dact"]
    commit = access.certify_async(dact, device.device_id, device.signer,
                                  endorsing_organizations=["AggregatorMSP", "RegulatorMSP"])
    with pytest.raises(CommitError) as err:
        commit.wait()
    assert err.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    _refused(lambda: access.get_token("tok-" + commit.transaction_id[:40]), 404, "no token")
    assert Access(utility.network(channel)).get_dact(dact["dactId"])["dact"] == before


def test_aggregator_and_regulator_running_modified_chaincode_forging_a_token_are_served_nothing(
        consortium, channel, aggregator, admin_of, victim, victim_profile, device, node,
        utility):
    resource_id, address = victim_profile
    dact = owner_grant(consortium, victim, aggregator, device, [resource_id])
    real = Access(aggregator.network(channel))
    model = real.get_token(_certified(real, dact, device))  # a real token, as a template
    forged = {k: v for k, v in model.items() if k != "state"}
    forged.update(tokenId="tok-" + uuid.uuid4().hex[:40], txId=uuid.uuid4().hex * 2,
                  notAfter=_until())
    u_access = Access(utility.network(channel))
    issued_before = u_access.get_dact(dact["dactId"])["dact"]["issued"]
    served = _served_tx(node)
    rogue = "tests.integration.rogue_access"
    with (modified_chaincode(consortium, "aggregator", rogue),
          modified_chaincode(consortium, "regulator", rogue)):
        contract = aggregator.network(channel).contract("metering", "access")
        # The two rogues' endorsements meet the chaincode policy for a new key: VALID.
        contract.submit("ForgeToken", json.dumps(forged),
                        endorsing_organizations=["AggregatorMSP", "RegulatorMSP"])
        # Listing it in the DACT's issued map needs the Utility: validation fails.
        commit = contract.submit_async(
            "ForgeIssued", dact["dactId"], forged["tokenId"], digest(forged),
            forged["notAfter"], endorsing_organizations=["AggregatorMSP", "RegulatorMSP"])
        with pytest.raises(CommitError) as err:
            commit.wait()
        assert err.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    token = forged["tokenId"]
    TOKENS.append(token)
    assert real.get_token(token)["state"] == "not-issued"  # the forged record is there
    assert u_access.get_dact(dact["dactId"])["dact"]["issued"] == issued_before
    # The honest Utility peer refuses it: Access, and Serve with a good holder proof.
    why = "not issued with the data holder's endorsement"
    _refused(lambda: real.contract.evaluate("Access", token,
                                            target_organizations=["UtilityMSP"]), 403, why)
    holder, signer = admin_of("aggregator")
    node_id, _ = admin_of("utility")
    proof = holder_proof(holder, signer, channel=channel, chaincode="metering",
                         token_id=token, hash_address=address, nonce=uuid.uuid4().hex,
                         node_msp_id="UtilityMSP",
                         node_fingerprint=certificate_fingerprint(node_id.certificate))
    _refused(lambda: u_access.contract.evaluate(
        "Serve", json.dumps({"proof": base64.b64encode(proof).decode()}),
        target_organizations=["UtilityMSP"]), 403, why)
    # And the Utility's service node serves nothing on it, logs nothing.
    with ServiceNodeClient(node.url, holder, signer) as client:
        _node_refused(lambda: client.fetch(address, token), 403, why)
    assert _served_tx(node) == served and real.access_log(token) == []


def _certified(access: Access, dact: dict, device: Device) -> str:
    token = access.certify(dact, device.device_id, device.signer)["tokenId"]
    TOKENS.append(token)
    return token


# -- hole 8: a holder certificate accepted without a revocation check -----------------------


def test_holder_whose_certificate_was_revoked_is_refused_at_the_service_node(
        consortium, channel, aggregator, victim, victim_profile, device, node):
    resource_id, address = victim_profile
    holder = register_customer(consortium)  # a Utility customer the victim shares with
    dact = new_dact(devices=[device.device_id], resources=[resource_id],
                    requester=requester("identity", "UtilityMSP",
                                        holder.enrollment.certificate),
                    purpose=PURPOSE, not_after=_until())
    with victim.gateway(consortium) as gw:
        Access(gw.network(channel)).register_dact(dact)
    with connect_customer(consortium, holder) as gw:
        token = _certified(Access(gw.network(channel)), dact, device)
    with _client(node, holder) as client:
        assert client.fetch(address, token).content  # a valid holder is served
    served = _served_tx(node)
    logged = _service_entries(Access(aggregator.network(channel)), token)
    # The Utility's CA revokes the holder; the CRL is published to the channel.
    o = consortium.topology.org("utility")
    with CAClient(o.ca.url, consortium.layout.ca_cert("utility"), ca_name=o.ca.name) as ca:
        registrar = ca.enroll("admin", ca_admin_password(consortium.layout, "utility"))
        revocation = ca.revoke(registrar, holder.enrollment_id, gencrl=True)
    publish_crl(consortium, "utility", revocation.crl)
    with _client(node, holder) as client:
        _node_refused(lambda: client.fetch(address, token), 401,
                      "the peer refused the holder's certificate")
    assert _served_tx(node) == served
    assert _service_entries(Access(aggregator.network(channel)), token) == logged


def test_regulator_operator_serving_with_a_proof_meant_for_the_utilitys_node_is_refused(
        consortium, channel, aggregator, admin_of, victim, victim_profile, device, node,
        regulator):
    resource_id, address = victim_profile
    dact = owner_grant(consortium, victim, aggregator, device, [resource_id])
    access = Access(aggregator.network(channel))
    token = _certified(access, dact, device)
    holder, signer = admin_of("aggregator")
    with ServiceNodeClient(node.url, holder, signer) as client:
        proof = client.holder_proof(address, token)  # for the Utility's node, its nonce
    served = _served_tx(node)
    # The Regulator's operator (a relay, say) submits Serve with it: to log the serving as
    # its own, or to burn the nonce before the Utility's node can.
    serve = Access(regulator.network(channel))
    _refused(lambda: serve.serve_async(proof, endorsing_organizations=[
        "RegulatorMSP", "UtilityMSP"]).wait(), 403, "names service node UtilityMSP")
    assert _service_entries(access, token) == [] and _served_tx(node) == served
    # The proof still works where it was meant to: nothing was pre-empted.
    with httpx.Client(base_url=node.url, timeout=30) as http:
        answer = http.get(f"/v1/content/{address}",
                          headers={PROOF: base64.b64encode(proof).decode()})
    assert answer.status_code == 200, answer.text
    (entry,) = _service_entries(access, token)
    assert entry["service"]["mspId"] == "UtilityMSP"


# -- hole 5: time ---------------------------------------------------------------------------


def test_holder_back_dating_an_access_proposal_to_read_an_expired_tokens_addresses_is_refused(
        consortium, channel, aggregator, victim, victim_profile, device):
    dact = owner_grant(consortium, victim, aggregator, device, [victim_profile[0]])
    access = Access(aggregator.network(channel))
    token = access.certify(dact, device.device_id, device.signer, lifetime_seconds=2)[
        "tokenId"]
    TOKENS.append(token)
    time.sleep(3)
    _refused(lambda: access.access(token), 410, "has expired")
    # Ten minutes back (the peers accept 15): the token's time, as the holder tells it.
    back = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    proposal = access.contract.new_proposal("Access", token, timestamp=back,
                                            endorsing_organizations=["AggregatorMSP",
                                                                     "UtilityMSP"])
    _refused(lambda: aggregator.endorse(proposal), 409, "behind this endorser's clock")
    assert access.access_log(token) == []


# -- IDoT devices: revocation, one namespace of ids --------------------------------------


def test_token_through_a_revoked_device_is_refused_by_access_and_the_service_node(
        consortium, channel, aggregator, admin_of, victim, victim_profile, node):
    resource_id, address = victim_profile
    gateway_device = aggregator_device(aggregator, channel)
    dact = owner_grant(consortium, victim, aggregator, gateway_device, [resource_id])
    access = Access(aggregator.network(channel))
    token = _certified(access, dact, gateway_device)
    answer = access.revoke_device(gateway_device.device_id, "stolen from the substation")
    assert answer["revoked"] is True
    assert access.get_device(gateway_device.device_id)["status"] == "revoked"
    served = _served_tx(node)
    _refused(lambda: access.access(token), 410, "its device is no longer active")
    with ServiceNodeClient(node.url, *admin_of("aggregator")) as client:
        _node_refused(lambda: client.fetch(address, token), 410,
                      "its device is no longer active")
    assert _served_tx(node) == served and access.access_log(token) == []
    # A DACT naming it certifies nothing either.
    _refused(lambda: access.certify(dact, gateway_device.device_id, gateway_device.signer),
             403, "is revoked")


def test_aggregator_squatting_the_id_of_a_meter_not_yet_registered_is_refused(
        consortium, channel, aggregator, utility, tariff):
    future = "M-FUTURE-" + uuid.uuid4().hex[:8]
    squat = ec.generate_private_key(ec.SECP256R1())
    access = Access(aggregator.network(channel))
    access.register_device({"deviceId": future, "kind": "sensor", "publicKeyPem": _pem(squat)})
    metering = Metering(utility.network(channel))
    meter = ec.generate_private_key(ec.SECP256R1())
    _refused(lambda: metering.register_meter({
        "meterId": future, "curve": "P-256", "customerId": "C-FUTURE",
        "publicKeyPem": _pem(meter), "tariffId": tariff["tariffId"],
        "deviceProfile": "SDM630", "location": "Hue", "installDate": "2026-01-01"}),
        409, "IDoT device of contract access")
    _refused(lambda: metering.get_meter(future), 404, "")
    found = access.get_device(future)
    assert (found["registry"], found["publicKeyPem"]) == ("access", _pem(squat))


# -- the invariant: every serving on the log matches a fetch --------------------------------


def test_every_serving_on_the_access_log_matches_what_the_node_served(channel, aggregator,
                                                                      node):
    access = Access(aggregator.network(channel))
    logged = {e["txId"]: e for token in TOKENS for e in _service_entries(access, token)}
    served = {s["txId"]: s for s in node.served()}
    assert logged and set(served) == set(logged)
    for tx, s in served.items():
        assert (s["tokenId"], [s["hashAddress"]]) == (logged[tx]["tokenId"],
                                                      logged[tx]["hashAddresses"])
