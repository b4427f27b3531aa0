"""A ledger serving metering, wattcoin and access, with a meter of customer c-1, the
Aggregator's gateway device and c-1's resources r-1 and r-2 (tests/unit/chaincode/access/
world.py builds the rest)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.chaincode.access import CONTRACTS as ACCESS
from gridledger.chaincode.metering import CONTRACTS as METERING
from gridledger.chaincode.shim import ContractRouter
from gridledger.chaincode.wattcoin import CONTRACTS as WATTCOIN
from tests.unit.chaincode.metering.helpers import T0, Ledger, Meter, setup

from .world import AGG, DEVICE_ID, PROFILE, pem_of

ROUTER = ContractRouter([c() for c in (*METERING, *WATTCOIN, *ACCESS)])
NOW = T0 + dt.timedelta(days=40)
ALICE = {"msp": "UtilityMSP", "name": "alice", "attrs": {"role": "customer", "customerId": "c-1"}}
BOB = {"msp": "UtilityMSP", "name": "bob", "attrs": {"role": "customer", "customerId": "c-2"}}
UTILITY = {"msp": "UtilityMSP", "name": "utility-admin"}
REGULATOR = {"msp": "RegulatorMSP", "name": "regulator-admin"}
# An Aggregator identity that is not its admin: a client of its CA.
AGG_CLIENT = {"msp": "AggregatorMSP", "name": "agg-app", "ous": ("client",)}


@dataclass
class Setup:
    ledger: Ledger
    meter: Meter
    device_key: ec.EllipticCurvePrivateKey
    hashes: dict[str, str]


@pytest.fixture
def env() -> Setup:
    ledger = Ledger(now=NOW, router=ROUTER)
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    key = ec.generate_private_key(ec.SECP256R1())
    ledger.ok("access:RegisterDevice", json.dumps(
        {"deviceId": DEVICE_ID, "kind": "gateway", "publicKeyPem": pem_of(key)}), **AGG)
    hashes = {}
    for rid, content in (("r-1", PROFILE), ("r-2", PROFILE + b"\n")):
        hashes[rid] = hashlib.sha256(content).hexdigest()
        ledger.ok("access:RegisterResource", json.dumps({
            "resourceId": rid, "hashAddress": hashes[rid], "mediaType": "application/json",
            "size": len(content), "description": f"Alice's profile {rid}"}), **ALICE)
    return Setup(ledger, meter, key, hashes)
