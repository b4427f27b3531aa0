"""A client of the shared-data service node (``gridledger.webui.service_node``), and the
headers its requests carry.

Every request but ``nonce`` proves who sends it, with a nonce the service node issued
(single use, short-lived) and the sender's Fabric identity key:

- an upload or a profile request carries the sender's certificate and its signature over
  a canonical message naming what is asked (``upload_message``, ``profile_message``);
- a fetch carries the holder's proof (``X-GridLedger-Proof``): a proposal of
  ``access:ProveHolder(tokenId, hashAddress, nonce, nodeMspId, nodeFingerprint)``
  signed by the holder (``clients.access.holder_proof``), naming the node that issued
  the nonce (``GET /v1/nonce`` says who it is: MSP, certificate fingerprint, channel,
  chaincode). The node evaluates that very proposal on its own peer, then submits
  ``access:Serve`` with it before it answers; the client checks that the bytes it got
  hash to the address it asked for.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx

from gridledger.formats.access import PROFILE_CONTEXT, UPLOAD_CONTEXT, hash_address
from gridledger.formats.canonical import canonical_json

from .access import holder_proof
from .errors import ClientError
from .identity import Identity
from .signing import Signer

CERTIFICATE = "X-GridLedger-Certificate"  # base64 of the sender's PEM certificate
MSP = "X-GridLedger-MSP"  # the sender's MSP
NONCE = "X-GridLedger-Nonce"
SIGNATURE = "X-GridLedger-Signature"  # base64 DER over the request's canonical message
PROOF = "X-GridLedger-Proof"  # a fetch: base64 of the holder's signed ProveHolder proposal
ACCESS_TX = "X-GridLedger-Access-Tx"  # answer: the transaction that logged the serving
OWNER_INFO = "X-GridLedger-Owner-Info"  # answer: the owner's fields, when the DACT grants them


def upload_message(address: str, nonce: str, customer_id: str | None = None
                   ) -> dict[str, Any]:
    """What an owner signs to store content at ``address`` (an operator names the
    customer whose content it is)."""
    message = {"context": UPLOAD_CONTEXT, "hashAddress": address, "nonce": nonce}
    if customer_id is not None:
        message["customerId"] = customer_id
    return message


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
    media_type: str = "application/octet-stream"


@dataclass(frozen=True)
class NodeInfo:
    """What ``GET /v1/nonce`` says: a fresh nonce, and who the node is."""

    nonce: str
    msp_id: str
    fingerprint: str  # SHA-256 of the node's certificate
    channel: str
    chaincode: str


class ServiceNodeClient:
    """Requests to one service node, signed as one Fabric identity.

    ``expect_node``: (MSP, certificate fingerprint) of the node this client means to talk
    to; a fetch refuses to sign a proof for any other (over plain HTTP, a man in the
    middle could otherwise have the proof name itself)."""

    def __init__(self, base_url: str, identity: Identity, signer: Signer, *,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None,
                 expect_node: tuple[str, str] | None = None) -> None:
        self.identity = identity
        self._signer = signer
        self._expect = expect_node
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
        return self.node_info().nonce

    def node_info(self) -> NodeInfo:
        """A fresh nonce, and the node's identity, channel and chaincode."""
        body = self._call("GET", "/v1/nonce").json()
        node = body.get("node") or {}
        return NodeInfo(body["nonce"], node.get("mspId", ""), node.get("fingerprint", ""),
                        body.get("channel", ""), body.get("chaincode", ""))

    def proof(self, message_for: Any) -> dict[str, str]:
        """Proof headers: ``message_for(nonce)`` is the message to sign."""
        nonce = self.nonce()
        signature = self._signer(canonical_json(message_for(nonce)))
        return {CERTIFICATE: base64.b64encode(self.identity.certificate).decode("ascii"),
                MSP: self.identity.msp_id, NONCE: nonce,
                SIGNATURE: base64.b64encode(signature).decode("ascii")}

    def holder_proof(self, address: str, token_id: str) -> bytes:
        """A proof, for this node, that we hold ``token_id``: our signed ProveHolder
        proposal (sent to the node, never to a peer by us)."""
        info = self.node_info()
        if self._expect is not None and (info.msp_id, info.fingerprint) != self._expect:
            raise ServiceNodeError(0, f"the node at {self._http.base_url} is {info.msp_id} "
                                   f"{info.fingerprint[:16]}..., not the node expected: no "
                                   "proof signed for it")
        if not (info.msp_id and info.fingerprint and info.channel and info.chaincode):
            raise ServiceNodeError(502, "the node did not say who it is (MSP, certificate "
                                   "fingerprint, channel, chaincode): cannot make a proof")
        return holder_proof(self.identity, self._signer, channel=info.channel,
                            chaincode=info.chaincode, token_id=token_id,
                            hash_address=address, nonce=info.nonce,
                            node_msp_id=info.msp_id, node_fingerprint=info.fingerprint)

    def fetch(self, address: str, token_id: str) -> Fetched:
        """The content at ``address`` under ``token_id`` (checked against its hash)."""
        proof = self.holder_proof(address, token_id)
        response = self._call("GET", f"/v1/content/{address}",
                              headers={PROOF: base64.b64encode(proof).decode("ascii")})
        if hash_address(response.content) != address:
            raise ServiceNodeError(502, f"the content served does not hash to {address}")
        owner = response.headers.get(OWNER_INFO)
        return Fetched(response.content, address, response.headers.get(ACCESS_TX, ""),
                       json.loads(base64.b64decode(owner)) if owner else None,
                       response.headers.get("Content-Type", "application/octet-stream"))

    def upload(self, content: bytes, media_type: str = "application/octet-stream",
               customer_id: str | None = None) -> str:
        """Store content (its owner, or an operator naming the customer whose content it
        is); its hash address."""
        address = hash_address(content)
        headers = self.proof(lambda n: upload_message(address, n, customer_id))
        params = {"customerId": customer_id} if customer_id is not None else None
        self._call("PUT", f"/v1/content/{address}", content=content, params=params,
                   headers={**headers, "Content-Type": media_type})
        return address

    def produce_profile(self, meter_id: str, from_seq: int = 1, limit: int = 1000
                        ) -> dict[str, Any]:
        """Have the node produce the caller's meter's consumption profile from the
        ledger and store it: {"hashAddress", "size", "mediaType", "intervals"}."""
        headers = self.proof(lambda n: profile_message(meter_id, from_seq, limit, n))
        body = {"meterId": meter_id, "fromSeq": from_seq, "limit": limit}
        return self._call("POST", "/v1/profiles", json=body, headers=headers).json()
