"""Time a submitter chooses (issue 17): peers accept a proposal within 15 minutes of their
clocks, so tariff changes, bills and readings check the transaction time against the
endorser's own clock (common/clock.py) and never reach an hour already metered."""

from __future__ import annotations

import datetime as dt
import json

from gridledger.formats.canonical import canonical_json
from gridledger.formats.reading import sign

from .helpers import Ledger, Meter, setup, submit, tariff_json

FLAT = tariff_json(tariffId="FLAT", tiers=[{"upToKwh": None, "pricePerKwh": 3000}])
ALICE = {"name": "alice", "attrs": {"role": "customer", "customerId": "c-1"}}


def utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def metered_hour() -> tuple[Ledger, Meter, str]:
    """A prepaid meter with a reading for the hour 10:00-11:00, recorded at 10:20."""
    ledger = Ledger(now=utc("2025-03-15T10:20:00Z"))
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    address = ledger.ok("wattcoin:OpenAccount", **ALICE)["address"]
    ledger.ok("wattcoin:BindCustomer", "c-1", address, **ALICE)
    ledger.ok("wattcoin:Mint", address, "1000000", "PAY-1")
    assert submit(ledger, meter.reading(utc("2025-03-15T10:15:00Z"), 10_000)).payload[
        "accepted"] == 1
    return ledger, meter, address


def test_a_back_dated_tariff_version_cannot_reprice_a_metered_hour() -> None:
    # Regression (issue 17, hole 8): with a proposal dated 09:59 (peers accept 15 minutes
    # either way) the Regulator set a version effective 10:00 at 10:30, repricing the
    # hour a reading had already been charged for.
    ledger, _, _ = metered_hour()
    ledger.now = utc("2025-03-15T10:30:00Z")
    change = tariff_json("2025-03-15T10:00:00Z", taxes=[{"name": "VAT", "rateBasisPoints": 5000}])
    before = ledger.snapshot()
    res = ledger.call("SetTariff", change, msp="RegulatorMSP",
                      when=utc("2025-03-15T09:59:00Z"), clock=utc("2025-03-15T10:30:00Z"))
    assert res.status == 409 and "behind this endorser's clock" in res.message
    # On time, the hour already started is refused too, naming the earliest hour.
    res = ledger.call("SetTariff", change, msp="RegulatorMSP")
    assert res.status == 409 and "the earliest is 2025-03-15T11:00:00Z" in res.message
    assert ledger.snapshot() == before
    assert ledger.ok("GetTariff", "EVN-RES", "2025-03-15T10:00:00Z")["version"] == 1


def test_a_tariff_version_must_start_after_twice_the_tolerance() -> None:
    ledger, _, _ = metered_hour()
    nine = tariff_json("2025-03-15T11:00:00Z", feedInPricePerKwh=500)
    # 10:59:30 + 2 x 30 s = 11:00:30: a reading of hour 11:00 may already be recorded.
    res = ledger.call("SetTariff", nine, msp="RegulatorMSP", when=utc("2025-03-15T10:59:30Z"))
    assert res.status == 409 and "the earliest is 2025-03-15T12:00:00Z" in res.message
    version = ledger.ok("SetTariff", nine, msp="RegulatorMSP",
                        when=utc("2025-03-15T10:59:00Z"))
    assert (version["version"], version["effectiveFrom"]) == (2, "2025-03-15T11:00:00Z")


def test_a_new_tariffs_first_version_may_start_in_the_past() -> None:
    # Nothing was priced by a tariff that did not exist: its first version may go back.
    ledger, _, _ = metered_hour()
    assert ledger.ok("SetTariff", FLAT, msp="RegulatorMSP")["version"] == 1


def test_set_meter_tariff_starts_after_every_recorded_reading() -> None:
    ledger, _, _ = metered_hour()
    ledger.ok("SetTariff", FLAT, msp="RegulatorMSP")
    before = ledger.snapshot()
    res = ledger.call("SetMeterTariff", "m-1", "FLAT", when=utc("2025-03-15T09:59:00Z"),
                      clock=utc("2025-03-15T10:30:00Z"))
    assert res.status == 409 and "behind this endorser's clock" in res.message
    assert ledger.snapshot() == before
    # 10:59:30: within a minute of 11:00, so the change waits for 12:00.
    answer = ledger.ok("SetMeterTariff", "m-1", "FLAT", when=utc("2025-03-15T10:59:30Z"))
    assert answer == {"meterId": "m-1", "from": "2025-03-15T12:00:00Z"}


def test_a_bill_issued_before_its_period_ends_is_refused() -> None:
    ledger, _, _ = metered_hour()
    period = ("2025-03-15T00:00:00Z", "2025-03-16T00:00:00Z")
    before = ledger.snapshot()
    # 15 minutes early, on the issuer's clock and on the endorser's alike.
    res = ledger.call("IssueBill", "c-1", *period, when=utc("2025-03-15T23:45:00Z"))
    assert res.status == 409 and "period's end" in res.message
    # Dated after the end, but 15 minutes ahead of the endorser's clock.
    res = ledger.call("IssueBill", "c-1", *period, when=utc("2025-03-16T00:00:00Z"),
                      clock=utc("2025-03-15T23:45:00Z"))
    assert res.status == 409 and "ahead of this endorser's clock" in res.message
    assert ledger.snapshot() == before
    issued = ledger.ok("IssueBill", "c-1", *period, when=utc("2025-03-16T00:00:10Z"))
    assert issued["issued"] is True


def test_a_reading_may_not_end_beyond_the_endorsers_clock() -> None:
    # A proposal dated 15 minutes ahead (peers accept it) no longer carries readings that
    # end in the future: the bound is the endorser's clock plus the tolerance.
    ledger, meter, _ = metered_hour()
    clock = utc("2025-03-15T10:30:00Z")
    before = ledger.snapshot()
    ahead = submit(ledger, meter.reading(utc("2025-03-15T10:40:00Z"), 100),
                   when=utc("2025-03-15T10:45:00Z"), clock=clock).payload
    assert ahead["results"][0]["code"] == "future"
    assert "2025" not in ahead["results"][0]["reason"]  # no interval end in the block
    assert ledger.snapshot()[1] == before[1]
    meter.seq -= 1
    meter.import_wh -= 100
    within = submit(ledger, meter.reading(utc("2025-03-15T10:30:20Z"), 100),
                    when=utc("2025-03-15T10:45:00Z"), clock=clock).payload
    assert within["accepted"] == 1


def test_an_alarm_may_not_be_dated_beyond_the_endorsers_clock() -> None:
    ledger, meter, _ = metered_hour()
    body = {"at": "2025-03-15T10:40:00Z", "kind": "gas", "meterId": "m-1"}
    alarm = json.dumps({"alarm": body, "signature": sign(meter.key, canonical_json(body))})
    before = ledger.snapshot()
    res = ledger.call("RaiseAlarm", alarm, when=utc("2025-03-15T10:45:00Z"),
                      clock=utc("2025-03-15T10:30:00Z"))
    assert res.status == 400 and "future" in res.message
    assert ledger.snapshot() == before
