"""The service node's HTTP face (seed 001, step 7): a Flask application factory.

    GET  /v1/health                  liveness
    GET  /v1/nonce                   a single-use nonce for the next signed request, and
                                     who this node is (MSP, certificate fingerprint,
                                     channel, chaincode: what a holder's proof names)
    PUT  /v1/content/<hash>          the owner stores content; the address must be its hash
    POST /v1/profiles                the owner has its meter's consumption profile produced
                                     from the ledger (this node's peer) and stored
    GET  /v1/content/<hash>          a token holder fetches content; header
                                     X-GridLedger-Proof carries its signed ProveHolder
                                     proposal naming this node

A fetch, in order (nothing is logged and nothing served until the last step):
the proof is read and checked here (its nonce, its creator's CA and signature, that it
asks for this address of this node); this node's peer evaluates it as the holder's own
proposal (``ledger.prove``: the peer's MSP validates the certificate, CRLs included; the
chaincode checks the token and names the resource); the content is here, and the ledger
says its owner (``ResourceOwner``) is the owner recorded with it; the bytes are read and
hash to the address; ``access:Serve`` commits VALID with the same proof; then the bytes,
with the ledger's media type (``X-Content-Type-Options: nosniff``), the logging
transaction's id and, when the token grants them (the DACT's rule; seed 001's default:
more than one hash address), the owner's fields from the ledger's owner record. Each
serving is also appended to ``served.jsonl`` in the store, the node's own record to hold
against the ledger's access log. Refusals are JSON ``{"error": reason}`` with a 4xx (a
5xx when the node itself failed: its store lost or corrupted the content).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from gridledger.clients.access_service import ACCESS_TX, OWNER_INFO, PROOF, profile_message
from gridledger.clients.access_service import upload_message as upload_msg
from gridledger.formats.access import check_hex64, hash_address
from gridledger.formats.errors import FormatError
from gridledger.formats.ids import is_id

from . import profile, proofs
from .ledger import Ledger, LedgerRefusal
from .storage import ContentStore

CUSTOMER_ROLES = ("customer", "prosumer")


CUSTOMER_MSP = "UtilityMSP"  # the organisation whose CA registers customers


@dataclass
class Config:
    """What the node needs: whose it is, which CAs it trusts, limits."""

    msp_id: str  # the organisation running this node (its customers may upload)
    roots: Mapping[str, Sequence[x509.Certificate]] = field(default_factory=dict)
    nonce_ttl: float = 60.0
    max_content: int = 16 * 1024 * 1024
    served_log: Path | None = None
    # Who this node is on the ledger (the identity it submits Serve as): what a holder's
    # proof must name.
    fingerprint: str = ""
    channel: str = "energy"
    chaincode: str = "metering"
    # Customer attributes count only in certificates of this MSP's CA (as in chaincode
    # common/callers.py): another CA may write any customerId it likes.
    customer_msp: str = CUSTOMER_MSP


@dataclass
class Node:
    """The application's state: configuration, ledger, store, nonces."""

    config: Config
    ledger: Ledger
    store: ContentStore
    nonces: proofs.NonceStore
    log_lock: threading.Lock = field(default_factory=threading.Lock)


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


bp = Blueprint("service_node", __name__, url_prefix="/v1")


def node() -> Node:
    return current_app.extensions["service_node"]


def _address(value: str) -> str:
    try:
        return check_hex64(value, "hash address")
    except FormatError as exc:
        raise Refused(400, str(exc)) from None


def _proof(message_for: Any) -> proofs.Sender:
    n = node()
    return proofs.verify(request.headers, message_for, n.nonces, n.config.roots)


def _is_operator(sender: proofs.Sender) -> bool:
    return sender.node_ou == "admin" or sender.attributes.get("gridledger.operator") == "true"


def _owner_side(sender: proofs.Sender) -> dict[str, Any]:
    """An uploader: a customer of this node's organisation (its id is the content's
    owner), or one of its operators ({}: the operator names the owner)."""
    cfg = node().config
    if sender.msp_id != cfg.msp_id or cfg.msp_id not in cfg.roots:
        raise Refused(403, f"only {cfg.msp_id}'s customers and operators store content here")
    customer = sender.attributes.get("customerId")
    if (sender.msp_id == cfg.customer_msp and not _is_operator(sender)
            and sender.attributes.get("role") in CUSTOMER_ROLES and is_id(customer)):
        return {"customerId": customer}
    if _is_operator(sender):
        return {}
    raise Refused(403, "the sender is neither a customer of "
                  f"{cfg.customer_msp} nor an operator of {cfg.msp_id}")


@bp.get("/health")
def health() -> Any:
    return jsonify({"ok": True})


@bp.get("/nonce")
def nonce() -> Any:
    n = node()
    cfg = n.config
    return jsonify({"nonce": n.nonces.issue(), "expiresIn": n.nonces.ttl,
                    "node": {"mspId": cfg.msp_id, "fingerprint": cfg.fingerprint},
                    "channel": cfg.channel, "chaincode": cfg.chaincode})


@bp.put("/content/<address>")
def upload(address: str) -> Any:
    address = _address(address)
    named = request.args.get("customerId")
    sender = _proof(lambda nonce: upload_msg(address, nonce, named))
    owner = _owner_side(sender)
    if not owner:  # an operator stores a customer's content: it names whose
        if not is_id(named):
            raise Refused(400, "an operator names the customer whose content it stores "
                          "(?customerId=..., signed in the request)")
        owner = {"customerId": named}
    elif named is not None and named != owner["customerId"]:
        raise Refused(403, "a customer stores its own content only")
    content = request.get_data(cache=False)
    if len(content) > node().config.max_content:
        raise Refused(413, f"content above {node().config.max_content} bytes")
    if hash_address(content) != address:
        raise Refused(400, f"the content hashes to {hash_address(content)}, not {address}: "
                      "the address is the SHA-256 of the bytes")
    media = request.mimetype or "application/octet-stream"
    created = node().store.put(address, content, {"mediaType": media, "owner": owner})
    return jsonify({"hashAddress": address, "size": len(content), "stored": created}), (
        201 if created else 200)


@bp.post("/profiles")
def produce_profile() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not is_id(body.get("meterId")):
        raise Refused(400, 'the body must be {"meterId", "fromSeq"?, "limit"?}')
    meter_id = body["meterId"]
    from_seq, limit = body.get("fromSeq", 1), body.get("limit", 1000)
    if (not isinstance(from_seq, int) or not isinstance(limit, int) or from_seq < 1
            or not 1 <= limit <= 1000):
        raise Refused(400, "fromSeq must be >= 1 and limit 1-1000")
    sender = _proof(lambda nonce: profile_message(meter_id, from_seq, limit, nonce))
    owner = _owner_side(sender)
    ledger = node().ledger
    customer = ledger.meter_owner(meter_id)
    if owner and owner["customerId"] != customer:
        raise Refused(403, f"meter {meter_id} is not the sender's")
    readings = ledger.readings(meter_id, from_seq, limit)
    if not readings:
        raise Refused(404, f"meter {meter_id} has no readings from seq {from_seq}")
    content = profile.build(readings)
    address = hash_address(content)
    node().store.put(address, content, {"mediaType": profile.MEDIA_TYPE,
                                        "owner": {"customerId": customer, "meterId": meter_id}})
    return jsonify({"hashAddress": address, "size": len(content), "mediaType":
                    profile.MEDIA_TYPE, "intervals": len(readings)}), 201


@bp.get("/content/<address>")
def fetch(address: str) -> Any:
    address = _address(address)
    n = node()
    cfg = n.config
    proof = proofs.verify_holder(request.headers.get(PROOF), n.nonces, cfg.roots)
    if (proof.channel, proof.chaincode) != (cfg.channel, cfg.chaincode):
        raise Refused(400, f"the proof is for chaincode {proof.chaincode!r} on channel "
                      f"{proof.channel!r}; this node serves {cfg.chaincode!r} on "
                      f"{cfg.channel!r}")
    if proof.hash_address != address:
        raise Refused(400, f"the proof asks for {proof.hash_address}, not {address}")
    if (proof.node_msp_id, proof.node_fingerprint) != (cfg.msp_id, cfg.fingerprint):
        raise Refused(403, f"the proof names service node {proof.node_msp_id} "
                      f"{proof.node_fingerprint[:16]}..., not this one")
    # The holder's own proposal, on this node's peer: its certificate (CRLs included), the
    # token, the scope. A non-holder gets the ledger's refusal before "not here".
    proven = n.ledger.prove(proof.signed)
    if not n.store.exists(address):
        raise Refused(404, f"this service node holds no content at {address}")
    owner = n.ledger.resource_owner(proven["resourceId"])
    stored = (n.store.meta(address) or {}).get("owner") or {}
    if owner["hashAddress"] != address or not owner.get("bound", True):
        raise Refused(403, f"resource {proven['resourceId']} does not hold {address} on the "
                      "ledger: nothing served")
    if stored.get("customerId") != owner["customerId"]:
        # Issue 17, hole 1: a resource registered with someone else's hash address.
        raise Refused(403, f"the content at {address} is not the owner's of resource "
                      f"{proven['resourceId']} (the token's grantor): a service node serves "
                      "only what the token's resource owner stored here; nothing served")
    content = n.store.get(address)
    if content is None:
        raise Refused(503, f"the store lost the content at {address}: nothing served or "
                      "logged; its owner uploads it again")
    if hash_address(content) != address:
        raise Refused(500, f"the stored content at {address} is corrupted (it hashes to "
                      f"{hash_address(content)}): nothing served or logged")
    served = n.ledger.serve(proof.signed)
    response = Response(content, mimetype=owner["mediaType"])
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers[ACCESS_TX] = served["txId"]
    if served.get("ownerInfo"):
        fields = {"customerId": owner["customerId"], "description": owner["description"]}
        response.headers[OWNER_INFO] = base64.b64encode(
            json.dumps(fields, sort_keys=True).encode()).decode("ascii")
    _log_serving(n, served["tokenId"], address, served)
    return response


def _log_serving(n: Node, token_id: str, address: str, served: dict[str, Any]) -> None:
    if n.config.served_log is None:
        return
    line = json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(), "tokenId": token_id,
                       "hashAddress": address, "txId": served["txId"],
                       "ownerInfo": bool(served.get("ownerInfo"))}, sort_keys=True)
    with n.log_lock, open(n.config.served_log, "a") as fh:
        fh.write(line + "\n")


def _error(status: int, message: str) -> Any:
    return jsonify({"error": message}), status


def create_app(config: Config, ledger: Ledger, store: ContentStore) -> Flask:
    """The service node: configuration, ledger and store in, application out."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_content + 1
    app.extensions["service_node"] = Node(config, ledger, store,
                                          proofs.NonceStore(config.nonce_ttl))
    app.register_blueprint(bp)
    app.register_error_handler(Refused, lambda e: _error(e.status, str(e)))
    app.register_error_handler(proofs.ProofError, lambda e: _error(e.status, str(e)))
    app.register_error_handler(LedgerRefusal, lambda e: _error(
        e.status if 400 <= e.status < 600 else 503, str(e)))
    app.register_error_handler(404, lambda e: _error(404, "no such endpoint"))
    app.register_error_handler(405, lambda e: _error(405, "method not allowed here"))
    app.register_error_handler(413, lambda e: _error(413, "content too large"))
    return app
