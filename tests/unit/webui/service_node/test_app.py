"""The service node over HTTP (in memory): uploads, profiles, fetches, each refusal."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from gridledger.clients.access import holder_proof
from gridledger.clients.access_service import (
    CERTIFICATE,
    MSP,
    NONCE,
    PROOF,
    SIGNATURE,
    ServiceNodeError,
    upload_message,
)
from gridledger.formats.access import certificate_fingerprint
from gridledger.formats.canonical import canonical_json

from .conftest import CA, make_node


def customer(node, cid="C-1", ca=None):
    return (ca or node.utility).issue(f"cust-{cid}", attrs={"role": "customer",
                                                              "customerId": cid})


def aggregator(node, cn="agg-app"):
    return node.aggregator.issue(cn, ou="admin")


def served_lines(tmp_path):
    path = tmp_path / "served.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def shared(node, content=b'{"profile":1}', owner="C-1", rid="r-1", media="application/json"):
    """``owner`` stores ``content`` and registers it as ``rid``; its hash address."""
    with node.client(customer(node, owner)) as c:
        address = c.upload(content, "text/html")  # what the store keeps is not served
    node.ledger.register(rid, address, owner, media)
    return address


def _wsgi(value):
    """A header value as WSGI hands it over: bytes read as latin-1."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _get(node, address, headers):
    # Flask's test client: it passes any header bytes on, as a server would.
    return node.app.test_client().get(f"/v1/content/{address}",
                                      headers={k: _wsgi(v) for k, v in headers.items()})


def _proof(node, who, address, token, nonce=None, **changes):
    identity, signer = who
    if nonce is None:
        with node.client(who) as c:
            nonce = c.nonce()
    args = {"channel": "energy", "chaincode": "metering", "token_id": token,
            "hash_address": address, "nonce": nonce, "node_msp_id": node.config.msp_id,
            "node_fingerprint": node.config.fingerprint, **changes}
    return base64.b64encode(holder_proof(identity, signer, **args)).decode()


def test_the_owner_uploads_the_holder_fetches_and_it_is_logged(node, tmp_path):
    requester = aggregator(node)
    address = shared(node)
    node.ledger.grant("tok-1", requester[0], ["r-1"])
    with node.client(requester) as c:
        got = c.fetch(address, "tok-1")
    assert got.content == b'{"profile":1}' and got.access_tx == "tx-1"
    # The media type is the ledger's, never what was stored with the bytes.
    assert got.media_type == "application/json"
    assert got.owner_info is None  # one hash address: the owner's fields stay withheld
    (logged,) = node.ledger.log
    assert (logged["tokenId"], logged["hashAddress"]) == ("tok-1", address)
    assert logged["node"] == ("UtilityMSP", node.config.fingerprint)
    assert [(s["txId"], s["hashAddress"]) for s in served_lines(tmp_path)] == [("tx-1", address)]


def test_the_answer_is_not_sniffed_as_another_type(node):
    requester = aggregator(node)
    address = shared(node, b"<script>alert(1)</script>")
    node.ledger.grant("tok-1", requester[0], ["r-1"])
    res = _get(node, address, {PROOF: _proof(node, requester, address, "tok-1")})
    assert res.status_code == 200
    assert res.headers["Content-Type"].startswith("application/json")
    assert res.headers["X-Content-Type-Options"] == "nosniff"


def test_owner_information_comes_from_the_ledger_and_only_when_granted(node):
    requester = aggregator(node)
    address = shared(node, b"a")
    # Editable metadata beside the content says nothing that is served.
    meta_path = node.store._path(address).with_suffix(".meta")
    meta = json.loads(meta_path.read_text())
    meta["owner"]["name"] = "Alice Nguyen, 12 Hang Bac"
    meta_path.write_text(json.dumps(meta))
    node.ledger.grant("tok-2", requester[0], ["r-1"], owner_info=True)
    with node.client(requester) as c:
        assert c.fetch(address, "tok-2").owner_info == {"customerId": "C-1",
                                                        "description": "C-1's r-1"}


@pytest.mark.parametrize("case", ["no-proof", "unknown-token", "someone-elses", "out-of-scope"])
def test_fetch_refusals_disclose_nothing_and_log_nothing(node, case, tmp_path):
    holder, other = aggregator(node), aggregator(node, "other")
    address = shared(node, b"secret")
    second = shared(node, b"another", rid="r-2")
    node.ledger.grant("tok-1", holder[0], ["r-1"])
    if case == "no-proof":
        res = _get(node, address, {})
        assert res.status_code == 401 and "X-GridLedger-Proof" in res.get_json()["error"]
    else:
        who, token, target = {"unknown-token": (holder, "tok-x", address),
                              "someone-elses": (other, "tok-1", address),
                              "out-of-scope": (holder, "tok-1", second)}[case]
        with node.client(who) as c, pytest.raises(ServiceNodeError) as err:
            c.fetch(target, token)
        assert err.value.status in (403, 404)
        assert "secret" not in str(err.value)
    assert node.ledger.log == [] and served_lines(tmp_path) == []


def test_content_it_does_not_hold_is_a_404_only_for_the_tokens_holder(node):
    holder, other = aggregator(node), aggregator(node, "other")
    missing = hashlib.sha256(b"elsewhere").hexdigest()
    node.ledger.register("r-1", missing, "C-1")
    node.ledger.grant("tok-1", holder[0], ["r-1"])
    with node.client(holder) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch(missing, "tok-1")
    assert err.value.status == 404
    with node.client(other) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch(missing, "tok-1")
    assert err.value.status == 403  # the ledger's refusal, before "not here"


def test_a_nonce_is_good_once_and_only_if_issued_here(node):
    holder = aggregator(node)
    address = shared(node, b"x")
    node.ledger.grant("tok-1", holder[0], ["r-1"])
    with node.client(holder) as c:
        nonce = c.nonce()
    assert _get(node, address, {PROOF: _proof(node, holder, address, "tok-1", nonce)}
                ).status_code == 200
    again = _get(node, address, {PROOF: _proof(node, holder, address, "tok-1", nonce)})
    assert again.status_code == 401 and "already used" in again.get_json()["error"]
    made_up = _get(node, address, {PROOF: _proof(node, holder, address, "tok-1", "ab" * 16)})
    assert made_up.status_code == 401
    assert len(node.ledger.log) == 1


def test_a_proof_must_ask_this_node_for_this_address(node):
    holder = aggregator(node)
    address, other = shared(node, b"x"), shared(node, b"y", rid="r-2")
    node.ledger.grant("tok-1", holder[0], ["r-1", "r-2"])
    for changes, status, why in (
            ({"node_msp_id": "RegulatorMSP"}, 403, "names service node RegulatorMSP"),
            ({"node_fingerprint": "0" * 64}, 403, "not this one"),
            ({"hash_address": other}, 400, "the proof asks for"),
            ({"chaincode": "other"}, 400, "chaincode")):
        res = _get(node, address, {PROOF: _proof(node, holder, address, "tok-1", **changes)})
        assert res.status_code == status and why in res.get_json()["error"], res.get_json()
    # A client that knows which node it means signs for no other.
    with node.client(holder, expect_node=("UtilityMSP", "f" * 64)) as c, pytest.raises(
            ServiceNodeError) as err:
        c.fetch(address, "tok-1")
    assert "not the node expected" in str(err.value)
    assert node.ledger.log == [] and node.ledger.proved == 0


# Raw UTF-8 bytes in a header: what a browser or a script may send; WSGI reads latin-1.
@pytest.mark.parametrize("garbage", ["", "not base64!", ("é" * 20).encode(),
                                     base64.b64encode(b"\x00\xff" * 50).decode()])
def test_a_garbage_proof_is_a_400_not_a_server_error(node, garbage):
    address = shared(node, b"x")
    res = _get(node, address, {PROOF: garbage} if garbage else {PROOF: " "})
    assert res.status_code in (400, 401), res.get_data(as_text=True)
    assert node.ledger.log == []


def test_a_proof_from_an_unknown_msp_or_ca_or_an_expired_certificate_is_refused(node):
    address = shared(node, b"x")
    stranger = CA.make("IntruderMSP").issue("intruder", ou="admin")
    res = _get(node, address, {PROOF: _proof(node, stranger, address, "tok-1")})
    assert res.status_code == 401 and "unknown MSP" in res.get_json()["error"]
    fake = CA.make("AggregatorMSP").issue("fake", ou="admin")
    res = _get(node, address, {PROOF: _proof(node, fake, address, "tok-1")})
    assert res.status_code == 401 and "not issued by AggregatorMSP's CA" in res.get_json()["error"]
    expired = node.aggregator.issue("old", ou="admin", days=-1)
    res = _get(node, address, {PROOF: _proof(node, expired, address, "tok-1")})
    assert res.status_code == 401 and "validity" in res.get_json()["error"]
    assert node.ledger.proved == 0 and node.ledger.log == []


def test_a_holder_the_peer_refuses_is_served_nothing(node, tmp_path):
    # A certificate revoked at its CA, the CRL published to the channel: the node's peer
    # refuses the holder's own proposal (the integration test does it on the network).
    holder = aggregator(node)
    address = shared(node, b"x")
    node.ledger.grant("tok-1", holder[0], ["r-1"])
    node.ledger.revoked.add(certificate_fingerprint(holder[0].certificate))
    with node.client(holder) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch(address, "tok-1")
    assert err.value.status == 401 and "revoked" in str(err.value)
    assert node.ledger.log == [] and served_lines(tmp_path) == []


def test_content_whose_owner_is_not_the_tokens_resource_owner_is_not_served(node, tmp_path):
    # Issue 17, hole 1, second layer: Alice uploaded content but never registered it; Bob
    # learned its address and registered a resource of his own with it, granted to
    # himself. The ledger says the resource is Bob's; the content is Alice's.
    bob = customer(node, "C-2")
    with node.client(customer(node, "C-1")) as c:
        address = c.upload(b"Alice's profile")
    node.ledger.register("r-bob", address, "C-2")
    node.ledger.grant("tok-bob", bob[0], ["r-bob"])
    with node.client(bob) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch(address, "tok-bob")
    assert err.value.status == 403 and "not the owner's of resource r-bob" in str(err.value)
    assert node.ledger.log == [] and served_lines(tmp_path) == []


@pytest.mark.parametrize(("damage", "status", "why"), [
    ("lost", 503, "lost the content"), ("corrupted", 500, "corrupted")])
def test_content_lost_or_corrupted_in_the_store_is_neither_served_nor_logged(
        node, tmp_path, damage, status, why):
    holder = aggregator(node)
    address = shared(node, b"profile bytes")
    node.ledger.grant("tok-1", holder[0], ["r-1"])
    path = node.store._path(address)
    if damage == "lost":
        node.store.exists = lambda a: True  # listed, but the bytes are gone
        path.unlink()
    else:
        path.write_bytes(b"profile bytez")
    with node.client(holder) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch(address, "tok-1")
    assert err.value.status == status and why in str(err.value)
    assert node.ledger.log == [] and served_lines(tmp_path) == []


# -- uploads and profiles: the signed-request proof ---------------------------------------


def _raw_upload(node, who, address, body, *, cert=None, msp=None):
    identity, signer = who
    with node.client(who) as c:
        nonce = c.nonce()
    message = upload_message(address, nonce)
    headers = {CERTIFICATE: cert if cert is not None
               else base64.b64encode(identity.certificate).decode(),
               MSP: msp or identity.msp_id, NONCE: nonce,
               SIGNATURE: base64.b64encode(signer(canonical_json(message))).decode()}
    return node.app.test_client().put(f"/v1/content/{address}", data=body,
                                      headers={k: _wsgi(v) for k, v in headers.items()})


def test_uploads_must_hash_to_their_address_and_come_from_the_nodes_organisation(node):
    owner = customer(node)
    res = _raw_upload(node, owner, "0" * 64, b"not that")
    assert res.status_code == 400 and "hashes to" in res.get_json()["error"]
    with node.client(aggregator(node)) as c, pytest.raises(ServiceNodeError) as err:
        c.upload(b"from elsewhere")
    assert err.value.status == 403


def test_an_operator_stores_a_customers_content_only_naming_the_customer(node):
    operator = node.utility.issue("utility-ops", ou="admin")
    with node.client(operator) as c, pytest.raises(ServiceNodeError) as err:
        c.upload(b"whose?")
    assert err.value.status == 400 and "names the customer" in str(err.value)
    with node.client(operator) as c:
        address = c.upload(b"C-7's data", customer_id="C-7")
    assert node.store.meta(address)["owner"] == {"customerId": "C-7"}
    with node.client(customer(node, "C-1")) as c, pytest.raises(ServiceNodeError) as err:
        c.upload(b"for someone else", customer_id="C-2")
    assert err.value.status == 403


@pytest.mark.parametrize("header", [("é" * 40).encode(), "not base64!",
                                    base64.b64encode(b"no PEM").decode(),
                                    base64.b64encode("é".encode()).decode()])
def test_a_garbage_certificate_header_is_a_400_not_a_server_error(node, header):
    res = _raw_upload(node, customer(node), hashlib.sha256(b"x").hexdigest(), b"x",
                      cert=header)
    assert res.status_code == 400, res.get_data(as_text=True)
    assert "base64 PEM" in res.get_json()["error"]


def test_a_request_from_an_msp_the_node_does_not_know_is_refused(node):
    # Reviewer finding: the CA check was skipped for an MSP without roots.
    stranger = CA.make("IntruderMSP").issue("intruder", attrs={"role": "customer",
                                                               "customerId": "C-1"})
    res = _raw_upload(node, stranger, hashlib.sha256(b"x").hexdigest(), b"x")
    assert res.status_code == 401 and "unknown MSP" in res.get_json()["error"]
    # Claiming a known MSP with that certificate: not its CA's.
    res = _raw_upload(node, stranger, hashlib.sha256(b"x").hexdigest(), b"x",
                      msp="UtilityMSP")
    assert res.status_code == 401 and "not issued by UtilityMSP's CA" in res.get_json()["error"]


def test_customer_attributes_count_only_from_the_utilitys_ca(tmp_path):
    # Reviewer finding: a node run by the Regulator took a Regulator-CA "customer".
    node = make_node(tmp_path, "RegulatorMSP")
    fake = customer(node, "C-1", ca=node.regulator)
    with node.client(fake) as c, pytest.raises(ServiceNodeError) as err:
        c.upload(b"as customer C-1")
    assert err.value.status == 403 and "neither a customer of UtilityMSP" in str(err.value)
    node.ledger.meters["m-1"] = "C-1"
    with node.client(fake) as c, pytest.raises(ServiceNodeError) as err:
        c.produce_profile("m-1")
    assert err.value.status == 403


def test_a_profile_is_produced_for_the_meters_owner_only(node):
    node.ledger.meters["m-1"] = "C-1"
    node.ledger.readings_of["m-1"] = [
        {"intervalEnd": f"2026-03-01T00:{15 * i:02d}:00Z", "importDeltaWh": 100 + i,
         "exportDeltaWh": 0} for i in range(1, 4)]
    with node.client(customer(node)) as c:
        made = c.produce_profile("m-1")
    assert made["intervals"] == 3
    content = node.store.get(made["hashAddress"])
    profile = json.loads(content)
    assert [i["importWh"] for i in profile["intervals"]] == [101, 102, 103]
    assert b"C-1" not in content and b"m-1" not in content  # no owner-identifying field
    assert len(profile["nonce"]) == 32  # its address cannot be confirmed by guessing
    assert node.store.meta(made["hashAddress"])["owner"] == {"customerId": "C-1",
                                                            "meterId": "m-1"}
    with node.client(customer(node, "C-2")) as c, pytest.raises(ServiceNodeError) as err:
        c.produce_profile("m-1")
    assert err.value.status == 403
