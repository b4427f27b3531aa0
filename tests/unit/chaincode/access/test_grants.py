"""Devices, resources and DACTs: who may register what, and what reaches the channel."""

from __future__ import annotations

import json

from gridledger.chaincode.common.privacy import CUSTOMER_DATA
from gridledger.formats.access import dact_commitment

from .conftest import ALICE, BOB, REGULATOR, UTILITY
from .world import AGG, DEVICE_ID, identity_requester, pem_of, table


def register(env, dact, who=ALICE, **doc):
    return env.ledger.call("access:RegisterDact", json.dumps({"table": dact, **doc}), **who)


def test_the_channel_keeps_the_dacts_commitment_and_no_person(env):
    dact = table("d-1", identity_requester(AGG))
    answer = env.ledger.ok("access:RegisterDact", json.dumps({"table": dact}), **ALICE)
    assert answer == {"dactId": "d-1", "version": 1, "commitment": dact_commitment(dact)}
    public = json.loads(env.ledger.state["dact~d-1"])
    assert set(public) == {"dactId", "version", "commitment", "status", "registeredAt",
                           "updatedAt"}
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
