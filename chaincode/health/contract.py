"""The ``health`` contract: the first chaincode on the network, used to check it works.

- ``Ping`` (evaluate): who is asking, on which channel, at which proposal time.
- ``Put(key, value)`` (submit): store a text value and emit event ``HealthPut``.
- ``Get(key)`` (evaluate): read it back; status 404 when absent.
- ``Increment(key)`` (submit): read, add one, write: a read-modify-write whose racing
  copies conflict (MVCC_READ_CONFLICT), which blind ``Put`` never does.

Integration tests use Put/Get to check endorsement policies end to end.
"""

from __future__ import annotations

from gridledger.formats import events

from ..common.callers import (
    AGGREGATOR,
    REGULATOR,
    UTILITY,
    require_customer_or_operator,
    require_member,
)
from ..shim import ChaincodeError, Contract, Stub, canonical_json, evaluate, submit

# Several contracts share one chaincode namespace: keep health's keys apart.
KEY_PREFIX = "health:"
MAX_KEY_LENGTH = 256


def ledger_key(key: str) -> str:
    """The ledger key holding a health value; refuses unusable keys with status 400."""
    if not key:
        raise ChaincodeError("key must not be empty", status=400)
    if len(key) > MAX_KEY_LENGTH:
        raise ChaincodeError(f"key longer than {MAX_KEY_LENGTH} characters", status=400)
    if "\x00" in key:
        # U+0000 starts Fabric composite keys, which range queries never return.
        raise ChaincodeError("key must not contain U+0000", status=400)
    return KEY_PREFIX + key


class HealthContract(Contract):
    """Liveness and endorsement checks."""

    name = "health"

    @evaluate
    def Ping(self, stub: Stub) -> dict[str, str]:
        """Return the caller's MSP, the channel and the proposal timestamp."""
        require_member(stub, action="Ping")
        return {
            "msp": stub.creator.msp_id,
            "channel": stub.channel_id,
            "txTimestamp": stub.tx_timestamp_rfc3339,
        }

    @submit
    def Put(self, stub: Stub, key: str, value: str) -> dict[str, str]:
        """Store ``value`` under ``key`` and emit ``HealthPut`` with {"key": key}."""
        require_customer_or_operator(stub, UTILITY, REGULATOR, AGGREGATOR, action="Put")
        if not value:
            # The ledger treats an empty value as a delete.
            raise ChaincodeError("value must not be empty", status=400)
        stub.put_state(ledger_key(key), value.encode("utf-8"))
        stub.set_event(events.HEALTH_PUT, canonical_json({"key": key}))
        return {"key": key}

    @evaluate
    def Get(self, stub: Stub, key: str) -> bytes:
        """Return the stored value of ``key``; status 404 when there is none."""
        require_member(stub, action="Get")
        value = stub.get_state(ledger_key(key))
        if value is None:
            raise ChaincodeError(f"health key {key!r} not found", status=404)
        return value

    @submit
    def Increment(self, stub: Stub, key: str) -> dict[str, int]:
        """Add one to the counter under ``key`` (absent counts as 0); return the new value."""
        require_customer_or_operator(stub, UTILITY, REGULATOR, AGGREGATOR, action="Increment")
        lkey = ledger_key(key)
        current = stub.get_state(lkey)
        try:
            count = int(current) if current is not None else 0
        except ValueError:
            msg = f"health key {key!r} does not hold a counter"
            raise ChaincodeError(msg, status=409) from None
        stub.put_state(lkey, str(count + 1).encode())
        return {"value": count + 1}
