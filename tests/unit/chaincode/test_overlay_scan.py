"""Overlay.scan reads lazily and closes early (issue 17): a peer cuts every range query at
``ledger.state.totalQueryLimit`` (100 000) without a word, and a scan that loads its
whole range first costs the whole range whatever the caller needs. GetReadings and
History read no further than their limit; UtilityAccount says when it did not sum all."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from gridledger.chaincode.common.overlay import Overlay, PrivateKinds
from gridledger.chaincode.shim import KV
from gridledger.chaincode.wattcoin import accounts
from tests.unit.chaincode.metering.helpers import T0, Ledger, Meter, TxStub, setup, submit
from tests.unit.chaincode.support import ListIterator, MemoryStub

KINDS = PrivateKinds("coll", frozenset({"acct", "note"}), keyed=frozenset({"acct"}))


class Counting(ListIterator):
    """A range iterator that counts what was pulled from it and whether it was closed."""

    def __init__(self, items: list[KV], log: dict[str, int]) -> None:
        super().__init__(items)
        self.log = log

    def __next__(self) -> KV:
        kv = super().__next__()
        self.log["pulled"] += 1
        return kv

    def close(self) -> None:
        self.log["closed"] += 1
        super().close()


class CountingStub(MemoryStub):
    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.log = {"pulled": 0, "closed": 0}
        self.read_only = True
        self.transient = {"salt": b"s" * 16}

    def get_state_by_range(self, start_key: str, end_key: str) -> Counting:
        return Counting(list(super().get_state_by_range(start_key, end_key)), self.log)

    def get_private_data_by_range(self, collection: str, start_key: str,
                                  end_key: str) -> Counting:
        return Counting(list(super().get_private_data_by_range(collection, start_key,
                                                               end_key)), self.log)


def public_rows(n: int) -> dict[str, bytes]:
    return {f"row~{i:04d}": str(i).encode() for i in range(n)}


def test_a_limited_scan_pulls_no_more_than_it_yields_and_closes() -> None:
    stub = CountingStub(state=public_rows(1000))
    got = [kv.key for kv in Overlay(stub).scan("row~", "row\x7f", limit=3)]
    assert got == ["row~0000", "row~0001", "row~0002"]
    assert stub.log == {"pulled": 3, "closed": 1}


def test_a_scan_the_caller_stops_is_closed_at_once() -> None:
    stub = CountingStub(state=public_rows(1000))
    scan = Overlay(stub).scan("row~", "row\x7f")
    assert next(scan).key == "row~0000"
    scan.close()
    assert stub.log == {"pulled": 1, "closed": 1}


def test_the_transactions_own_writes_are_merged_in_key_order() -> None:
    stub = CountingStub(state=public_rows(4))
    stub.read_only = False
    ov = Overlay(stub)
    ov.put("row~0001", b"changed")
    ov.put("row~0002x", b"new")
    ov.put("row~9999", b"last")
    got = [(kv.key, kv.value) for kv in ov.scan("row~", "row\x7f")]
    assert got == [("row~0000", b"0"), ("row~0001", b"changed"), ("row~0002", b"2"),
                   ("row~0002x", b"new"), ("row~0003", b"3"), ("row~9999", b"last")]
    assert [kv.key for kv in ov.scan("row~", "row\x7f", limit=2)] == ["row~0000", "row~0001"]


def _private(ov: Overlay, stub: CountingStub, rows: dict[str, dict[str, int]]) -> None:
    stub.read_only = False
    for k, v in rows.items():
        ov.put_json(k, v)
    stub.read_only = True


def test_a_private_range_within_one_id_streams_in_logical_order() -> None:
    stub = CountingStub()
    stub.private[("coll", "keysecret")] = json.dumps({"secret": "ab" * 32}).encode()
    writer = Overlay(stub, private=KINDS)
    _private(writer, stub, {f"acct~a~{i:03d}": {"n": i} for i in range(50)}
             | {f"acct~b~{i:03d}": {"n": i} for i in range(5)})
    ov = Overlay(stub, private=KINDS)
    got = [kv.key for kv in ov.scan("acct~a~", "acct~a\x7f", limit=4)]
    assert got == ["acct~a~000", "acct~a~001", "acct~a~002", "acct~a~003"]
    assert stub.log["pulled"] == 4


def test_a_whole_keyed_kind_is_sorted_when_asked_and_streamed_otherwise() -> None:
    stub = CountingStub()
    stub.private[("coll", "keysecret")] = json.dumps({"secret": "cd" * 32}).encode()
    names = [f"acct~{c}" for c in "abcdefgh"]
    _private(Overlay(stub, private=KINDS), stub, {k: {"n": 1} for k in names})
    # Stored under tags: storage order is not name order.
    ordered = [kv.key for kv in Overlay(stub, private=KINDS).scan("acct~", "acct\x7f")]
    assert ordered == names
    stub.log["pulled"] = 0
    streamed = Overlay(stub, private=KINDS).scan("acct~", "acct\x7f", ordered=False, limit=3)
    assert len(list(streamed)) == 3 and stub.log["pulled"] == 3


def test_get_readings_and_history_read_no_further_than_their_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger(now=T0 + dt.timedelta(days=3))
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    alice = {"name": "alice", "attrs": {"role": "customer", "customerId": "c-1"}}
    address = ledger.ok("wattcoin:OpenAccount", **alice)["address"]
    ledger.ok("wattcoin:BindCustomer", "c-1", address, **alice)
    ledger.ok("wattcoin:Mint", address, "1000000", "PAY-1")
    for i in range(40):
        submit(ledger, meter.reading(T0 + dt.timedelta(minutes=15 * (i + 1)), 10))
    log = {"pulled": 0, "closed": 0}
    original = TxStub.get_private_data_by_range

    def counted(self, collection, start, end):  # type: ignore[no-untyped-def]
        return Counting(list(original(self, collection, start, end)), log)

    monkeypatch.setattr(TxStub, "get_private_data_by_range", counted)
    readings = ledger.ok("GetReadings", "m-1", "5", "3")
    assert [r["seq"] for r in readings] == [5, 6, 7]
    assert log == {"pulled": 3, "closed": 1}
    log.update(pulled=0, closed=0)
    history = ledger.ok("wattcoin:History", address, "2", "4")
    assert [h["n"] for h in history] == [2, 3, 4, 5]
    assert log == {"pulled": 4, "closed": 1}


def test_utility_account_says_when_it_did_not_sum_every_account(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger(now=T0)
    for name in ("a", "b", "c"):
        ledger.ok("wattcoin:OpenAccount", name=name)
    assert ledger.ok("wattcoin:UtilityAccount")["complete"] is True
    monkeypatch.setattr(accounts, "MAX_TOTAL_ACCOUNTS", 2)
    totals = ledger.ok("wattcoin:UtilityAccount")
    assert (totals["accounts"], totals["complete"]) == (2, False)


def test_scan_results_come_from_a_real_iterator() -> None:
    # The MemoryStub's iterator is what the shim's is: a context manager that closes.
    it: Iterator[KV] = CountingStub(state=public_rows(2)).get_state_by_range("row~", "z")
    with it:  # type: ignore[attr-defined]
        assert next(it).key == "row~0000"
