"""Devices, resources and DACTs: who may register what, and what reaches the channel."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.chaincode.access.policies import DATA_HOLDER, device_policy
from gridledger.chaincode.common.device_ids import CLAIM_POLICY
from gridledger.chaincode.common.privacy import CUSTOMER_DATA
from gridledger.chaincode.shim import satisfied_by
from gridledger.formats.access import dact_commitment
from tests.unit.chaincode.metering.helpers import Meter

from .conftest import AGG_CLIENT, ALICE, BOB, REGULATOR, UTILITY
from .world import AGG, DEVICE_ID, certify_request, identity_requester, pem_of, table


def register(env, dact, who=ALICE, **doc):
    return env.ledger.call("access:RegisterDact", json.dumps({"table": dact, **doc}), **who)


def test_the_channel_keeps_the_dacts_commitment_and_no_person(env):
    dact = table("d-1", identity_requester(AGG))
    answer = env.ledger.ok("access:RegisterDact", json.dumps({"table": dact}), **ALICE)
    assert answer == {"dactId": "d-1", "version": 1, "commitment": dact_commitment(dact)}
    public = json.loads(env.ledger.state["dact~d-1"])
    assert set(public) == {"dactId", "version", "commitment", "status", "registeredAt",
                           "updatedAt", "issued"}
    assert public["issued"] == {}
    # Nothing of the owner, the requester, the purpose, the devices or the salt in public
    # state: not in the DACT, the resources or the device records.
    public_bytes = b"".join(env.ledger.state.values())
    for secret in (b"c-1", b"alice", b"Alice", b"vpp-forecasting", dact["salt"].encode(),
                   b"2025-12-31T00:00:00Z"):
        assert secret not in public_bytes, secret
    private = env.ledger.private_json("dactowner~d-1")
    assert private["customerId"] == "c-1" and private["table"] == dact
    assert env.ledger.private_json("resowner~r-1")["customerId"] == "c-1"


def test_the_owner_and_the_utility_for_it_read_the_dact_back_others_do_not(env):
    register(env, table("d-1", identity_requester(AGG)))
    assert env.ledger.ok("access:GetDact", "d-1", **ALICE)["customerId"] == "c-1"
    assert env.ledger.ok("access:GetDact", "d-1", **REGULATOR)["table"]["dactId"] == "d-1"
    assert env.ledger.call("access:GetDact", "d-1", **BOB).status == 403
    assert env.ledger.call("access:GetDact", "d-1", **AGG).status == 403


def test_a_dact_may_grant_only_the_owners_resources_and_known_devices(env):
    before = env.ledger.snapshot()
    res = register(env, table("d-1", identity_requester(AGG)), BOB)
    assert (res.status, "not the DACT owner's" in res.message) == (403, True)
    res = register(env, table("d-1", identity_requester(AGG), devices=("nope",)))
    assert res.status == 404 and "no IDoT device nope" in res.message
    res = register(env, table("d-1", identity_requester(AGG), not_after="2025-01-01T00:00:00Z"))
    assert res.status == 400 and "already past" in res.message
    assert env.ledger.snapshot() == before


def test_the_utility_acts_for_a_named_customer_a_customer_only_for_itself(env):
    dact = table("d-u", identity_requester(AGG))
    assert register(env, dact, UTILITY).status == 400  # whom for?
    assert register(env, dact, UTILITY, customerId="c-1").status == 200
    res = register(env, table("d-b", identity_requester(AGG)), ALICE, customerId="c-2")
    assert res.status == 403 and "another customer" in res.message


def test_amend_is_the_next_version_by_the_owner_and_revoke_is_final(env):
    register(env, table("d-1", identity_requester(AGG)))
    v3 = table("d-1", identity_requester(AGG), version=3)
    res = env.ledger.call("access:AmendDact", json.dumps({"table": v3}), **ALICE)
    assert res.status == 409 and "version 2" in res.message
    v2 = table("d-1", identity_requester(AGG), version=2, resources=("r-1", "r-2"))
    assert env.ledger.call("access:AmendDact", json.dumps({"table": v2}), **BOB).status == 403
    assert env.ledger.ok("access:AmendDact", json.dumps({"table": v2}), **ALICE)["version"] == 2
    assert env.ledger.events[-1] == ("AccessRevoked", {"dactId": "d-1", "reason": "dact-amended",
                                                       "version": 2})
    assert env.ledger.call("access:RevokeDact", "d-1", "moved", **BOB).status == 403
    env.ledger.ok("access:RevokeDact", "d-1", "moved", **ALICE)
    assert env.ledger.call("access:RevokeDact", "d-1", "again", **ALICE).status == 409
    res = env.ledger.call("access:AmendDact", json.dumps(
        {"table": table("d-1", identity_requester(AGG), version=3)}), **ALICE)
    assert res.status == 409 and "revoked" in res.message
    # The reason is the owner's: private.
    assert b"moved" not in b"".join(env.ledger.state.values())
    assert env.ledger.private_json("dactowner~d-1")["revokedReason"] == "moved"


def test_one_registry_of_devices_meters_included(env):
    meter = env.ledger.ok("access:GetDevice", "m-1", **AGG)
    assert (meter["kind"], meter["registry"], meter["status"]) == ("meter", "metering", "active")
    assert meter["publicKeyPem"] == env.meter.pem
    res = env.ledger.call("access:RegisterDevice", json.dumps(
        {"deviceId": "m-1", "kind": "gateway", "publicKeyPem": env.meter.pem}), **AGG)
    assert res.status == 409 and "is a meter" in res.message
    gw = env.ledger.ok("access:GetDevice", DEVICE_ID, **BOB)
    assert gw["owner"] == {"kind": "organisation", "mspId": "AggregatorMSP"}
    res = env.ledger.call("access:RegisterDevice", json.dumps(
        {"deviceId": "x", "kind": "meter", "publicKeyPem": env.meter.pem}), **AGG)
    assert res.status == 400 and "RegisterMeter" in res.message


def test_a_customers_device_keeps_its_owner_private(env):
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = pem_of(ec.generate_private_key(ec.SECP256R1()))
    env.ledger.ok("access:RegisterDevice", json.dumps(
        {"deviceId": "alice-phone", "kind": "phone", "publicKeyPem": pem}), **ALICE)
    assert env.ledger.ok("access:GetDevice", "alice-phone", **AGG)["owner"] == {"kind": "customer"}
    assert (CUSTOMER_DATA, env.ledger.stored("idotowner~alice-phone")) in env.ledger.private
    assert env.ledger.private_json("idotowner~alice-phone")["customerId"] == "c-1"


def test_resources_are_immutable_names_of_content(env):
    res = env.ledger.call("access:RegisterResource", json.dumps({
        "resourceId": "r-1", "hashAddress": "0" * 64, "mediaType": "application/json",
        "size": 1, "description": "again"}), **ALICE)
    assert res.status == 409
    res = env.ledger.call("access:RegisterResource", json.dumps({
        "resourceId": "r-9", "hashAddress": "ABC", "mediaType": "application/json",
        "size": 1, "description": "x"}), **ALICE)
    assert res.status == 400 and "hashAddress" in res.message
    public = env.ledger.ok("access:GetResource", "r-1", **AGG)
    assert set(public) == {"resourceId", "hashAddress", "mediaType", "size", "registeredAt"}


# -- a hash address names one owner's content (issue 17, hole 1) --------------------------


def test_a_hash_address_is_bound_to_the_first_owner_who_registers_it(env):
    # The attack: Bob reads Alice's hash address from her public resource record and
    # registers a resource of his own with it, to grant it to himself.
    address = env.ledger.ok("access:GetResource", "r-1", **BOB)["hashAddress"]
    before = env.ledger.snapshot()
    res = env.ledger.call("access:RegisterResource", json.dumps({
        "resourceId": "r-bob", "hashAddress": address, "mediaType": "application/json",
        "size": 1, "description": "mine, honestly"}), **BOB)
    assert res.status == 409 and "names one owner's content" in res.message
    assert env.ledger.snapshot() == before
    assert json.loads(env.ledger.state[f"reshash~{address}"])["resourceId"] == "r-1"
    for k in ("resource~r-1", f"reshash~{address}"):
        assert env.ledger.metadata[k] == DATA_HOLDER, k


def test_a_service_node_reads_whose_a_resource_is(env):
    answer = env.ledger.ok("access:ResourceOwner", "r-1", **UTILITY)
    assert answer == {"resourceId": "r-1", "hashAddress": env.hashes["r-1"],
                      "mediaType": "application/json", "size": answer["size"],
                      "customerId": "c-1", "description": "Alice's profile r-1",
                      "bound": True}
    assert env.ledger.ok("access:ResourceOwner", "r-1", **REGULATOR)["customerId"] == "c-1"
    for who in (AGG, ALICE, BOB):
        res = env.ledger.call("access:ResourceOwner", "r-1", **who)
        assert res.status == 403 and "ResourceOwner" in res.message
    assert env.ledger.call("access:ResourceOwner", "r-9", **UTILITY).status == 404


# -- devices: policies, revocation, one namespace of ids -----------------------------------


def test_a_devices_record_needs_its_owner_to_change(env):
    assert env.ledger.metadata[f"idot~{DEVICE_ID}"] == device_policy("AggregatorMSP")
    assert satisfied_by(device_policy("AggregatorMSP"), ["AggregatorMSP", "UtilityMSP"])
    assert not satisfied_by(device_policy("AggregatorMSP"), ["UtilityMSP", "RegulatorMSP"])
    pem = pem_of(ec.generate_private_key(ec.SECP256R1()))
    env.ledger.ok("access:RegisterDevice", json.dumps(
        {"deviceId": "alice-phone", "kind": "phone", "publicKeyPem": pem}), **ALICE)
    assert env.ledger.metadata["idot~alice-phone"] == device_policy(None) == device_policy(
        "UtilityMSP")
    assert not satisfied_by(device_policy(None), ["AggregatorMSP", "RegulatorMSP"])


def _phone(env, device_id, who):
    pem = pem_of(ec.generate_private_key(ec.SECP256R1()))
    env.ledger.ok("access:RegisterDevice", json.dumps(
        {"deviceId": device_id, "kind": "phone", "publicKeyPem": pem}), **who)


@pytest.mark.parametrize(("device", "owner", "allowed", "refused"), [
    (DEVICE_ID, AGG, [AGG_CLIENT | {"ous": ("admin",)}], [UTILITY, REGULATOR, ALICE, AGG_CLIENT]),
    ("alice-phone", ALICE, [UTILITY], [BOB, AGG, REGULATOR]),
])
def test_a_device_is_revoked_by_its_owner_only_and_its_tokens_end(env, device, owner, allowed,
                                                                  refused):
    if device == "alice-phone":
        _phone(env, device, ALICE)
    before = env.ledger.snapshot()
    for who in refused:
        res = env.ledger.call("access:RevokeDevice", device, "lost", **who)
        assert res.status == 403, (who, res.message)
    assert env.ledger.snapshot() == before
    # Another operator of the same organisation, or the Utility for its customer.
    for who in allowed:
        res = env.ledger.call("access:RevokeDevice", device, "lost", **who)
        assert res.status == 200, res.message
        env.ledger.state.update(before[0])  # undone, for the owner's own turn below
        env.ledger.private.update(before[1])
    dact = table("d-dev", identity_requester(AGG), devices=(device,))
    env.ledger.ok("access:RegisterDact", json.dumps({"table": dact}), **ALICE)
    token = None
    if device == DEVICE_ID:
        token = env.ledger.ok("access:Certify", json.dumps(certify_request(
            env.ledger, dact, AGG, env.device_key, device_id=device)), **AGG)["tokenId"]
    answer = env.ledger.ok("access:RevokeDevice", device, "lost", **owner)
    assert answer["revoked"] is True
    assert env.ledger.ok("access:GetDevice", device, **BOB)["status"] == "revoked"
    assert env.ledger.events[-1] == ("AccessRevoked", {"deviceId": device,
                                                       "reason": "device-revoked"})
    res = env.ledger.call("access:RevokeDevice", device, "again", **owner)
    assert res.status == 409
    if token is not None:
        res = env.ledger.call("access:Access", token, **AGG)
        assert res.status == 410 and "its device is no longer active" in res.message
    if owner is ALICE:  # a customer's reason is private
        assert b"lost" not in b"".join(env.ledger.state.values())
        assert env.ledger.private_json(f"idotowner~{device}")["revokedReason"] == "lost"


def test_a_meter_is_not_revoked_here(env):
    res = env.ledger.call("access:RevokeDevice", "m-1", "lost", **UTILITY)
    assert res.status == 409 and "DecommissionMeter" in res.message


def test_a_device_cannot_squat_the_id_of_a_meter_registered_later(env):
    # Reviewer finding: RegisterDevice took an id no meter had yet; RegisterMeter then
    # registered the meter and every lookup answered with the squatter's key.
    _phone(env, "m-future", AGG)
    assert env.ledger.metadata["devid~m-future"] == CLAIM_POLICY
    before = env.ledger.snapshot()
    res = env.ledger.call("RegisterMeter", Meter("m-future", "c-1").registration())
    assert res.status == 409 and "IDoT device of contract access" in res.message
    assert env.ledger.snapshot() == before
    # The other way round: a meter's id is claimed by metering.
    env.ledger.ok("RegisterMeter", Meter("m-new", "c-1").registration())
    assert json.loads(env.ledger.state["devid~m-new"])["registry"] == "metering"
    res = env.ledger.call("access:RegisterDevice", json.dumps(
        {"deviceId": "m-new", "kind": "gateway", "publicKeyPem": env.meter.pem}), **AGG)
    assert res.status == 409


def test_an_id_held_by_both_registries_before_claims_existed_is_refused(env):
    # A squat made before this fix: idot~ and meter~ under one id, no claim.
    env.ledger.state["idot~m-1"] = json.dumps({
        "deviceId": "m-1", "kind": "phone", "publicKeyPem": env.meter.pem, "curve": "P-256",
        "status": "active", "owner": {"kind": "organisation", "mspId": "AggregatorMSP"},
        "registeredAt": "2025-03-01T00:00:00Z"}).encode()
    env.ledger.state.pop("devid~m-1", None)
    res = env.ledger.call("access:GetDevice", "m-1", **AGG)
    assert res.status == 409 and "names both a meter and an access device" in res.message
