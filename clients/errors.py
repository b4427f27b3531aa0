"""The clients' exception tree, and the typed errors of the Gateway client.

As in the official fabric-gateway clients, each phase of a transaction has its own error:
``EndorseError``, ``SubmitError`` and ``CommitStatusError`` wrap the gRPC failure of that
call (with the status code, the transaction ID and each endorser's message), while
``CommitError`` means the transaction reached a block but failed validation (with the
validation code). ``retryable`` tells a caller whether trying again, with a new
transaction, can succeed.

Every error :mod:`gridledger.clients` raises on purpose is a :class:`ClientError`, under
the project's root (``GridLedgerError``, re-exported here)::

    GridLedgerError                   gridledger.errors
     └── ClientError
          ├── ArgumentError           nothing was sent: the caller's input cannot be used
          │    └── ProfileError       profile.py: connection profile missing or incomplete
          ├── IdentityError           a certificate or key unreadable, or not a pair
          ├── GatewayError            a Gateway call failed (gRPC code, endorsers' answers)
          │    ├── EvaluateError, EndorseError, SubmitError, CommitStatusError
          │    └── ChaincodeEventsError
          ├── DeliverError            the Deliver service refused or ended a block stream
          ├── CommitError             ordered, but failed validation (validation code)
          ├── CAError                 ca_errors.py: the Fabric CA refused or did not answer
          └── WalletError             wallet.py: a wallet entry unreadable or inconsistent
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import transaction_pb2
from google.rpc import status_pb2

from gridledger.errors import GridLedgerError

__all__ = [
    "ENDORSERS_DISAGREE",
    "ArgumentError",
    "ChaincodeEventsError",
    "ClientError",
    "CommitError",
    "CommitStatusError",
    "DeliverError",
    "EndorseError",
    "EndpointDetail",
    "EvaluateError",
    "GatewayError",
    "GridLedgerError",
    "IdentityError",
    "SubmitError",
    "validation_code_name",
]

# Validation codes caused by concurrent transactions, not by the transaction itself.
RETRYABLE_VALIDATION_CODES = frozenset({"MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT"})
# gRPC codes where the network, not the request, is at fault.
RETRYABLE_GRPC_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
     grpc.StatusCode.RESOURCE_EXHAUSTED}
)


_CHAINCODE_RESPONSE = re.compile(r"chaincode response (\d{3})")
# What the Gateway says when endorsers of different organisations returned different
# results (read sets, writes or answers).
ENDORSERS_DISAGREE = "ProposalResponsePayloads do not match"


class ClientError(GridLedgerError):
    """Base of every error raised by the GridLedger clients."""


class ArgumentError(ClientError, ValueError):
    """The caller passed something the client cannot send; nothing was sent."""


class IdentityError(ClientError, ValueError):
    """A certificate or key could not be read, or they do not belong together."""


@dataclass(frozen=True)
class EndpointDetail:
    """What one peer or orderer said about a failed request."""

    address: str
    msp_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.address} ({self.msp_id}): {self.message}"


class GatewayError(ClientError):
    """A Gateway gRPC call failed; ``code`` is the gRPC status code."""

    phase = "gateway call"

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        transaction_id: str = "",
        details: tuple[EndpointDetail, ...] = (),
    ) -> None:
        self.code = code
        self.grpc_message = message
        self.transaction_id = transaction_id
        self.details = details
        text = f"{self.phase} failed: {code.name}: {message}"
        if transaction_id:
            text += f" (transaction {transaction_id})"
        text += "".join(f"\n  - {d}" for d in details)
        hint = _hint(code, _access_denied(message, details))
        if hint:
            text += f"\n  {hint}"
        super().__init__(text)

    @property
    def chaincode_status(self) -> int | None:
        """The status the chaincode answered with, when it refused the proposal."""
        for d in self.details:
            m = _CHAINCODE_RESPONSE.search(d.message)
            if m:
                return int(m.group(1))
        return None

    @property
    def access_denied(self) -> bool:
        """A peer refused the caller's identity (wrong MSP, unknown CA, expired, revoked)."""
        return _access_denied(self.grpc_message, self.details)

    @property
    def endorsers_disagree(self) -> bool:
        """The endorsers returned different results: usually one peer has not yet
        committed the block another already has; a nondeterministic chaincode otherwise."""
        return any(ENDORSERS_DISAGREE in m
                   for m in (self.grpc_message, *(d.message for d in self.details)))

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        # The Gateway reports a chaincode's refusal, and an endorser's refusal of the
        # creator, as ABORTED too; neither is transient.
        return (self.code in RETRYABLE_GRPC_CODES and self.chaincode_status is None
                and not self.access_denied)

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError, transaction_id: str = "") -> GatewayError:
        """Build the phase's error from a gRPC error, decoding the peer's ErrorDetails."""
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        message = err.details() if hasattr(err, "details") else str(err)
        return cls(
            code, message or "", transaction_id=transaction_id, details=_error_details(err)
        )


class EvaluateError(GatewayError):
    phase = "evaluate"


class EndorseError(GatewayError):
    phase = "endorse"


class SubmitError(GatewayError):
    phase = "submit"


class CommitStatusError(GatewayError):
    phase = "commit status"


class ChaincodeEventsError(GatewayError):
    phase = "chaincode events"


class DeliverError(ClientError):
    """The Deliver service refused a block request or ended the stream."""


class CommitError(ClientError):
    """The transaction was ordered into a block but failed validation: nothing was written."""

    def __init__(self, transaction_id: str, code: int, block_number: int) -> None:
        self.transaction_id = transaction_id
        self.code = code
        self.code_name = validation_code_name(code)
        self.block_number = block_number
        super().__init__(
            f"transaction {transaction_id} failed validation in block {block_number} "
            f"with {self.code_name}"
            + (
                ": another transaction changed what it read; submit it again"
                if self.code_name in RETRYABLE_VALIDATION_CODES
                else ""
            )
        )

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.code_name in RETRYABLE_VALIDATION_CODES


def validation_code_name(code: int) -> str:
    try:
        return transaction_pb2.TxValidationCode.Name(code)
    except ValueError:
        return f"UNKNOWN_CODE_{code}"


def _error_details(err: grpc.RpcError) -> tuple[EndpointDetail, ...]:
    # The Gateway sends a google.rpc.Status in the trailing metadata, whose details are
    # gateway.ErrorDetail messages: one per endorser or orderer that refused.
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        out = []
        for any_msg in status.details:
            detail = gateway_pb2.ErrorDetail()
            if any_msg.Unpack(detail):
                out.append(EndpointDetail(detail.address, detail.msp_id, detail.message))
        return tuple(out)
    return ()


def _access_denied(message: str, details: tuple[EndpointDetail, ...]) -> bool:
    return any("access denied" in m for m in (message, *(d.message for d in details)))


_IDENTITY_HINT = (
    "the peer refused this identity: check its MSP ID, that its certificate comes from "
    "that organisation's CA, has not expired and is not revoked (revocations reach the "
    "peers through the CRL in the channel configuration; the peer's log names the reason)"
)


def _hint(code: grpc.StatusCode, access_denied: bool = False) -> str:
    if access_denied:
        return _IDENTITY_HINT
    return {
        grpc.StatusCode.UNAVAILABLE: "is the peer running and the TLS root right? "
        "(`gridledger network status`)",
        grpc.StatusCode.DEADLINE_EXCEEDED: "the call took longer than its deadline; "
        "retry, or pass a longer timeout",
        grpc.StatusCode.PERMISSION_DENIED: _IDENTITY_HINT,
    }.get(code, "")
