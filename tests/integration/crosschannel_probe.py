"""A probe contract for tests/integration/test_cross_channel.py: it calls another chaincode
through ``Stub.invoke_chaincode`` and reports what came back.

Served in chaincode ``health`` beside the real health contract (``--contracts
health,tests.integration.crosschannel_probe``, through tests/integration/rogue.py's
``modified_chaincode``): ``health`` is one package and one server per organisation,
defined on both channels, so the probe runs on ``energy`` and on ``market`` alike.
"""

from __future__ import annotations

import json
from typing import Any

from gridledger.chaincode.health.contract import ledger_key
from gridledger.chaincode.shim import ChaincodeError, Contract, PeerError, Stub, evaluate, submit


class CrossChannelProbe(Contract):
    """Calls across (or on its own channel) for the integration tests."""

    name = "xprobe"

    @evaluate
    def Read(self, stub: Stub, channel: str, chaincode: str, args_json: str) -> dict[str, Any]:
        """The called function's Response, as the caller sees it; a refusal by the peer
        itself as {"refused": its message}."""
        try:
            answer = stub.invoke_chaincode(chaincode, json.loads(args_json), channel)
        except PeerError as exc:
            return {"refused": exc.message}
        return {"status": answer.status, "message": answer.message,
                "payload": answer.payload.decode("utf-8", "replace")}

    @submit
    def Mark(self, stub: Stub, key: str, channel: str, chaincode: str,
             args_json: str) -> dict[str, Any]:
        """Write health key ``key``/before, make the call, write ``key`` = its status.

        Fails with the called function's status when it failed; answers only the status
        (the block carries the answer, so nothing read across goes into it).
        """
        stub.put_state(ledger_key(key + "/before"), b"1")
        answer = stub.invoke_chaincode(chaincode, json.loads(args_json), channel)
        if not answer.ok:
            raise ChaincodeError(f"across: {answer.message}", status=answer.status)
        stub.put_state(ledger_key(key), str(answer.status).encode())
        return {"status": answer.status}


CONTRACTS = [CrossChannelProbe]
