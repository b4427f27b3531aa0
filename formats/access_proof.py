"""A token holder's proof for a service node: a signed Fabric proposal of
``access:ProveHolder``.

To fetch content, a requester signs, with its Fabric identity, a proposal (as every
client does for every transaction) invoking::

    access:ProveHolder(tokenId, hashAddress, nonce, nodeMspId, nodeFingerprint)

``nonce`` is one the service node issued; ``nodeMspId`` and ``nodeFingerprint`` (SHA-256
of the node's certificate) name the one service node the request is for. The node
evaluates that very proposal on its own peer, so the peer's MSP validates the requester's
certificate (chain, expiry, the CRLs published to the channel) and the chaincode checks
the token; then the node hands the same bytes to ``access:Serve``, whose endorsers check
the signature and that the Serve transaction's creator is the node the proof names.

The bytes are a marshalled ``protos.SignedProposal`` (``proposal_bytes``, ``signature``),
sent as standard base64. :func:`parse` reads one (400-style ``FormatError`` when it is
not a ProveHolder proposal); :meth:`HolderProof.signature_valid` checks the creator's
signature over the proposal bytes (ECDSA P-256 / SHA-256, DER), as a peer does. This
module is shared by the chaincode, the service node and the clients: one reading of the
bytes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2
from google.protobuf.message import DecodeError

from .access import certificate_fingerprint, check_hex64
from .errors import FormatError
from .ids import check_id

PROVE_HOLDER = "access:ProveHolder"
NONCE = re.compile(r"[0-9a-f]{32,128}")
MAX_PROOF_BYTES = 16 * 1024  # a proposal with a certificate: a few KiB


def holder_proof_args(*, token_id: str, hash_address: str, nonce: str, node_msp_id: str,
                      node_fingerprint: str) -> list[str]:
    """ProveHolder's arguments, in order."""
    return [token_id, hash_address, nonce, node_msp_id, node_fingerprint]


def check_nonce(value: Any) -> str:
    """A service node's nonce: 32-128 lowercase hex characters."""
    if not isinstance(value, str) or not NONCE.fullmatch(value):
        raise FormatError("nonce must be 32-128 lowercase hex characters")
    return value


@dataclass(frozen=True)
class HolderProof:
    """What a holder's signed ProveHolder proposal says."""

    signed: bytes  # the marshalled SignedProposal, as received
    proposal_bytes: bytes
    signature: bytes
    msp_id: str  # the creator's
    cert_pem: bytes
    channel: str
    chaincode: str
    tx_id: str
    timestamp: dt.datetime
    token_id: str
    hash_address: str
    nonce: str
    node_msp_id: str
    node_fingerprint: str

    @property
    def holder_fingerprint(self) -> str:
        """SHA-256 of the creator's certificate (how a token names its holder)."""
        return certificate_fingerprint(self.cert_pem)

    def signature_valid(self) -> bool:
        """Whether the creator's certificate key signed the proposal bytes."""
        key = x509.load_pem_x509_certificate(self.cert_pem).public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        try:
            key.verify(self.signature, self.proposal_bytes, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


def _parse(message: Any, data: bytes, what: str) -> Any:
    try:
        message.ParseFromString(data)
    except (DecodeError, ValueError, TypeError):
        raise FormatError(f"the holder proof's {what} is not a valid protobuf message") from None
    return message


def decode(text: Any) -> bytes:
    """The proof's bytes from its base64 text (400-style errors)."""
    if not isinstance(text, str) or not text or len(text) > MAX_PROOF_BYTES * 2:
        raise FormatError("the holder proof must be the base64 of a signed proposal")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise FormatError("the holder proof is not valid base64") from None


def parse(signed: bytes) -> HolderProof:
    """Read a signed ProveHolder proposal (FormatError when it is anything else)."""
    if not signed or len(signed) > MAX_PROOF_BYTES:
        raise FormatError(f"the holder proof must be a signed proposal of at most "
                          f"{MAX_PROOF_BYTES} bytes")
    sp = _parse(proposal_pb2.SignedProposal(), signed, "signed proposal")
    proposal = _parse(proposal_pb2.Proposal(), sp.proposal_bytes, "proposal")
    header = _parse(common_pb2.Header(), proposal.header, "header")
    ch = _parse(common_pb2.ChannelHeader(), header.channel_header, "channel header")
    sh = _parse(common_pb2.SignatureHeader(), header.signature_header, "signature header")
    if ch.type != common_pb2.ENDORSER_TRANSACTION:
        raise FormatError("the holder proof is not an endorser transaction proposal")
    ext = _parse(proposal_pb2.ChaincodeHeaderExtension(), ch.extension, "header extension")
    payload = _parse(proposal_pb2.ChaincodeProposalPayload(), proposal.payload, "payload")
    if payload.TransientMap:
        raise FormatError("the holder proof carries no transient data")
    spec = _parse(chaincode_pb2.ChaincodeInvocationSpec(), payload.input, "invocation")
    args = list(spec.chaincode_spec.input.args)
    try:
        function, *rest = [a.decode("utf-8") for a in args]
    except (UnicodeDecodeError, ValueError):
        raise FormatError("the holder proof's arguments must be UTF-8 text") from None
    if function != PROVE_HOLDER or len(rest) != 5:
        raise FormatError(f"the holder proof must invoke {PROVE_HOLDER} with 5 arguments "
                          "(tokenId, hashAddress, nonce, nodeMspId, nodeFingerprint)")
    creator = _parse(identities_pb2.SerializedIdentity(), sh.creator, "creator")
    try:
        x509.load_pem_x509_certificate(creator.id_bytes)
    except ValueError:
        raise FormatError("the holder proof's creator has no PEM certificate") from None
    if not creator.mspid or hashlib.sha256(sh.nonce + sh.creator).hexdigest() != ch.tx_id:
        raise FormatError("the holder proof's transaction id is not SHA-256(nonce, creator)")
    if not sp.signature:
        raise FormatError("the holder proof is not signed")
    token_id, address, nonce, node_msp, node_fingerprint = rest
    try:
        when = ch.timestamp.ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        raise FormatError("the holder proof's timestamp is out of range") from None
    return HolderProof(
        signed=bytes(signed), proposal_bytes=bytes(sp.proposal_bytes),
        signature=bytes(sp.signature), msp_id=creator.mspid, cert_pem=bytes(creator.id_bytes),
        channel=ch.channel_id, chaincode=ext.chaincode_id.name, tx_id=ch.tx_id, timestamp=when,
        token_id=check_id(token_id, "tokenId"),
        hash_address=check_hex64(address, "hashAddress"), nonce=check_nonce(nonce),
        node_msp_id=check_id(node_msp, "nodeMspId"),
        node_fingerprint=check_hex64(node_fingerprint, "nodeFingerprint"))


def parse_b64(text: Any) -> HolderProof:
    """:func:`parse` of the proof's base64 text."""
    return parse(decode(text))
