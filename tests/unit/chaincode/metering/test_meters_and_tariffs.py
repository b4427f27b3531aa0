"""Meter registry and tariffs: caller checks, key-level policy, versions, lookups."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from gridledger.chaincode.metering.tariff import regulator_policy
from gridledger.chaincode.shim.policy import satisfied_by

from .helpers import T0, Ledger, Meter, setup, submit, tariff_json

CUSTOMER = {"role": "customer", "customerId": "c-1"}


def test_register_get_and_by_customer() -> None:
    ledger = Ledger()
    a, b, c = Meter("m-2", "c-1"), Meter("m-1", "c-1"), Meter("m-3", "c-2")
    setup(ledger, a, b, c)
    got = ledger.ok("GetMeter", "m-1")
    assert got["meter"]["status"] == "active" and got["meter"]["customerId"] == "c-1"
    assert got["head"] == {"seq": 0, "hash": "00" * 32, "intervalEnd": None, "importWh": 0,
                           "exportWh": 0}
    assert [m["meterId"] for m in ledger.ok("MetersByCustomer", "c-1")] == ["m-1", "m-2"]
    assert ledger.ok("MetersByCustomer", "nobody") == []
    again = ledger.call("RegisterMeter", a.registration())
    assert again.status == 409 and "already registered" in again.message


@pytest.mark.parametrize(
    ("msp", "attrs"), [("RegulatorMSP", {}), ("AggregatorMSP", {}), ("UtilityMSP", CUSTOMER)]
)
def test_only_utility_operators_manage_meters(msp: str, attrs: dict) -> None:
    ledger = Ledger()
    meter = Meter("m-1", "c-1")
    setup(ledger)
    before = ledger.snapshot()
    res = ledger.call("RegisterMeter", meter.registration(), msp=msp, attrs=attrs)
    assert res.status == 403 and "not an operator of UtilityMSP" in res.message
    assert ledger.snapshot() == before


def test_register_refuses_bad_input_and_unknown_tariff() -> None:
    ledger = Ledger()
    setup(ledger)
    meter = Meter("m-1", "c-1")
    body = json.loads(meter.registration())
    for change, fragment in (
        ({"publicKeyPem": "junk"}, "not a PEM public key"),
        ({"curve": "secp256k1"}, "not an EC key on secp256k1"),
        ({"installDate": "2025-13-01"}, "not a date"),
        ({"customerId": "a b"}, "customerId must be"),
        ({"colour": "red"}, "unknown member"),
    ):
        res = ledger.call("RegisterMeter", json.dumps({**body, **change}))
        assert (res.status, fragment in res.message) == (400, True), (change, res.message)
    res = ledger.call("RegisterMeter", json.dumps({**body, "tariffId": "NOPE"}))
    assert res.status == 404
    assert ledger.call("RegisterMeter", "{not json").status == 400


def test_replace_key_continues_chain_and_old_key_stops() -> None:
    ledger = Ledger(now=T0 + dt.timedelta(days=1))
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    assert submit(ledger, meter.reading(T0 + dt.timedelta(hours=1), 10)).payload["accepted"] == 1
    old_key = meter.key
    fresh = Meter("m-1", "c-1")
    ledger.ok("ReplaceMeterKey", "m-1", json.dumps({"publicKeyPem": fresh.pem}))
    # Signed with the old key: refused.
    res = submit(ledger, meter.reading(T0 + dt.timedelta(hours=2), 10)).payload
    assert res["results"][0]["code"] == "bad-signature"
    meter.seq -= 1
    meter.import_wh -= 10
    meter.key = fresh.key
    res = submit(ledger, meter.reading(T0 + dt.timedelta(hours=2), 10)).payload
    assert res["accepted"] == 1
    record = ledger.ok("GetMeter", "m-1")["meter"]
    assert [k["fromSeq"] for k in record["keyHistory"]] == [1, 2]
    assert ledger.ok("VerifyMeterChain", "m-1") == {"ok": True, "seq": 2}
    assert old_key is not fresh.key


def test_suspend_resume_decommission() -> None:
    ledger = Ledger()
    setup(ledger, Meter("m-1", "c-1"))
    assert ledger.ok("SuspendMeter", "m-1", "tamper seal broken")["status"] == "suspended"
    assert ledger.call("SuspendMeter", "m-1", "again").status == 409
    assert ledger.ok("ResumeMeter", "m-1", "inspected")["status"] == "active"
    assert ledger.ok("DecommissionMeter", "m-1", "replaced")["status"] == "decommissioned"
    res = ledger.call("ResumeMeter", "m-1", "oops")
    assert res.status == 409 and "decommissioned" in res.message
    assert ledger.call("SuspendMeter", "ghost", "x").status == 404


def test_set_tariff_needs_regulator_and_sets_key_level_policy() -> None:
    ledger = Ledger()
    for msp, attrs in (("UtilityMSP", {}), ("AggregatorMSP", {}),
                       ("RegulatorMSP", {"role": "customer"})):
        res = ledger.call("SetTariff", tariff_json(), msp=msp, attrs=attrs)
        assert res.status == 403
    assert ledger.state == {} and ledger.metadata == {}
    version = ledger.ok("SetTariff", tariff_json(), msp="RegulatorMSP")
    assert version["version"] == 1
    for key in ("tariff~EVN-RES", "tariffreg"):
        # AND('RegulatorMSP.peer', OR('UtilityMSP.peer', 'AggregatorMSP.peer')): never the
        # Regulator alone (issue 17), never without it.
        policy = ledger.metadata[key]
        assert policy == regulator_policy()
        assert satisfied_by(policy, ["RegulatorMSP", "UtilityMSP"])
        assert satisfied_by(policy, ["RegulatorMSP", "AggregatorMSP"])
        assert not satisfied_by(policy, ["RegulatorMSP"])
        assert not satisfied_by(policy, ["UtilityMSP", "AggregatorMSP"])


def test_tariff_versions_and_get_at_time() -> None:
    ledger = Ledger(now=dt.datetime(2025, 3, 5, tzinfo=dt.UTC))
    ledger.ok("SetTariff", tariff_json(), msp="RegulatorMSP")
    # A new version may not start in the past.
    res = ledger.call("SetTariff", tariff_json("2025-03-01T00:00:00Z"), msp="RegulatorMSP")
    assert res.status == 409
    ledger.ok("SetTariff", tariff_json("2025-03-11T00:00:00Z", feedInPricePerKwh=1000),
              msp="RegulatorMSP")
    assert ledger.ok("GetTariff", "EVN-RES", "2025-03-10T23:00:00Z")["version"] == 1
    assert ledger.ok("GetTariff", "EVN-RES", "2025-03-11T00:00:00Z")["version"] == 2
    assert len(ledger.ok("GetTariff", "EVN-RES", "")["versions"]) == 2
    assert ledger.call("GetTariff", "EVN-RES", "2024-01-01T00:00:00Z").status == 404


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"tiers": []}, "at least one tier"),
        ({"tiers": [{"upToKwh": 50, "pricePerKwh": 1}]}, "last tier must have upToKwh null"),
        ({"tiers": [{"upToKwh": 50, "pricePerKwh": 1}, {"upToKwh": 40, "pricePerKwh": 1},
                    {"upToKwh": None, "pricePerKwh": 1}]}, "upToKwh must be in"),
        ({"tiers": [{"upToKwh": None, "pricePerKwh": 1.5}]}, "must be an integer"),
        ({"utcOffsetMinutes": 330}, "whole number of hours"),
        ({"effectiveFrom": "2025-01-01T00:30:00Z"}, "whole hour"),
        ({"currency": "dong"}, "ISO 4217"),
        ({"touBands": [{"name": "peak", "hours": [9, 9], "adjustPerKwh": 1}]}, "distinct"),
        ({"touBands": [{"name": "a", "hours": [1], "adjustPerKwh": 1},
                       {"name": "b", "hours": [1], "adjustPerKwh": 1}]}, "no other band"),
        ({"taxes": [{"name": "VAT", "rateBasisPoints": 10001}]}, "rateBasisPoints must be in"),
    ],
)
def test_tariff_validation(change: dict, fragment: str) -> None:
    ledger = Ledger()
    res = ledger.call("SetTariff", tariff_json(**change), msp="RegulatorMSP")
    assert res.status == 400 and fragment in res.message, res.message
    assert ledger.state == {}


def test_tariff_not_in_registry_is_not_trusted() -> None:
    # A tariff key written around the chaincode's rules (no registry entry) is ignored.
    ledger = Ledger()
    setup(ledger)
    ledger.state["tariff~ROGUE"] = ledger.state["tariff~EVN-RES"].replace(b"EVN-RES", b"ROGUE")
    assert ledger.call("GetTariff", "ROGUE", "").status == 404
    meter = Meter("m-1", "c-1")
    assert ledger.call("RegisterMeter", meter.registration("ROGUE")).status == 404


@pytest.mark.parametrize(
    ("function", "args"),
    [("GetMeter", ("a~b",)), ("AlarmsByMeter", ("a~b",)), ("GetReadings", ("a~b", "1", "5"))],
)
def test_an_id_outside_the_rule_is_400_with_the_rule(function: str, args: tuple) -> None:
    ledger = Ledger()
    res = ledger.call(function, *args)
    assert res.status == 400
    assert res.message == "meterId must be 1-64 characters of A-Z a-z 0-9 . _ -, got 'a~b'"
