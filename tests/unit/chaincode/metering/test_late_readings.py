"""Late readings (issue 11, finding 7): energy for hours an issued bill already covers goes
to an adjustment line of the customer's next bill, priced as the covering bill would have
priced it."""

from __future__ import annotations

import datetime as dt

from .helpers import Ledger, Meter, setup, submit

# The months of the tariff's local time (UTC+7): tier thresholds are per local month.
MARCH = ("2025-02-28T17:00:00Z", "2025-03-31T17:00:00Z")
APRIL = ("2025-03-31T17:00:00Z", "2025-04-30T17:00:00Z")
MAY = ("2025-04-30T17:00:00Z", "2025-05-31T17:00:00Z")


def utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def billed_march() -> tuple[Ledger, Meter]:
    """40 kWh in March, billed on April 2; the meter's last March hours not sent yet."""
    ledger = Ledger(now=utc("2025-04-02T00:00:00Z"))
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    submit(ledger, meter.reading(utc("2025-03-10T10:00:00Z"), 40_000))
    ledger.ok("IssueBill", "c-1", *MARCH)
    return ledger, meter


def test_a_late_reading_for_an_issued_period_is_billed_on_the_next_bill() -> None:
    # Regression (issue 11, finding 7): readings for an already-issued period were
    # accepted and never billed (90 kWh lost).
    ledger, meter = billed_march()
    issued_march = ledger.ok("GetBill", "c-1", MARCH[0])
    ledger.now = utc("2025-05-02T00:00:00Z")
    late = submit(ledger, meter.reading(utc("2025-03-31T10:00:00Z"), 90_000))
    assert late.payload["accepted"] == 1
    submit(ledger, meter.reading(utc("2025-04-10T10:00:00Z"), 10_000))
    # The issued bill stays reproducible: its hours' usage is not rewritten.
    march = ledger.ok("ComputeBill", "c-1", *MARCH)
    assert march["meters"] == issued_march["meters"]
    # Pending, shown by ComputeBill, then included and consumed by the next IssueBill.
    april = ledger.ok("ComputeBill", "c-1", *APRIL)
    [line] = april["adjustments"]
    # March would have been 130 kWh instead of 40:
    #   energy 50x1984 + 50x2050 + 30x2380 = 273 100 vs 40x1984 = 79 360 -> 193 740
    #   VAT 8%: 21 848 vs round(6 348.8) = 6 349 -> 15 499
    assert (line["importWh"], line["energyCharge"], line["taxes"], line["total"]) == (
        90_000, 193_740, {"VAT": 15_499}, 209_239)
    assert (line["meterId"], line["coveredBy"], line["readings"]) == (
        "m-1", "bill~c-1~" + MARCH[0], [2])
    assert (line["tariffId"], line["tariffVersion"]) == ("EVN-RES", 1)
    # April itself: 10 kWh x 1984 = 19 840, VAT 1 587; the bill adds the adjustment.
    assert april["meters"][0]["total"] == 21_427
    assert april["adjustmentTotal"] == 209_239
    assert april["total"] == 21_427 + 209_239
    assert april["energyCharge"] == 19_840 + 193_740
    ledger.ok("IssueBill", "c-1", *APRIL)
    assert ledger.ok("GetBill", "c-1", APRIL[0])["adjustments"] == [line]
    assert ledger.private_json("billadj~c-1~m-1~000000000002")["consumedBy"] == (
        "bill~c-1~" + APRIL[0])
    # Consumed: not billed twice.
    assert ledger.ok("ComputeBill", "c-1", *MAY)["adjustments"] == []


def test_later_late_energy_is_priced_on_top_of_the_earlier_adjustments() -> None:
    ledger, meter = billed_march()
    ledger.now = utc("2025-06-02T00:00:00Z")
    submit(ledger, meter.reading(utc("2025-03-31T10:00:00Z"), 90_000))
    ledger.ok("IssueBill", "c-1", *APRIL)
    submit(ledger, meter.reading(utc("2025-03-31T11:00:00Z"), 20_000))
    [line] = ledger.ok("ComputeBill", "c-1", *MAY)["adjustments"]
    # March would have been 150 kWh: the 20 kWh after the 130 already billed, tier 3.
    assert (line["energyCharge"], line["readings"]) == (20 * 2380, [3])


def test_a_meter_registered_after_a_bill_sends_its_backlog_as_late_energy() -> None:
    ledger, _ = billed_march()
    newer = Meter("m-2", "c-1")
    ledger.ok("RegisterMeter", newer.registration())
    submit(ledger, newer.reading(utc("2025-03-20T10:00:00Z"), 10_000))
    [line] = ledger.ok("ComputeBill", "c-1", *APRIL)["adjustments"]
    # m-2 was not on the March bill: its 10 kWh start at tier 1 (bounds of March, whole).
    assert (line["meterId"], line["energyCharge"], line["total"]) == ("m-2", 19_840, 21_427)


def test_late_energy_of_a_prepaid_customer_is_charged_by_the_next_true_up() -> None:
    ledger, meter = billed_march()
    alice = {"name": "alice", "attrs": {"role": "customer", "customerId": "c-1"}}
    address = ledger.ok("wattcoin:OpenAccount", **alice)["address"]
    ledger.ok("wattcoin:BindCustomer", "c-1", address, **alice)
    ledger.ok("wattcoin:Mint", address, "500000", "PAY-1")
    ledger.now = utc("2025-05-02T00:00:00Z")
    submit(ledger, meter.reading(utc("2025-03-31T10:00:00Z"), 90_000))
    assert ledger.ok("wattcoin:Balance", address)["charged"] == 0  # not charged now
    ledger.ok("IssueBill", "c-1", *APRIL)
    account = ledger.ok("wattcoin:Balance", address)
    assert account["charged"] == 209_239 == 500_000 - account["balance"]
