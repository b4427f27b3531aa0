"""The authorization matrix (chaincode/authorization.py) on the in-memory ledger.

One test row per (function, kind of caller): refused callers get 403 and change nothing,
allowed ones get past the caller check. Then the table against the README and the
contracts' source, the caller rules themselves, and the regressions of issue 11.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from pathlib import Path
from typing import Any

import pytest

import gridledger.chaincode
from gridledger.chaincode import authorization
from gridledger.chaincode.authorization import CALLER_KINDS, MATRIX, RULES
from gridledger.chaincode.common import callers
from gridledger.chaincode.shim import ClientIdentity, ContractRouter

from .callers_world import ALICE, BOB, IDENTITIES, world

ROOT = Path(gridledger.chaincode.__file__).parent
CELLS = [(contract, function, kind) for (contract, function) in RULES for kind in CALLER_KINDS]


def call(ledger, contract: str, function: str, *args: str, **identity: Any):
    return ledger.call(f"{contract}:{function}", *args, **identity)


# -- the matrix: one row per function and kind of caller -----------------------------------


@pytest.mark.parametrize(("contract", "function", "kind"), CELLS,
                         ids=[f"{c}:{f}-{k}" for c, f, k in CELLS])
def test_matrix(contract: str, function: str, kind: str) -> None:
    w = world()
    ledger = w.fork()
    before, events = ledger.snapshot(), list(ledger.events)
    res = call(ledger, contract, function, *w.args(contract, function, kind),
               **IDENTITIES[kind])
    if MATRIX[(contract, function)][kind]:
        assert res.status not in (403, 500), (res.status, res.message)
    else:
        assert res.status == 403, (res.status, res.message)
        assert function in res.message and "caller" in res.message
        assert ledger.snapshot() == before and ledger.events == events


def test_matrix_rows_exist_for_every_kind_and_refuse_the_unknown_msp() -> None:
    assert tuple(IDENTITIES) == CALLER_KINDS
    assert all(not row["unknown-msp"] for row in MATRIX.values())
    # Rights beyond "any member" are never given to identities that prove nothing.
    for fn, rule in RULES.items():
        if not rule.member:
            assert not MATRIX[fn]["no-attributes"] and not MATRIX[fn]["foreign-customer"], fn


def test_allowed_cells_mostly_succeed_outright() -> None:
    # "Not 403" alone would pass a function that always fails: most allowed calls of the
    # matrix must really work. The exceptions are refusals of the *arguments*, by design.
    expected_not_200 = {
        ("wattcoin", "OpenAccount"): 409,  # the world already opened these accounts
        ("metering", "ResumeMeter"): 409,  # m-1 is active
        ("market", "ConfigureMarket"): 409,  # the world configured the market
        ("metering", "InitKeySecret"): 409,  # set once, when the ledger began
    }
    w = world()
    for (contract, function), row in MATRIX.items():
        for kind, allowed in row.items():
            if not allowed:
                continue
            res = call(w.fork(), contract, function, *w.args(contract, function, kind),
                       **IDENTITIES[kind])
            want = expected_not_200.get((contract, function), 200)
            assert res.status == want, (contract, function, kind, res.status, res.message)


# -- the table, the README and the contracts --------------------------------------------------


def _all_transactions() -> set[tuple[str, str]]:
    packages = [p.name for p in ROOT.iterdir()
                if (p / "__init__.py").is_file() and p.name not in ("common", "shim")]
    contracts = [c() for p in packages
                 for c in importlib.import_module(f"gridledger.chaincode.{p}").CONTRACTS]
    return {(tx.contract, tx.function) for tx in ContractRouter(contracts).transactions()}


def test_table_covers_every_transaction_function() -> None:
    assert set(RULES) == _all_transactions()
    assert all(rule.reason for rule in RULES.values())


def test_readme_shows_the_table() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(authorization.BEGIN), readme.index(authorization.END)
    shown = readme[start:end + len(authorization.END)] + "\n"
    assert shown == authorization.render_markdown(), (
        "chaincode/README.md differs from chaincode/authorization.py: paste the output of "
        "`python -m gridledger.chaincode.authorization` into the README")


def _first_statement(method: Any) -> ast.stmt:
    tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return body[0]


def test_every_function_checks_its_caller_first() -> None:
    # Before any argument is parsed, so a refused caller gets 403 whatever it sent.
    router = ContractRouter([c() for c in _contract_classes()])
    for tx in router.transactions():
        stmt = _first_statement(tx.call)
        value = stmt.value if isinstance(stmt, ast.Assign | ast.Expr) else None
        assert isinstance(value, ast.Call) and isinstance(value.func, ast.Name), tx.function
        assert value.func.id.startswith("require_"), (tx.contract, tx.function)
        assert value.func.id in callers.__dict__, value.func.id
        assert value.args and isinstance(value.args[0], ast.Name) and value.args[0].id == "stub"


def _contract_classes() -> list[type]:
    from gridledger.chaincode.access import CONTRACTS as ACCESS
    from gridledger.chaincode.health import CONTRACTS as HEALTH
    from gridledger.chaincode.market import CONTRACTS as MARKET
    from gridledger.chaincode.marketlink import CONTRACTS as MARKETLINK
    from gridledger.chaincode.metering import CONTRACTS as METERING
    from gridledger.chaincode.wattcoin import CONTRACTS as WATTCOIN

    return [*METERING, *WATTCOIN, *ACCESS, *MARKET, *MARKETLINK, *HEALTH]


# -- the caller rules (common/callers.py) -----------------------------------------------------


def ident(msp: str = "UtilityMSP", ous: tuple[str, ...] = ("client",),
          **attrs: str) -> ClientIdentity:
    return ClientIdentity(msp_id=msp, cert_pem=b"", subject="CN=x", issuer="CN=ca",
                          common_name="x", attributes=attrs, ous=ous)


def test_operator_is_proven_by_the_admin_node_ou_or_the_registrar_assigned_attribute() -> None:
    assert callers.is_operator(ident(ous=("admin",)), "UtilityMSP")
    assert callers.is_operator(ident(ous=("client",), **{"gridledger.operator": "true"}),
                               "UtilityMSP")
    # Of its own MSP only.
    assert not callers.is_operator(ident("AggregatorMSP", ous=("admin",)), "UtilityMSP")
    assert not callers.is_operator(ident("IntruderMSP", ous=("admin",)))


@pytest.mark.parametrize("identity", [
    ident(),  # a client without attributes: never an operator by default
    ident(ous=()),  # no NodeOU at all
    ident(ous=("client", "admin")),  # two roles (an affiliation named "admin"): none
    ident(ous=("peer",)),
    ident(**{"gridledger.operator": "yes"}),
    ident(**{"gridledger.operator": "TRUE"}),
    ident(role="operator"),
    ident(role="admin"),
], ids=["client", "no-ou", "two-roles", "peer", "attr-yes", "attr-TRUE", "role-operator",
        "role-admin"])
def test_nothing_else_makes_an_operator(identity: ClientIdentity) -> None:
    assert not callers.is_operator(identity, *callers.MEMBERS)


def test_customer_needs_the_utility_msp_the_role_and_a_valid_id() -> None:
    assert callers.customer_of(ident(role="customer", customerId="c-1")) == "c-1"
    assert callers.customer_of(ident(role="prosumer", customerId="c-1")) == "c-1"
    for identity in (
        ident("AggregatorMSP", role="customer", customerId="c-1"),
        ident("RegulatorMSP", role="customer", customerId="c-1"),
        ident(role="customer"),
        ident(role="customer", customerId="c 1"),
        ident(role="customer", customerId=""),
        ident(role="tenant", customerId="c-1"),
        ident(customerId="c-1"),
        # An operator acts for its organisation, never as a customer.
        ident(ous=("admin",), role="customer", customerId="c-1"),
    ):
        assert callers.customer_of(identity) is None, identity


# -- regressions (issue 11) ------------------------------------------------------------------


REENROLLED = IDENTITIES["no-attributes"]


def test_customer_reenrolled_without_attributes_cannot_act_as_the_utility() -> None:
    # Finding 1: alice re-enrolled with attr_reqs=[]; her certificate lost `role`, and the
    # old rule ("no customer role = operator") let her Mint 1,000,000,000 to herself,
    # register meters, issue bills and read interval detail.
    w = world()
    ledger = w.fork()
    before = ledger.snapshot()
    balance = ledger.ok("wattcoin:Balance", w.alice, **ALICE)["balance"]
    for function, args in (
        ("wattcoin:Mint", (w.alice, "1000000000", "PAY-SELF")),
        ("RegisterMeter", w.args("metering", "RegisterMeter", "no-attributes")),
        ("IssueBill", ("c-1", "2025-04-01T00:00:00Z", "2025-04-02T00:00:00Z")),
        ("GetReadingDetail", ("m-1", "1")),
        ("wattcoin:OpenMeterAccount", ("m-2", w.alice)),
        ("SuspendMeter", ("m-1", "x")),
        ("wattcoin:UtilityAccount", ()),
    ):
        res = ledger.call(function, *args, **REENROLLED)
        assert res.status == 403, (function, res.status, res.message)
    assert ledger.snapshot() == before
    assert ledger.ok("wattcoin:Balance", w.alice, **ALICE)["balance"] == balance


def test_another_organisations_customer_id_counts_for_nothing() -> None:
    # Finding 5: an AggregatorMSP certificate with customerId=c-1 read c-1's bill and
    # Wattcoin account.
    w = world()
    mallory = IDENTITIES["foreign-customer"]
    for function, args in (
        ("GetBill", ("c-1", "2025-03-01T00:00:00Z")),
        ("BillsByCustomer", ("c-1",)),
        ("ComputeBill", ("c-1", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")),
        ("wattcoin:Balance", (w.alice,)),
        ("wattcoin:AccountOfCustomer", ("c-1",)),
        ("wattcoin:History", (w.alice, "1", "10")),
        ("GetMeter", ("m-1",)),
        ("GetReadings", ("m-1", "1", "10")),
        ("MetersByCustomer", ("c-1",)),
        ("AlarmsByMeter", ("m-1",)),
    ):
        res = w.fork().call(function, *args, **mallory)
        assert res.status == 403, (function, res.status, res.message)
    # The same attributes from the Utility's CA are c-1 herself.
    assert w.fork().ok("GetBill", "c-1", "2025-03-01T00:00:00Z", **ALICE)["customerId"] == "c-1"


def test_a_customer_reaches_only_its_own_records() -> None:
    w = world()
    for function, args in (
        ("GetBill", ("c-1", "2025-03-01T00:00:00Z")),
        ("BillsByCustomer", ("c-1",)),
        ("ComputeBill", ("c-1", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")),
        ("wattcoin:Balance", (w.alice,)),
        ("wattcoin:AccountOfCustomer", ("c-1",)),
        ("wattcoin:History", (w.alice, "1", "10")),
        ("wattcoin:Transfer", (w.alice, w.operator, "1")),
        ("wattcoin:SetLowBalancePolicy", (w.alice, "5", "notify")),
        ("wattcoin:BindCustomer", ("c-1", w.alice)),
        ("GetMeter", ("m-1",)),
        ("GetReadings", ("m-1", "1", "10")),
        ("MetersByCustomer", ("c-1",)),
        ("AlarmsByMeter", ("m-1",)),
    ):
        ledger = w.fork()
        before = ledger.snapshot()
        res = ledger.call(function, *args, **BOB)
        assert res.status == 403, (function, res.status, res.message)
        assert ledger.snapshot() == before
        assert ledger.call(function, *args, **ALICE).status == 200, function
    # Bob's own meter is his.
    assert w.fork().ok("GetMeter", "m-2", **BOB)["meter"]["customerId"] == "c-2"


def test_a_service_identity_with_the_operator_attribute_acts_for_its_organisation() -> None:
    w = world()
    bridge = {"msp": "UtilityMSP", "name": "bridge", "ous": ("client",),
              "attrs": {"gridledger.operator": "true"}}
    assert w.fork().call("wattcoin:Mint", w.alice, "5", "PAY-B", **bridge).status == 200
    assert w.fork().call("GetReadingDetail", "m-1", "1", **bridge).status == 200
    other = {**bridge, "msp": "AggregatorMSP"}  # an Aggregator operator, not the Utility's
    assert w.fork().call("wattcoin:Mint", w.alice, "5", "PAY-B", **other).status == 403
    for value in ("false", "1", "True"):
        fake = {**bridge, "attrs": {"gridledger.operator": value}}
        assert w.fork().call("wattcoin:Mint", w.alice, "5", "PAY-B", **fake).status == 403
