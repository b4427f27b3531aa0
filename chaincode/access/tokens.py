"""Certification -> threshold: the token a matching DACT and a device's proof earn.

Certify runs on every endorsing peer's own chaincode server, and each checks, on its
own: the presented table against the registered commitment, the caller against the
table's requester, the device against the table and the IDoT registry, and the
device's signature over a challenge bound to the caller's certificate and to this very
transaction. The transaction is valid only with the endorsements the chaincode's policy
asks for (2 of 3 organisations): that policy is seed 001's threshold.

    token~<tokenId>   public: holder (MSP and certificate fingerprint), DACT and its
                      version, device, purpose, scope (resource ids and hash addresses),
                      whether the owner's identifying fields are granted, issue time,
                      expiry, status. tokenId = "tok-" + the first 40 hex digits of the
                      certifying transaction's id. Key-level policy DATA_HOLDER.

**The data holder in every token** (issue 17, hole 6). Certify also writes the DACT's
public record: its ``issued`` map gets {digest of the token's immutable fields, notAfter,
status}. ``dact~`` carries the DATA_HOLDER policy (the Utility and one other), so a
certification not endorsed by the Utility fails validation, and two other members
writing a ``token~`` of their own (a key without a policy yet: its creation needs only the
chaincode's 2 of 3) get a token that no DACT lists. RevokeToken records the revocation
in that entry too, so rewriting ``token~`` cannot un-revoke.

A token is usable while: it is active and unexpired (by transaction time); its DACT's
record carries exactly DATA_HOLDER and the DACT's private owner record exists (its hash,
which every peer can read: only the collection's members, the Utility among them, write
it); the DACT's ``issued`` entry for it matches its digest and is active; the DACT is
active and still at the token's version; its device is active. So revoking a token, its
DACT or its device, or amending the DACT, takes effect for every request ordered after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from gridledger.formats.access import (
    CERTIFY_CONTEXT,
    certificate_fingerprint,
    certify_challenge,
    dact_commitment,
    owner_info_granted,
    validate_dact,
)
from gridledger.formats.canonical import canonical_json
from gridledger.formats.errors import FormatError
from gridledger.formats.ids import check_id
from gridledger.formats.numbers import check_int, check_object
from gridledger.formats.reading import decode_signature, verify_signature
from gridledger.formats.utc import format_utc, parse_utc

from ..common.callers import describe, is_operator
from ..common.keys import key
from ..common.overlay import Overlay
from ..shim import ChaincodeError, ClientIdentity, Stub
from . import dacts, devices, policies, resources

ACTIVE, REVOKED = "active", "revoked"
# How old a challenge signature may be at the transaction time, and how far ahead.
CHALLENGE_MAX_AGE = dt.timedelta(seconds=120)
CHALLENGE_MAX_AHEAD = dt.timedelta(seconds=30)
DEFAULT_LIFETIME, MAX_LIFETIME = 3600, 86_400
# Unexpired tokens one DACT may list at once: every Access and Serve reads the list.
MAX_ISSUED = 256
# A token's fields that never change after certification: what its issued entry digests.
IMMUTABLE = ("tokenId", "dactId", "dactVersion", "holder", "deviceId", "purpose",
             "resources", "ownerInfo", "issuedAt", "notAfter", "txId")
NOT_ISSUED = "not-issued"
_REQUEST = {"dact", "deviceId", "challenge", "signature", "resources", "lifetimeSeconds"}
_CHALLENGE = set(certify_challenge(dact_id="", dact_version=0, device_id="", holder="",
                                   tx_id="", signed_at=""))


def token_key(token_id: str) -> str:
    """Ledger key of a token."""
    return key("token", token_id)


def digest(token: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a token's immutable fields."""
    return hashlib.sha256(canonical_json({f: token.get(f) for f in IMMUTABLE})).hexdigest()


def holder_of(identity: ClientIdentity) -> dict[str, str]:
    """How a token names its holder: MSP and SHA-256 of the certificate."""
    return {"mspId": identity.msp_id, "fingerprint": certificate_fingerprint(identity.cert_pem)}


def requester_matches(requester: dict[str, str], identity: ClientIdentity) -> bool:
    """Whether ``identity`` is the requester a DACT table names."""
    if identity.msp_id != requester["mspId"]:
        return False
    if requester["kind"] == "identity":
        return certificate_fingerprint(identity.cert_pem) == requester["fingerprint"]
    if requester["kind"] == "operator":
        return is_operator(identity, requester["mspId"])
    return True  # organisation: any identity of that MSP


def _refuse(status: int, why: str) -> ChaincodeError:
    return ChaincodeError(f"Certify: {why}", status=status)


def _match(ov: Overlay, stub: Stub, table: dict[str, Any]) -> dict[str, Any]:
    """Seed 001 step 4: the presented DACT is the registered one, and names the caller."""
    record = dacts.get(ov, table["dactId"])
    if record["status"] != dacts.ACTIVE:
        raise _refuse(410, f"DACT {table['dactId']} is revoked")
    if (not dacts.holder_policy_in_force(ov, table["dactId"])
            or not dacts.owner_record_exists(ov, table["dactId"])):
        raise _refuse(409, f"DACT {table['dactId']} does not carry the data holder's "
                      "key-level endorsement policy, or has no owner record: it vouches for "
                      "no token (its owner registers a new DACT)")
    if table["version"] != record["version"]:
        raise _refuse(403, f"the presented DACT is version {table['version']}, the registered "
                      f"one version {record['version']}: it does not match")
    if dact_commitment(table) != record["commitment"]:
        raise _refuse(403, "the presented DACT does not match the registered one (its "
                      "commitment differs: a member was changed)")
    if parse_utc(table["notAfter"], "notAfter") <= stub.tx_timestamp:
        raise _refuse(410, f"DACT {table['dactId']} ended at {table['notAfter']}")
    if not requester_matches(table["requester"], stub.creator):
        raise _refuse(403, f"the DACT does not name the caller {describe(stub.creator)} as "
                      "its requester")
    return record


def _check_proof(stub: Stub, table: dict[str, Any], device: dict[str, Any],
                 challenge: Any, signature: Any) -> None:
    """Proof of possession: the device signed this transaction's challenge, just now."""
    check_object(challenge, "challenge", _CHALLENGE)
    signed_at = parse_utc(challenge.get("signedAt"), "challenge signedAt")
    expected = certify_challenge(
        dact_id=table["dactId"], dact_version=table["version"], device_id=device["deviceId"],
        holder=certificate_fingerprint(stub.creator.cert_pem), tx_id=stub.tx_id,
        signed_at=challenge["signedAt"])
    if challenge.get("context") != CERTIFY_CONTEXT:
        raise _refuse(401, f"the challenge's context must be {CERTIFY_CONTEXT!r}")
    if challenge.get("txId") != stub.tx_id:
        raise _refuse(401, f"the challenge was signed for transaction {challenge.get('txId')!r}"
                      ", not this one: a challenge signature is good for one transaction only "
                      "(replayed?)")
    if challenge.get("holder") != expected["holder"]:
        raise _refuse(401, "the challenge was signed for another identity's certificate")
    for member in ("dactId", "dactVersion", "deviceId"):
        if challenge.get(member) != expected[member]:
            raise _refuse(401, f"the challenge's {member} is {challenge.get(member)!r}, not "
                          f"{expected[member]!r}")
    now = stub.tx_timestamp
    if signed_at < now - CHALLENGE_MAX_AGE:
        raise _refuse(401, f"stale challenge: signed at {challenge['signedAt']}, more than "
                      f"{CHALLENGE_MAX_AGE.seconds} s before the transaction")
    if signed_at > now + CHALLENGE_MAX_AHEAD:
        raise _refuse(401, f"the challenge is signed at {challenge['signedAt']}, after the "
                      "transaction time")
    if not verify_signature(device["publicKeyPem"], device["curve"], canonical_json(expected),
                            decode_signature(signature)):
        raise _refuse(401, f"the challenge signature does not verify with device "
                      f"{device['deviceId']}'s key")


def _scope(ov: Overlay, table: dict[str, Any], asked: Any) -> list[dict[str, str]]:
    if asked is None:
        asked = table["resources"]
    if (not isinstance(asked, list) or not asked
            or any(check_id(r, "resource") not in table["resources"] for r in asked)
            or len(set(asked)) != len(asked)):
        raise _refuse(403, "resources asked for must be distinct resources of the DACT")
    return [{"resourceId": r, "hashAddress": resources.get(ov, r)["hashAddress"]}
            for r in asked]


def distinct_addresses(scope: list[dict[str, str]]) -> int:
    """How many hash addresses a scope grants (seed 001 step 7 counts addresses, not
    resource ids: two resources naming one address are one piece of shared data)."""
    return len({r["hashAddress"] for r in scope})


def certify(ov: Overlay, request: Any) -> dict[str, Any]:
    """Seed 001 steps 3-4: check the DACT and the device's proof; issue a token."""
    stub = ov.stub
    check_object(request, "certification request", _REQUEST)
    table = validate_dact(request.get("dact"))
    record = _match(ov, stub, table)
    device_id = check_id(request.get("deviceId"), "deviceId")
    if device_id not in table["devices"]:
        raise _refuse(403, f"device {device_id} is not one of the DACT's devices")
    device = devices.lookup(ov, device_id)
    if device["status"] != devices.ACTIVE:
        raise _refuse(403, f"device {device_id} is {device['status']}")
    _check_proof(stub, table, device, request.get("challenge"), request.get("signature"))
    scope = _scope(ov, table, request.get("resources"))
    lifetime = check_int(request.get("lifetimeSeconds", DEFAULT_LIFETIME), "lifetimeSeconds",
                         minimum=1, maximum=MAX_LIFETIME)
    ends = min(parse_utc(table["notAfter"], "notAfter"),
               stub.tx_timestamp + dt.timedelta(seconds=lifetime))
    token = {
        "tokenId": "tok-" + stub.tx_id[:40], "dactId": table["dactId"],
        "dactVersion": table["version"], "holder": holder_of(stub.creator),
        "deviceId": device_id, "purpose": table["purpose"], "resources": scope,
        "ownerInfo": owner_info_granted(table["ownerInfo"], distinct_addresses(scope)),
        "issuedAt": format_utc(stub.tx_timestamp), "notAfter": format_utc(ends),
        "status": ACTIVE, "txId": stub.tx_id,
    }
    if ov.get(token_key(token["tokenId"])) is not None:
        raise _refuse(409, f"token {token['tokenId']} exists already")
    issued = dacts.prune(ov, record.get("issued") or {})
    if len(issued) >= MAX_ISSUED:
        raise _refuse(409, f"DACT {table['dactId']} lists {len(issued)} unexpired tokens, "
                      f"the most it may: use one of them, or ask again once some expire")
    issued[token["tokenId"]] = {"digest": digest(token), "notAfter": token["notAfter"],
                                "status": ACTIVE}
    # dact~ carries DATA_HOLDER: this write is why a token needs the Utility.
    ov.put_json(dacts.dact_key(table["dactId"]), {**record, "issued": issued})
    ov.put_json(token_key(token["tokenId"]), token)
    policies.create(stub, token_key(token["tokenId"]))
    return token


def get(ov: Overlay, token_id: str) -> dict[str, Any]:
    """A token record, or 404."""
    token = ov.get_json(token_key(check_id(token_id, "tokenId")))
    if token is None:
        raise ChaincodeError(f"no token {token_id}", status=404)
    if not isinstance(token, dict):  # written around the chaincode: not a token
        return {"tokenId": token_id, "malformed": True}
    return token


def _issued_entry(ov: Overlay, token: dict[str, Any]) -> tuple[dict[str, Any] | None,
                                                                dict[str, Any] | None]:
    """(the token's DACT record, its issued entry), each None when the data holder's
    endorsement does not stand behind them."""
    try:
        dact = dacts.get(ov, token["dactId"])
    except FormatError:
        return None, None  # not even a DACT id
    except ChaincodeError as exc:
        if exc.status in (400, 404, 409):
            return None, None  # a token naming no registered DACT
        raise
    if (not dacts.holder_policy_in_force(ov, token["dactId"])
            or not dacts.owner_record_exists(ov, token["dactId"])):
        return dact, None
    entry = (dact.get("issued") or {}).get(token.get("tokenId"))
    if not isinstance(entry, dict) or entry.get("digest") != digest(token):
        return dact, None
    return dact, entry


def _well_formed(token: Any) -> bool:
    """Whether a ``token~`` record has the shape Certify writes (a record written around
    the chaincode may have any shape: it is then simply not a token)."""
    if not isinstance(token, dict):
        return False
    holder, scope = token.get("holder"), token.get("resources")
    try:
        parse_utc(token.get("notAfter"), "notAfter")
    except ValueError:
        return False
    return (all(isinstance(token.get(f), str) for f in ("tokenId", "dactId", "deviceId",
                                                           "status"))
            and isinstance(token.get("dactVersion"), int)
            and isinstance(holder, dict) and isinstance(holder.get("fingerprint"), str)
            and isinstance(scope, list) and all(
                isinstance(r, dict) and isinstance(r.get("hashAddress"), str)
                and isinstance(r.get("resourceId"), str) for r in scope))


def state(ov: Overlay, token: dict[str, Any]) -> str:
    """``active``, or why the token is no longer usable at this transaction's time."""
    if not _well_formed(token):
        return NOT_ISSUED
    if token["status"] != ACTIVE:
        return "revoked"
    if parse_utc(token["notAfter"], "notAfter") <= ov.stub.tx_timestamp:
        return "expired"
    dact, entry = _issued_entry(ov, token)
    if dact is None or entry is None:
        return NOT_ISSUED
    if entry.get("status") != ACTIVE:
        return "revoked"
    if dact["status"] != dacts.ACTIVE:
        return "dact-revoked"
    if dact["version"] != token["dactVersion"]:
        return "dact-amended"
    try:
        device = devices.lookup(ov, token["deviceId"])
    except ChaincodeError as exc:
        if exc.status not in (404, 409):
            raise
        return "device-inactive"  # gone, or its id now ambiguous
    if device["status"] != devices.ACTIVE:
        return "device-inactive"
    return ACTIVE


_WHY = {"revoked": "was revoked", "expired": "has expired", "dact-revoked": "its DACT was "
        "revoked", "dact-amended": "its DACT was amended since (certify again)",
        "device-inactive": "its device is no longer active",
        NOT_ISSUED: "it was not issued with the data holder's endorsement (its DACT's "
        "record, which needs the Utility's endorsement to change, does not list it): it "
        "grants nothing"}


def usable(ov: Overlay, token_id: str, action: str) -> dict[str, Any]:
    """The token if usable now; else 410 saying why (403 for a token the data holder
    never endorsed; 404 if unknown)."""
    token = get(ov, token_id)
    now = state(ov, token)
    if now != ACTIVE:
        raise ChaincodeError(f"{action}: token {token_id} is not usable: {_WHY[now]}",
                             403 if now == NOT_ISSUED else 410)
    return token


def in_scope(token: dict[str, Any], hash_address: str, action: str) -> dict[str, str]:
    """The token's scope entry for ``hash_address``; 403 outside the scope."""
    for entry in token["resources"]:
        if entry["hashAddress"] == hash_address:
            return entry
    raise ChaincodeError(f"{action}: hash address {hash_address} is outside the scope of "
                         f"token {token['tokenId']}", status=403)


def is_holder(token: dict[str, Any], identity: ClientIdentity) -> bool:
    """Whether ``identity`` is the token's holder (same MSP, same certificate)."""
    return token.get("holder") == holder_of(identity)


def require_well_formed(token: dict[str, Any], action: str) -> dict[str, Any]:
    """The token, or 409 when its record is not one Certify wrote (written around the
    chaincode): there is nothing to act on."""
    if not _well_formed(token):
        raise ChaincodeError(f"{action}: token {token.get('tokenId')} is not a record "
                             "certification wrote: it grants nothing", status=409)
    return token


def revoke(ov: Overlay, token: dict[str, Any], by: str) -> dict[str, Any]:
    """End a token for good (409 if already revoked), in the token and in its DACT's
    issued entry (which only a transaction the Utility endorses can write back)."""
    if token["status"] == REVOKED:
        raise ChaincodeError(f"token {token['tokenId']} is already revoked", status=409)
    now = format_utc(ov.stub.tx_timestamp)
    dact, entry = _issued_entry(ov, token)
    if dact is not None and entry is not None:
        issued = dacts.prune(ov, dact.get("issued") or {})
        if token["tokenId"] in issued:
            issued[token["tokenId"]] = {**entry, "status": REVOKED, "revokedAt": now}
            ov.put_json(dacts.dact_key(token["dactId"]), {**dact, "issued": issued})
    token.update(status=REVOKED, revokedAt=now, revokedBy=by)
    ov.put_json(token_key(token["tokenId"]), token)
    return token
