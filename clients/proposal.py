"""Building and signing transaction proposals and transactions, online or offline.

A proposal is built from the caller's serialized identity, a fresh nonce and the
chaincode invocation; its transaction ID is SHA-256(nonce || creator), as every peer
recomputes. ``Proposal.bytes`` is what must be signed: hand it to a hardware key, a meter
or a browser, then ``Proposal.signed(signature)``. The same holds for the transaction the
endorsers return (``Transaction.bytes`` / ``Transaction.signed``) and for commit-status
and chaincode-event requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import timestamp_pb2

from .errors import ArgumentError

NONCE_LENGTH = 24


def transaction_id(nonce: bytes, creator: bytes) -> str:
    """Fabric's transaction ID: hex SHA-256 of the nonce followed by the creator bytes."""
    return hashlib.sha256(nonce + creator).hexdigest()


# A private write's salt (the chaincode salts the value before the channel stores its hash).
SALT_BYTES = 32


def private_arguments(
    function: str, args: Sequence[str], *, private: frozenset[str], salted: frozenset[str]
) -> tuple[tuple[str, ...], dict[str, bytes] | None]:
    """(proposal arguments, transient map) for one call: the arguments of a function in
    ``private`` travel in the transient map (``args``, a JSON list), out of the block;
    a function in ``salted`` writes private data and gets a fresh ``salt``."""
    transient: dict[str, bytes] = {}
    if function in salted:
        transient["salt"] = os.urandom(SALT_BYTES)
    if function in private:
        transient["args"] = json.dumps(list(args)).encode("utf-8")
        args = ()
    return tuple(args), transient or None


def _arg(value: bytes | str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise ArgumentError(
        f"chaincode arguments must be str or bytes, got {type(value).__name__}; "
        "encode numbers and objects (e.g. json.dumps) first"
    )


@dataclass(frozen=True)
class Proposal:
    """A proposal to invoke ``function`` of a chaincode, ready to sign."""

    channel: str
    chaincode: str
    transaction_id: str
    proposal: proposal_pb2.Proposal
    endorsing_organizations: tuple[str, ...] = ()
    signature: bytes = b""
    _bytes: bytes = field(default=b"", repr=False)

    @classmethod
    def build(
        cls,
        creator: bytes,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[bytes | str] = (),
        *,
        transient: Mapping[str, bytes | str] | None = None,
        endorsing_organizations: Sequence[str] = (),
        nonce: bytes | None = None,
        timestamp: dt.datetime | None = None,
    ) -> Proposal:
        """Build an unsigned proposal; ``creator`` is the serialized identity.

        ``timestamp`` (default: now) is the transaction time the chaincode sees; Fabric
        takes the client's word for it, so a replay or a simulated day can set it."""
        if not channel or not chaincode or not function:
            raise ArgumentError("a proposal needs a channel, a chaincode and a function name")
        nonce = nonce if nonce is not None else os.urandom(NONCE_LENGTH)
        txid = transaction_id(nonce, creator)
        ts = timestamp_pb2.Timestamp()
        if timestamp is None:
            ts.GetCurrentTime()
        else:
            ts.FromDatetime(timestamp.astimezone(dt.UTC))
        extension = proposal_pb2.ChaincodeHeaderExtension(
            chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode)
        )
        channel_header = common_pb2.ChannelHeader(
            type=common_pb2.ENDORSER_TRANSACTION,
            timestamp=ts,
            channel_id=channel,
            tx_id=txid,
            extension=extension.SerializeToString(),
        )
        header = common_pb2.Header(
            channel_header=channel_header.SerializeToString(),
            signature_header=common_pb2.SignatureHeader(
                creator=creator, nonce=nonce
            ).SerializeToString(),
        )
        spec = chaincode_pb2.ChaincodeInvocationSpec(
            chaincode_spec=chaincode_pb2.ChaincodeSpec(
                type=chaincode_pb2.ChaincodeSpec.UNDEFINED,
                chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode),
                input=chaincode_pb2.ChaincodeInput(args=[_arg(function), *map(_arg, args)]),
            )
        )
        payload = proposal_pb2.ChaincodeProposalPayload(
            input=spec.SerializeToString(),
            TransientMap={k: _arg(v) for k, v in (transient or {}).items()},
        )
        proposal = proposal_pb2.Proposal(
            header=header.SerializeToString(), payload=payload.SerializeToString()
        )
        return cls(
            channel, chaincode, txid, proposal, tuple(endorsing_organizations),
            _bytes=proposal.SerializeToString(),
        )

    @property
    def bytes(self) -> bytes:
        """The bytes to sign (the serialized Proposal)."""
        return self._bytes or self.proposal.SerializeToString()

    @property
    def digest(self) -> bytes:
        """SHA-256 of ``bytes``, for signers that take a prehashed message."""
        return hashlib.sha256(self.bytes).digest()

    def signed(self, signature: bytes) -> Proposal:
        """This proposal with its creator's signature over ``bytes``."""
        return Proposal(
            self.channel, self.chaincode, self.transaction_id, self.proposal,
            self.endorsing_organizations, signature, self._bytes,
        )

    def signed_proposal(self) -> proposal_pb2.SignedProposal:
        if not self.signature:
            raise ArgumentError(f"proposal {self.transaction_id} is not signed yet")
        return proposal_pb2.SignedProposal(proposal_bytes=self.bytes, signature=self.signature)

    def to_bytes(self) -> bytes:
        """Serialize for handing over (e.g. to a process that holds the key)."""
        return gateway_pb2.ProposedTransaction(
            transaction_id=self.transaction_id,
            proposal=proposal_pb2.SignedProposal(
                proposal_bytes=self.bytes, signature=self.signature
            ),
            endorsing_organizations=self.endorsing_organizations,
        ).SerializeToString()

    @classmethod
    def from_bytes(cls, data: bytes) -> Proposal:
        """The inverse of ``to_bytes``."""
        msg = gateway_pb2.ProposedTransaction.FromString(data)
        proposal = proposal_pb2.Proposal.FromString(msg.proposal.proposal_bytes)
        header = common_pb2.Header.FromString(proposal.header)
        ch = common_pb2.ChannelHeader.FromString(header.channel_header)
        ext = proposal_pb2.ChaincodeHeaderExtension.FromString(ch.extension)
        return cls(
            ch.channel_id, ext.chaincode_id.name, msg.transaction_id, proposal,
            tuple(msg.endorsing_organizations), msg.proposal.signature,
            msg.proposal.proposal_bytes,
        )


@dataclass(frozen=True)
class Transaction:
    """An endorsed transaction: the envelope the endorsers prepared, ready to sign."""

    channel: str
    transaction_id: str
    envelope: common_pb2.Envelope

    @property
    def bytes(self) -> bytes:
        """The bytes to sign (the envelope's payload)."""
        return self.envelope.payload

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.bytes).digest()

    @property
    def signature(self) -> bytes:
        return self.envelope.signature

    @property
    def signed_by(self) -> bool:
        return bool(self.envelope.signature)

    def signed(self, signature: bytes) -> Transaction:
        env = common_pb2.Envelope(payload=self.envelope.payload, signature=signature)
        return Transaction(self.channel, self.transaction_id, env)

    def _chaincode_action(self) -> proposal_pb2.ChaincodeAction:
        payload = common_pb2.Payload.FromString(self.envelope.payload)
        tx = transaction_pb2.Transaction.FromString(payload.data)
        action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        prp = proposal_response_pb2.ProposalResponsePayload.FromString(
            action.action.proposal_response_payload
        )
        return proposal_pb2.ChaincodeAction.FromString(prp.extension)

    @property
    def result(self) -> bytes:
        """What the chaincode function returned, as agreed by the endorsers."""
        return self._chaincode_action().response.payload

    @property
    def chaincode_event(self) -> chaincode_event_pb2.ChaincodeEvent | None:
        """The event the function set (None if it set none); it fires once committed."""
        raw = self._chaincode_action().events
        if not raw:
            return None
        event = chaincode_event_pb2.ChaincodeEvent.FromString(raw)
        return event if event.event_name else None

    def to_bytes(self) -> bytes:
        """Serialize for handing over; channel and ID are recovered from the envelope."""
        return gateway_pb2.PreparedTransaction(
            transaction_id=self.transaction_id, envelope=self.envelope
        ).SerializeToString()

    @classmethod
    def from_bytes(cls, data: bytes) -> Transaction:
        msg = gateway_pb2.PreparedTransaction.FromString(data)
        payload = common_pb2.Payload.FromString(msg.envelope.payload)
        ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        return cls(ch.channel_id, msg.transaction_id, msg.envelope)


@dataclass(frozen=True)
class SignableRequest:
    """A commit-status or chaincode-events request: serialized bytes to sign."""

    bytes: bytes
    signature: bytes = b""

    def signed(self, signature: bytes) -> SignableRequest:
        return SignableRequest(self.bytes, signature)


def commit_status_request(channel: str, txid: str, creator: bytes) -> SignableRequest:
    return SignableRequest(
        gateway_pb2.CommitStatusRequest(
            transaction_id=txid, channel_id=channel, identity=creator
        ).SerializeToString()
    )
