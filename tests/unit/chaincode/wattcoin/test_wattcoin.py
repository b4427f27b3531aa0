"""Wattcoin accounts, minting, transfers, exhaustion with arrears, low-balance policy."""

from __future__ import annotations

import datetime as dt

from gridledger.chaincode.wattcoin.address import address_of_cert, address_of_pem_key
from tests.unit.chaincode.metering.helpers import T0, Ledger, Meter, cert_of, setup, submit

NOW = T0 + dt.timedelta(days=20)
ALICE = {"name": "alice", "msp": "UtilityMSP",
         "attrs": {"role": "customer", "customerId": "c-1"}}
BOB = {"name": "bob", "msp": "UtilityMSP", "attrs": {"role": "customer", "customerId": "c-2"}}


def at(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def prepaid(balance: int = 100_000) -> tuple[Ledger, Meter, str]:
    ledger = Ledger(now=NOW)
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    address = ledger.ok("wattcoin:OpenAccount", **ALICE)["address"]
    ledger.ok("wattcoin:BindCustomer", "c-1", address, **ALICE)
    if balance:
        ledger.ok("wattcoin:Mint", address, str(balance), "PAY-0001")
    return ledger, meter, address


def test_address_is_last_20_bytes_of_sha256_of_the_uncompressed_point() -> None:
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(cert_of("alice")).public_key()
    point = key.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.UncompressedPoint)
    assert address_of_cert(cert_of("alice")) == hashlib.sha256(point).digest()[-20:].hex()
    meter = Meter("m", "c")
    assert len(address_of_pem_key(meter.pem)) == 40


def test_open_mint_and_reference_reuse_refused() -> None:
    ledger, _, address = prepaid(0)
    assert ledger.call("wattcoin:OpenAccount", **ALICE).status == 409
    # The answer and the event are in the block: that it was done, no account or amount.
    assert ledger.ok("wattcoin:Mint", address, "5000", "PAY-7") == {"minted": True}
    assert ledger.ok("wattcoin:Balance", address, **ALICE)["balance"] == 5000
    assert ledger.events == []  # nothing to switch back on, so nothing to announce
    before = ledger.snapshot()
    res = ledger.call("wattcoin:Mint", address, "5000", "PAY-7")
    assert res.status == 409 and "already minted" in res.message
    assert ledger.snapshot() == before
    for args, status in ((("0", "P1"), 400), (("-5", "P2"), 400), (("1.5", "P3"), 400)):
        assert ledger.call("wattcoin:Mint", address, *args).status == status
    assert ledger.call("wattcoin:Mint", address, "5", "P4", **BOB).status == 403
    assert ledger.call("wattcoin:Mint", address, "5", "P5", msp="RegulatorMSP").status == 403
    assert ledger.call("wattcoin:Mint", "f" * 40, "5", "P6").status == 404


def test_transfer_only_by_owner_positive_and_covered() -> None:
    ledger, _, alice = prepaid(10_000)
    bob = ledger.ok("wattcoin:OpenAccount", **BOB)["address"]
    assert ledger.call("wattcoin:Transfer", alice, bob, "100", **BOB).status == 403
    assert ledger.call("wattcoin:Transfer", alice, bob, "0", **ALICE).status == 400
    res = ledger.call("wattcoin:Transfer", alice, bob, "10001", **ALICE)
    assert res.status == 409 and "insufficient" in res.message
    ledger.ok("wattcoin:Transfer", alice, bob, "2500", **ALICE)
    assert ledger.ok("wattcoin:Balance", bob, **BOB)["balance"] == 2500
    assert ledger.ok("wattcoin:Balance", alice, **ALICE)["balance"] == 7500
    assert ledger.call("wattcoin:Balance", alice, **BOB).status == 403
    history = ledger.ok("wattcoin:History", alice, "1", "10", **ALICE)
    assert [(h["kind"], h["amount"]) for h in history] == [("mint", 10_000),
                                                           ("transfer-out", 2500)]


def test_exhaustion_charges_marginal_tier_then_arrears_and_exhausted() -> None:
    ledger, meter, address = prepaid(100_000)
    # 30 kWh, tier 1: 30 000 x 1984 = 59 520 000 milli; x 1.08 = 64 281.6 -> 64 282
    submit(ledger, meter.reading(at(1), 30_000))
    account = ledger.ok("wattcoin:Balance", address)
    assert (account["balance"], account["paid"], account["arrears"]) == (35_718, 64_282, 0)
    # 30 kWh more: 20 kWh x 1984 + 10 kWh x 2050 -> month 119 700 000 milli x 1.08
    # = 129 276; due 129 276 - 64 282 = 64 994; balance pays 35 718, arrears 29 276.
    res = submit(ledger, meter.reading(at(2), 30_000))
    account = ledger.ok("wattcoin:Balance", address)
    assert (account["balance"], account["arrears"], account["charged"]) == (0, 29_276, 129_276)
    assert account["exhausted"] is True
    name, event = ledger.events[-1]
    assert name == "ReadingsProcessed"
    # The batch index of the reading whose account ran out: no meter, account or amount.
    assert event["exhausted"] == [0]
    assert res.payload["accepted"] == 1  # the reading is recorded although unpaid
    # Top-up pays arrears first and restores supply.
    ledger.ok("wattcoin:Mint", address, "50000", "PAY-0002")
    account = ledger.ok("wattcoin:Balance", address)
    assert (account["balance"], account["arrears"], account["exhausted"]) == (20_724, 0, False)
    # A hint for the bridges, naming nothing (they ask SupplyStatus which meters).
    assert ledger.events[-1] == ("WattcoinMinted", {"restored": True})


def test_duplicate_reading_is_never_charged_twice() -> None:
    ledger, meter, address = prepaid()
    item = meter.reading(at(1), 10_000)
    submit(ledger, item)
    paid = ledger.ok("wattcoin:Balance", address)["paid"]
    res = submit(ledger, item)
    assert res.payload["duplicate"] == 1
    assert ledger.ok("wattcoin:Balance", address)["paid"] == paid
    res = submit(ledger, item, item)
    assert ledger.ok("wattcoin:Balance", address)["paid"] == paid


def test_low_balance_event_at_owner_threshold_once() -> None:
    ledger, meter, address = prepaid(100_000)
    policy = "wattcoin:SetLowBalancePolicy"
    assert ledger.call(policy, address, "40000", "power-saving", **BOB).status == 403
    assert ledger.call(policy, address, "1", "sleep", **ALICE).status == 400
    ledger.ok("wattcoin:SetLowBalancePolicy", address, "40000", "power-saving", **ALICE)
    submit(ledger, meter.reading(at(1), 10_000))  # 21 427: balance 78 573, above threshold
    assert ledger.events[-1][1]["lowBalance"] == []
    submit(ledger, meter.reading(at(2), 20_000))  # crosses 40 000
    low = ledger.events[-1][1]["lowBalance"]
    assert low == [0]  # the batch index; the policy is the bridge's to read (SupplyStatus)
    submit(ledger, meter.reading(at(3), 1_000))  # still low: not signalled again
    assert ledger.events[-1][1]["lowBalance"] == []


def test_postpaid_customer_is_not_charged_and_no_tariff_refuses_prepaid_reading() -> None:
    ledger = Ledger(now=NOW)
    meter = Meter("m-1", "c-1")
    setup(ledger, meter, tariff=None)
    submit(ledger, meter.reading(at(1), 10_000))
    assert not any(k.startswith("wc") for _, k in ledger.private)
    # Prepaid, but the reading predates every tariff version: refused before any write.
    late = Ledger(now=NOW)
    m2 = Meter("m-2", "c-9")
    from tests.unit.chaincode.metering.helpers import tariff_json

    setup(late, m2, tariff=tariff_json("2025-03-05T00:00:00Z"))
    nine = {**ALICE, "attrs": {"role": "customer", "customerId": "c-9"}}
    address = late.ok("wattcoin:OpenAccount", **nine)["address"]
    late.ok("wattcoin:BindCustomer", "c-9", address, **nine)
    verdict = submit(late, m2.reading(at(1), 10)).payload["results"][0]
    assert verdict["code"] == "no-tariff"


def test_meter_account_and_rebinding() -> None:
    ledger, meter, alice = prepaid(0)
    opened = ledger.ok("wattcoin:OpenMeterAccount", "m-1", alice)
    assert opened == {"address": address_of_pem_key(meter.pem), "opened": True}
    wallet = ledger.ok("wattcoin:Balance", opened["address"])
    assert wallet["controller"] == alice and wallet["kind"] == "meter"
    ledger.ok("wattcoin:BindCustomer", "c-1", wallet["address"], **ALICE)
    assert ledger.ok("wattcoin:AccountOfCustomer", "c-1")["address"] == wallet["address"]
    assert ledger.ok("wattcoin:Balance", alice)["customerId"] is None
    ledger.ok("wattcoin:Mint", wallet["address"], "1000", "PAY-M")
    bob = ledger.ok("wattcoin:OpenAccount", **BOB)["address"]
    # Alice controls the meter's wallet.
    ledger.ok("wattcoin:Transfer", wallet["address"], bob, "400", **ALICE)
    # Bob does not control it: he cannot make it pay for him.
    assert ledger.call("wattcoin:BindCustomer", "c-2", wallet["address"], **BOB).status == 403
    totals = ledger.ok("wattcoin:UtilityAccount")
    assert totals["minted"] == totals["balance"] + totals["paid"] == 1000


def test_binding_an_account_needs_its_controllers_own_transaction() -> None:
    # Regression (issue 11, finding 6): the Utility bound an Aggregator user's account to a
    # meter without its controller's consent, and other meters' readings drained it.
    ledger, _, alice = prepaid(0)
    ledger.ok("wattcoin:Mint", alice, "500000", "PAY-X")
    bob = {"name": "bob", "msp": "UtilityMSP", "attrs": {"role": "customer",
                                                          "customerId": "c-2"}}
    bobs = ledger.ok("wattcoin:OpenAccount", **bob)["address"]
    before = ledger.snapshot()
    assert ledger.call("wattcoin:BindCustomer", "c-2", alice).status == 403  # an operator
    assert ledger.call("wattcoin:BindCustomer", "c-2", alice, **bob).status == 403  # not his
    assert ledger.call("wattcoin:BindCustomer", "c-1", bobs, **bob).status == 403  # not him
    assert ledger.snapshot() == before
    assert ledger.ok("wattcoin:BindCustomer", "c-2", bobs, **bob) == {"bound": True}
