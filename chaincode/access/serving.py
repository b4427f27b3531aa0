"""Serve: a service node asks the ledger before it hands out content, and logs it.

The requester signed ``formats.access.serve_request(tokenId, hashAddress, nonce)`` with
its Fabric identity key and sent its certificate. Every endorser checks, on its own:
the token is usable now, the certificate is the token holder's (same fingerprint as the
certificate the MSP accepted at certification) and is in its validity period, the hash
address is in the token's scope, the signature verifies, and the nonce was never used.
Then the serving is in the access log, in the same transaction: a node serves only after
that transaction commits VALID, so what was served and what is logged are the same.
"""

from __future__ import annotations

import re
from typing import Any

from cryptography import x509

from gridledger.formats.access import (
    certificate_fingerprint,
    check_hex64,
    serve_request,
    verify_with_certificate,
)
from gridledger.formats.ids import check_id
from gridledger.formats.numbers import check_object

from ..common.overlay import Overlay
from ..shim import ChaincodeError
from . import log, tokens

_NONCE = re.compile(r"[0-9a-f]{32,128}")
_MEMBERS = {"tokenId", "hashAddress", "certificate", "nonce", "signature"}


def _refuse(status: int, why: str) -> ChaincodeError:
    return ChaincodeError(f"Serve: {why}", status=status)


def parse(obj: Any) -> dict[str, Any]:
    """The Serve argument: {tokenId, hashAddress, certificate (PEM), nonce, signature}."""
    check_object(obj, "serve request", _MEMBERS)
    nonce = obj.get("nonce")
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise _refuse(400, "nonce must be 32-128 lowercase hex characters")
    certificate = obj.get("certificate")
    if not isinstance(certificate, str) or not certificate.isascii():
        raise _refuse(400, "certificate must be the requester's PEM certificate")
    return {"tokenId": check_id(obj.get("tokenId"), "tokenId"),
            "hashAddress": check_hex64(obj.get("hashAddress"), "hashAddress"),
            "certificate": certificate, "nonce": nonce, "signature": obj.get("signature")}


def serve(ov: Overlay, request: dict[str, Any], service: dict[str, str]) -> dict[str, Any]:
    """Check the request against the token; log the serving; the log entry."""
    token = tokens.usable(ov, request["tokenId"], "Serve")
    fingerprint = certificate_fingerprint(request["certificate"])
    if fingerprint != token["holder"]["fingerprint"]:
        raise _refuse(403, f"the requester's certificate is not the holder's of token "
                      f"{token['tokenId']}")
    cert = x509.load_pem_x509_certificate(request["certificate"].encode("ascii"))
    now = ov.stub.tx_timestamp
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise _refuse(401, "the requester's certificate is outside its validity period")
    scope = [r["hashAddress"] for r in token["resources"]]
    if request["hashAddress"] not in scope:
        raise _refuse(403, f"hash address {request['hashAddress']} is outside the scope of "
                      f"token {token['tokenId']}")
    message = serve_request(token_id=token["tokenId"], hash_address=request["hashAddress"],
                            nonce=request["nonce"])
    if not verify_with_certificate(request["certificate"], message, request["signature"]):
        raise _refuse(401, "the request signature does not verify with the holder's key")
    log.use_nonce(ov, token["tokenId"], request["nonce"])
    return log.record(ov, token, log.SERVICE, [request["hashAddress"]], service=service,
                      nonce=request["nonce"])
