"""Errors raised by the shim.

    ShimError                 root of everything the shim raises
    ├── ChaincodeError        a contract's refusal; becomes a Response with its status
    ├── PeerError             the peer answered a stub request with ERROR
    └── StreamClosedError     the stream to the peer ended while a request waited

Contracts raise ``ChaincodeError`` (or let ``PeerError`` propagate), or let a
``gridledger.formats.errors.FormatError`` (bad input to a shared format check) escape:
the dispatcher answers it with status 400 and its message. Anything else that escapes a
transaction function is treated as a bug: logged, and answered with a generic status 500
so internals never reach the client.
"""

from __future__ import annotations


class ShimError(Exception):
    """Root of all errors raised by the GridLedger chaincode shim."""


class ChaincodeError(ShimError):
    """A deliberate refusal by a contract.

    ``status`` follows Fabric's convention: 400-499 for bad input or a refused request,
    500 for a failure. Anything >= 400 fails endorsement; the message reaches the client.
    """

    def __init__(self, message: str, status: int = 500) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"chaincode error status must be 400-599, got {status}")
        super().__init__(message)
        self.message = message
        self.status = status


class PeerError(ShimError):
    """The peer answered a stub request (GET_STATE, PUT_STATE, ...) with ERROR."""

    def __init__(self, request_type: str, message: str) -> None:
        super().__init__(f"{request_type} refused by peer: {message}")
        self.request_type = request_type
        self.message = message


class StreamClosedError(ShimError):
    """The stream to the peer closed before the answer to a request arrived."""
