"""Prepaid charges per interval, refunds, and the true-up to the bill (issue 11, finding 7).

Exhaustion prices each reading with the tariff version (tax rate, ToU band) in force at its
hour and refunds a month-to-date cost that goes down; IssueBill trues the prepaid charges
of the period up to the bill total, both ways.
"""

from __future__ import annotations

import datetime as dt
import json

from tests.unit.chaincode.metering.helpers import Ledger, Meter, setup, submit
from tests.unit.chaincode.metering.helpers import tariff_json as evn

MARCH = ("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")
ALICE = {"name": "alice", "attrs": {"role": "customer", "customerId": "c-1"}}
# Local (UTC+7) hours 0-5 are off-peak with an adjustment below the tier-1 price: a
# negative marginal cost (-516 VND/kWh at tier 1), as a utility paying for night load.
OFFPEAK = [{"name": "offpeak", "hours": [0, 1, 2, 3, 4, 5], "adjustPerKwh": -2500}]
VAT8 = [{"name": "VAT", "rateBasisPoints": 800}]
VAT10 = [{"name": "VAT", "rateBasisPoints": 1000}]


def utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def prepaid(ledger: Ledger, meter: Meter, tariff: str | None = None,
            balance: int = 2_000_000) -> str:
    setup(ledger, meter, tariff=tariff)
    address = ledger.ok("wattcoin:OpenAccount", **ALICE)["address"]
    ledger.ok("wattcoin:BindCustomer", "c-1", address, **ALICE)
    ledger.ok("wattcoin:Mint", address, str(balance), "PAY-1")
    return address


def net_charged(ledger: Ledger, address: str) -> int:
    account = ledger.ok("wattcoin:Balance", address)
    return account["charged"] - account["refunded"]


def history(ledger: Ledger, address: str) -> list[dict]:
    return ledger.ok("wattcoin:History", address, "1", "1000", **ALICE)


def conserved(ledger: Ledger) -> None:
    t = ledger.ok("wattcoin:UtilityAccount")
    assert t["minted"] + t["returned"] == t["balance"] + t["paid"]
    assert t["charged"] - t["refunded"] == t["paid"] - t["returned"] + t["arrears"]


def test_prepaid_taxes_each_interval_at_the_rate_in_force_at_its_hour() -> None:
    # Regression (issue 11, finding 7): a VAT change mid-month was applied to the whole
    # month's prepaid deductions.
    ledger = Ledger(now=utc("2025-03-05T00:00:00Z"))
    meter = Meter("m-1", "c-1")
    address = prepaid(ledger, meter)
    ledger.ok("SetTariff", evn("2025-03-15T00:00:00Z", taxes=VAT10), msp="RegulatorMSP")
    ledger.now = utc("2025-04-02T00:00:00Z")
    submit(ledger, meter.reading(utc("2025-03-10T10:00:00Z"), 10_000))
    submit(ledger, meter.reading(utc("2025-03-20T10:00:00Z"), 10_000))
    # 10 kWh x 1984 at 8 % + 10 kWh x 1984 at 10 %, exact: 21 427.2 + 21 824 = 43 251.2
    assert net_charged(ledger, address) == 43_251  # not 20 kWh x 1984 x 1.10 = 43 648
    assert ledger.private_json("wcptd~m-1~202503")["exact"] == 432_512 * 10**6


def test_a_negative_time_of_use_cost_is_refunded_arrears_first() -> None:
    # Regression (issue 11, finding 7): negative time-of-use adjustments were never
    # refunded (charges only went up).
    ledger = Ledger(now=utc("2025-04-02T00:00:00Z"))
    meter = Meter("m-1", "c-1")
    address = prepaid(ledger, meter, evn(touBands=OFFPEAK), balance=20_000)
    submit(ledger, meter.reading(utc("2025-03-10T10:00:00Z"), 10_000))  # 17 local
    account = ledger.ok("wattcoin:Balance", address)
    assert (account["balance"], account["arrears"]) == (0, 1_427)  # 21 427 due
    submit(ledger, meter.reading(utc("2025-03-10T20:00:00Z"), 10_000))  # 03 local
    # Month exact: 10 kWh x 1984 + 10 kWh x (1984 - 2500), x 1.08 = 15 854.4 -> 15 854
    account = ledger.ok("wattcoin:Balance", address)
    assert (account["charged"], account["refunded"]) == (21_427, 5_573)
    assert (account["arrears"], account["balance"], account["returned"]) == (0, 4_146, 4_146)
    entry = history(ledger, address)[-1]
    assert (entry["kind"], entry["amount"], entry["arrearsCancelled"]) == (
        "exhaustion", -5_573, 1_427)
    assert account["exhausted"] is True  # a refund never reconnects: a top-up does
    conserved(ledger)


def test_after_a_month_of_changes_the_prepaid_charges_equal_the_bill_exactly() -> None:
    # Regression (issue 11, finding 7): prepaid charges ended far from the bill (817,135
    # charged against a bill of 961,483). VAT change mid-month, negative ToU hours, exports,
    # a tariff change, a bill period (UTC) that is not the tariff's local month.
    ledger = Ledger(now=utc("2025-03-01T00:00:00Z"))
    meter = Meter("m-1", "c-1")
    address = prepaid(ledger, meter, evn(touBands=OFFPEAK))
    flat = evn(tariffId="FLAT", tiers=[{"upToKwh": None, "pricePerKwh": 3000}], taxes=VAT10,
               touBands=OFFPEAK, feedInPricePerKwh=1000)
    ledger.ok("SetTariff", flat, msp="RegulatorMSP")
    ledger.now = utc("2025-03-05T00:00:00Z")
    ledger.ok("SetTariff", evn("2025-03-15T00:00:00Z", taxes=VAT10, touBands=OFFPEAK),
              msp="RegulatorMSP")
    ledger.now = utc("2025-03-22T10:20:00Z")
    ledger.ok("SetMeterTariff", "m-1", "FLAT")
    ledger.now = utc("2025-04-02T00:00:00Z")
    items = []
    for day in range(1, 32):
        items.append(meter.reading(utc(f"2025-03-{day:02d}T10:00:00Z"), 7_000, 300))
        items.append(meter.reading(utc(f"2025-03-{day:02d}T20:00:00Z"), 3_000))
    items.append(meter.reading(utc("2025-04-01T01:00:00Z"), 4_000))  # the next period
    submit(ledger, *items[:30])
    submit(ledger, *items[30:])
    before = net_charged(ledger, address)
    april = sum(ledger.private_json("usage~m-1~20250401")["prepaid"])
    ledger.ok("IssueBill", "c-1", *MARCH)
    bill = ledger.ok("GetBill", "c-1", MARCH[0])
    assert [(s["tariffId"], s["tariffVersion"]) for s in bill["meters"][0]["segments"]] == [
        ("EVN-RES", 1), ("EVN-RES", 2), ("FLAT", 1)]
    # Night hours cost less than nothing: their charges are negative (netted per batch).
    assert min(ledger.private_json("usage~m-1~20250310")["prepaid"]) < 0
    march_charges = before - april
    assert bill["prepaid"]["charged"] == march_charges
    assert bill["prepaid"]["trueUp"] == bill["total"] - march_charges != 0
    # Exactly the bill, for the period's hours.
    assert net_charged(ledger, address) - april == bill["total"]
    entry = history(ledger, address)[-1]
    assert (entry["kind"], entry["amount"], entry["billId"]) == (
        "true-up", bill["total"] - march_charges, bill["billId"])
    assert sum(e["amount"] for e in history(ledger, address)
               if e["kind"] in ("exhaustion", "true-up")) == bill["total"] + april
    conserved(ledger)


def test_a_shortfall_is_charged_and_becomes_arrears_when_unpaid() -> None:
    # Tier thresholds are pro-rated on the bill at a version change, not in exhaustion.
    ledger = Ledger(now=utc("2025-03-05T00:00:00Z"))
    meter = Meter("m-1", "c-1")
    address = prepaid(ledger, meter, balance=300_000)
    ledger.ok("SetTariff", evn("2025-03-16T00:00:00Z"), msp="RegulatorMSP")
    ledger.now = utc("2025-04-02T00:00:00Z")
    submit(ledger, meter.reading(utc("2025-03-20T10:00:00Z"), 140_000))
    # month-to-date 140 kWh: 50x1984 + 50x2050 + 40x2380 = 296 900, x 1.08 = 320 652
    assert ledger.ok("wattcoin:Balance", address)["arrears"] == 20_652
    ledger.ok("IssueBill", "c-1", *MARCH)
    bill = ledger.ok("GetBill", "c-1", MARCH[0])
    shortfall = bill["prepaid"]["trueUp"]
    assert shortfall > 0 and bill["prepaid"]["charged"] == 320_652
    account = ledger.ok("wattcoin:Balance", address)
    assert (account["balance"], account["arrears"]) == (0, 20_652 + shortfall)
    assert account["charged"] == bill["total"]


def test_an_excess_is_credited_back() -> None:
    # Hours of 28 February (UTC) are local March: they push the local month's tiers up,
    # while the UTC March bill starts at tier 1.
    ledger = Ledger(now=utc("2025-04-02T00:00:00Z"))
    meter = Meter("m-1", "c-1")
    address = prepaid(ledger, meter)
    submit(ledger, meter.reading(utc("2025-02-28T20:00:00Z"), 300_000),
           meter.reading(utc("2025-03-10T10:00:00Z"), 50_000))
    ledger.ok("IssueBill", "c-1", *MARCH)
    bill = ledger.ok("GetBill", "c-1", MARCH[0])
    # Charged 50 kWh x 3350 (tier 5) x 1.08 = 180 900; billed 50 x 1984 x 1.08 = 107 136.
    assert bill["prepaid"] == {"account": address, "charged": 180_900, "trueUp": -73_764}
    account = ledger.ok("wattcoin:Balance", address)
    assert account["refunded"] == 73_764
    march = [e for e in history(ledger, address) if e["kind"] == "true-up"]
    assert [(e["amount"], e["returned"]) for e in march] == [(-73_764, 73_764)]
    conserved(ledger)


def test_compute_bill_shows_the_pending_true_up_and_issue_answers_no_amount() -> None:
    ledger = Ledger(now=utc("2025-04-02T00:00:00Z"))
    meter = Meter("m-1", "c-1")
    address = prepaid(ledger, meter)
    submit(ledger, meter.reading(utc("2025-03-10T10:00:00Z"), 10_000))
    shown = ledger.ok("ComputeBill", "c-1", *MARCH)
    assert shown["prepaid"] == {"account": address, "charged": 21_427, "trueUp": 0}
    res = ledger.call("IssueBill", "c-1", *MARCH)
    assert res.payload == {"issued": True, "periodStart": MARCH[0], "periodEnd": MARCH[1]}
    assert res.stub.events == []
    assert "21427" not in json.dumps(res.payload)
    assert [e["kind"] for e in history(ledger, address)][-1] == "true-up"
