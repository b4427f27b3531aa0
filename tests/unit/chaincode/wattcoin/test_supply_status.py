"""What the bridge acts on (issue 17): events are hints that name no meter beyond the
batch's own, and SupplyStatus answers from state whether each meter's supply should be on.

Any member's transaction can carry any event (a Regulator-only transaction needs only
the Regulator's peer), so a bridge never cuts or restores supply on an event alone."""

from __future__ import annotations

import datetime as dt
import json

from tests.unit.chaincode.metering.helpers import T0, Ledger, Meter, setup, submit

NOW = T0 + dt.timedelta(days=2)
ALICE = {"name": "alice", "attrs": {"role": "customer", "customerId": "c-1"}}
BOB = {"name": "bob", "attrs": {"role": "customer", "customerId": "c-2"}}


def at(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def two_customers() -> tuple[Ledger, dict[str, Meter], str, str]:
    """c-1 (meters m-1, m-2) prepaid with 30 000; c-2 (m-3) prepaid with 100 000; c-3
    (m-4) postpaid."""
    ledger = Ledger(now=NOW)
    meters = {m: Meter(m, c) for m, c in (("m-1", "c-1"), ("m-2", "c-1"), ("m-3", "c-2"),
                                          ("m-4", "c-3"))}
    setup(ledger, *meters.values())
    accounts = []
    for who, amount in ((ALICE, 30_000), (BOB, 100_000)):
        address = ledger.ok("wattcoin:OpenAccount", **who)["address"]
        ledger.ok("wattcoin:BindCustomer", who["attrs"]["customerId"], address, **who)
        ledger.ok("wattcoin:Mint", address, str(amount), f"PAY-{who['name']}")
        accounts.append(address)
    return ledger, meters, accounts[0], accounts[1]


def status(ledger: Ledger, *meter_ids: str) -> dict[str, dict[str, bool]]:
    return ledger.ok("wattcoin:SupplyStatus", json.dumps(list(meter_ids)))["meters"]


def test_readings_processed_names_batch_indices_not_the_customers_other_meters() -> None:
    ledger, meters, alice, _ = two_customers()
    # Index 0: m-3 (bob, plenty); 1: m-1 (alice: 20 kWh = 42 854 > 30 000); 2: m-4.
    res = submit(ledger, meters["m-3"].reading(at(1), 1000),
                 meters["m-1"].reading(at(1), 20_000), meters["m-4"].reading(at(1), 5000))
    assert res.payload["accepted"] == 3
    name, event = ledger.events[-1]
    assert name == "ReadingsProcessed"
    # Before issue 17: [{"meters": ["m-1", "m-2"]}], naming every meter of the customer
    # (m-2 sent nothing in this batch).
    assert event["exhausted"] == [1] and event["lowBalance"] == []
    assert "m-2" not in json.dumps(event)
    assert ledger.ok("wattcoin:Balance", alice)["exhausted"] is True
    assert status(ledger, "m-1", "m-2", "m-3", "m-4") == {
        "m-1": {"known": True, "prepaid": True, "supply": False, "powerSaving": False},
        "m-2": {"known": True, "prepaid": True, "supply": False, "powerSaving": False},
        "m-3": {"known": True, "prepaid": True, "supply": True, "powerSaving": False},
        "m-4": {"known": True, "prepaid": False, "supply": True, "powerSaving": False},
    }


def test_a_top_up_announces_a_restore_naming_nothing_and_the_state_says_which() -> None:
    ledger, meters, alice, _ = two_customers()
    submit(ledger, meters["m-1"].reading(at(1), 20_000))
    ledger.ok("wattcoin:Mint", alice, "50000", "PAY-2")
    # Before issue 17: {"restored": true, "meters": ["m-1", "m-2"]}. A customer's own
    # Transfer carries its certificate into the block, and the meters with it.
    assert ledger.events[-1] == ("WattcoinMinted", {"restored": True})
    assert status(ledger, "m-1", "m-2")["m-2"]["supply"] is True


def test_power_saving_follows_the_owners_policy_and_threshold() -> None:
    ledger, meters, _, bob = two_customers()
    ledger.ok("wattcoin:SetLowBalancePolicy", bob, "90000", "power-saving", **BOB)
    submit(ledger, meters["m-3"].reading(at(1), 10_000))  # 21 427: below 90 000
    assert ledger.events[-1][1]["lowBalance"] == [0]
    assert status(ledger, "m-3")["m-3"] == {"known": True, "prepaid": True, "supply": True,
                                            "powerSaving": True}
    ledger.ok("wattcoin:SetLowBalancePolicy", bob, "90000", "notify", **BOB)
    assert status(ledger, "m-3")["m-3"]["powerSaving"] is False


def test_unknown_meters_are_named_unknown_and_bad_lists_refused() -> None:
    ledger, _, _, _ = two_customers()
    assert status(ledger, "nope")["nope"]["known"] is False
    for bad in ("[]", '"m-1"', '["m-1", "m-1"]', '["a~b"]', json.dumps(["m"] * 1001)):
        assert ledger.call("wattcoin:SupplyStatus", bad).status == 400, bad


def test_only_the_members_bridges_may_ask() -> None:
    ledger, _, _, _ = two_customers()
    for who in ({"msp": "AggregatorMSP"}, ALICE):
        res = ledger.call("wattcoin:SupplyStatus", '["m-1"]', **who)
        assert res.status == 403 and "SupplyStatus" in res.message
    assert ledger.call("wattcoin:SupplyStatus", '["m-1"]', msp="RegulatorMSP").status == 200
