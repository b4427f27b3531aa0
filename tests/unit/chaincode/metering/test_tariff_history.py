"""A meter's tariff is bound per hour (issue 11, finding 7): SetMeterTariff takes effect
from the next whole hour and never reprices a past one, in bills and in exhaustion."""

from __future__ import annotations

import datetime as dt
import json

from .helpers import Ledger, Meter, setup, submit, tariff_json

MARCH = ("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")
FLAT = tariff_json(tariffId="FLAT", tiers=[{"upToKwh": None, "pricePerKwh": 3000}])
ALICE = {"name": "alice", "attrs": {"role": "customer", "customerId": "c-1"}}


def utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def two_tariffs() -> tuple[Ledger, Meter]:
    ledger = Ledger(now=utc("2025-03-01T00:00:00Z"))
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    ledger.ok("SetTariff", FLAT, msp="RegulatorMSP")
    return ledger, meter


def test_set_meter_tariff_never_reprices_past_hours() -> None:
    # Regression (issue 11, finding 7): SetMeterTariff repriced every unissued past period.
    ledger, meter = two_tariffs()
    ledger.now = utc("2025-03-15T10:20:00Z")
    submit(ledger, meter.reading(utc("2025-03-10T10:00:00Z"), 10_000))
    assert ledger.ok("SetMeterTariff", "m-1", "FLAT") == {"meterId": "m-1",
                                                          "from": "2025-03-15T11:00:00Z"}
    # Sent after the change, for an hour before it: still the old tariff's.
    ledger.now = utc("2025-03-15T11:05:00Z")
    submit(ledger, meter.reading(utc("2025-03-15T11:00:00Z"), 5_000))   # hour 10:00
    ledger.now = utc("2025-04-02T00:00:00Z")
    submit(ledger, meter.reading(utc("2025-03-20T10:00:00Z"), 10_000))
    bill = ledger.ok("ComputeBill", "c-1", *MARCH)
    old, new = bill["meters"][0]["segments"]
    assert (old["tariffId"], old["from"], old["to"], old["importWh"]) == (
        "EVN-RES", MARCH[0], "2025-03-15T11:00:00Z", 15_000)
    assert (new["tariffId"], new["from"], new["to"], new["importWh"]) == (
        "FLAT", "2025-03-15T11:00:00Z", MARCH[1], 10_000)
    # 347 of 744 hours under EVN-RES: its 50 kWh first tier is pro-rated to
    # 50 000 x 347 / 744 = 23 319.9 -> 23 320 Wh.
    assert old["tiers"][0]["upToWh"] == 23_320
    assert new["energyCharge"] == 10 * 3000
    assert bill["tariffVersions"] == [{"tariffId": "EVN-RES", "version": 1},
                                      {"tariffId": "FLAT", "version": 1}]
    info = ledger.private_json("meterinfo~m-1")
    assert info["tariffs"] == [{"tariffId": "EVN-RES", "from": "1970-01-01T00:00:00Z"},
                               {"tariffId": "FLAT", "from": "2025-03-15T11:00:00Z"}]
    assert info["tariffId"] == "FLAT"


def test_exhaustion_prices_each_hour_with_the_tariff_assigned_to_it() -> None:
    ledger, meter = two_tariffs()
    address = ledger.ok("wattcoin:OpenAccount", **ALICE)["address"]
    ledger.ok("wattcoin:BindCustomer", "c-1", address, **ALICE)
    ledger.ok("wattcoin:Mint", address, "100000", "PAY-1")
    ledger.now = utc("2025-03-15T10:20:00Z")
    ledger.ok("SetMeterTariff", "m-1", "FLAT")
    submit(ledger, meter.reading(utc("2025-03-15T10:15:00Z"), 10_000))  # EVN-RES, tier 1
    # 10 kWh x 1984 x 1.08 = 21 427.2 -> 21 427
    assert ledger.ok("wattcoin:Balance", address)["charged"] == 21_427


def test_set_meter_tariff_on_the_hour_a_second_time_and_refusals() -> None:
    ledger, _ = two_tariffs()
    # The first whole hour at or after the transaction time plus twice the tolerance
    # (2 x 30 s: no recorded reading can have reached it).
    ledger.now = utc("2025-03-15T09:59:00Z")
    assert ledger.ok("SetMeterTariff", "m-1", "FLAT")["from"] == "2025-03-15T10:00:00Z"
    ledger.now = utc("2025-03-15T09:59:00Z")
    ledger.ok("SetMeterTariff", "m-1", "EVN-RES")  # the same hour: the last change counts
    assert ledger.private_json("meterinfo~m-1")["tariffs"][-1] == {
        "tariffId": "EVN-RES", "from": "2025-03-15T10:00:00Z"}
    assert ledger.ok("SetMeterTariff", "m-1", "EVN-RES")["meterId"] == "m-1"  # a no-op
    ledger.now = utc("2025-03-15T08:30:00Z")  # a transaction time before the change
    res = ledger.call("SetMeterTariff", "m-1", "FLAT")
    assert res.status == 409 and "already changes tariff" in res.message
    ledger.now = utc("2025-03-16T00:00:00Z")
    assert ledger.call("SetMeterTariff", "m-1", "NOPE").status == 404
    usd = tariff_json(tariffId="USD", currency="USD", currencyExponent=2)
    ledger.ok("SetTariff", usd, msp="RegulatorMSP")
    res = ledger.call("SetMeterTariff", "m-1", "USD")
    assert res.status == 409 and "is in USD" in res.message
    later = tariff_json("2025-06-01T00:00:00Z", tariffId="LATER")
    ledger.ok("SetTariff", later, msp="RegulatorMSP")
    res = ledger.call("SetMeterTariff", "m-1", "LATER")
    assert res.status == 404 and "no version in force" in res.message


def test_the_response_names_no_tariff() -> None:
    # The response is in the block; which tariff a meter is on is in its private record.
    ledger, _ = two_tariffs()
    res = ledger.ok("SetMeterTariff", "m-1", "FLAT")
    assert "FLAT" not in json.dumps(res)
