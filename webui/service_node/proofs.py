"""Who is asking: single-use nonces and the signed proof every request carries.

An upload's or a profile request's proof is the sender's certificate, a nonce this node
issued and the sender's signature (its Fabric identity key) over the request's
canonical message. The node checks, before anything else: the nonce is one it issued,
unexpired and unused (it is used up now, whatever the outcome); the MSP is one the node
knows (an unknown MSP is refused: there is no CA to check the certificate against); the
certificate is in its validity period and signed by that MSP's CA; the signature
verifies. Headers that are not what they should be (not base64, not a PEM certificate,
not ASCII) are a 400, never a server error.

A fetch's proof is the holder's signed ProveHolder proposal (:func:`verify_holder`):
the same checks on its creator, and then the node's own peer evaluates it
(app.py), whose MSP also applies the channel's CRLs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from gridledger.clients.access_service import CERTIFICATE, MSP, NONCE, PROOF, SIGNATURE
from gridledger.formats import access_proof
from gridledger.formats.access import verify_with_certificate
from gridledger.formats.access_proof import HolderProof
from gridledger.formats.ca_attributes import read_ca_attributes
from gridledger.formats.errors import FormatError


class ProofError(Exception):
    """A request's proof is missing or wrong: ``status`` 400, 401 or 403."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class NonceStore:
    """Nonces this node issued: each good once, for ``ttl`` seconds (bounded in number)."""

    def __init__(self, ttl: float = 60.0, limit: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._limit, self._clock = ttl, limit, clock
        self._issued: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> str:
        nonce = os.urandom(16).hex()
        with self._lock:
            self._issued[nonce] = self._clock() + self.ttl
            while len(self._issued) > self._limit:
                self._issued.popitem(last=False)
        return nonce

    def use(self, nonce: str) -> None:
        """Use ``nonce`` up; 401 unless issued here, unexpired and unused."""
        with self._lock:
            expires = self._issued.pop(nonce, None)
        if expires is None:
            raise ProofError(401, "unknown or already used nonce: ask /v1/nonce for one")
        if self._clock() > expires:
            raise ProofError(401, f"the nonce expired (they last {self.ttl:.0f} s)")


@dataclass(frozen=True)
class Sender:
    """A request's proven sender."""

    msp_id: str
    cert_pem: bytes
    certificate: x509.Certificate
    attributes: dict[str, str]
    nonce: str

    @property
    def node_ou(self) -> str | None:
        ous = {str(a.value) for a in self.certificate.subject.get_attributes_for_oid(
            x509.NameOID.ORGANIZATIONAL_UNIT_NAME)} & {"client", "peer", "admin", "orderer"}
        return ous.pop() if len(ous) == 1 else None


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise ProofError(401, f"missing {name}: every request proves its sender "
                         "(certificate, nonce, signature)")
    return value


def _check_certificate(msp_id: str, cert: x509.Certificate,
                       roots: Mapping[str, Sequence[x509.Certificate]]) -> None:
    """An MSP this node knows, a certificate its CA issued, within its validity."""
    if msp_id not in roots:
        raise ProofError(401, f"unknown MSP {msp_id[:64]!r}: this node checks certificates of "
                         f"{', '.join(sorted(roots)) or 'no organisation'} only")
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ProofError(401, "the certificate is outside its validity period")
    if not any(_issued_by(cert, ca) for ca in roots[msp_id]):
        raise ProofError(401, f"the certificate is not issued by {msp_id}'s CA")


def verify(headers: Mapping[str, str], message_for: Callable[[str], dict[str, Any]],
           nonces: NonceStore, roots: Mapping[str, Sequence[x509.Certificate]]) -> Sender:
    """The request's sender, proven; ProofError otherwise."""
    nonce = _header(headers, NONCE)
    nonces.use(nonce)
    msp_id = _header(headers, MSP)
    try:
        pem = base64.b64decode(_header(headers, CERTIFICATE).encode("ascii"), validate=True)
        cert = x509.load_pem_x509_certificate(pem)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ProofError(400, f"{CERTIFICATE} must be a base64 PEM certificate") from None
    _check_certificate(msp_id, cert, roots)
    try:
        good = verify_with_certificate(pem, message_for(nonce), _header(headers, SIGNATURE))
        attributes = read_ca_attributes(cert)
    except (FormatError, UnicodeError) as exc:
        raise ProofError(400, f"malformed proof: {exc}") from None
    if not good:
        raise ProofError(401, "the request signature does not verify with the certificate")
    return Sender(msp_id, pem, cert, attributes, nonce)


def verify_holder(text: str | None, nonces: NonceStore,
                  roots: Mapping[str, Sequence[x509.Certificate]]) -> HolderProof:
    """A fetch's holder proof (its base64 text), read and checked here: well formed, its
    nonce issued here (used up now), its creator's MSP known, certificate issued by that
    MSP's CA and in validity, its signature good. What it asks (token, address, which
    node) the caller checks; the ledger checks the rest."""
    if not text:
        raise ProofError(401, f"missing {PROOF}: a fetch carries the holder's signed "
                         "ProveHolder proposal (gridledger.clients.access.holder_proof)")
    try:
        proof = access_proof.parse_b64(text)
    except FormatError as exc:
        raise ProofError(400, str(exc)) from None
    nonces.use(proof.nonce)
    try:
        cert = x509.load_pem_x509_certificate(proof.cert_pem)
    except ValueError:
        raise ProofError(400, "the proof's creator certificate is not a PEM certificate") from None
    _check_certificate(proof.msp_id, cert, roots)
    if not proof.signature_valid():
        raise ProofError(401, "the holder's proof is not signed by its creator's key")
    return proof


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
