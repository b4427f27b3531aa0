"""Access, ProveHolder and Serve: hash addresses and content only under a usable token,
proven by the holder's own signed proposal for one service node, all logged."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from gridledger.formats.access import certificate_fingerprint
from tests.unit.chaincode.metering.helpers import cert_of

from .conftest import AGG_CLIENT, ALICE, BOB, NOW, REGULATOR, UTILITY
from .world import (
    AGG,
    NODE,
    certify_request,
    holder_proof,
    identity_requester,
    prove_args,
    reproof,
    serve_args,
    table,
)


def token_for(env, requester=None, life=None, **kw):
    dact = table(kw.pop("dact_id", "d-1"), requester or identity_requester(AGG), **kw)
    env.ledger.ok("access:RegisterDact", json.dumps({"table": dact}), **ALICE)
    request = certify_request(env.ledger, dact, AGG, env.device_key,
                              **({"lifetimeSeconds": life} if life else {}))
    return env.ledger.ok("access:Certify", json.dumps(request), **AGG)["tokenId"]


def serve(env, token, hash_address, holder=AGG, by=UTILITY, **kw):
    args = serve_args(token, hash_address, holder, **kw)
    return env.ledger.call("access:Serve", json.dumps(args), **by)


def log_of(env, token):
    page = env.ledger.ok("access:AccessLog", token, "", "100", **AGG)
    assert page["next"] is None
    return page["entries"]


def test_the_holder_runs_the_contract_and_gets_the_hash_addresses_logged(env):
    token = token_for(env, resources=("r-1", "r-2"))
    answer = env.ledger.ok("access:Access", token, **AGG)
    assert [r["hashAddress"] for r in answer["resources"]] == [env.hashes["r-1"],
                                                              env.hashes["r-2"]]
    assert answer["ownerInfo"] is True and answer["purpose"] == "vpp-forecasting"
    res = env.ledger.call("access:Access", token, **AGG_CLIENT)
    assert res.status == 403 and "not the holder" in res.message
    (entry,) = env.ledger.ok("access:AccessLog", token, "", "10", **BOB)["entries"]
    assert (entry["kind"], entry["hashAddresses"], entry["at"]) == (
        "contract", [env.hashes["r-1"], env.hashes["r-2"]], "2025-04-10T00:00:00Z")
    assert entry["holder"]["mspId"] == "AggregatorMSP"


def test_the_holder_proves_itself_to_one_node_and_learns_the_resource(env):
    token = token_for(env)
    answer = env.ledger.ok("access:ProveHolder", *prove_args(token, env.hashes["r-1"]), **AGG)
    assert (answer["proven"], answer["resourceId"], answer["ownerInfo"]) == (True, "r-1", False)
    assert answer["node"] == {"mspId": "UtilityMSP",
                              "fingerprint": certificate_fingerprint(cert_of(NODE["name"]))}
    res = env.ledger.call("access:ProveHolder", *prove_args(token, env.hashes["r-1"]),
                          **AGG_CLIENT)
    assert res.status == 403 and "not the holder" in res.message
    res = env.ledger.call("access:ProveHolder", *prove_args(token, env.hashes["r-2"]), **AGG)
    assert res.status == 403 and "outside the scope" in res.message
    args = list(prove_args(token, env.hashes["r-1"]))
    args[3] = "IntruderMSP"
    res = env.ledger.call("access:ProveHolder", *args, **AGG)
    assert res.status == 400 and "member organisation" in res.message


def test_a_serving_is_checked_and_logged_in_one_transaction(env):
    token = token_for(env)
    res = serve(env, token, env.hashes["r-1"])
    assert res.status == 200, res.message
    assert res.payload == {"served": True, "tokenId": token, "hashAddress": env.hashes["r-1"],
                           "resourceId": "r-1", "ownerInfo": False, "txId": res.stub.tx_id}
    (entry,) = log_of(env, token)
    assert entry["kind"] == "service" and entry["txId"] == res.stub.tx_id
    assert entry["service"] == {"mspId": "UtilityMSP",
                                "fingerprint": certificate_fingerprint(cert_of(NODE["name"]))}
    assert entry["nonce"] == "ab" * 16 and len(entry["proofTxId"]) == 64
    assert env.ledger.events[-1] == ("ContentServed", {"tokenId": token,
                                                       "hashAddress": env.hashes["r-1"]})


def test_serve_refuses_outside_scope_others_and_replays_and_logs_nothing(env):
    token = token_for(env)
    before = env.ledger.snapshot()
    res = serve(env, token, env.hashes["r-2"])
    assert res.status == 403 and "outside the scope" in res.message
    res = serve(env, token, env.hashes["r-1"], holder=AGG_CLIENT)  # someone else's token
    assert res.status == 403 and "not the holder" in res.message
    res = env.ledger.call("access:Serve", json.dumps(serve_args(token, env.hashes["r-1"], AGG)),
                          **ALICE)
    assert res.status == 403  # a customer is no service node
    assert env.ledger.snapshot() == before
    assert serve(env, token, env.hashes["r-1"]).status == 200
    res = serve(env, token, env.hashes["r-1"])
    assert res.status == 409 and "served already" in res.message
    assert len(log_of(env, token)) == 1


def test_a_proof_meant_for_one_node_is_refused_to_every_other(env):
    # Reviewer finding: the Regulator's operator (a relay, or a peer that saw the request)
    # submitting Serve with a proof the holder made for the Utility's node: it can neither
    # log the serving as its own nor burn the nonce before the Utility's node does.
    token = token_for(env)
    before = env.ledger.snapshot()
    res = serve(env, token, env.hashes["r-1"], by=REGULATOR)  # proof names the Utility's node
    assert res.status == 403 and "names service node UtilityMSP" in res.message
    other_utility_operator = {"msp": "UtilityMSP", "name": "utility-ops-2"}
    res = serve(env, token, env.hashes["r-1"], by=other_utility_operator)
    assert res.status == 403 and "only the node a request was made for" in res.message
    assert env.ledger.snapshot() == before
    assert serve(env, token, env.hashes["r-1"]).status == 200


def test_a_forged_stale_or_foreign_proof_is_refused(env):
    token = token_for(env)
    before = env.ledger.snapshot()
    proof = holder_proof(token, env.hashes["r-1"], AGG)
    other = holder_proof(token, env.hashes["r-1"], AGG, nonce="cd" * 16)
    # The signature of another proposal: not the creator's over these bytes.
    forged = reproof(proof, signature=base64.b64decode(_signature_of(other)))
    res = env.ledger.call("access:Serve", json.dumps({"proof": forged}), **UTILITY)
    assert res.status == 401 and "not signed by its creator" in res.message
    stale = holder_proof(token, env.hashes["r-1"], AGG, when=NOW - dt.timedelta(seconds=121))
    res = env.ledger.call("access:Serve", json.dumps({"proof": stale}), **UTILITY)
    assert res.status == 401 and "stale proof" in res.message
    elsewhere = holder_proof(token, env.hashes["r-1"], AGG, channel="other")
    res = env.ledger.call("access:Serve", json.dumps({"proof": elsewhere}), **UTILITY)
    assert res.status == 400 and "channel" in res.message
    for garbage in ("", "not base64!", base64.b64encode(b"\x00\xff" * 40).decode()):
        res = env.ledger.call("access:Serve", json.dumps({"proof": garbage}), **UTILITY)
        assert res.status == 400, (garbage, res.message)
    assert env.ledger.snapshot() == before


def _signature_of(proof: str) -> str:
    from fabric_protos.peer import proposal_pb2

    signed = proposal_pb2.SignedProposal.FromString(base64.b64decode(proof))
    return base64.b64encode(signed.signature).decode()


def test_an_expired_token_is_refused(env):
    token = token_for(env, life=60)
    later = NOW + dt.timedelta(seconds=61)
    res = env.ledger.call("access:Access", token, when=later, **AGG)
    assert res.status == 410 and "has expired" in res.message
    res = env.ledger.call("access:Serve", json.dumps(serve_args(token, env.hashes["r-1"], AGG)),
                          when=later, **UTILITY)
    assert res.status == 410
    assert env.ledger.ok("access:GetToken", token, when=later, **AGG)["state"] == "expired"


def test_a_back_dated_access_proposal_is_refused_by_the_endorsers_clock(env):
    # Issue 17, hole 5: the holder of an expired token back-dates its Access proposal by
    # ten minutes (peers accept 15) to read the hash addresses again.
    token = token_for(env, life=60)
    real = NOW + dt.timedelta(minutes=5)
    before = env.ledger.snapshot()
    for fn, args, who in (("access:Access", (token,), AGG),
                          ("access:ProveHolder", prove_args(token, env.hashes["r-1"]), AGG),
                          ("access:Serve", (json.dumps(serve_args(token, env.hashes["r-1"], AGG)),),
                           UTILITY)):
        res = env.ledger.call(fn, *args, when=real - dt.timedelta(minutes=10), clock=real, **who)
        assert res.status == 409 and "behind this endorser's clock" in res.message, fn
    assert env.ledger.snapshot() == before


def test_revoking_a_token_holder_or_owner_ends_it_for_every_later_request(env):
    token = token_for(env)
    assert env.ledger.call("access:RevokeToken", token, **BOB).status == 403
    assert env.ledger.call("access:RevokeToken", token, **AGG_CLIENT).status == 403
    env.ledger.ok("access:RevokeToken", token, **ALICE)  # the DACT's owner
    entry = json.loads(env.ledger.state["dact~d-1"])["issued"][token]
    assert entry["status"] == "revoked"  # recorded where only the Utility can undo it
    for fn, arg in (("access:Access", token),
                    ("access:Serve", json.dumps(serve_args(token, env.hashes["r-1"], AGG)))):
        res = env.ledger.call(fn, arg, **(AGG if fn == "access:Access" else UTILITY))
        assert res.status == 410 and "was revoked" in res.message, fn
    other = token_for(env, dact_id="d-2")
    assert env.ledger.ok("access:RevokeToken", other, **AGG)["revoked"]  # its holder
    assert env.ledger.ok("access:GetToken", other, **AGG)["revokedBy"] == "holder"


def test_revoking_or_amending_the_dact_ends_its_tokens(env):
    token = token_for(env)
    env.ledger.ok("access:AmendDact", json.dumps(
        {"table": table("d-1", identity_requester(AGG), version=2)}), **ALICE)
    res = env.ledger.call("access:Access", token, **AGG)
    assert res.status == 410 and "amended" in res.message
    token2 = token_for(env, dact_id="d-2")
    env.ledger.ok("access:RevokeDact", "d-2", "changed my mind", **UTILITY)  # for the owner
    res = env.ledger.call("access:Access", token2, **AGG)
    assert res.status == 410 and "DACT was revoked" in res.message


def test_no_token_no_hash_addresses(env):
    res = env.ledger.call("access:Access", "tok-nothing", **AGG)
    assert res.status == 404
    assert env.ledger.ok("access:GetResource", "r-1", **AGG)["hashAddress"] == env.hashes["r-1"]


def test_the_log_is_in_transaction_time_order_to_the_microsecond(env):
    # Regression: ordered by the second alone, two accesses in one second came out by
    # transaction id (the real network's test_privacy saw "service" before "contract").
    token = token_for(env)
    env.ledger.ok("access:Access", token, when=NOW + dt.timedelta(milliseconds=900), **AGG)
    args = json.dumps(serve_args(token, env.hashes["r-1"], AGG))
    env.ledger.ok("access:Serve", args, when=NOW + dt.timedelta(milliseconds=950), **UTILITY)
    env.ledger.ok("access:Access", token, when=NOW + dt.timedelta(milliseconds=100), **AGG)
    log = log_of(env, token)
    assert [e["kind"] for e in log] == ["contract", "contract", "service"]
    assert [e["atMicros"] % 1_000_000 for e in log] == [100_000, 900_000, 950_000]


def test_the_access_log_is_read_in_pages_a_holder_cannot_bloat(env):
    # Reviewer finding: a holder running Access over and over made AccessLog one
    # ever-growing answer. Pages of at most 100, resumed after the last entry seen.
    token = token_for(env)
    for i in range(7):
        env.ledger.ok("access:Access", token, when=NOW + dt.timedelta(seconds=i), **AGG)
    seen, after = [], ""
    while True:
        page = env.ledger.ok("access:AccessLog", token, after, "3", **BOB)
        assert len(page["entries"]) <= 3
        seen += page["entries"]
        if page["next"] is None:
            break
        after = page["next"]
    assert [e["at"] for e in seen] == [f"2025-04-10T00:00:0{i}Z" for i in range(7)]
    for limit in ("0", "101", "ten", "\u0663"):
        res = env.ledger.call("access:AccessLog", token, "", limit, **BOB)
        assert res.status == 400 and "limit" in res.message, limit
    res = env.ledger.call("access:AccessLog", token, "garbage~", "10", **BOB)
    assert res.status == 400 and "cursor" in res.message


@pytest.mark.parametrize("who", [AGG, UTILITY])
def test_owner_information_counts_hash_addresses_not_resource_ids(env, who):
    # Reviewer finding: "more than one hash address" (seed 001 step 7) is about addresses.
    # Two resources registered before addresses were bound may name the same one.
    import hashlib

    same = env.hashes["r-1"]
    env.ledger.state["resource~r-dup"] = json.dumps({
        "resourceId": "r-dup", "hashAddress": same, "mediaType": "application/json",
        "size": 1, "registeredAt": "2025-03-01T00:00:00Z"}).encode()
    from gridledger.chaincode.common.privacy import CUSTOMER_DATA

    env.ledger.private[(CUSTOMER_DATA, "resowner~r-dup")] = json.dumps({
        "resourceId": "r-dup", "customerId": "c-1", "description": "legacy", "key":
        "resowner~r-dup", "salt": hashlib.sha256(b"s").hexdigest()}).encode()
    token = token_for(env, resources=("r-1", "r-dup"))
    assert env.ledger.ok("access:GetToken", token, **who)["ownerInfo"] is False
