"""Metering and Wattcoin through our own client: bindings, events and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.metering import Metering, SignedReading, Wattcoin
from gridledger.formats.reading import encode_reading, sign

from .customers import open_prepaid_account, register_customer
from .test_metering import TARIFF

CHANNEL = "energy"


def _new_meter(metering: Metering, customer: str) -> tuple[str, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    meter_id = "CL-" + uuid.uuid4().hex[:8]
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    metering.register_meter({
        "meterId": meter_id, "publicKeyPem": pem, "curve": "P-256", "customerId": customer,
        "tariffId": TARIFF["tariffId"], "deviceProfile": "SDM630", "location": "Da Nang",
        "installDate": "2026-01-01",
    })  # fmt: skip
    return meter_id, key


def _reading(meter_id: str, key, seq: int, import_wh: int, base: dt.datetime) -> SignedReading:
    r = {
        "meterId": meter_id, "seq": seq,
        "intervalEnd": (base + dt.timedelta(minutes=15 * seq)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "importWh": import_wh, "exportWh": 0, "voltageDv": 2300, "currentMa": 5000,
        "powerW": 1150,
    }  # fmt: skip
    return SignedReading(r, sign(key, encode_reading(r)))


def test_exhaustion_is_seen_as_an_event_by_a_listener(consortium, utility, tariff):
    network = utility.network(CHANNEL)
    metering, wattcoin = Metering(network), Wattcoin(network)
    customer = register_customer(consortium)
    meter_id, key = _new_meter(metering, customer.customer_id)
    address = open_prepaid_account(consortium, customer)
    wattcoin.mint(address, 3000, "PAY-" + meter_id)

    base = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    base -= dt.timedelta(hours=3)
    events: list = []
    start = utility.network(CHANNEL).contract("health").submit_async(
        "Put", "mark-" + meter_id, "x").status().block_number
    stream = network.chaincode_events("metering", start_block=start, timeout=60)

    def listen() -> None:
        for ev in stream:
            if ev.name == "ReadingsProcessed" and ev.json()["exhausted"]:
                events.append(ev)
                stream.close()

    listener = threading.Thread(target=listen)
    listener.start()
    commit = metering.submit_readings_async(
        [_reading(meter_id, key, i, 1000 * i, base) for i in range(1, 4)]
    )
    report = json.loads(commit.wait())
    assert report["accepted"] == 3
    listener.join(60)
    assert not listener.is_alive(), "no Exhausted event within 60 s"
    (event,) = events
    assert event.transaction_id == commit.transaction_id
    # The event is in every block: it names the batch's readings whose account ran out
    # (by index: the bridge knows which it sent), no other meter, nothing about the money;
    # the ledger's state says which meters to cut.
    assert event.json()["exhausted"] == [0, 1, 2]
    assert wattcoin.supply_status([meter_id])["meters"][meter_id]["supply"] is False
    account = wattcoin.balance(address)
    assert account["exhausted"] and account["balance"] == 0 and account["arrears"] > 0
    assert metering.verify_meter_chain(meter_id)["ok"] is True


def _cli(consortium, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRIDLEDGER_STATE": str(consortium.layout.root)}
    return subprocess.run([sys.executable, "-m", "gridledger", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_invokes_queries_and_reports_errors_clearly(consortium, tariff):
    key = "cli-" + uuid.uuid4().hex[:8]
    put = _cli(consortium, "chaincode", "invoke", "health", "Put", key, "via CLI", "--json")
    assert put.returncode == 0, put.stderr
    committed = json.loads(put.stdout)
    assert committed["status"] == "VALID" and committed["result"] == {"key": key}
    got = _cli(consortium, "chaincode", "query", "health", "Get", key, "--org", "aggregator")
    assert got.stdout.strip() == "via CLI"

    block = _cli(consortium, "block", "show", str(committed["blockNumber"]), "--json")
    assert block.returncode == 0, block.stderr
    txs = {t["transactionId"]: t for t in json.loads(block.stdout)["transactions"]}
    assert txs[committed["transactionId"]]["validationCode"] == "VALID"

    missing = _cli(consortium, "meter", "show", "NO-SUCH-METER")
    assert missing.returncode == 1
    assert "NO-SUCH-METER is not registered" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = _cli(consortium, "tariff", "set", "{not json")
    assert bad.returncode == 2 and "not JSON" in bad.stderr

    tariff_out = _cli(consortium, "tariff", "show", TARIFF["tariffId"], "2026-06-01T00:00:00Z",
                      "--json")
    assert json.loads(tariff_out.stdout)["tariffId"] == TARIFF["tariffId"]
