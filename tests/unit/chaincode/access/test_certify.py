"""Certification -> threshold: a token only for a matching DACT and a fresh device proof."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.chaincode.access import tokens
from gridledger.chaincode.access.policies import DATA_HOLDER
from gridledger.chaincode.common.privacy import CUSTOMER_DATA
from gridledger.chaincode.shim import satisfied_by
from gridledger.formats.access import certificate_fingerprint, sign_message
from tests.unit.chaincode.metering.helpers import cert_of

from .conftest import AGG_CLIENT, ALICE, BOB, NOW, UTILITY
from .world import (
    AGG,
    DEVICE_ID,
    certify_request,
    identity_requester,
    prove_args,
    serve_args,
    table,
)


def grant(env, requester=None, **kw):
    dact = table(kw.pop("dact_id", "d-1"), requester or identity_requester(AGG), **kw)
    env.ledger.ok("access:RegisterDact", json.dumps({"table": dact}), **ALICE)
    return dact


def certify(env, dact, who=AGG, key=None, when=None, clock=None, **kw):
    request = certify_request(env.ledger, dact, who, key or env.device_key, **kw)
    return env.ledger.call("access:Certify", json.dumps(request), when=when, clock=clock,
                           **who)


def test_a_matching_dact_and_a_fresh_proof_earn_a_token(env):
    dact = grant(env)
    res = certify(env, dact)
    assert res.status == 200, res.message
    token = env.ledger.ok("access:GetToken", res.payload["tokenId"], **BOB)
    assert token["holder"] == {"mspId": "AggregatorMSP",
                               "fingerprint": certificate_fingerprint(cert_of(AGG["name"]))}
    assert token["resources"] == [{"resourceId": "r-1", "hashAddress": env.hashes["r-1"]}]
    assert (token["state"], token["purpose"], token["deviceId"]) == (
        "active", "vpp-forecasting", DEVICE_ID)
    assert token["notAfter"] == "2025-04-10T01:00:00Z"  # one hour by default
    assert env.ledger.events[-1] == ("AccessTokenIssued",
                                     {"tokenId": token["tokenId"], "dactId": "d-1"})


@pytest.mark.parametrize(("change", "why"), [
    ({"purpose": "marketing"}, "does not match"),
    ({"devices": [DEVICE_ID, "m-1"]}, "does not match"),
    ({"salt": "0" * 64}, "does not match"),
    ({"version": 2}, "version 2, the registered one version 1"),
])
def test_a_dact_that_does_not_match_earns_nothing(env, change, why):
    dact = grant(env)
    before = env.ledger.snapshot()
    res = certify(env, {**dact, **change})
    assert res.status == 403 and why in res.message, res.message
    assert env.ledger.snapshot() == before


def test_the_requester_must_be_the_one_the_dact_names(env):
    dact = grant(env)
    res = certify(env, dact, AGG_CLIENT)
    assert res.status == 403 and "does not name the caller" in res.message
    # An organisation-wide grant takes any identity of that MSP; an operator grant only
    # its operators.
    org = grant(env, {"kind": "organisation", "mspId": "AggregatorMSP"}, dact_id="d-org")
    assert certify(env, org, AGG_CLIENT).status == 200
    ops = grant(env, {"kind": "operator", "mspId": "AggregatorMSP"}, dact_id="d-ops")
    assert certify(env, ops, AGG_CLIENT).status == 403
    assert certify(env, ops, AGG).status == 200


def test_the_device_must_be_the_dacts_and_its_key_must_sign(env):
    dact = grant(env)
    res = certify(env, dact, device_id="m-1")
    assert res.status == 403 and "not one of the DACT's devices" in res.message
    res = certify(env, dact, key=ec.generate_private_key(ec.SECP256R1()))
    assert res.status == 401 and "does not verify" in res.message


def test_a_meter_is_an_idot_a_dact_can_name(env):
    dact = grant(env, devices=("m-1",))
    assert certify(env, dact, key=env.meter.key, device_id="m-1").status == 200


def test_a_stale_challenge_is_refused(env):
    dact = grant(env)
    res = certify(env, dact, signed_at=NOW - dt.timedelta(seconds=121))
    assert res.status == 401 and "stale challenge" in res.message
    assert certify(env, dact, signed_at=NOW - dt.timedelta(seconds=119)).status == 200
    res = certify(env, dact, signed_at=NOW + dt.timedelta(seconds=31))
    assert res.status == 401 and "after the transaction time" in res.message


def test_a_replayed_challenge_signature_is_refused(env):
    dact = grant(env)
    request = certify_request(env.ledger, dact, AGG, env.device_key)
    assert env.ledger.call("access:Certify", json.dumps(request), **AGG).status == 200
    # The same signed request again, in a new transaction: bound to the first one.
    res = env.ledger.call("access:Certify", json.dumps(request), **AGG)
    assert res.status == 401 and "good for one transaction only" in res.message


def test_a_proof_signed_for_another_identity_is_refused(env):
    dact = grant(env, {"kind": "organisation", "mspId": "AggregatorMSP"})
    stolen = certify_request(env.ledger, dact, AGG, env.device_key)
    res = env.ledger.call("access:Certify", json.dumps(stolen), **AGG_CLIENT)
    assert res.status == 401 and "another identity" in res.message


def test_a_challenge_must_say_what_it_is_for(env):
    dact = grant(env)
    request = certify_request(env.ledger, dact, AGG, env.device_key)
    request["challenge"]["dactVersion"] = 7
    request["signature"] = sign_message(env.device_key, request["challenge"])
    res = env.ledger.call("access:Certify", json.dumps(request), **AGG)
    assert res.status == 401 and "dactVersion" in res.message


def test_scope_lifetime_and_owner_information(env):
    two = grant(env, resources=("r-1", "r-2"))
    res = certify(env, two, resources=["r-2"], lifetimeSeconds=60)
    token = env.ledger.ok("access:GetToken", res.payload["tokenId"], **AGG)
    assert [r["resourceId"] for r in token["resources"]] == ["r-2"]
    assert token["notAfter"] == "2025-04-10T00:01:00Z" and token["ownerInfo"] is False
    res = certify(env, two, resources=["r-9"])
    assert res.status == 403 and "resources asked for" in res.message
    # Seed 001, step 7: the owner's information comes with more than one hash address.
    assert certify(env, two).payload["ownerInfo"] is True
    always = grant(env, dact_id="d-a", owner_info="always")
    assert certify(env, always).payload["ownerInfo"] is True
    never = grant(env, dact_id="d-n", owner_info="never", resources=("r-1", "r-2"))
    assert certify(env, never).payload["ownerInfo"] is False


def test_a_revoked_or_ended_dact_certifies_nothing(env):
    dact = grant(env, not_after="2025-04-10T00:10:00Z")
    later = NOW + dt.timedelta(minutes=11)
    res = certify(env, dact, signed_at=later, when=later)
    assert res.status == 410 and "ended" in res.message
    env.ledger.ok("access:RevokeDact", "d-1", "no", **ALICE)
    res = certify(env, dact)
    assert res.status == 410 and "revoked" in res.message


def test_certification_reads_no_customer_data(env, monkeypatch):
    # memberOnlyRead: an Aggregator identity may not read customerData at all, so Certify
    # (and Access, below) must get by on public state and private data *hashes* (which
    # every peer holds, the Aggregator's too).
    from tests.unit.chaincode.metering import helpers

    dact = grant(env)

    def refuse(self, collection, key):
        raise AssertionError(f"private read of {key}")

    monkeypatch.setattr(helpers.TxStub, "get_private_data", refuse)
    monkeypatch.setattr(helpers.TxStub, "get_private_data_multiple", refuse)
    res = certify(env, dact)
    assert res.status == 200, res.message
    assert env.ledger.call("access:Access", res.payload["tokenId"], **AGG).status == 200


# -- the data holder in every token (issue 17, hole 6) ------------------------------------


def test_a_token_is_listed_in_its_dact_whose_policy_needs_the_utility(env):
    dact = grant(env)
    assert env.ledger.metadata["dact~d-1"] == DATA_HOLDER
    assert satisfied_by(DATA_HOLDER, ["UtilityMSP", "AggregatorMSP"])
    assert satisfied_by(DATA_HOLDER, ["UtilityMSP", "RegulatorMSP"])
    assert not satisfied_by(DATA_HOLDER, ["AggregatorMSP", "RegulatorMSP"])
    res = certify(env, dact)
    token_id = res.payload["tokenId"]
    # The certification writes the DACT's record, so its endorsement must meet DATA_HOLDER.
    assert "dact~d-1" in res.stub.state
    token = json.loads(env.ledger.state[f"token~{token_id}"])
    entry = json.loads(env.ledger.state["dact~d-1"])["issued"][token_id]
    assert entry == {"digest": tokens.digest(token), "notAfter": token["notAfter"],
                     "status": "active"}
    assert env.ledger.metadata[f"token~{token_id}"] == DATA_HOLDER


def _forge(env, token_id: str, **changes):
    """What two members without the Utility can write: a token~ record of their own (a
    new key, which only the chaincode policy constrains), or one rewritten."""
    real = json.loads(env.ledger.state[f"token~{token_id}"])
    forged = {**real, **changes}
    env.ledger.state[f"token~{forged['tokenId']}"] = json.dumps(forged).encode()
    return forged["tokenId"]


def test_a_token_the_data_holder_never_endorsed_grants_nothing(env):
    token_id = certify(env, grant(env)).payload["tokenId"]
    # A token of their own for the victim's resources, under the victim's real DACT.
    forged = _forge(env, token_id, tokenId="tok-" + "f" * 40, txId="f" * 64)
    # A token widened to another resource of the victim's.
    widened = _forge(env, token_id, tokenId="tok-" + "e" * 40, resources=[
        {"resourceId": "r-2", "hashAddress": env.hashes["r-2"]}])
    before = env.ledger.snapshot()
    for tok, address in ((forged, env.hashes["r-1"]), (widened, env.hashes["r-2"])):
        for fn, args, who in (("access:Access", (tok,), AGG),
                              ("access:ProveHolder", prove_args(tok, address), AGG),
                              ("access:Serve", (json.dumps(serve_args(tok, address, AGG)),),
                               UTILITY)):
            res = env.ledger.call(fn, *args, **who)
            assert res.status == 403, (fn, res.message)
            assert "not issued with the data holder's endorsement" in res.message
        assert env.ledger.ok("access:GetToken", tok, **AGG)["state"] == "not-issued"
    assert env.ledger.snapshot() == before


def test_a_token_record_of_any_shape_written_around_the_chaincode_is_no_token(env):
    token_id = certify(env, grant(env)).payload["tokenId"]
    for tok, record in (("tok-" + "a" * 40, {"tokenId": "tok-" + "a" * 40}),
                        ("tok-" + "b" * 40, ["not", "an", "object"]),
                        ("tok-" + "c" * 40, {**json.loads(env.ledger.state[
                            f"token~{token_id}"]), "tokenId": "tok-" + "c" * 40,
                            "dactId": "no such DACT!", "notAfter": "whenever"})):
        env.ledger.state[f"token~{tok}"] = json.dumps(record).encode()
        before = env.ledger.snapshot()
        assert env.ledger.ok("access:GetToken", tok, **AGG)["state"] == "not-issued"
        res = env.ledger.call("access:Access", tok, **AGG)
        assert res.status == 403 and "data holder" in res.message
        res = env.ledger.call("access:RevokeToken", tok, **AGG)
        assert res.status == 409 and "grants nothing" in res.message
        assert env.ledger.snapshot() == before


def test_rewriting_a_revoked_token_does_not_un_revoke_it(env):
    token_id = certify(env, grant(env)).payload["tokenId"]
    env.ledger.ok("access:RevokeToken", token_id, **ALICE)
    _forge(env, token_id, status="active")  # token~ rewritten by two members
    res = env.ledger.call("access:Access", token_id, **AGG)
    assert res.status == 410 and "was revoked" in res.message


def test_a_dact_record_without_the_policy_or_an_owner_vouches_for_nothing(env):
    dact = grant(env)
    token_id = certify(env, dact).payload["tokenId"]
    policy = env.ledger.metadata.pop("dact~d-1")
    res = env.ledger.call("access:Access", token_id, **AGG)
    assert res.status == 403 and "data holder" in res.message
    res = certify(env, dact)
    assert res.status == 409 and "key-level endorsement policy" in res.message
    env.ledger.metadata["dact~d-1"] = policy
    assert env.ledger.call("access:Access", token_id, **AGG).status == 200
    # A DACT record no owner registered (its private owner record absent: only the
    # collection's members, the Utility among them, can write it).
    owner = env.ledger.private.pop((CUSTOMER_DATA, "dactowner~d-1"))
    res = env.ledger.call("access:Access", token_id, **AGG)
    assert res.status == 403 and "data holder" in res.message
    env.ledger.private[(CUSTOMER_DATA, "dactowner~d-1")] = owner


def test_certification_is_timely_and_a_dact_lists_a_bounded_number_of_tokens(env, monkeypatch):
    dact = grant(env)
    before = env.ledger.snapshot()
    real = NOW + dt.timedelta(minutes=10)
    res = certify(env, dact, when=NOW, clock=real)  # back-dated ten minutes
    assert res.status == 409 and "behind this endorser's clock" in res.message
    assert env.ledger.snapshot() == before
    monkeypatch.setattr(tokens, "MAX_ISSUED", 2)
    assert certify(env, dact).status == 200
    assert certify(env, dact, lifetimeSeconds=60).status == 200
    res = certify(env, dact)
    assert res.status == 409 and "2 unexpired tokens" in res.message
    # Expired entries are pruned by the next certification.
    later = NOW + dt.timedelta(seconds=61)
    assert certify(env, dact, when=later, signed_at=later).status == 200
    assert len(json.loads(env.ledger.state["dact~d-1"])["issued"]) == 2
