"""What the service node asks the ledger, through our Gateway client.

``Ledger`` is the port (tests give a fake); ``GatewayLedger`` is the real one, acting as
the node's own identity (an operator of its organisation) on its organisation's peer:

- ``prove``: evaluate the holder's own signed ``access:ProveHolder`` proposal on the
  node's peer. The peer's MSP validates the holder's certificate first (chain, expiry,
  the CRLs published to the channel: a revoked holder is refused here), then the
  chaincode checks that the holder holds a usable token granting the address, and names
  the resource it grants. Nothing is logged.
- ``resource_owner``: ``access:ResourceOwner`` on the node's peer: the resource's owner
  (customerData), media type and hash address, from the ledger.
- ``serve``: submit ``access:Serve`` with the same proof and wait for it to commit VALID.
  Every endorser checks the proof (signature, that it names this node) and the token,
  and the serving is in the access log the moment it is valid: the node serves nothing
  before that. There is no cache of token checks: each request is one transaction
  ordered after every revocation before it (a revocation committed first makes it fail;
  one racing it fails it with MVCC_READ_CONFLICT), so revocation is effective from the
  next block.
- ``meter_owner``, ``readings``: the private meter record and its readings, read on the
  node's own peer (the Utility's), where customerData is; for producing a profile.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from gridledger.clients.access import Access
from gridledger.clients.errors import CommitError, GatewayError
from gridledger.clients.gateway import Gateway
from gridledger.clients.metering import Metering

_CHAINCODE_ANSWER = re.compile(r"chaincode response (\d{3}), (.*)", re.DOTALL)


class LedgerRefusal(Exception):
    """The ledger refused: ``status`` as the chaincode answered (or 503), and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Ledger(Protocol):
    def prove(self, proof: bytes) -> dict[str, Any]: ...
    def resource_owner(self, resource_id: str) -> dict[str, Any]: ...
    def serve(self, proof: bytes) -> dict[str, Any]: ...
    def meter_owner(self, meter_id: str) -> str: ...
    def readings(self, meter_id: str, from_seq: int, limit: int) -> list[dict[str, Any]]: ...


def refusal(exc: GatewayError) -> LedgerRefusal:
    """The chaincode's status and reason from a Gateway error (503 if it never ran)."""
    for detail in exc.details:
        m = _CHAINCODE_ANSWER.search(detail.message)
        if m:
            return LedgerRefusal(int(m.group(1)), m.group(2).strip())
    return LedgerRefusal(503, f"the ledger did not answer: {exc.grpc_message}")


def proof_refusal(exc: GatewayError) -> LedgerRefusal:
    """A refusal of the holder's own proposal: the chaincode's, or the peer's MSP refusing
    the holder's certificate (401: revoked, expired, or of no channel organisation)."""
    found = refusal(exc)
    if found.status == 503 and exc.access_denied:
        # The peer's endorser says "access denied" for a creator its MSP does not accept
        # (a revoked or expired certificate, an unknown CA); its own log says which.
        return LedgerRefusal(401, "the peer refused the holder's certificate (revoked, "
                             "expired, or not of a channel organisation): nothing served")
    return found


class GatewayLedger:
    """The ledger through one Gateway connection (thread safe, as gRPC channels are)."""

    def __init__(self, gateway: Gateway, channel: str, chaincode: str = "metering") -> None:
        network = gateway.network(channel)
        self._access = Access(network, chaincode)
        self._metering = Metering(network)

    def prove(self, proof: bytes) -> dict[str, Any]:
        try:
            return self._access.prove_holder(proof)
        except GatewayError as exc:
            raise proof_refusal(exc) from None

    def resource_owner(self, resource_id: str) -> dict[str, Any]:
        try:
            return self._access.resource_owner(resource_id)
        except GatewayError as exc:
            raise refusal(exc) from None

    def serve(self, proof: bytes) -> dict[str, Any]:
        try:
            commit = self._access.serve_async(proof)
            result = commit.wait()
        except GatewayError as exc:
            raise refusal(exc) from None
        except CommitError as exc:
            raise LedgerRefusal(409 if exc.retryable else 503,
                                f"the serving was not logged ({exc.code_name}): nothing "
                                "served; ask again") from None
        return json.loads(result)

    def meter_owner(self, meter_id: str) -> str:
        try:
            return self._metering.get_meter(meter_id)["meter"]["customerId"]
        except GatewayError as exc:
            raise refusal(exc) from None

    def readings(self, meter_id: str, from_seq: int, limit: int) -> list[dict[str, Any]]:
        try:
            return self._metering.get_readings(meter_id, from_seq, limit)
        except GatewayError as exc:
            raise refusal(exc) from None
