"""Acting as the Aggregator: none of a customer's energy or money reaches its nodes.

Threat model (chaincode/README.md): an organisation reads all its own peer and orderer
store. So after a day of a customer's readings, a prepaid top-up, the drains and a bill,
this test searches everything the Aggregator holds - every block through Deliver as its
admin, its peer's and orderer's block files, its peer's world state, private data store,
history and transient store (opened as LevelDB) - for the customer's known values, and
finds none. The same search over the Utility's private state finds them, which shows
the search itself works.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

import plyvel
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.metering import Metering, SignedReading, Wattcoin
from gridledger.formats.reading import encode_reading, sign

from .customers import connect_customer, open_prepaid_account, register_customer
from .gateways import connect

READINGS_PER_DAY = 96
FIRST_REGISTER = 48_213_907  # Wh: eight digits, nothing else on the ledger looks like it
TOP_UP = 777_431


@pytest.fixture(scope="module")
def customer_day(consortium, utility, tariff):
    """A customer's day on the ledger; returns what an outsider must not learn."""
    channel = consortium.topology.channel
    metering, wattcoin = Metering(utility.network(channel)), Wattcoin(utility.network(channel))
    customer = register_customer(consortium, "C-PRIV-" + uuid.uuid4().hex[:6])
    location = "PRIVLOC-" + uuid.uuid4().hex[:10]
    meter_id = "PRIV-" + uuid.uuid4().hex[:8]
    key = ec.generate_private_key(ec.SECP256R1())
    metering.register_meter({
        "meterId": meter_id, "curve": "P-256", "customerId": customer.customer_id,
        "publicKeyPem": key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "tariffId": tariff["tariffId"], "deviceProfile": "SDM630", "location": location,
        "installDate": "2026-01-01", "initialImportWh": FIRST_REGISTER,
    })  # fmt: skip
    address = open_prepaid_account(consortium, customer)
    wattcoin.mint(address, TOP_UP, "PAY-" + meter_id)

    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    registers, readings = [], []
    register = FIRST_REGISTER
    for seq in range(1, READINGS_PER_DAY + 1):
        register += 97 + (seq * 37) % 211  # 97..307 Wh per quarter hour
        registers.append(register)
        body = {
            "meterId": meter_id, "seq": seq,
            "intervalEnd": (day + dt.timedelta(minutes=15 * seq)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "importWh": register, "exportWh": 0, "voltageDv": 2377,
            "currentMa": 6421 + seq, "powerW": 1523 + seq,
        }  # fmt: skip
        readings.append(SignedReading(body, sign(key, encode_reading(body))))
    for i in range(0, len(readings), 24):
        result = metering.submit_readings(readings[i : i + 24])
        assert result["accepted"] == 24, result
    start = day.strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (day + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    metering.issue_bill(customer.customer_id, start, end)
    bill = metering.get_bill(customer.customer_id, start)
    with connect_customer(consortium, customer) as gw:
        balance = Wattcoin(gw.network(channel)).balance(address)["balance"]
    assert bill["total"] > 10_000 and TOP_UP > balance > 0
    # Each value with the forms it may take: as JSON, or as JSON inside a JSON string
    # (the signed canonical reading is kept as text inside its record).
    return {
        "location": (location.encode(),),
        "top-up": (str(TOP_UP).encode(),),
        "balance": (f'"balance":{balance}'.encode(),),
        "bill total": (f'"total":{bill["total"]}'.encode(),),
        "bill energy": (f'"importWh":{bill["importWh"]}'.encode(),),
        "a voltage": (b'"voltageDv":2377', b'voltageDv\\":2377'),
        "the voltage member": (b"voltageDv",),
        "the current member": (b"currentMa",),
        "the register member": (b'"importWh"', b'importWh\\"'),
        **{f"register {i}": (str(r).encode(),) for i, r in enumerate(registers)},
    }


def _leveldb_values(directory: Path, scratch: Path) -> bytes:
    """Every key and value of a LevelDB (a peer's state, private or history store).

    The peer holds the database open, so a copy is read (without its lock file); LevelDB
    replays the copied log, so nothing written before the copy is missed.
    """
    copy = scratch / directory.name
    shutil.copytree(directory, copy)
    (copy / "LOCK").unlink(missing_ok=True)
    db = plyvel.DB(str(copy), create_if_missing=False)
    try:
        return b"\n".join(k + b"=" + v for k, v in db)
    finally:
        db.close()


def _peer_data(consortium, org: str) -> Path:
    return consortium.layout.node(consortium.topology.org(org).peer.id) / "data" / "ledgersData"


def _found(haystack: bytes, needles: dict[str, tuple[bytes, ...]]) -> list[str]:
    return [name for name, forms in needles.items() if any(f in haystack for f in forms)]


def test_no_block_the_aggregator_receives_holds_the_customers_data(consortium, customer_day):
    with connect(consortium, "aggregator") as gw:
        network = gw.network(consortium.topology.channel)
        height = max(n.get("height", 0) for n in consortium.status()["nodes"]
                     if n["kind"] == "peer")
        blocks = [b.raw.SerializeToString()
                  for b in network.block_events(start_block=0, stop_block=height - 1)]
    assert len(blocks) == height
    assert _found(b"".join(blocks), customer_day) == []


def test_the_aggregators_block_files_hold_none_of_it(consortium, customer_day):
    peer_files = list((_peer_data(consortium, "aggregator") / "chains" / "chains").rglob(
        "blockfile_*"))
    orderer = consortium.layout.node(consortium.topology.org("aggregator").orderer.id)
    orderer_files = list(orderer.rglob("blockfile_*"))
    assert peer_files and orderer_files
    for path in peer_files + orderer_files:
        assert _found(path.read_bytes(), customer_day) == [], path


@pytest.mark.parametrize("store", ["stateLeveldb", "pvtdataStore", "historyLeveldb"])
def test_the_aggregators_peer_databases_hold_none_of_it(consortium, customer_day, store,
                                                        tmp_path):
    values = _leveldb_values(_peer_data(consortium, "aggregator") / store, tmp_path)
    assert values  # the database was read, and is not empty
    assert _found(values, customer_day) == []


def test_nor_its_transient_store(consortium, customer_day, tmp_path):
    transient = _peer_data(consortium, "aggregator").parent / "transientstore"
    assert _found(_leveldb_values(transient, tmp_path), customer_day) == []


def test_the_utilitys_private_state_holds_it_all(consortium, customer_day, tmp_path):
    # The control: the same search, on a member of the collection, finds every value.
    values = _leveldb_values(_peer_data(consortium, "utility") / "stateLeveldb", tmp_path)
    missing = [name for name in customer_day if name not in _found(values, customer_day)]
    assert missing == []
