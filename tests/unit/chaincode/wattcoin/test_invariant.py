"""After a long random sequence: tokens are conserved and every charge is paid or owed.

The tariff has an off-peak band below the tier-1 price and a feed-in price, so readings
refund as well as charge, and bills true the prepaid charges up both ways.
"""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.chaincode.metering.helpers import T0, Ledger, Meter, setup, submit, tariff_json

CUSTOMERS = ("c-0", "c-1", "c-2")
TARIFF = tariff_json(feedInPricePerKwh=1500, touBands=[
    {"name": "offpeak", "hours": [0, 1, 2, 3, 4, 5, 6, 7], "adjustPerKwh": -2600}])
FIELDS = ("minted", "balance", "paid", "returned", "charged", "refunded", "arrears")

ops = st.lists(
    st.one_of(
        st.tuples(st.just("mint"), st.integers(0, 2), st.integers(1, 60_000)),
        st.tuples(st.just("transfer"), st.integers(0, 2), st.integers(0, 2),
                  st.integers(1, 40_000)),
        st.tuples(st.just("read"), st.integers(0, 2), st.integers(0, 90_000),
                  st.integers(0, 5_000), st.integers(1, 12)),
        st.tuples(st.just("bill"), st.integers(0, 2)),
        st.tuples(st.just("replay"), st.integers(0, 2)),
        st.tuples(st.just("reuse"), st.integers(0, 2)),
    ),
    min_size=20,
    max_size=60,
)


def _sums(ledger: Ledger) -> dict[str, int]:
    sums = dict.fromkeys(FIELDS, 0)
    for (_, key), raw in ledger.private.items():
        if key.startswith("wcacct~"):
            account = json.loads(raw)
            assert account["balance"] >= 0 and account["arrears"] >= 0
            for f in sums:
                sums[f] += account[f]
    return sums


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_conservation_after_random_operations(sequence: list[tuple]) -> None:
    ledger = Ledger(now=T0 + dt.timedelta(days=60))
    meters = [Meter(f"m-{i}", c) for i, c in enumerate(CUSTOMERS)]
    setup(ledger, *meters, tariff=TARIFF)
    people = [{"name": f"p{i}", "attrs": {"role": "customer", "customerId": c}}
              for i, c in enumerate(CUSTOMERS)]
    addresses = [ledger.ok("wattcoin:OpenAccount", **p)["address"] for p in people]
    for c, a, p in zip(CUSTOMERS, addresses, people, strict=True):
        ledger.ok("wattcoin:BindCustomer", c, a, **p)
    last: list[dict | None] = [None, None, None]
    refs: list[str] = []
    billed = [T0, T0, T0]
    hour = 0
    for op in sequence:
        if op[0] == "mint":
            refs.append(f"PAY-{len(refs)}")
            ledger.ok("wattcoin:Mint", addresses[op[1]], str(op[2]), refs[-1])
        elif op[0] == "transfer":
            res = ledger.call("wattcoin:Transfer", addresses[op[1]], addresses[op[2]],
                              str(op[3]), **people[op[1]])
            assert res.status in (200, 400, 409)
        elif op[0] == "read":
            hour += op[4]  # hours apart: some readings fall in the off-peak band
            item = meters[op[1]].reading(T0 + dt.timedelta(hours=hour), op[2], op[3])
            last[op[1]] = item
            assert submit(ledger, item).payload["accepted"] == 1
        elif op[0] == "replay" and last[op[1]] is not None:
            before = _sums(ledger)
            assert submit(ledger, last[op[1]]).payload["duplicate"] == 1
            assert _sums(ledger) == before
        elif op[0] == "bill" and T0 + dt.timedelta(hours=hour) > billed[op[1]]:
            end = T0 + dt.timedelta(hours=hour)
            period = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (billed[op[1]], end)]
            ledger.ok("IssueBill", CUSTOMERS[op[1]], *period)
            billed[op[1]] = end
            # Trued up: the customer's net charges are the sum of its bills.
            bills = ledger.ok("BillsByCustomer", CUSTOMERS[op[1]])
            account = ledger.ok("wattcoin:Balance", addresses[op[1]])
            assert account["charged"] - account["refunded"] == sum(b["total"] for b in bills)
        elif op[0] == "reuse" and refs:
            assert ledger.call("wattcoin:Mint", addresses[op[1]], "1", refs[0]).status == 409
        sums = _sums(ledger)
        assert sums["minted"] + sums["returned"] == sums["balance"] + sums["paid"]
        assert (sums["charged"] - sums["refunded"]
                == sums["paid"] - sums["returned"] + sums["arrears"])
    totals = ledger.ok("wattcoin:UtilityAccount")
    assert {k: totals[k] for k in _sums(ledger)} == _sums(ledger)
