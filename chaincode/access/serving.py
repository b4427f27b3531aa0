"""ProveHolder and Serve: a service node asks the ledger before it hands out content, and
logs it.

The requester signs, with its Fabric identity, a proposal invoking
``access:ProveHolder(tokenId, hashAddress, nonce, nodeMspId, nodeFingerprint)``
(``formats/access_proof.py``): the nonce is one the service node issued, and the node's
MSP and certificate fingerprint name the one node the request is for.

- **ProveHolder** (evaluate) runs as that proposal, on the node's own peer: the peer's
  MSP has validated the creator's certificate (chain, expiry, the channel's CRLs) before
  the chaincode runs, and the chaincode checks that the creator is the token's holder,
  the token usable and the address in its scope. Its answer names the resource the
  address belongs to, which the node checks against the owner of the content it holds.
- **Serve** (submit, by the node's operator identity) carries the same signed proposal.
  Every endorser checks, on its own: the proposal is a ProveHolder of this channel, the
  creator's signature over it verifies, its certificate is the token holder's (the one
  the MSP accepted at certification) and within its validity, the proof is recent, the
  Serve transaction's creator is the very node the proof names (no other organisation can
  log, pre-empt or relay a serving meant for another node), the token is usable, the
  address in scope, and the nonce never used (``servenonce~``). The serving is logged in
  the same transaction: a node serves only once it is VALID, so what was served and what
  is logged are the same.

What the other endorsers cannot check: a certificate revoked after certification. Only
the node's own peer, evaluating ProveHolder, applies the channel's CRLs to it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509

from gridledger.formats.access import check_hex64
from gridledger.formats.access_proof import HolderProof, check_nonce, parse_b64
from gridledger.formats.errors import FormatError
from gridledger.formats.ids import check_id
from gridledger.formats.numbers import check_object
from gridledger.formats.utc import format_utc

from ..common.callers import MEMBERS
from ..common.clock import DEFAULT_TOLERANCE
from ..common.overlay import Overlay
from ..shim import ChaincodeError
from . import log, tokens

# How old a holder's proof may be when its Serve is ordered (the node evaluates it, then
# submits Serve at once; its nonce lasts 60 s), and how far ahead of the Serve.
PROOF_MAX_AGE = dt.timedelta(seconds=120)
PROOF_MAX_AHEAD = DEFAULT_TOLERANCE


def _refuse(status: int, why: str) -> ChaincodeError:
    return ChaincodeError(f"Serve: {why}", status=status)


def parse_prove_args(token_id: str, hash_address: str, nonce: str, node_msp_id: str,
                     node_fingerprint: str) -> dict[str, str]:
    """ProveHolder's arguments, checked (400)."""
    if node_msp_id not in MEMBERS:
        raise ChaincodeError(f"ProveHolder: nodeMspId must be a member organisation's MSP "
                             f"({', '.join(MEMBERS)})", status=400)
    return {"tokenId": check_id(token_id, "tokenId"),
            "hashAddress": check_hex64(hash_address, "hashAddress"),
            "nonce": check_nonce(nonce), "nodeMspId": node_msp_id,
            "nodeFingerprint": check_hex64(node_fingerprint, "nodeFingerprint")}


def prove(ov: Overlay, ask: dict[str, str]) -> dict[str, Any]:
    """ProveHolder: the caller holds a usable token granting the address; the scope entry."""
    stub = ov.stub
    token = tokens.usable(ov, ask["tokenId"], "ProveHolder")
    if not tokens.is_holder(token, stub.creator):
        raise ChaincodeError(f"ProveHolder: the caller is not the holder of token "
                             f"{token['tokenId']}", status=403)
    entry = tokens.in_scope(token, ask["hashAddress"], "ProveHolder")
    return {"proven": True, "tokenId": token["tokenId"], "hashAddress": ask["hashAddress"],
            "resourceId": entry["resourceId"], "ownerInfo": token["ownerInfo"],
            "notAfter": token["notAfter"], "holder": token["holder"],
            "node": {"mspId": ask["nodeMspId"], "fingerprint": ask["nodeFingerprint"]},
            "nonce": ask["nonce"], "at": format_utc(stub.tx_timestamp)}


def parse(obj: Any) -> HolderProof:
    """The Serve argument: {"proof": base64 of the holder's signed ProveHolder proposal}."""
    check_object(obj, "serve request", {"proof"})
    try:
        return parse_b64(obj.get("proof"))
    except FormatError as exc:
        raise _refuse(400, str(exc)) from None


def _check_proof(ov: Overlay, proof: HolderProof, service: dict[str, str]) -> None:
    """Everything about the proof itself, before the token is read."""
    stub = ov.stub
    if proof.channel != stub.channel_id:
        raise _refuse(400, f"the holder's proof is for channel {proof.channel!r}, not "
                      f"{stub.channel_id!r}")
    if (proof.node_msp_id, proof.node_fingerprint) != (service["mspId"],
                                                       service["fingerprint"]):
        raise _refuse(403, f"the holder's proof names service node {proof.node_msp_id} "
                      f"{proof.node_fingerprint[:16]}..., not the caller "
                      f"{service['mspId']} {service['fingerprint'][:16]}...: only the node a "
                      "request was made for may log (and serve) it")
    if not proof.signature_valid():
        raise _refuse(401, "the holder's proof is not signed by its creator's key")
    now = stub.tx_timestamp
    if proof.timestamp < now - PROOF_MAX_AGE:
        raise _refuse(401, f"stale proof: signed for {format_utc(proof.timestamp)}, more than "
                      f"{PROOF_MAX_AGE.seconds} s before this Serve")
    if proof.timestamp > now + PROOF_MAX_AHEAD:
        raise _refuse(401, f"the proof's time {format_utc(proof.timestamp)} is after this "
                      "Serve's")
    cert = x509.load_pem_x509_certificate(proof.cert_pem)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise _refuse(401, "the holder's certificate is outside its validity period")


def serve(ov: Overlay, proof: HolderProof,
          service: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the proof against the token; log the serving; (the log entry, the scope
    entry served)."""
    _check_proof(ov, proof, service)
    token = tokens.usable(ov, proof.token_id, "Serve")
    holder = {"mspId": proof.msp_id, "fingerprint": proof.holder_fingerprint}
    if holder != token["holder"]:
        raise _refuse(403, f"the proof's creator is not the holder of token "
                      f"{token['tokenId']}")
    scope = tokens.in_scope(token, proof.hash_address, "Serve")
    log.use_nonce(ov, token["tokenId"], proof.nonce)
    entry = log.record(ov, token, log.SERVICE, [proof.hash_address], service=service,
                       nonce=proof.nonce, proofTxId=proof.tx_id)
    return entry, scope
