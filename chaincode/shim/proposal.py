"""What a transaction learns from the SignedProposal the peer forwards with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2
from google.protobuf import message, timestamp_pb2

# Only these header types carry a chaincode invocation (same check as the Go shim).
_VALID_HEADER_TYPES = (common_pb2.ENDORSER_TRANSACTION, common_pb2.CONFIG)


@dataclass(frozen=True)
class ProposalFacts:
    """The parts of a proposal a contract may depend on."""

    creator: bytes
    transient: dict[str, bytes] = field(default_factory=dict)
    timestamp: timestamp_pb2.Timestamp = field(default_factory=timestamp_pb2.Timestamp)
    channel_header_tx_id: str = ""
    # The channel and chaincode the client's proposal names. A chaincode called by another
    # (INVOKE_CHAINCODE) gets the caller's SignedProposal: these name the caller's.
    channel_id: str = ""
    chaincode: str = ""

    @property
    def timestamp_datetime(self) -> datetime:
        """The client's proposal timestamp as an aware UTC datetime."""
        return self.timestamp.ToDatetime(tzinfo=UTC)

    @property
    def timestamp_rfc3339(self) -> str:
        """The proposal timestamp as RFC 3339 text, e.g. 2025-01-31T12:00:00.123Z."""
        return self.timestamp.ToJsonString()


def parse_signed_proposal(signed: proposal_pb2.SignedProposal) -> ProposalFacts:
    """Extract creator, transient map and timestamp; raise ValueError when malformed."""
    proposal = proposal_pb2.Proposal()
    proposal.ParseFromString(signed.proposal_bytes)
    if not proposal.header:
        raise ValueError("proposal has no header")
    header = common_pb2.Header()
    header.ParseFromString(proposal.header)
    channel_header = common_pb2.ChannelHeader()
    channel_header.ParseFromString(header.channel_header)
    if channel_header.type not in _VALID_HEADER_TYPES:
        raise ValueError(f"proposal header type {channel_header.type} is not a transaction")
    signature_header = common_pb2.SignatureHeader()
    signature_header.ParseFromString(header.signature_header)
    payload = proposal_pb2.ChaincodeProposalPayload()
    payload.ParseFromString(proposal.payload)
    return ProposalFacts(
        creator=bytes(signature_header.creator),
        transient={k: bytes(v) for k, v in payload.TransientMap.items()},
        timestamp=channel_header.timestamp,
        channel_header_tx_id=channel_header.tx_id,
        channel_id=channel_header.channel_id,
        chaincode=_invoked_chaincode(payload.input),
    )


def _invoked_chaincode(raw: bytes) -> str:
    # The peer has parsed this ChaincodeInvocationSpec already (it routed the proposal by
    # it); "" rather than a failed transaction if it ever is not one.
    spec = chaincode_pb2.ChaincodeInvocationSpec()
    try:
        spec.ParseFromString(raw)
    except message.DecodeError:
        return ""
    return spec.chaincode_spec.chaincode_id.name
