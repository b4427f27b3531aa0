"""Data sharing in the portal (contract access): a customer's resources, DACTs, tokens and
access log, its own only; the Aggregator's devices (keys held by the portal) and tokens."""

from __future__ import annotations

import json
import stat

import pytest

from . import world
from .portal_fixtures import csrf_token, make_portal, signed_in


def _text(r) -> str:
    return r.get_data(as_text=True)


@pytest.fixture
def portal(tmp_path):
    return make_portal(tmp_path)


def test_a_customer_sees_its_grants_tokens_and_who_accessed_what(portal):
    alice = signed_in(portal, "alice")
    page = _text(alice.get("/customer/sharing/"))
    assert world.RESOURCE in page and world.HASH_ADDRESS in page and "my profile" in page
    assert world.DACT in page and "AggregatorMSP" in page and "vpp-forecasting" in page
    assert "2026-04-03 09:00:00Z" in page  # the access, from the public log
    table = alice.get(f"/customer/sharing/dacts/{world.DACT}/table.json")
    assert table.status_code == 200 and json.loads(table.data)["salt"] == "5a" * 32
    bob = signed_in(portal, "bob")
    page = _text(bob.get("/customer/sharing/"))
    assert world.DACT not in page and world.RESOURCE not in page
    assert bob.get(f"/customer/sharing/dacts/{world.DACT}/table.json").status_code == 404


def test_a_dact_names_own_resources_only_and_is_signed_by_the_customer(portal):
    alice = signed_in(portal, "alice")
    token = csrf_token(alice, "/customer/sharing/")
    form = {"d-dact_id": "D-2", "d-resources": world.RESOURCE, "d-devices": world.DEVICE,
            "d-requester_kind": "organisation", "d-requester_msp": "AggregatorMSP",
            "d-purpose": "vpp-forecasting", "d-days": "30", "d-owner_info": "never",
            "csrf_token": token}
    r = alice.post("/customer/sharing/dacts", data={**form, "d-resources": "R-OTHER"})
    assert r.status_code == 403 and "not your resources" in _text(r)
    r = alice.post("/customer/sharing/dacts", data={**form, "d-days": "999"})
    assert r.status_code == 400
    r = alice.post("/customer/sharing/dacts", data={**form, "d-devices": "a, a"})
    assert r.status_code == 400 and "named twice" in _text(r)
    assert portal.ledger.calls == []
    assert alice.post("/customer/sharing/dacts", data=form).status_code == 302
    (call,) = portal.ledger.calls
    (table,) = call.args
    assert (call.who, call.function) == ("web-alice", "register_dact")
    assert table["requester"] == {"kind": "organisation", "mspId": "AggregatorMSP"}
    assert table["resources"] == [world.RESOURCE] and len(table["salt"]) == 64


def test_revoking_needs_an_own_dact_and_a_reason(portal):
    alice, bob = signed_in(portal, "alice"), signed_in(portal, "bob")
    token = csrf_token(bob, "/customer/sharing/")
    assert bob.post(f"/customer/sharing/dacts/{world.DACT}/revoke",
                    data={"reason": "x", "csrf_token": token}).status_code == 404
    token = csrf_token(alice, "/customer/sharing/")
    assert alice.post(f"/customer/sharing/dacts/{world.DACT}/revoke",
                      data={"reason": "", "csrf_token": token}).status_code == 303
    assert alice.post(f"/customer/sharing/dacts/{world.DACT}/revoke",
                      data={"reason": "moved house", "csrf_token": token}).status_code == 302
    assert [(c.function, c.args) for c in portal.ledger.calls] == [
        ("revoke_dact", (world.DACT, "moved house"))]


def test_registering_a_resource_checks_its_hash_address(portal):
    alice = signed_in(portal, "alice")
    token = csrf_token(alice, "/customer/sharing/")
    form = {"r-resource_id": "R-9", "r-hash_address": "AB" * 32, "r-media_type": "text/csv",
            "r-size": "10", "r-description": "bills", "csrf_token": token}
    r = alice.post("/customer/sharing/resources", data=form)
    assert r.status_code == 400 and "64 lowercase hex" in _text(r)
    assert alice.post("/customer/sharing/resources",
                      data={**form, "r-hash_address": "ab" * 32}).status_code == 302
    assert portal.ledger.calls[0].args[0]["hashAddress"] == "ab" * 32


def test_without_a_service_node_no_profile_is_produced(portal):
    alice = signed_in(portal, "alice")
    token = csrf_token(alice, "/customer/sharing/")
    r = alice.post("/customer/sharing/profile", data={"f-meter_id": world.M1,
                                                      "f-resource_id": "R-5",
                                                      "csrf_token": token})
    assert r.status_code == 409 and "no service node" in _text(r)


def test_the_aggregator_registers_a_device_and_gets_hash_addresses_with_a_token(tmp_path):
    p = make_portal(tmp_path, "aggregator")
    op = signed_in(p, "aggregator-op")
    page = _text(op.get("/aggregator/access/"))
    assert world.DEVICE in page  # registered on the ledger, its key not held here
    token = csrf_token(op, "/aggregator/access/")
    assert op.post("/aggregator/access/devices", data={"v-device_id": "GW-2",
                                                       "v-kind": "gateway",
                                                       "csrf_token": token}).status_code == 302
    key = p.services.config.data_dir / "devices" / "GW-2.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    (call,) = p.ledger.calls
    assert call.function == "register_device" and "PUBLIC KEY" in call.args[0]["publicKeyPem"]
    assert op.post("/aggregator/access/devices", data={"v-device_id": "GW-2",
                                                       "v-kind": "gateway",
                                                       "csrf_token": token}).status_code == 409
    # The device is on the ledger once its block arrives: here, add it to the mirror.
    from gridledger.webui.mirror.decode import decode

    from .fabric_blocks import Tx

    chain = world.build()
    item = chain.add(Tx("access:RegisterDevice", writes={"idot~GW-2": {
        "deviceId": "GW-2", "kind": "gateway", "status": "active",
        "owner": {"kind": "organisation", "mspId": "AggregatorMSP"}}}))
    p.services.mirror.store.apply(decode(item.block, ()))
    table = {"dactId": world.DACT, "version": 1, "devices": ["GW-2"],
             "resources": [world.RESOURCE], "purpose": "vpp-forecasting",
             "requester": {"kind": "organisation", "mspId": "AggregatorMSP"},
             "notAfter": "2027-01-01T00:00:00Z", "ownerInfo": "if-several", "salt": "5a" * 32}
    bad = op.post("/aggregator/access/tokens", data={"k-device_id": "GW-2",
                                                     "k-table": "{}", "csrf_token": token})
    assert bad.status_code == 400 and "DACT" in _text(bad)
    r = op.post("/aggregator/access/tokens", data={"k-device_id": "GW-2",
                                                   "k-table": json.dumps(table),
                                                   "csrf_token": token})
    assert r.status_code == 200 and 'id="token-result"' in _text(r)
    assert "cd" * 32 in _text(r)  # the hash address the contract answered
    call = p.ledger.calls[-1]
    assert call.function == "certify_and_access" and call.args[:2] == (world.DACT, "GW-2")
    assert len(call.args[2]) > 40  # the device's signature, made with the held key
    # A device whose key this portal does not hold cannot be chosen.
    r = op.post("/aggregator/access/tokens", data={"k-device_id": world.DEVICE,
                                                   "k-table": json.dumps(table),
                                                   "csrf_token": token})
    assert r.status_code == 400
