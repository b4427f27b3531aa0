"""What the service node asks the ledger, through our Gateway client.

``Ledger`` is the port (tests give a fake); ``GatewayLedger`` is the real one, acting as
the node's own identity (an operator of its organisation) on its organisation's peer:

- ``serve``: submit ``access:Serve`` and wait for it to commit VALID. Every endorser
  checks the token and the requester's proof, and the serving is in the access log
  the moment it is valid: the node serves nothing before that. There is no cache of
  token checks: each request is one transaction ordered after every revocation before
  it (a revocation committed first makes it fail; one racing it fails it with
  MVCC_READ_CONFLICT), so revocation is effective from the next block.
- ``check``: the same checks as an evaluate (nothing logged), to refuse with the
  ledger's reason without disclosing whether this node holds the content.
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
    def serve(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def check(self, request: dict[str, Any]) -> None: ...
    def meter_owner(self, meter_id: str) -> str: ...
    def readings(self, meter_id: str, from_seq: int, limit: int) -> list[dict[str, Any]]: ...


def refusal(exc: GatewayError) -> LedgerRefusal:
    """The chaincode's status and reason from a Gateway error (503 if it never ran)."""
    for detail in exc.details:
        m = _CHAINCODE_ANSWER.search(detail.message)
        if m:
            return LedgerRefusal(int(m.group(1)), m.group(2).strip())
    return LedgerRefusal(503, f"the ledger did not answer: {exc.grpc_message}")


class GatewayLedger:
    """The ledger through one Gateway connection (thread safe, as gRPC channels are)."""

    def __init__(self, gateway: Gateway, channel: str) -> None:
        network = gateway.network(channel)
        self._access = Access(network)
        self._metering = Metering(network)

    def serve(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            commit = self._access.serve_async(request)
            result = commit.wait()
        except GatewayError as exc:
            raise refusal(exc) from None
        except CommitError as exc:
            raise LedgerRefusal(409 if exc.retryable else 503,
                                f"the serving was not logged ({exc.code_name}): nothing "
                                "served; ask again") from None
        return json.loads(result)

    def check(self, request: dict[str, Any]) -> None:
        try:
            self._access.contract.evaluate("Serve", _dump(request))
        except GatewayError as exc:
            raise refusal(exc) from None

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


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)
