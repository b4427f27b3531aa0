"""Bills computed by hand: every EVN tier boundary, a tariff change mid-period, ToU."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from .helpers import Ledger, Meter, setup, submit, tariff_json

MARCH = ("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")
APRIL_2 = dt.datetime(2025, 4, 2, tzinfo=dt.UTC)


def utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


# kWh -> (energy charge, VAT 8%), by hand from EVN_TIERS 1984/2050/2380/2998/3350/3460 VND:
#   50 kWh  = 50x1984                          = 99 200
#   100 kWh = 99 200 + 50x2050                 = 201 700
#   200 kWh = 201 700 + 100x2380               = 439 700
#   300 kWh = 439 700 + 100x2998               = 739 500
#   400 kWh = 739 500 + 100x3350               = 1 074 500
# and one more kWh is priced at the next tier's price.
BOUNDARIES = [
    (50, 99_200, 7_936),
    (51, 101_250, 8_100),
    (100, 201_700, 16_136),
    (101, 204_080, 16_326),
    (200, 439_700, 35_176),
    (201, 442_698, 35_416),
    (300, 739_500, 59_160),
    (301, 742_850, 59_428),
    (400, 1_074_500, 85_960),
    (401, 1_077_960, 86_237),
]


@pytest.mark.parametrize(("kwh", "energy", "vat"), BOUNDARIES)
def test_every_tier_boundary(kwh: int, energy: int, vat: int) -> None:
    ledger = Ledger(now=APRIL_2)
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    submit(ledger, meter.reading(utc("2025-03-10T10:00:00Z"), kwh * 1000))
    bill = ledger.ok("ComputeBill", "c-1", *MARCH)
    assert (bill["energyCharge"], bill["taxes"], bill["total"]) == (energy, {"VAT": vat},
                                                                   energy + vat)
    assert (bill["currency"], bill["currencyExponent"]) == ("VND", 0)
    tiers = bill["meters"][0]["segments"][0]["tiers"]
    assert sum(t["energyWh"] for t in tiers) == kwh * 1000
    assert [t["upToWh"] for t in tiers] == [50_000, 100_000, 200_000, 300_000, 400_000, None]
    assert bill["tariffVersions"] == [{"tariffId": "EVN-RES", "version": 1}]


def test_period_spanning_a_tariff_change_is_split_and_pro_rated() -> None:
    ledger = Ledger(now=dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    ledger.now = dt.datetime(2025, 3, 5, tzinfo=dt.UTC)
    tiers2 = [{"upToKwh": t["upToKwh"], "pricePerKwh": t["pricePerKwh"] + 100}
              for t in json.loads(tariff_json())["tiers"]]
    ledger.ok("SetTariff", tariff_json("2025-03-11T00:00:00Z", tiers=tiers2,
                                       taxes=[{"name": "VAT", "rateBasisPoints": 1000}]),
              msp="RegulatorMSP")
    ledger.now = APRIL_2
    submit(ledger, meter.reading(utc("2025-03-05T10:00:00Z"), 20_000),
           meter.reading(utc("2025-03-20T10:00:00Z"), 40_000))
    bill = ledger.ok("ComputeBill", "c-1", "2025-03-01T00:00:00Z", "2025-03-31T00:00:00Z")
    first, second = bill["meters"][0]["segments"]
    # 720 h period: 240 h under v1 (thresholds x 1/3), 480 h under v2 (x 2/3).
    assert (first["hours"], first["tariffVersion"], second["hours"]) == (240, 1, 480)
    assert [t["upToWh"] for t in first["tiers"]][:2] == [16_667, 33_333]
    assert [t["upToWh"] for t in second["tiers"]][:2] == [33_333, 66_667]
    # v1: 16 667 Wh x 1984 = 33 067.328 -> 33 067; 3 333 Wh x 2050 = 6 832.65 -> 6 833
    assert [t["amount"] for t in first["tiers"]][:2] == [33_067, 6_833]
    assert (first["energyCharge"], first["taxTotal"], first["total"]) == (39_900, 3_192, 43_092)
    # v2: 33 333 Wh x 2084 = 69 465.972 -> 69 466; 6 667 Wh x 2150 = 14 334.05 -> 14 334
    assert [t["amount"] for t in second["tiers"]][:2] == [69_466, 14_334]
    assert (second["energyCharge"], second["taxTotal"], second["total"]) == (83_800, 8_380,
                                                                           92_180)
    assert bill["total"] == 135_272
    assert bill["tariffVersions"] == [{"tariffId": "EVN-RES", "version": 1},
                                      {"tariffId": "EVN-RES", "version": 2}]


def test_time_of_use_and_export_credit() -> None:
    ledger = Ledger(now=APRIL_2)
    meter = Meter("m-1", "c-1")
    tou = tariff_json(
        tiers=[{"upToKwh": None, "pricePerKwh": 2000}],
        touBands=[{"name": "offpeak", "hours": [0, 1, 2, 3, 4, 5], "adjustPerKwh": -800},
                  {"name": "peak", "hours": [17, 18, 19], "adjustPerKwh": 1000}],
        feedInPricePerKwh=1500,
    )
    setup(ledger, meter, tariff=tou)
    submit(ledger,
           meter.reading(utc("2025-03-10T03:00:00Z"), 2000),        # 09 local: standard
           meter.reading(utc("2025-03-10T11:00:00Z"), 3000),        # 17 local: peak
           meter.reading(utc("2025-03-10T19:00:00Z"), 5000, 1500))  # 01 local: offpeak
    bill = ledger.ok("ComputeBill", "c-1", *MARCH)
    seg = bill["meters"][0]["segments"][0]
    assert seg["tou"] == [
        {"band": "offpeak", "energyWh": 5000, "adjustPerKwh": -800, "amount": -4000},
        {"band": "peak", "energyWh": 3000, "adjustPerKwh": 1000, "amount": 3000},
    ]
    # 10 kWh x 2000 = 20 000; ToU -1 000; VAT 8% of 19 000 = 1 520; export 1.5 kWh x 1500
    assert (seg["energyCharge"], seg["touCharge"], seg["taxTotal"]) == (20_000, -1_000, 1_520)
    assert seg["exportCredit"] == {"energyWh": 1500, "pricePerKwh": 1500, "amount": 2250}
    assert bill["total"] == 20_000 - 1_000 + 1_520 - 2_250


def test_period_limits_and_quality_summary() -> None:
    ledger = Ledger(now=APRIL_2)
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    submit(ledger, meter.reading(utc("2025-03-02T10:00:00Z"), 1000, quality="estimated"),
           meter.reading(utc("2025-03-02T11:00:00Z"), 1000, quality="suspect"),
           meter.reading(utc("2025-04-01T10:00:00Z"), 1000))  # outside March
    bill = ledger.ok("ComputeBill", "c-1", *MARCH)
    part = bill["meters"][0]
    assert part["importWh"] == 2000
    assert part["quality"] == {"measured": 0, "estimated": 1, "substituted": 0, "suspect": 1}
    assert ledger.call("ComputeBill", "c-1", MARCH[1], MARCH[0]).status == 400
    assert ledger.call("ComputeBill", "c-1", "2025-03-01T00:30:00Z", MARCH[1]).status == 400
    assert ledger.call("ComputeBill", "nobody", *MARCH).status == 404


def test_bill_access_and_issue() -> None:
    ledger = Ledger(now=APRIL_2)
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    submit(ledger, meter.reading(utc("2025-03-10T10:00:00Z"), 10_000))
    own = {"role": "customer", "customerId": "c-1"}
    other = {"role": "customer", "customerId": "c-2"}
    assert ledger.call("ComputeBill", "c-1", *MARCH, attrs=own).status == 200
    assert ledger.call("ComputeBill", "c-1", *MARCH, attrs=other).status == 403
    assert ledger.call("ComputeBill", "c-1", *MARCH, msp="AggregatorMSP").status == 403
    assert ledger.call("IssueBill", "c-1", *MARCH, msp="RegulatorMSP").status == 403
    # The answer is in the block: that the bill was issued, never what it says.
    assert ledger.ok("IssueBill", "c-1", *MARCH) == {"issued": True, "periodStart": MARCH[0],
                                                      "periodEnd": MARCH[1]}
    bill = ledger.ok("GetBill", "c-1", MARCH[0], attrs=own)
    assert bill["billId"] == "bill~c-1~2025-03-01T00:00:00Z" and bill["total"] == 21_427
    assert not any(k.startswith("bill~") for k in ledger.state)
    res = ledger.call("IssueBill", "c-1", "2025-03-15T00:00:00Z", "2025-04-01T00:00:00Z")
    assert res.status == 409 and "overlaps" in res.message
    res = ledger.call("IssueBill", "c-1", "2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z")
    assert res.status == 409 and "has not passed" in res.message
    assert [b["periodStart"] for b in ledger.ok("BillsByCustomer", "c-1")] == [MARCH[0]]
