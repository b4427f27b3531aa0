"""Bills computed by hand: every EVN tier boundary, a tariff change mid-period, ToU, and
tier thresholds pro-rated to each local calendar month a bill covers."""

from __future__ import annotations

import calendar
import datetime as dt
import json
from fractions import Fraction

import pytest

from gridledger.chaincode.metering.pricing import month_share

from .helpers import Ledger, Meter, setup, submit, tariff_json

# March in the tariff's local time (UTC+7): tier thresholds are per local month, so a bill
# for exactly March has exactly March's thresholds.
MARCH = ("2025-02-28T17:00:00Z", "2025-03-31T17:00:00Z")
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
    # 720 h, all in local March (744 h): 240 h under v1, its thresholds x 240/744 = 10/31
    # of March's; 480 h under v2, x 20/31.
    assert (first["hours"], first["tariffVersion"], second["hours"]) == (240, 1, 480)
    # 50 000 x 10/31 = 16 129.03 -> 16 129; 100 000 x 10/31 = 32 258.06 -> 32 258
    assert [t["upToWh"] for t in first["tiers"]][:2] == [16_129, 32_258]
    assert [t["upToWh"] for t in second["tiers"]][:2] == [32_258, 64_516]
    # v1: 16 129 Wh x 1984 = 31 999.936 -> 32 000; 3 871 Wh x 2050 = 7 935.55 -> 7 936;
    # VAT 8 % of 39 936 = 3 194.88 -> 3 195
    assert [t["amount"] for t in first["tiers"]][:2] == [32_000, 7_936]
    assert (first["energyCharge"], first["taxTotal"], first["total"]) == (39_936, 3_195, 43_131)
    # v2: 32 258 Wh x 2084 = 67 225.672 -> 67 226; 7 742 Wh x 2150 = 16 645.3 -> 16 645;
    # VAT 10 % of 83 871 = 8 387.1 -> 8 387
    assert [t["amount"] for t in second["tiers"]][:2] == [67_226, 16_645]
    assert (second["energyCharge"], second["taxTotal"], second["total"]) == (83_871, 8_387,
                                                                           92_258)
    assert bill["total"] == 135_389
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
    assert bill["billId"] == "bill~c-1~" + MARCH[0] and bill["total"] == 21_427
    assert not any(k.startswith("bill~") for k in ledger.state)
    res = ledger.call("IssueBill", "c-1", "2025-03-15T00:00:00Z", "2025-04-01T00:00:00Z")
    assert res.status == 409 and "overlaps" in res.message
    before = ledger.snapshot()
    res = ledger.call("IssueBill", "c-1", "2025-04-01T00:00:00Z", "2025-05-01T00:00:00Z")
    assert res.status == 409 and "period's end 2025-05-01T00:00:00Z" in res.message
    assert ledger.snapshot() == before
    assert [b["periodStart"] for b in ledger.ok("BillsByCustomer", "c-1")] == [MARCH[0]]


# -- tier thresholds do not depend on how a span is cut into bills (issue 17) ---------------

LOCAL = dt.timedelta(hours=7)  # the test tariff's utcOffsetMinutes


def local_midnight(year: int, month: int, day: int = 1) -> dt.datetime:
    return dt.datetime(year, month, day, tzinfo=dt.UTC) - LOCAL


def z(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_monthly_quarterly_and_daily_bills_of_the_same_energy_cost_the_same() -> None:
    """The reviewer's case: 100 kWh in each of March, April and May (EVN tiers, VAT 8 %),
    spread evenly over the days. Before, thresholds were per bill whatever its length:
    one bill for the three months cost 50x1984 + 50x2050 + 100x2380 + 100x2998 = 739 500
    + VAT 59 160 = 798 660, 22 % more than three monthly bills (3 x 217 836 = 653 508),
    and 92 daily bills cost less (every kWh in tier 1). Now each bill's thresholds are
    its share of each local month it covers."""
    ledger = Ledger(now=dt.datetime(2025, 6, 2, tzinfo=dt.UTC))
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    days, items = [], []
    for month in (3, 4, 5):
        length = calendar.monthrange(2025, month)[1]
        for i in range(length):  # 100 000 Wh a month, as evenly as whole Wh allow
            wh = 100_000 * (i + 1) // length - 100_000 * i // length
            days.append(local_midnight(2025, month, i + 1))
            items.append(meter.reading(days[-1] + dt.timedelta(hours=12), wh))
    for first in range(0, len(items), 31):
        assert submit(ledger, *items[first:first + 31]).payload["refused"] == 0

    def total(start: dt.datetime, end: dt.datetime) -> int:
        return ledger.ok("ComputeBill", "c-1", z(start), z(end))["total"]

    months = [local_midnight(2025, m) for m in (3, 4, 5, 6)]
    # A month: 50 kWh x 1984 + 50 kWh x 2050 = 201 700, VAT 16 136.
    assert [total(months[i], months[i + 1]) for i in range(3)] == [217_836] * 3
    quarter = ledger.ok("ComputeBill", "c-1", z(months[0]), z(months[3]))
    tiers = quarter["meters"][0]["segments"][0]["tiers"]
    # Three months' thresholds: 150 kWh x 1984 + 150 kWh x 2050 = 605 100, VAT 48 408.
    assert [t["upToWh"] for t in tiers][:3] == [150_000, 300_000, 600_000]
    assert quarter["total"] == 3 * 217_836 == 653_508
    # 92 daily bills: each a day's share of its month (50 000 / 31 = 1 613 Wh in March);
    # every bill rounds its lines, so the sum differs by a few VND (12 over 92 bills).
    daily = sum(total(day, day + dt.timedelta(days=1)) for day in days)
    assert daily == 653_520


def test_month_share_counts_local_calendar_months() -> None:
    version = json.loads(tariff_json())  # UTC+7
    assert month_share(version, local_midnight(2025, 3), 31 * 24) == 1
    assert month_share(version, local_midnight(2025, 3), 24) == Fraction(1, 31)
    # 15 February to 15 March (local): 14 of February's 28 days, 14 of March's 31.
    assert month_share(version, local_midnight(2025, 2, 15), 28 * 24) == (
        Fraction(14, 28) + Fraction(14, 31))
    # The UTC month of March is not the local one: 737 h of March and 7 h of April.
    utc_march = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    assert month_share(version, utc_march, 744) == Fraction(737, 744) + Fraction(7, 720)
    # A leap February, and a span over the new year.
    assert month_share(version, local_midnight(2024, 2), 29 * 24) == 1
    assert month_share(version, local_midnight(2024, 12, 31), 48) == (
        Fraction(1, 31) + Fraction(1, 31))
