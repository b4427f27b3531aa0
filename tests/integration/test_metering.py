"""Metering and Wattcoin on the real network, driven through Fabric's own `peer` CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.metering import private_call
from gridledger.demo import DEMO_TARIFF
from gridledger.formats.reading import encode_reading, sign

from .customers import open_prepaid_account, register_customer
from .peer_cli import FabricCommandError, invoke, query

CC = "metering"
# The demo's residential tariff (EVN's six tiers, VAT), under an id and start of the tests'.
TARIFF = {**DEMO_TARIFF, "tariffId": "EVN-RES-IT", "effectiveFrom": "2026-01-01T00:00:00Z"}


def submit(net, org, endorsers, fn, *args) -> dict:
    """Invoke and decode the JSON payload the peer CLI prints (Go-quoted).

    Customer data goes as the chaincode asks (chaincode/README.md, "Privacy"): arguments
    in the transient map, with a salt; ``private_call`` knows which functions.
    """
    args, transient = private_call(fn.split(":")[-1], args)
    out = invoke(net, org, endorsers, fn, *args, chaincode=CC, transient=transient)
    m = re.search(r'payload:"(.*)"', out)
    return json.loads(m.group(1).encode().decode("unicode_escape")) if m else {}


def ask(net, org, fn, *args):
    return json.loads(query(net, org, fn, *args, chaincode=CC))


class Meter:
    """A meter with its own P-256 key, registered at the Utility for a new customer."""

    def __init__(self, net, base: dt.datetime):
        self.net = net
        self.id = "IT-" + uuid.uuid4().hex[:8]
        self.customer = register_customer(net)
        self.key = ec.generate_private_key(ec.SECP256R1())
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        self.base = base
        submit(net, "utility", ["utility", "regulator"], "RegisterMeter", json.dumps({
            "meterId": self.id, "publicKeyPem": pem, "curve": "P-256",
            "customerId": self.customer.customer_id, "tariffId": TARIFF["tariffId"],
            "deviceProfile": "EPM5500P", "location": "HCMC", "installDate": "2026-01-01",
        }))  # fmt: skip

    def reading(self, seq: int, import_wh: int, **over) -> dict:
        r = {
            "meterId": self.id, "seq": seq,
            "intervalEnd": (self.base + dt.timedelta(minutes=15 * seq)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "importWh": import_wh, "exportWh": 0, "voltageDv": 2301, "currentMa": 4800,
            "powerW": 1100,
        }  # fmt: skip
        r.update(over)
        return {"reading": r, "signature": sign(self.key, encode_reading(r))}


@pytest.fixture(scope="module")
def tariff(consortium):
    try:
        submit(consortium, "regulator", ["regulator", "utility"], "SetTariff", json.dumps(TARIFF))
    except FabricCommandError as exc:  # a rerun on the same ledger
        assert "already" in exc.stderr or "409" in exc.stderr, exc.stderr
    return TARIFF


@pytest.fixture(scope="module")
def base_time():
    # Whole hour, 3 h ago: four 15-minute readings stay inside one UTC hour.
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return now - dt.timedelta(hours=3)


def local_month(when: dt.datetime, offset_minutes: int) -> tuple[str, str]:
    """[start, end) of the tariff's local calendar month containing ``when``, in UTC."""
    offset = dt.timedelta(minutes=offset_minutes)
    first = (when + offset).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return tuple((t - offset).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[return-value]
                 for t in (first, following))


def prepaid(net, meter: Meter, amount: int, reference: str) -> str:
    """The customer opens and binds its own account (through our client: only the
    customer's own transaction may), then the Utility tops it up through the peer CLI."""
    address = open_prepaid_account(net, meter.customer)
    submit(net, "utility", ["utility", "regulator"], "wattcoin:Mint", address, str(amount),
           reference)
    return address


def test_register_tariff_readings_bill_balance_end_to_end(consortium, tariff, base_time):
    meter = Meter(consortium, base_time)
    address = prepaid(consortium, meter, 1_000_000, "PAY-" + meter.id)
    batch = [meter.reading(i, 1000 * i) for i in range(1, 5)]  # 4 kWh in one hour
    result = submit(consortium, "utility", ["utility", "regulator"], "SubmitReadings",
                    json.dumps(batch))
    assert (result["accepted"], result["refused"]) == (4, 0)

    head = ask(consortium, "regulator", "GetMeter", meter.id)["head"]
    assert (head["seq"], head["importWh"]) == (4, 4000)
    assert ask(consortium, "utility", "VerifyMeterChain", meter.id) == {"ok": True, "seq": 4}

    # Hand-computed, for the local calendar month of the readings (the tiers are per
    # month: a bill of a month has exactly its thresholds): 4 kWh in EVN tier 1 at 1984 VND
    # = 7936; VAT 8 % = 634.88 -> 635.
    start, end = local_month(base_time, TARIFF["utcOffsetMinutes"])
    bill = ask(consortium, "utility", "ComputeBill", meter.customer.customer_id, start, end)
    assert (bill["importWh"], bill["energyCharge"], bill["taxes"], bill["total"]) == (
        4000, 7936, {"VAT": 635}, 8571)
    account = ask(consortium, "utility", "wattcoin:Balance", address)
    assert (account["balance"], account["arrears"]) == (1_000_000 - 8571, 0)
    assert account["minted"] == account["balance"] + account["paid"]


def test_bad_readings_are_refused_with_reasons_and_change_nothing(consortium, tariff,
                                                                   base_time):
    meter = Meter(consortium, base_time)
    address = prepaid(consortium, meter, 100_000, "PAY-" + meter.id)
    submit(consortium, "utility", ["utility", "regulator"], "SubmitReadings",
           json.dumps([meter.reading(1, 1000), meter.reading(2, 2000)]))
    before = (ask(consortium, "utility", "GetMeter", meter.id)["head"],
              ask(consortium, "utility", "wattcoin:Balance", address))

    forged = meter.reading(3, 3000)
    forged["reading"]["importWh"] = 2500  # signature no longer covers the bytes
    unknown = dict(meter.reading(3, 3000))
    unknown["reading"] = dict(unknown["reading"], meterId="IT-nobody")
    batch = [
        forged,
        meter.reading(2, 2000, voltageDv=2299),  # replay of seq 2 with other bytes
        meter.reading(4, 4000),  # skips seq 3
        meter.reading(3, 1500),  # register runs backwards
        unknown,
    ]
    result = submit(consortium, "utility", ["utility", "regulator"], "SubmitReadings",
                    json.dumps(batch))
    codes = [r.get("code") for r in result["results"]]
    assert codes == ["bad-signature", "replay", "skip", "register-backwards", "unknown-meter"]
    assert all(r["reason"] for r in result["results"])
    assert result["accepted"] == 0

    # The exact bytes of seq 1 again: a no-op that says so, never a second charge.
    dup = submit(consortium, "utility", ["utility", "regulator"], "SubmitReadings",
                 json.dumps([meter.reading(1, 1000)]))
    assert dup["results"][0]["status"] == "duplicate"

    submit(consortium, "utility", ["utility", "regulator"], "SuspendMeter", meter.id, "audit")
    suspended = submit(consortium, "utility", ["utility", "regulator"], "SubmitReadings",
                       json.dumps([meter.reading(3, 3000)]))
    assert suspended["results"][0]["code"] == "meter-suspended"
    after = (ask(consortium, "utility", "GetMeter", meter.id)["head"],
             ask(consortium, "utility", "wattcoin:Balance", address))
    assert after == before


def test_a_tariff_without_the_regulators_endorsement_fails_validation(consortium, tariff):
    changed = dict(tariff, effectiveFrom="2027-07-01T00:00:00Z",
                   taxes=[{"name": "VAT", "rateBasisPoints": 1000}])
    # Caller is the Regulator, and two peers endorse (the chaincode's policy holds), but
    # the tariff keys' own policy needs the Regulator's peer.
    with pytest.raises(FabricCommandError) as failed:
        invoke(consortium, "regulator", ["utility", "aggregator"], "SetTariff",
               json.dumps(changed), chaincode=CC)
    assert "ENDORSEMENT_POLICY_FAILURE" in failed.value.stderr
    current = ask(consortium, "utility", "GetTariff", tariff["tariffId"], "2027-08-01T00:00:00Z")
    assert current["taxes"] == tariff["taxes"]
    # And only the Regulator may ask at all.
    with pytest.raises(FabricCommandError) as refused:
        invoke(consortium, "utility", ["utility", "regulator"], "SetTariff",
               json.dumps(changed), chaincode=CC)
    assert "403" in refused.value.stderr


def test_the_aggregator_cannot_read_interval_detail(consortium, tariff, base_time):
    meter = Meter(consortium, base_time)
    submit(consortium, "utility", ["utility", "regulator"], "SubmitReadings",
           json.dumps([meter.reading(1, 700)]))
    detail = ask(consortium, "regulator", "GetReadingDetail", meter.id, "1")
    assert detail["reading"]["voltageDv"] == 2301
    with pytest.raises(FabricCommandError) as refused:
        query(consortium, "aggregator", "GetReadingDetail", meter.id, "1", chaincode=CC)
    assert "403" in refused.value.stderr
    # Nor the reading records at all: they are customer data, on member peers only.
    with pytest.raises(FabricCommandError) as refused:
        query(consortium, "aggregator", "GetReadings", meter.id, "1", "10", chaincode=CC)
    assert "403" in refused.value.stderr
    records = ask(consortium, "utility", "GetReadings", meter.id, "1", "10")
    assert records[0]["hash"] and "voltageDv" not in records[0]


def test_an_exhausted_balance_records_arrears(consortium, tariff, base_time):
    meter = Meter(consortium, base_time)
    address = prepaid(consortium, meter, 5000, "PAY-" + meter.id)
    batch = [meter.reading(i, 1000 * i) for i in range(1, 5)]  # costs 8571
    result = submit(consortium, "utility", ["utility", "regulator"], "SubmitReadings",
                    json.dumps(batch))
    assert result["accepted"] == 4  # recorded all the same: never lost
    account = ask(consortium, "utility", "wattcoin:Balance", address)
    assert (account["balance"], account["arrears"], account["exhausted"]) == (0, 3571, True)


def test_minting_the_same_payment_reference_twice_is_refused(consortium, tariff, base_time):
    meter = Meter(consortium, base_time)
    reference = "PAY-" + meter.id
    address = prepaid(consortium, meter, 2000, reference)
    with pytest.raises(FabricCommandError) as again:
        submit(consortium, "utility", ["utility", "regulator"], "wattcoin:Mint", address,
               "2000", reference)
    assert "409" in again.value.stderr
    assert ask(consortium, "utility", "wattcoin:Balance", address)["balance"] == 2000
