"""Reading across channels: the market on ``market`` and the customers' records on ``energy``.

The two channels hold what must never meet in one transaction (chaincode/README.md,
"Privacy": a pseudonym on one side, the customer, meter and account on the other; a
transaction touching both would link them through its key hashes). What one side needs
of the other it reads with a chaincode-to-chaincode call across channels: Fabric runs the
called chaincode on the other channel's ledger in a throw-away simulator at the endorser
that asked, so nothing of it enters the calling transaction's read/write set and its
writes are discarded. Only reads cross; each side writes its own channel.

The channels' names come from the chaincode server's environment (set from the topology
by network/nodes.py), defaulting to the topology's own ``energy`` and ``market``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..shim import ChaincodeError, Stub

ENERGY_CHANNEL_ENV, MARKET_CHANNEL_ENV = "GRIDLEDGER_ENERGY_CHANNEL", "GRIDLEDGER_MARKET_CHANNEL"
ENERGY_CHAINCODE, MARKET_CHAINCODE = "metering", "market"


def energy_channel() -> str:
    """The channel of the customers' records (meters, readings, accounts)."""
    return os.environ.get(ENERGY_CHANNEL_ENV, "energy")


def market_channel() -> str:
    """The channel of the pseudonymous market."""
    return os.environ.get(MARKET_CHANNEL_ENV, "market")


def call(stub: Stub, channel: str, chaincode: str, function: str, *args: str) -> Any:
    """``function``'s JSON answer from ``chaincode`` on ``channel``, read at this endorser.

    A refusal of the called function comes back as a ChaincodeError with its status and
    message, prefixed with where it came from; a peer that cannot make the call (it has
    not joined ``channel``, the chaincode is not there) is a 503."""
    try:
        response = stub.invoke_chaincode(chaincode, [function, *args], channel)
    except ChaincodeError:
        raise
    except Exception as exc:  # PeerError and the like: the call itself failed
        raise ChaincodeError(f"this peer cannot read {function} on channel {channel}: {exc}",
                             status=503) from None
    if response.status >= 400:
        raise ChaincodeError(f"{function} on channel {channel}: {response.message}",
                             status=response.status)
    payload = bytes(response.payload)
    return json.loads(payload) if payload else None


def energy(stub: Stub, function: str, *args: str) -> Any:
    """``function`` of chaincode ``metering`` on the energy channel."""
    return call(stub, energy_channel(), ENERGY_CHAINCODE, function, *args)


def market(stub: Stub, function: str, *args: str) -> Any:
    """``function`` of chaincode ``market`` on the market channel."""
    return call(stub, market_channel(), MARKET_CHAINCODE, function, *args)
