"""The service node over HTTP (in memory): uploads, profiles, fetches, each refusal."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest

from gridledger.clients.access_service import (
    CERTIFICATE,
    MSP,
    NONCE,
    SIGNATURE,
    TOKEN,
    ServiceNodeError,
)
from gridledger.formats.access import serve_request
from gridledger.formats.canonical import canonical_json


def customer(node, cid="C-1"):
    return node.utility.issue(f"cust-{cid}", attrs={"role": "customer", "customerId": cid})


def aggregator(node, cn="agg-app"):
    return node.aggregator.issue(cn, ou="admin")


def test_the_owner_uploads_the_holder_fetches_and_it_is_logged(node, tmp_path):
    owner, requester = customer(node), aggregator(node)
    with node.client(owner) as c:
        address = c.upload(b'{"profile":1}', "application/json")
    node.ledger.grant("tok-1", requester[0], [address])
    with node.client(requester) as c:
        got = c.fetch(address, "tok-1")
    assert got.content == b'{"profile":1}' and got.access_tx == "tx-1"
    assert got.owner_info is None  # one hash address: the owner's fields stay withheld
    (logged,) = node.ledger.log
    assert (logged["tokenId"], logged["hashAddress"]) == ("tok-1", address)
    served = [json.loads(line) for line in (tmp_path / "served.jsonl").read_text().splitlines()]
    assert [(s["txId"], s["hashAddress"]) for s in served] == [("tx-1", address)]


def test_owner_information_only_when_the_token_grants_it(node):
    owner, requester = customer(node), aggregator(node)
    with node.client(owner) as c:
        address = c.upload(b"a")
    node.ledger.grant("tok-2", requester[0], [address], owner_info=True)
    with node.client(requester) as c:
        assert c.fetch(address, "tok-2").owner_info == {"customerId": "C-1"}


@pytest.mark.parametrize("case", ["no-token", "unknown-token", "someone-elses", "out-of-scope"])
def test_fetch_refusals_disclose_nothing_and_log_nothing(node, case, tmp_path):
    owner, holder, other = customer(node), aggregator(node), aggregator(node, "other")
    with node.client(owner) as c:
        address = c.upload(b"secret")
        second = c.upload(b"another")
    node.ledger.grant("tok-1", holder[0], [address])
    who, token, target = {"no-token": (holder, "", address),
                          "unknown-token": (holder, "tok-x", address),
                          "someone-elses": (other, "tok-1", address),
                          "out-of-scope": (holder, "tok-1", second)}[case]
    with node.client(who) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch(target, token)
    assert err.value.status in (401, 403, 404)
    assert "secret" not in str(err.value)
    assert node.ledger.log == [] and not (tmp_path / "served.jsonl").exists()


def test_content_it_does_not_hold_is_a_404_only_for_the_tokens_holder(node):
    holder, other = aggregator(node), aggregator(node, "other")
    missing = hashlib.sha256(b"elsewhere").hexdigest()
    node.ledger.grant("tok-1", holder[0], [missing])
    with node.client(holder) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch(missing, "tok-1")
    assert err.value.status == 404
    with node.client(other) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch(missing, "tok-1")
    assert err.value.status == 403  # the ledger's refusal, before "not here"


def _raw_fetch(node, who, address, token, nonce, message_nonce=None):
    identity, signer = who
    message = serve_request(token_id=token, hash_address=address, nonce=message_nonce or nonce)
    headers = {CERTIFICATE: base64.b64encode(identity.certificate).decode(), MSP: identity.msp_id,
               NONCE: nonce, SIGNATURE: base64.b64encode(signer(canonical_json(message))).decode(),
               TOKEN: token}
    with httpx.Client(transport=httpx.WSGITransport(app=node.app), base_url="http://n") as h:
        return h.get(f"/v1/content/{address}", headers=headers)


def test_a_nonce_is_good_once_and_only_if_issued_here(node):
    owner, holder = customer(node), aggregator(node)
    with node.client(owner) as c:
        address = c.upload(b"x")
    node.ledger.grant("tok-1", holder[0], [address])
    with node.client(holder) as c:
        nonce = c.nonce()
    assert _raw_fetch(node, holder, address, "tok-1", nonce).status_code == 200
    again = _raw_fetch(node, holder, address, "tok-1", nonce)
    assert again.status_code == 401 and "already used" in again.json()["error"]
    made_up = _raw_fetch(node, holder, address, "tok-1", "ab" * 16)
    assert made_up.status_code == 401
    with node.client(holder) as c:
        nonce = c.nonce()
    bad = _raw_fetch(node, holder, address, "tok-1", nonce, message_nonce="cd" * 16)
    assert bad.status_code == 401 and "does not verify" in bad.json()["error"]
    assert len(node.ledger.log) == 1


def test_a_certificate_from_an_unknown_ca_or_expired_is_refused(node):
    from tests.unit.webui.service_node.conftest import CA

    stranger = CA.make("AggregatorMSP").issue("fake", ou="admin")
    with node.client(stranger) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch("0" * 64, "tok-1")
    assert err.value.status == 401 and "not issued by AggregatorMSP's CA" in str(err.value)
    expired = node.aggregator.issue("old", ou="admin", days=-1)
    with node.client(expired) as c, pytest.raises(ServiceNodeError) as err:
        c.fetch("0" * 64, "tok-1")
    assert err.value.status == 401 and "validity" in str(err.value)


def test_uploads_must_hash_to_their_address_and_come_from_the_nodes_organisation(node):
    owner = customer(node)
    with node.client(owner) as c:
        headers = c.proof(lambda n: {"context": "gridledger/service-node/upload/v1",
                                     "hashAddress": "0" * 64, "nonce": n})
    with httpx.Client(transport=httpx.WSGITransport(app=node.app), base_url="http://n") as h:
        res = h.put(f"/v1/content/{'0' * 64}", content=b"not that", headers=headers)
    assert res.status_code == 400 and "hashes to" in res.json()["error"]
    with node.client(aggregator(node)) as c, pytest.raises(ServiceNodeError) as err:
        c.upload(b"from elsewhere")
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
    assert node.store.meta(made["hashAddress"])["owner"] == {"customerId": "C-1",
                                                            "meterId": "m-1"}
    with node.client(customer(node, "C-2")) as c, pytest.raises(ServiceNodeError) as err:
        c.produce_profile("m-1")
    assert err.value.status == 403
