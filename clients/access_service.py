"""A client of the shared-data service node (``gridledger.webui.service_node``), and the
headers its requests carry.

Every request but ``nonce`` proves who sends it: the sender's certificate, a nonce the
service node issued (single use, short-lived) and the sender's signature, with its
Fabric identity key, over a canonical message that names what is asked
(``gridledger.formats.access``). A fetch also names the token; the node asks the ledger
(contract ``access``, Serve) before it answers, and the client checks that the bytes it
got hash to the address it asked for.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx

from gridledger.formats.access import (
    PROFILE_CONTEXT,
    UPLOAD_CONTEXT,
    hash_address,
    serve_request,
)
from gridledger.formats.canonical import canonical_json

from .errors import ClientError
from .identity import Identity
from .signing import Signer

CERTIFICATE = "X-GridLedger-Certificate"  # base64 of the sender's PEM certificate
MSP = "X-GridLedger-MSP"  # the sender's MSP
NONCE = "X-GridLedger-Nonce"
SIGNATURE = "X-GridLedger-Signature"  # base64 DER over the request's canonical message
TOKEN = "X-GridLedger-Token"
ACCESS_TX = "X-GridLedger-Access-Tx"  # answer: the transaction that logged the serving
OWNER_INFO = "X-GridLedger-Owner-Info"  # answer: the owner's fields, when the DACT grants them


def upload_message(address: str, nonce: str) -> dict[str, Any]:
    """What an owner signs to store content at ``address``."""
    return {"context": UPLOAD_CONTEXT, "hashAddress": address, "nonce": nonce}


def profile_message(meter_id: str, from_seq: int, limit: int, nonce: str) -> dict[str, Any]:
    """What an owner signs to have its meter's consumption profile produced."""
    return {"context": PROFILE_CONTEXT, "fromSeq": from_seq, "limit": limit,
            "meterId": meter_id, "nonce": nonce}


class ServiceNodeError(ClientError):
    """The service node refused a request (``status``) or could not be reached (0)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"service node: {status or 'unreachable'}: {message}")


@dataclass(frozen=True)
class Fetched:
    """Content served under a token: its bytes, the owner's fields if granted, and the
    transaction that logged the serving."""

    content: bytes
    hash_address: str
    access_tx: str
    owner_info: dict[str, Any] | None


class ServiceNodeClient:
    """Requests to one service node, signed as one Fabric identity."""

    def __init__(self, base_url: str, identity: Identity, signer: Signer, *,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.identity = identity
        self._signer = signer
        # ``transport``: e.g. httpx.WSGITransport(app=...) to talk to a node in memory.
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                  transport=transport)

    def __enter__(self) -> ServiceNodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ServiceNodeError(0, f"{exc} ({self._http.base_url})") from None
        if response.status_code >= 400:
            try:
                reason = response.json().get("error", response.text)
            except ValueError:
                reason = response.text
            raise ServiceNodeError(response.status_code, reason)
        return response

    def nonce(self) -> str:
        """A fresh single-use nonce from the node."""
        return self._call("GET", "/v1/nonce").json()["nonce"]

    def proof(self, message_for: Any) -> dict[str, str]:
        """Proof headers: ``message_for(nonce)`` is the message to sign."""
        nonce = self.nonce()
        signature = self._signer(canonical_json(message_for(nonce)))
        return {CERTIFICATE: base64.b64encode(self.identity.certificate).decode("ascii"),
                MSP: self.identity.msp_id, NONCE: nonce,
                SIGNATURE: base64.b64encode(signature).decode("ascii")}

    def fetch(self, address: str, token_id: str) -> Fetched:
        """The content at ``address`` under ``token_id`` (checked against its hash)."""
        headers = self.proof(lambda n: serve_request(token_id=token_id, hash_address=address,
                                                     nonce=n))
        response = self._call("GET", f"/v1/content/{address}", headers={**headers,
                                                                       TOKEN: token_id})
        if hash_address(response.content) != address:
            raise ServiceNodeError(502, f"the content served does not hash to {address}")
        owner = response.headers.get(OWNER_INFO)
        return Fetched(response.content, address, response.headers.get(ACCESS_TX, ""),
                       json.loads(base64.b64decode(owner)) if owner else None)

    def upload(self, content: bytes, media_type: str = "application/octet-stream") -> str:
        """Store content (its owner); its hash address."""
        address = hash_address(content)
        headers = self.proof(lambda n: upload_message(address, n))
        self._call("PUT", f"/v1/content/{address}", content=content,
                   headers={**headers, "Content-Type": media_type})
        return address

    def produce_profile(self, meter_id: str, from_seq: int = 1, limit: int = 1000
                        ) -> dict[str, Any]:
        """Have the node produce the caller's meter's consumption profile from the
        ledger and store it: {"hashAddress", "size", "mediaType", "intervals"}."""
        headers = self.proof(lambda n: profile_message(meter_id, from_seq, limit, n))
        body = {"meterId": meter_id, "fromSeq": from_seq, "limit": limit}
        return self._call("POST", "/v1/profiles", json=body, headers=headers).json()
