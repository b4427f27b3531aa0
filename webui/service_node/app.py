"""The service node's HTTP face (seed 001, step 7): a Flask application factory.

    GET  /v1/health                  liveness
    GET  /v1/nonce                   a single-use nonce for the next signed request
    PUT  /v1/content/<hash>          the owner stores content; the address must be its hash
    POST /v1/profiles                the owner has its meter's consumption profile produced
                                     from the ledger (this node's peer) and stored
    GET  /v1/content/<hash>          a token holder fetches content; header X-GridLedger-
                                     Token names the token

Every request but the first two carries a proof (``proofs.py``). A fetch is served only
after the ledger's ``access:Serve`` commits VALID (``ledger.py``); it answers the bytes,
the logging transaction's id, and the owner's identifying fields only when the token
grants them (by the DACT's rule; seed 001's default: more than one hash address). Each
serving is also appended to ``served.jsonl`` in the store, the node's own record to hold
against the ledger's access log. Refusals are JSON ``{"error": reason}`` with a 4xx.
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

from gridledger.clients.access_service import ACCESS_TX, OWNER_INFO, TOKEN, profile_message
from gridledger.clients.access_service import upload_message as upload_msg
from gridledger.formats.access import check_hex64, hash_address, serve_request
from gridledger.formats.errors import FormatError
from gridledger.formats.ids import is_id

from . import profile, proofs
from .ledger import Ledger, LedgerRefusal
from .storage import ContentStore

CUSTOMER_ROLES = ("customer", "prosumer")


@dataclass
class Config:
    """What the node needs: whose it is, which CAs it trusts, limits."""

    msp_id: str  # the organisation running this node (its customers may upload)
    roots: Mapping[str, Sequence[x509.Certificate]] = field(default_factory=dict)
    nonce_ttl: float = 60.0
    max_content: int = 16 * 1024 * 1024
    served_log: Path | None = None


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


def _owner_side(sender: proofs.Sender) -> dict[str, Any]:
    """An uploader: a customer of this node's organisation (its fields become the owner
    information), or one of its operators."""
    cfg = node().config
    if sender.msp_id != cfg.msp_id or cfg.msp_id not in cfg.roots:
        raise Refused(403, f"only {cfg.msp_id}'s customers and operators store content here")
    customer = sender.attributes.get("customerId")
    if sender.attributes.get("role") in CUSTOMER_ROLES and is_id(customer):
        return {"customerId": customer}
    if sender.node_ou == "admin" or sender.attributes.get("gridledger.operator") == "true":
        return {}
    raise Refused(403, "the sender is neither a customer nor an operator of "
                  f"{cfg.msp_id}")


@bp.get("/health")
def health() -> Any:
    return jsonify({"ok": True})


@bp.get("/nonce")
def nonce() -> Any:
    n = node()
    return jsonify({"nonce": n.nonces.issue(), "expiresIn": n.nonces.ttl})


@bp.put("/content/<address>")
def upload(address: str) -> Any:
    address = _address(address)
    sender = _proof(lambda nonce: upload_msg(address, nonce))
    owner = _owner_side(sender)
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
    token_id = request.headers.get(TOKEN, "")
    if not token_id:
        raise Refused(401, f"no token: {TOKEN} must name a token that grants {address}")
    sender = _proof(lambda nonce: serve_request(token_id=token_id, hash_address=address,
                                                nonce=nonce))
    ask = {"tokenId": token_id, "hashAddress": address, "nonce": sender.nonce,
           "certificate": sender.cert_pem.decode("ascii"),
           "signature": request.headers[proofs.SIGNATURE]}
    n = node()
    if not n.store.exists(address):
        n.ledger.check(ask)  # the ledger's refusal first: a non-holder learns nothing
        raise Refused(404, f"this service node holds no content at {address}")
    served = n.ledger.serve(ask)
    content = n.store.get(address) or b""
    meta = n.store.meta(address) or {}
    response = Response(content, mimetype=meta.get("mediaType", "application/octet-stream"))
    response.headers[ACCESS_TX] = served["txId"]
    if served.get("ownerInfo") and meta.get("owner"):
        response.headers[OWNER_INFO] = base64.b64encode(
            json.dumps(meta["owner"], sort_keys=True).encode()).decode("ascii")
    _log_serving(n, token_id, address, served)
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
