"""Contract dispatch, argument checks and error mapping."""

from __future__ import annotations

import json
import logging

import pytest

from gridledger.chaincode.shim import (
    ChaincodeError,
    Contract,
    ContractRouter,
    Stub,
    canonical_json,
    evaluate,
    parse_json_arg,
    submit,
)
from gridledger.formats.errors import FormatError
from gridledger.formats.ids import check_id
from gridledger.formats.utc import parse_utc

from .support import MemoryStub, answer_to


class Ledger(Contract):
    name = "ledger"

    @submit
    def Store(self, stub: Stub, key: str, doc: str) -> dict:
        stub.put_state(key, canonical_json(parse_json_arg(doc, "doc")))
        return {"stored": key, "by": stub.creator.msp_id}

    @evaluate
    def Load(self, stub: Stub, key: str) -> bytes:
        value = stub.get_state(key)
        if value is None:
            raise ChaincodeError(f"{key} not found", status=404)
        return value

    @evaluate
    def Sneaky(self, stub: Stub, key: str) -> None:
        stub.put_state(key, b"x")

    @submit
    def Crash(self, stub: Stub) -> None:
        raise KeyError("secret-internal-detail")

    @evaluate
    def Lookup(self, stub: Stub, record_id: str) -> dict:
        # Calls a shared format check directly, without translating its FormatError.
        return {"id": check_id(record_id, "recordId")}

    def helper(self) -> None:  # not a transaction
        raise AssertionError("must not be callable")


class Other(Contract):
    name = "other"

    @evaluate
    def Load(self, stub: Stub, key: str) -> str:
        return "other:" + key


def router() -> ContractRouter:
    return ContractRouter([Ledger(), Other()])


def test_plain_name_goes_to_first_contract_and_returns_canonical_json() -> None:
    stub = MemoryStub("Store", ["k1", '{"b": 1, "a": [1, 2]}'])
    res = router().invoke(stub)
    assert res.status == 200
    assert res.payload == b'{"by":"UtilityMSP","stored":"k1"}'
    assert stub.state["k1"] == b'{"a":[1,2],"b":1}'


def test_qualified_name_selects_contract() -> None:
    res = router().invoke(MemoryStub("other:Load", ["k"]))
    assert (res.status, res.payload) == (200, b"other:k")
    res = router().invoke(MemoryStub("ledger:Load", ["k"]))
    assert res.status == 404


def test_explicit_default_contract() -> None:
    r = ContractRouter([Ledger(), Other()], default="other")
    assert r.invoke(MemoryStub("Load", ["z"])).payload == b"other:z"


@pytest.mark.parametrize(
    ("function", "args", "fragment"),
    [
        ("", [], "no function name"),
        ("Nope", [], "unknown function 'Nope'"),
        ("ghost:Load", ["k"], "unknown function 'ghost:Load'"),
        ("helper", [], "unknown function 'helper'"),
        ("Load", [], "Load expects 1 argument(s) (key), got 0"),
        ("Store", ["k", "{not json"], "doc is not valid JSON"),
    ],
)
def test_bad_calls_are_400(function: str, args: list[str], fragment: str) -> None:
    res = router().invoke(MemoryStub(function, args))
    assert res.status == 400
    assert fragment in res.message
    assert res.payload == b""


def test_typed_error_keeps_status_and_message() -> None:
    res = router().invoke(MemoryStub("Load", ["missing"]))
    assert (res.status, res.message) == (404, "missing not found")


def test_format_error_is_answered_as_400_with_its_message() -> None:
    res = router().invoke(MemoryStub("Lookup", ["a~b"]))
    assert (res.status, res.payload) == (400, b"")
    assert res.message == "recordId must be 1-64 characters of A-Z a-z 0-9 . _ -, got 'a~b'"
    assert router().invoke(MemoryStub("Lookup", ["ab"])).payload == b'{"id":"ab"}'


@pytest.mark.parametrize(
    "error",
    [FormatError("meterId must be 1-64 characters"), FormatError("at must be RFC 3339 UTC")],
)
def test_format_error_answers_exactly_like_a_400_chaincode_error(error: FormatError) -> None:
    assert answer_to(error) == answer_to(ChaincodeError(str(error), status=400))


def test_format_error_from_a_format_function_reaches_the_client() -> None:
    with pytest.raises(FormatError) as info:
        parse_utc("0001-01-01T00:00:00Z", "at")
    res = answer_to(info.value)
    assert (res.status, res.message) == (400, "at is not a valid date and time: "
                                              "'0001-01-01T00:00:00Z'")


def test_a_plain_value_error_is_still_a_500() -> None:
    res = answer_to(ValueError("not a format problem"))
    assert (res.status, res.message) == (500, "internal error in Raise: ValueError")


def test_unexpected_exception_is_500_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        res = router().invoke(MemoryStub("Crash"))
    assert res.status == 500
    assert res.message == "internal error in Crash: KeyError"
    assert "secret-internal-detail" not in res.message
    assert "secret-internal-detail" in caplog.text  # but the operator sees it


def test_evaluate_function_cannot_write() -> None:
    stub = MemoryStub("Sneaky", ["k"])
    res = router().invoke(stub)
    assert res.status == 500
    assert "evaluate-only" in res.message
    assert stub.state == {}


def test_router_refuses_bad_contract_sets() -> None:
    with pytest.raises(ValueError, match="two contracts"):
        ContractRouter([Ledger(), Ledger()])
    with pytest.raises(ValueError, match="at least one"):
        ContractRouter([])
    with pytest.raises(ValueError, match="default contract"):
        ContractRouter([Ledger()], default="other")


def test_chaincode_error_status_range() -> None:
    with pytest.raises(ValueError):
        ChaincodeError("ok?", status=200)


def test_canonical_json_is_sorted_compact_and_rejects_nan() -> None:
    assert (
        canonical_json({"z": 1, "a": {"c": 2, "b": "é"}}) == '{"a":{"b":"é","c":2},"z":1}'.encode()
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    assert json.loads(canonical_json([1, "2"])) == [1, "2"]
