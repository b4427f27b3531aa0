"""The health contract over the in-memory stub."""

from __future__ import annotations

import json

from gridledger.chaincode.health import CONTRACTS, HealthContract
from gridledger.chaincode.shim import ContractRouter

from .support import MemoryStub


def call(stub: MemoryStub):
    return ContractRouter([c() for c in CONTRACTS]).invoke(stub)


def test_ping_reports_creator_channel_and_proposal_time() -> None:
    res = call(MemoryStub("Ping", msp_id="RegulatorMSP"))
    assert res.status == 200
    assert json.loads(res.payload) == {
        "msp": "RegulatorMSP",
        "channel": "energy",
        "txTimestamp": "2025-03-01T12:30:15.250Z",
    }


def test_put_stores_under_prefix_and_emits_event() -> None:
    stub = MemoryStub("Put", ["meter-1", "ok"])
    res = call(stub)
    assert res.status == 200
    assert json.loads(res.payload) == {"key": "meter-1"}
    assert stub.state == {"health:meter-1": b"ok"}
    assert stub.events == [("HealthPut", b'{"key":"meter-1"}')]


def test_get_reads_back_and_qualified_name_works() -> None:
    stub = MemoryStub("health:Get", ["k"], state={"health:k": b"v1"})
    res = call(stub)
    assert (res.status, res.payload) == (200, b"v1")


def test_get_missing_is_404_with_clear_message() -> None:
    res = call(MemoryStub("Get", ["absent"]))
    assert res.status == 404
    assert res.message == "health key 'absent' not found"


def test_put_refuses_bad_input() -> None:
    for args, fragment in (
        (["", "v"], "key must not be empty"),
        (["k", ""], "value must not be empty"),
        (["a\x00b", "v"], "U+0000"),
        (["k" * 257, "v"], "longer than 256"),
    ):
        stub = MemoryStub("Put", args)
        res = call(stub)
        assert res.status == 400, args
        assert fragment in res.message
        assert stub.state == {} and stub.events == []


def test_contract_name() -> None:
    assert HealthContract.name == "health"


def test_memory_stub_satisfies_the_stub_protocol() -> None:
    from gridledger.chaincode.shim import Stub

    stub = MemoryStub(state={"a": b"1", "b": b"2", "c": b"3"})
    assert isinstance(stub, Stub)
    with stub.get_state_by_range("a", "c") as it:
        assert [kv.key for kv in it] == ["a", "b"]


def test_increment_counts_from_zero_and_refuses_a_non_counter() -> None:
    stub = MemoryStub("Increment", ["c"])
    assert json.loads(call(stub).payload) == {"value": 1}
    again = MemoryStub("Increment", ["c"], state=stub.state)
    assert json.loads(call(again).payload) == {"value": 2}
    assert again.state["health:c"] == b"2"

    text = MemoryStub("Increment", ["t"], state={"health:t": b"hello"})
    res = call(text)
    assert res.status == 409
    assert "does not hold a counter" in res.message
    assert text.state == {"health:t": b"hello"}


# -- bounds on what customers write (issue 17) ------------------------------------------


def customer_stub(function: str, args: list[str], state: dict[str, bytes] | None = None
                  ) -> MemoryStub:
    from gridledger.chaincode.shim import ClientIdentity

    stub = MemoryStub(function, args, state=state)
    stub.creator = ClientIdentity(msp_id="UtilityMSP", cert_pem=b"", subject="CN=alice",
                                  issuer="CN=ca", common_name="alice",
                                  attributes={"role": "customer", "customerId": "c-1"},
                                  ous=("client",))
    return stub


def test_a_customer_writes_only_under_its_own_prefix() -> None:
    probe = {"health:probe": b"up", "health:customer/c-2/x": b"bob's"}
    for function, args in (("Put", ["probe", "down"]), ("Increment", ["probe"]),
                           ("Put", ["customer/c-2/x", "mine"]),
                           ("Put", ["customer/c-1", "no slash"]),
                           ("Increment", ["customer/c-2/x"])):
        stub = customer_stub(function, args, state=dict(probe))
        res = call(stub)
        assert res.status == 403, (function, args)
        assert "customer/c-1/" in res.message and function in res.message
        assert stub.state == probe and stub.events == []
    stub = customer_stub("Put", ["customer/c-1/app", "ok"])
    assert call(stub).status == 200
    assert stub.state == {"health:customer/c-1/app": b"ok"}
    stub = customer_stub("Increment", ["customer/c-1/n"])
    assert json.loads(call(stub).payload) == {"value": 1}


def test_values_are_capped_for_everyone() -> None:
    for stub in (MemoryStub("Put", ["k", "x" * 257]),
                 customer_stub("Put", ["customer/c-1/k", "x" * 257]),
                 MemoryStub("Put", ["k", "é" * 129])):  # 258 bytes in UTF-8
        res = call(stub)
        assert res.status == 400 and "longer than 256 bytes" in res.message
        assert stub.state == {} and stub.events == []
    stub = MemoryStub("Put", ["k", "x" * 256])
    assert call(stub).status == 200
