"""Access and Serve: hash addresses and content only under a usable token, all logged."""

from __future__ import annotations

import datetime as dt
import json

from .conftest import AGG_CLIENT, ALICE, BOB, NOW, UTILITY
from .world import AGG, certify_request, identity_requester, serve_args, table


def token_for(env, requester=None, life=None, **kw):
    dact = table(kw.pop("dact_id", "d-1"), requester or identity_requester(AGG), **kw)
    env.ledger.ok("access:RegisterDact", json.dumps({"table": dact}), **ALICE)
    request = certify_request(env.ledger, dact, AGG, env.device_key,
                              **({"lifetimeSeconds": life} if life else {}))
    return env.ledger.ok("access:Certify", json.dumps(request), **AGG)["tokenId"]


def serve(env, token, hash_address, holder=AGG, by=UTILITY, **kw):
    args = serve_args(token, hash_address, holder, **kw)
    return env.ledger.call("access:Serve", json.dumps(args), **by)


def test_the_holder_runs_the_contract_and_gets_the_hash_addresses_logged(env):
    token = token_for(env, resources=("r-1", "r-2"))
    answer = env.ledger.ok("access:Access", token, **AGG)
    assert [r["hashAddress"] for r in answer["resources"]] == [env.hashes["r-1"],
                                                              env.hashes["r-2"]]
    assert answer["ownerInfo"] is True and answer["purpose"] == "vpp-forecasting"
    res = env.ledger.call("access:Access", token, **AGG_CLIENT)
    assert res.status == 403 and "not the holder" in res.message
    (entry,) = env.ledger.ok("access:AccessLog", token, **BOB)
    assert (entry["kind"], entry["hashAddresses"], entry["at"]) == (
        "contract", [env.hashes["r-1"], env.hashes["r-2"]], "2025-04-10T00:00:00Z")
    assert entry["holder"]["mspId"] == "AggregatorMSP"


def test_a_serving_is_checked_and_logged_in_one_transaction(env):
    token = token_for(env)
    res = serve(env, token, env.hashes["r-1"])
    assert res.status == 200, res.message
    assert res.payload == {"served": True, "tokenId": token, "hashAddress": env.hashes["r-1"],
                           "ownerInfo": False, "txId": res.stub.tx_id}
    (entry,) = env.ledger.ok("access:AccessLog", token, **AGG)
    assert entry["kind"] == "service" and entry["txId"] == res.stub.tx_id
    assert entry["service"]["mspId"] == "UtilityMSP" and entry["nonce"] == "ab" * 16
    assert env.ledger.events[-1] == ("ContentServed", {"tokenId": token,
                                                       "hashAddress": env.hashes["r-1"]})


def test_serve_refuses_outside_scope_others_and_replays_and_logs_nothing(env):
    token = token_for(env)
    before = env.ledger.snapshot()
    res = serve(env, token, env.hashes["r-2"])
    assert res.status == 403 and "outside the scope" in res.message
    res = serve(env, token, env.hashes["r-1"], holder=AGG_CLIENT)  # someone else's token
    assert res.status == 403 and "not the holder's" in res.message
    forged = serve_args(token, env.hashes["r-1"], AGG)
    forged["nonce"] = "cd" * 16  # the signature was over another nonce
    res = env.ledger.call("access:Serve", json.dumps(forged), **UTILITY)
    assert res.status == 401 and "does not verify" in res.message
    res = env.ledger.call("access:Serve", json.dumps(forged), **ALICE)
    assert res.status == 403  # a customer is no service node
    assert env.ledger.snapshot() == before
    assert serve(env, token, env.hashes["r-1"]).status == 200
    res = serve(env, token, env.hashes["r-1"])
    assert res.status == 409 and "served already" in res.message
    assert len(env.ledger.ok("access:AccessLog", token, **AGG)) == 1


def test_an_expired_token_is_refused(env):
    token = token_for(env, life=60)
    later = NOW + dt.timedelta(seconds=61)
    res = env.ledger.call("access:Access", token, when=later, **AGG)
    assert res.status == 410 and "has expired" in res.message
    res = env.ledger.call("access:Serve", json.dumps(serve_args(token, env.hashes["r-1"], AGG)),
                          when=later, **UTILITY)
    assert res.status == 410
    assert env.ledger.ok("access:GetToken", token, when=later, **AGG)["state"] == "expired"


def test_revoking_a_token_holder_or_owner_ends_it_for_every_later_request(env):
    token = token_for(env)
    assert env.ledger.call("access:RevokeToken", token, **BOB).status == 403
    assert env.ledger.call("access:RevokeToken", token, **AGG_CLIENT).status == 403
    env.ledger.ok("access:RevokeToken", token, **ALICE)  # the DACT's owner
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
    log = env.ledger.ok("access:AccessLog", token, **AGG)
    assert [e["kind"] for e in log] == ["contract", "contract", "service"]
    assert [e["atMicros"] % 1_000_000 for e in log] == [100_000, 900_000, 950_000]
