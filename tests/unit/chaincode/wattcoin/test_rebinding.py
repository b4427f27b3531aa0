"""Re-binding and silent credits (issue 17, hole 8 and the review's findings).

- BindCustomer refuses to move a customer away from an account with arrears or cut off
  (exhausted): the debt stayed behind, a bill's true-up credited charges the old account
  never paid into the new one as spendable tokens, and a fresh account's first token
  reconnected the customer.
- A credit that emits no event (the market's Withdraw, a top-up of an account paying for
  nobody) leaves ``exhausted`` set, so the next top-up's event restores supply; cleared
  silently, no later top-up would announce anything and the bridge kept a paying
  customer cut off.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from gridledger.chaincode.common.privacy import CUSTOMER_DATA
from gridledger.chaincode.common.privacy import ledger as overlay_of
from gridledger.chaincode.metering import CONTRACTS as METERING
from gridledger.chaincode.shim import Contract, ContractRouter, Stub, submit
from gridledger.chaincode.wattcoin import CONTRACTS as WATTCOIN
from gridledger.chaincode.wattcoin import api as wattcoin
from gridledger.chaincode.wattcoin.accounts import credit
from tests.unit.chaincode.metering.helpers import Ledger, Meter, setup
from tests.unit.chaincode.metering.helpers import submit as submit_readings

ALICE = {"name": "alice", "attrs": {"role": "customer", "customerId": "c-1"}}
LOCAL = dt.timedelta(hours=7)  # the test tariff's time zone
MARCH_16, APRIL_1 = (dt.datetime(2025, 3, 16, tzinfo=dt.UTC) - LOCAL,
                     dt.datetime(2025, 4, 1, tzinfo=dt.UTC) - LOCAL)


class MarketSide(Contract):
    """The market's Withdraw as far as Wattcoin sees it: ``from_market`` on the account."""

    name = "marketside"

    @submit
    def FromMarket(self, stub: Stub, address: str, amount: str) -> dict[str, Any]:
        return {"restored": wattcoin.from_market(overlay_of(stub), address, int(amount))[
            "restored"]}


ROUTER = ContractRouter([c() for c in (*METERING, *WATTCOIN, MarketSide)])


def z(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def in_arrears() -> tuple[Ledger, Meter, str, str]:
    """Alice's account paid 100 000 of 269 244 charged in March: 169 244 in arrears, cut
    off. She also controls her meter's wallet, a second account (empty, paying nobody)."""
    ledger = Ledger(now=dt.datetime(2025, 4, 2, tzinfo=dt.UTC), router=ROUTER)
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    account = ledger.ok("wattcoin:OpenAccount", **ALICE)["address"]
    ledger.ok("wattcoin:BindCustomer", "c-1", account, **ALICE)
    ledger.ok("wattcoin:Mint", account, "100000", "PAY-1")
    # 60 kWh on 5 March, 60 kWh on 20 March. Month to date, with VAT 8 %:
    # (50x1984 + 10x2050) x 1.08 = 129 276, then (40x2050 + 20x2380) x 1.08 = 139 968.
    submit_readings(ledger, meter.reading(dt.datetime(2025, 3, 5, 3, tzinfo=dt.UTC), 60_000),
                    meter.reading(dt.datetime(2025, 3, 20, 3, tzinfo=dt.UTC), 60_000))
    wallet = ledger.ok("wattcoin:OpenMeterAccount", "m-1", account)["address"]
    state = ledger.ok("wattcoin:Balance", account)
    assert (state["balance"], state["arrears"], state["exhausted"]) == (0, 169_244, True)
    return ledger, meter, account, wallet


def test_rebinding_away_from_arrears_is_refused_and_changes_nothing() -> None:
    ledger, _, account, wallet = in_arrears()
    before = ledger.snapshot()
    res = ledger.call("wattcoin:BindCustomer", "c-1", wallet, **ALICE)
    assert res.status == 409
    assert f"current account {account} has arrears" in res.message
    assert "169" not in res.message  # no amount: the response is in the block
    assert ledger.snapshot() == before
    assert ledger.ok("wattcoin:AccountOfCustomer", "c-1")["address"] == account


def test_a_bills_true_up_credit_cancels_the_debt_it_was_charged_against() -> None:
    """The reviewer's case: the second half of March billed alone is cheaper than the
    month-to-date charges of its hours (its thresholds are half a month's, starting from
    zero), so IssueBill credits the difference. Re-bound to a fresh account, that credit
    became spendable tokens there while the old account kept its whole debt. Now the
    customer cannot leave the debt, and the credit cancels arrears first."""
    ledger, _, account, wallet = in_arrears()
    assert ledger.call("wattcoin:BindCustomer", "c-1", wallet, **ALICE).status == 409
    bill = ledger.ok("ComputeBill", "c-1", z(MARCH_16), z(APRIL_1))
    # 16 of March's 31 days: thresholds 25 806 and 51 613 Wh, so 60 kWh cost
    # 25 806x1984 + 25 807x2050 + 8 387x2380 = 51 199 + 52 904 + 19 961 = 124 064, VAT
    # 9 925: 133 989; the readings of those hours were charged 139 968: 5 979 back.
    assert (bill["total"], bill["prepaid"]["charged"]) == (133_989, 139_968)
    assert bill["prepaid"] == {"account": account, "charged": 139_968, "trueUp": -5_979}
    credit_due = 5_979
    ledger.ok("IssueBill", "c-1", z(MARCH_16), z(APRIL_1))
    old = ledger.ok("wattcoin:Balance", account)
    assert (old["balance"], old["arrears"]) == (0, 169_244 - credit_due)
    assert ledger.ok("wattcoin:Balance", wallet)["balance"] == 0
    totals = ledger.ok("wattcoin:UtilityAccount")
    assert totals["minted"] + totals["returned"] == totals["balance"] + totals["paid"]


def test_rebinding_is_allowed_once_the_debt_is_paid() -> None:
    ledger, _, account, wallet = in_arrears()
    ledger.ok("wattcoin:Mint", account, "169245", "PAY-2")  # arrears and one token
    assert ledger.events[-1] == ("WattcoinMinted", {"restored": True})
    assert ledger.ok("wattcoin:BindCustomer", "c-1", wallet, **ALICE) == {"bound": True}
    assert ledger.ok("wattcoin:Balance", account)["customerId"] is None


def test_rebinding_away_from_a_cut_off_account_is_refused() -> None:
    """The reviewer's second case: an account whose arrears were paid to the token, so
    balance 0, still cut off; re-bound to a fresh account, the customer was reconnected by
    that account's first token. Now it stays bound until its own top-up restores it."""
    ledger, _, account, wallet = in_arrears()
    ledger.ok("wattcoin:Mint", account, "169244", "PAY-2")  # exactly the arrears
    state = ledger.ok("wattcoin:Balance", account)
    assert (state["balance"], state["arrears"], state["exhausted"]) == (0, 0, True)
    ledger.ok("wattcoin:Mint", wallet, "1", "PAY-3")  # one token into the fresh account
    before = ledger.snapshot()
    res = ledger.call("wattcoin:BindCustomer", "c-1", wallet, **ALICE)
    assert res.status == 409 and "is exhausted (supply cut)" in res.message
    assert ledger.snapshot() == before
    assert ledger.ok("wattcoin:SupplyStatus", '["m-1"]')["meters"]["m-1"]["supply"] is False


def test_a_silent_credit_leaves_exhausted_for_the_next_top_up_to_clear_with_its_event(
        ) -> None:
    ledger, _, account, _ = in_arrears()
    # The market's Withdraw pays the arrears and more: no event, so the flag stays.
    assert ledger.ok("marketside:FromMarket", account, "200000") == {"restored": False}
    state = ledger.ok("wattcoin:Balance", account)
    assert (state["balance"], state["arrears"], state["exhausted"]) == (30_756, 0, True)
    assert ledger.events[-1][0] == "ReadingsProcessed"  # nothing announced
    # Before issue 17 the flag was cleared here and this top-up emitted no event.
    ledger.ok("wattcoin:Mint", account, "1000", "PAY-2")
    assert ledger.events[-1] == ("WattcoinMinted", {"restored": True})
    assert ledger.ok("wattcoin:Balance", account)["exhausted"] is False


def test_only_an_evented_credit_clears_exhausted() -> None:
    account = {"balance": 0, "arrears": 10, "paid": 0, "exhausted": True, "low": False,
               "lowBalanceThreshold": 0}
    assert credit(account, 50, evented=False) == (10, False)
    assert account["exhausted"] is True and account["balance"] == 40
    assert credit(account, 1, evented=True) == (0, True)
    assert account["exhausted"] is False


def test_a_top_up_of_an_account_paying_for_nobody_keeps_its_flag() -> None:
    ledger, _, account, wallet = in_arrears()
    ledger.ok("wattcoin:Mint", account, "169244", "PAY-2")
    # Hand the customer to the wallet the only way left: pay, reconnect, rebind.
    ledger.ok("wattcoin:Mint", account, "10", "PAY-3")
    ledger.ok("wattcoin:BindCustomer", "c-1", wallet, **ALICE)
    # The old account pays for nobody now; were it cut, a top-up would announce nothing
    # and so must not clear the flag: shown on a copy of it, marked exhausted.
    raw = json.loads(ledger.private_raw(f"wcacct~{account}"))
    raw["exhausted"] = True
    ledger.private[(CUSTOMER_DATA, ledger.stored(f"wcacct~{account}"))] = json.dumps(
        raw).encode()
    events = list(ledger.events)
    ledger.ok("wattcoin:Mint", account, "500", "PAY-4")
    assert ledger.events == events
    assert ledger.ok("wattcoin:Balance", account)["exhausted"] is True
