"""A committed-state ledger over MemoryStub: writes land only when a transaction succeeds,
and a transaction never reads its own writes (as on a Fabric peer). Plus meter keys,
signed readings and an EVN-like tariff for the metering and wattcoin tests."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.chaincode.common.callers import CUSTOMER_ROLES
from gridledger.chaincode.common.overlay import physical_key
from gridledger.chaincode.common.privacy import (
    CUSTOMER_DATA,
    CUSTOMER_DATA_KINDS,
    REGULATOR_ONLY_KINDS,
)
from gridledger.chaincode.metering import CONTRACTS as METERING
from gridledger.chaincode.shim import ChaincodeError, ClientIdentity, ContractRouter, PeerError
from gridledger.chaincode.wattcoin import CONTRACTS as WATTCOIN
from gridledger.formats.reading import encode_reading, sign
from tests.unit.chaincode.support import MemoryStub, Network, make_cert

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
# The key secret test ledgers start with (a network's bring-up draws a random one).
KEY_SECRET = hashlib.sha256(b"gridledger unit-test key secret").digest()
ROUTER = ContractRouter([c() for c in (*METERING, *WATTCOIN)])

EVN_TIERS = [
    {"upToKwh": 50, "pricePerKwh": 1984},
    {"upToKwh": 100, "pricePerKwh": 2050},
    {"upToKwh": 200, "pricePerKwh": 2380},
    {"upToKwh": 300, "pricePerKwh": 2998},
    {"upToKwh": 400, "pricePerKwh": 3350},
    {"upToKwh": None, "pricePerKwh": 3460},
]


@functools.cache
def cert_of(name: str) -> bytes:
    """One stable certificate per identity name."""
    return make_cert(name)


class TxStub(MemoryStub):
    """One transaction: reads committed state, buffers writes and events."""

    def __init__(self, ledger: Ledger, function: str, args: Sequence[str], *, msp_id: str,
                 name: str, attrs: dict[str, str], ous: Sequence[str], when: dt.datetime,
                 tx_id: str) -> None:
        super().__init__(function, args, msp_id=msp_id)
        self.ledger = ledger
        self.tx_id = tx_id
        self.tx_timestamp = when
        self.tx_timestamp_rfc3339 = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.creator = ClientIdentity(msp_id=msp_id, cert_pem=cert_of(name), subject=f"CN={name}",
                                      issuer="CN=ca", common_name=name, attributes=dict(attrs),
                                      ous=tuple(ous))
        self.state = {}  # this transaction's writes
        self.reads: list[str] = []
        self.hashed_reads: list[tuple[str, str]] = []  # what a peer's read set would note
        self.outside: frozenset[str] = frozenset()  # collections this "peer" does not hold
        self.multi_reads = 0
        self.written = False
        self.private_queried = False

    def get_state(self, key: str) -> bytes | None:
        self.reads.append(key)
        return self.ledger.state.get(key)

    def get_state_multiple(self, keys: Sequence[str]) -> list[bytes | None]:
        self.multi_reads += 1
        return [self.ledger.state.get(k) for k in keys]

    def get_state_by_range(self, start_key: str, end_key: str):  # type: ignore[override]
        saved = self.state
        self.state = self.ledger.state
        try:
            return super().get_state_by_range(start_key, end_key)
        finally:
            self.state = saved

    def get_private_data(self, collection: str, key: str) -> bytes | None:
        value = self.ledger.private.get((collection, key))
        if collection in self.outside and value is not None:
            # A peer outside the collection has the hash, not the value (Fabric's error).
            raise PeerError("GET_STATE", "private data matching public hash version is not "
                            "available")
        self.hashed_reads.append((collection, key))
        return value

    def get_private_data_multiple(self, collection: str,
                                  keys: Sequence[str]) -> list[bytes | None]:
        self.multi_reads += 1
        return [self.get_private_data(collection, k) for k in keys]

    # Fabric's transaction simulator: no write after a private range query, and no private
    # range query after a write (tx_simulator.go, checkBeforePvtdataQueries).
    def _write_check(self) -> None:
        if self.private_queried:
            raise PeerError("Transaction has already performed queries on pvt data. "
                            "Writes are not allowed")
        self.written = True

    def put_state(self, key: str, value: bytes) -> None:
        self._write_check()
        super().put_state(key, value)

    def put_private_data(self, collection: str, key: str, value: bytes) -> None:
        self._write_check()
        super().put_private_data(collection, key, value)

    def set_state_validation_parameter(self, key: str, policy: bytes) -> None:
        self._write_check()
        super().set_state_validation_parameter(key, policy)

    def get_private_data_by_range(self, collection: str, start_key: str, end_key: str):  # type: ignore[override]
        if self.written:
            raise PeerError("Queries on pvt data is supported only in a read-only transaction")
        self.private_queried = True
        saved = self.private
        self.private = self.ledger.private
        try:
            return super().get_private_data_by_range(collection, start_key, end_key)
        finally:
            self.private = saved

    def get_state_validation_parameter(self, key: str) -> bytes | None:
        return self.ledger.metadata.get(key)

    def get_private_data_hash(self, collection: str, key: str) -> bytes | None:
        # Committed state, like the peer's hashed store (every peer has it, member or not).
        self.hashed_reads.append((collection, key))
        value = self.ledger.private.get((collection, key))
        return hashlib.sha256(value).digest() if value is not None else None


@dataclass
class Ledger:
    """Committed world state shared by successive transactions."""

    state: dict[str, bytes] = field(default_factory=dict)
    private: dict[tuple[str, str], bytes] = field(default_factory=dict)
    metadata: dict[str, bytes] = field(default_factory=dict)
    events: list[tuple[str, Any]] = field(default_factory=list)
    now: dt.datetime = T0
    count: int = 0
    # The contracts served: chaincode `metering` (metering + wattcoin) unless a test adds.
    router: ContractRouter = ROUTER
    # customerData's key secret, set as a network's bring-up sets it (None: not yet).
    key_secret: bytes | None = KEY_SECRET
    # The endorsers' own clock (None: the transaction time, a client in sync).
    clock: dt.datetime | None = None
    # The channel this ledger is, and the other channels' chaincodes its transactions may
    # call (support.Network: ``network.add(channel, name, ledger.router, ledger)``).
    channel: str = "energy"
    network: Network | None = None

    def __post_init__(self) -> None:
        if self.key_secret is not None and (CUSTOMER_DATA, "keysecret") not in self.private:
            self.ok("InitKeySecret", transient={"keySecret": self.key_secret})

    def call(self, function: str, *args: str, msp: str = "UtilityMSP", name: str = "operator",
             attrs: dict[str, str] | None = None, ous: Sequence[str] | None = None,
             when: dt.datetime | None = None, public_args: bool = False,
             salt: bool = True, transient: dict[str, bytes] | None = None,
             clock: dt.datetime | None = None,
             outside: Sequence[str] = ()) -> Result:
        """Run a transaction; commit its writes only when it succeeds.

        The caller is ``name`` of MSP ``msp`` with Fabric CA attributes ``attrs`` and
        certificate OUs ``ous``. By default ``ous`` is what the CA gives such an identity
        in this network: NodeOU ``client`` for a customer (``role`` customer/prosumer),
        else ``admin``: an operator of ``msp``, proven as callers.py requires.

        As our client does, a private function's arguments travel in the transient map
        (``public_args`` sends them as proposal arguments instead, to test the refusal),
        and every transaction carries a salt (``salt=False`` leaves it out); ``transient``
        adds members. ``clock`` is the endorsers' own clock (default: the ledger's, else
        the transaction time). ``outside``: collections the endorsing peer does not hold
        (as on the Aggregator's peer: their values raise, their hashes answer).
        """
        self.count += 1
        tx_id = f"tx{self.count:05d}"
        transient = dict(transient or {})
        if salt:
            transient["salt"] = hashlib.sha256(tx_id.encode()).digest()
        try:
            private = self.router.resolve(function).private
        except ChaincodeError:
            private = False
        if private and not public_args:
            transient["args"] = json.dumps(list(args)).encode()
            args = ()
        attrs = attrs or {}
        if ous is None:
            ous = ("client",) if attrs.get("role") in CUSTOMER_ROLES else ("admin",)
        stub = TxStub(self, function, args, msp_id=msp, name=name, attrs=attrs, ous=ous,
                      when=when or self.now, tx_id=tx_id)
        stub.transient = transient
        stub.endorser_clock = clock or self.clock
        stub.outside = frozenset(outside)
        stub.channel_id = self.channel
        stub.network = self.network
        response = self.router.invoke(stub)
        if response.status == 200:
            self.state.update(stub.state)
            self.private.update(stub.private)
            self.metadata.update(stub.metadata)
            self.events.extend((n, json.loads(p)) for n, p in stub.events)
        try:
            payload = json.loads(response.payload) if response.payload else None
        except ValueError:
            payload = response.payload  # not JSON (health:Get answers the raw value)
        return Result(response.status, response.message, payload, stub)

    def ok(self, function: str, *args: str, **kw: Any) -> Any:
        """Run a transaction that must succeed; return its JSON answer."""
        result = self.call(function, *args, **kw)
        assert result.status == 200, (function, result.status, result.message)
        return result.payload

    def stored(self, key: str) -> str:
        """The name a logical private key is stored under (customerData's and
        regulatorOnly's keyed kinds: keyed by customerData's secret)."""
        if not (CUSTOMER_DATA_KINDS.is_keyed(key) or REGULATOR_ONLY_KINDS.is_keyed(key)):
            return key
        return physical_key(self.key_secret or b"", key)

    def private_raw(self, key: str) -> bytes | None:
        """The stored bytes of a logical customerData key (None if absent)."""
        return self.private.get((CUSTOMER_DATA, self.stored(key)))

    def private_json(self, key: str) -> Any:
        """A committed private value (collection customerData), its salt and key left out."""
        value = json.loads(self.private[(CUSTOMER_DATA, self.stored(key))])
        value.pop("salt")
        assert value.pop("key") == key
        return value

    def snapshot(self) -> tuple[dict[str, bytes], dict[tuple[str, str], bytes], dict[str, bytes]]:
        """Copies of everything committed, to show that a refusal changed nothing."""
        return dict(self.state), dict(self.private), dict(self.metadata)


@dataclass
class Result:
    status: int
    message: str
    payload: Any
    stub: TxStub


@dataclass
class Meter:
    """A simulated meter: key, registers and a sequence counter."""

    meter_id: str
    customer_id: str
    curve: str = "P-256"
    seq: int = 0
    import_wh: int = 0
    export_wh: int = 0
    key: ec.EllipticCurvePrivateKey = field(init=False)

    def __post_init__(self) -> None:
        cls = ec.SECP256K1 if self.curve == "secp256k1" else ec.SECP256R1
        self.key = ec.generate_private_key(cls())

    @property
    def pem(self) -> str:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def registration(self, tariff_id: str = "EVN-RES") -> str:
        return json.dumps({
            "meterId": self.meter_id, "publicKeyPem": self.pem, "curve": self.curve,
            "customerId": self.customer_id, "tariffId": tariff_id, "deviceProfile": "EPM5500P",
            "location": "Hanoi, Ba Dinh", "installDate": "2025-01-15",
        })

    def reading(self, end: dt.datetime, import_wh: int, export_wh: int = 0, **extra: Any
                ) -> dict[str, Any]:
        """Next signed reading adding ``import_wh``/``export_wh`` to the registers."""
        self.seq += 1
        self.import_wh += import_wh
        self.export_wh += export_wh
        body = {"meterId": self.meter_id, "seq": self.seq,
                "intervalEnd": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "importWh": self.import_wh,
                "exportWh": self.export_wh, "voltageDv": 2301, "currentMa": 5120,
                "powerW": 1100, **extra}
        return {"reading": body, "signature": sign(self.key, encode_reading(body))}


def tariff_json(effective: str = "2025-01-01T00:00:00Z", **overrides: Any) -> str:
    """An EVN-style residential tariff in VND with VAT 8%."""
    body = {"tariffId": "EVN-RES", "effectiveFrom": effective, "currency": "VND",
            "currencyExponent": 0, "utcOffsetMinutes": 420, "tiers": EVN_TIERS,
            "feedInPricePerKwh": 0, "taxes": [{"name": "VAT", "rateBasisPoints": 800}]}
    body.update(overrides)
    return json.dumps(body)


def setup(ledger: Ledger, *meters: Meter, tariff: str | None = None) -> None:
    """Set the tariff (as the Regulator) and register the meters (as the Utility)."""
    ledger.ok("SetTariff", tariff or tariff_json(), msp="RegulatorMSP")
    for meter in meters:
        ledger.ok("RegisterMeter", meter.registration())


def at(minutes: int) -> dt.datetime:
    """``minutes`` after T0."""
    return T0 + dt.timedelta(minutes=minutes)


def fresh(now: dt.datetime) -> tuple[Ledger, Meter]:
    """A ledger at ``now`` with the tariff and one meter, m-1 of customer c-1."""
    ledger = Ledger(now=now)
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    return ledger, meter


def submit(ledger: Ledger, *items: dict[str, Any], **kw: Any) -> Result:
    """SubmitReadings with the given signed items."""
    return ledger.call("SubmitReadings", json.dumps(list(items)), **kw)
