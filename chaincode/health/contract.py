"""The ``health`` contract: the first chaincode on the network, used to check it works.

- ``Ping`` (evaluate): who is asking, on which channel, at which proposal time.
- ``Put(key, value)`` (submit): store a text value and emit event ``HealthPut``.
- ``Get(key)`` (evaluate): read it back; status 404 when absent.
- ``Increment(key)`` (submit): read, add one, write: a read-modify-write whose racing
  copies conflict (MVCC_READ_CONFLICT), which blind ``Put`` never does.

Integration tests use Put/Get to check endorsement policies end to end.

Bounds: a value is at most :data:`MAX_VALUE_BYTES` bytes (public state every peer keeps:
no one fills it), and a customer writes only under its own prefix,
``customer/<customerId>/`` (:func:`customer_prefix`), so a customer's app can check
that it transacts without overwriting an operator's probe or another customer's.
"""

from __future__ import annotations

from gridledger.formats import events

from ..common.callers import (
    AGGREGATOR,
    REGULATOR,
    UTILITY,
    describe,
    require_customer_or_operator,
    require_member,
)
from ..shim import ChaincodeError, Contract, Stub, canonical_json, evaluate, submit

# Several contracts share one chaincode namespace: keep health's keys apart.
KEY_PREFIX = "health:"
MAX_KEY_LENGTH = 256
MAX_VALUE_BYTES = 256


def customer_prefix(customer_id: str) -> str:
    """The keys a customer may write start with this."""
    return f"customer/{customer_id}/"


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


def _writable(stub: Stub, customer: str | None, key: str, action: str) -> str:
    """The ledger key for a write of ``key``; 403 for a customer outside its prefix."""
    lkey = ledger_key(key)
    if customer is not None and not key.startswith(customer_prefix(customer)):
        raise ChaincodeError(
            f"{action}: caller {describe(stub.creator)} (customer {customer!r}) may write "
            f"only keys starting with {customer_prefix(customer)!r}", status=403)
    return lkey


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
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR, AGGREGATOR,
                                                action="Put")
        lkey = _writable(stub, customer, key, "Put")
        if not value:
            # The ledger treats an empty value as a delete.
            raise ChaincodeError("value must not be empty", status=400)
        raw = value.encode("utf-8")
        if len(raw) > MAX_VALUE_BYTES:
            raise ChaincodeError(f"value longer than {MAX_VALUE_BYTES} bytes: a probe is "
                                 "short", status=400)
        stub.put_state(lkey, raw)
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
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR, AGGREGATOR,
                                                action="Increment")
        lkey = _writable(stub, customer, key, "Increment")
        current = stub.get_state(lkey)
        try:
            count = int(current) if current is not None else 0
        except ValueError:
            msg = f"health key {key!r} does not hold a counter"
            raise ChaincodeError(msg, status=409) from None
        stub.put_state(lkey, str(count + 1).encode())
        return {"value": count + 1}
