"""Who may call what: the authorization matrix of every chaincode function.

One table, as data. ``chaincode/README.md`` shows it (section "Authorization matrix",
rendered by :func:`render_markdown`; ``python -m gridledger.chaincode.authorization``
prints it), and the tests hold both the README and the contracts to it:
``tests/unit/chaincode/test_authorization.py`` calls every function as every kind of
caller on the in-memory ledger, ``tests/integration/test_authorization.py`` on the real
network. The contracts enforce it with the checks of ``common/callers.py`` (the first
statement of each function), which also define the kinds of caller.

Least privilege, per function: a right is granted to the callers who need it for the
function's purpose (its ``reason``), never to "everyone but". A customer's right is
always to its *own* records only (its customer id, its meters, the accounts it controls
or that pay for it); the function checks the owner once it has read the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from .common.callers import AGGREGATOR, REGULATOR, UTILITY

# The kinds of caller, as columns: (key, heading in the README).
CALLERS: tuple[tuple[str, str], ...] = (
    ("utility-operator", "Utility operator"),
    ("regulator-operator", "Regulator operator"),
    ("aggregator-operator", "Aggregator operator"),
    ("customer", "Utility customer"),
    ("foreign-customer", "customer-like, other org"),
    ("no-attributes", "re-enrolled, no attributes"),
    ("unknown-msp", "unknown MSP"),
)
CALLER_KINDS = tuple(kind for kind, _ in CALLERS)
_OPERATOR_OF = {"utility-operator": UTILITY, "regulator-operator": REGULATOR,
                "aggregator-operator": AGGREGATOR}
# Callers that are members of the channel and nothing more (see common/callers.py).
_MEMBERS_ONLY = frozenset({"foreign-customer", "no-attributes"})


@dataclass(frozen=True)
class Rule:
    """Who may call one function, and why."""

    reason: str
    operators: tuple[str, ...] = ()  # MSPs whose operators may call it
    customer: bool = False  # the Utility's customers, each for its own records
    member: bool = False  # any identity of a member organisation (public functions)

    def allows(self, kind: str) -> bool:
        """Whether a caller of ``kind`` (one of :data:`CALLER_KINDS`) passes."""
        if kind not in CALLER_KINDS:
            raise KeyError(kind)
        if kind == "unknown-msp":
            return False
        if self.member:
            return True
        if kind in _OPERATOR_OF:
            return _OPERATOR_OF[kind] in self.operators
        return kind == "customer" and self.customer


U, R, A = UTILITY, REGULATOR, AGGREGATOR
MONEY = "money: the Utility bills, the Regulator audits, the customer sees its own"

RULES: dict[tuple[str, str], Rule] = {
    # -- metering: meters ----------------------------------------------------------------
    ("metering", "RegisterMeter"): Rule(
        "the Utility installs meters; the record names a customer and a place", (U,)),
    ("metering", "ReplaceMeterKey"): Rule(
        "a meter's signing key is the Utility's device management", (U,)),
    ("metering", "SuspendMeter"): Rule("device lifecycle: the Utility's field work", (U,)),
    ("metering", "ResumeMeter"): Rule("device lifecycle: the Utility's field work", (U,)),
    ("metering", "DecommissionMeter"): Rule("device lifecycle: the Utility's field work", (U,)),
    ("metering", "SetMeterTariff"): Rule(
        "the Utility bills the meter (the tariff's prices are the Regulator's)", (U,)),
    ("metering", "GetMeter"): Rule(
        "private record (customer, place, chain head): members' operators, the customer "
        "its own meter", (U, R), customer=True),
    ("metering", "GetMeterDevice"): Rule(
        "public device record (IDoT): every member checks meter signatures against it",
        member=True),
    ("metering", "MetersByCustomer"): Rule(
        "who owns which meter is private: members' operators, the customer itself",
        (U, R), customer=True),
    # -- metering: tariffs ---------------------------------------------------------------
    ("metering", "SetTariff"): Rule(
        "the Regulator sets prices (the tariff keys also need its peer)", (R,)),
    ("metering", "GetTariff"): Rule("published prices", member=True),
    # -- metering: readings and alarms ---------------------------------------------------
    ("metering", "SubmitReadings"): Rule(
        "writes interval detail into customerData: its members' bridges (readings are "
        "meter-signed)", (U, R)),
    ("metering", "GetReadings"): Rule(
        "consumption per interval: members' operators, the customer its own meter's",
        (U, R), customer=True),
    ("metering", "GetReadingDetail"): Rule(
        "signed interval detail, for audit and disputes: members' operators", (U, R)),
    ("metering", "VerifyMeterChain"): Rule(
        "walks the private canonical readings: members' operators", (U, R)),
    ("metering", "RaiseAlarm"): Rule(
        "records an alarm with the home's place in customerData: members' bridges "
        "(meter-signed)", (U, R)),
    ("metering", "AlarmsByMeter"): Rule(
        "an alarm names a home and a customer: members' operators, the customer its own",
        (U, R), customer=True),
    # -- metering: bills -----------------------------------------------------------------
    ("metering", "ComputeBill"): Rule(MONEY, (U, R), customer=True),
    ("metering", "IssueBill"): Rule("only the Utility bills", (U,)),
    ("metering", "GetBill"): Rule(MONEY, (U, R), customer=True),
    ("metering", "BillsByCustomer"): Rule(MONEY, (U, R), customer=True),
    # -- wattcoin ------------------------------------------------------------------------
    ("wattcoin", "OpenAccount"): Rule(
        "accounts hold money: the Utility (it controls meter wallets) and its customers "
        "open their own", (U,), customer=True),
    ("wattcoin", "OpenMeterAccount"): Rule(
        "a meter's wallet is set up by the meter's utility", (U,)),
    ("wattcoin", "BindCustomer"): Rule(
        "consent: only the customer picks the account that pays for its energy",
        customer=True),
    ("wattcoin", "Mint"): Rule("tokens are created for a payment the Utility received", (U,)),
    ("wattcoin", "Transfer"): Rule(
        "spends from an account the caller controls: the Utility's and its customers'",
        (U,), customer=True),
    ("wattcoin", "SetLowBalancePolicy"): Rule(
        "the account's controller decides: the Utility's and its customers' accounts",
        (U,), customer=True),
    ("wattcoin", "Balance"): Rule(
        "money: the Utility, the Regulator (audit), the customer its own accounts",
        (U, R), customer=True),
    ("wattcoin", "MyAddress"): Rule(
        "computed from the caller's own certificate; reads nothing", member=True),
    ("wattcoin", "AccountOfCustomer"): Rule(
        "money: the Utility, the Regulator (audit), the customer its own account",
        (U, R), customer=True),
    ("wattcoin", "History"): Rule(
        "money: the Utility, the Regulator (audit), the customer its own accounts",
        (U, R), customer=True),
    ("wattcoin", "UtilityAccount"): Rule(
        "totals over every account: the Utility's receipts, audited by the Regulator",
        (U, R)),
    # -- health --------------------------------------------------------------------------
    ("health", "Ping"): Rule("liveness: answers the caller's MSP, channel and time",
                             member=True),
    ("health", "Get"): Rule("public probe values", member=True),
    ("health", "Put"): Rule(
        "write probe: operators check endorsement, a customer's app that it can transact",
        (U, R, A), customer=True),
    ("health", "Increment"): Rule(
        "write probe: operators check endorsement, a customer's app that it can transact",
        (U, R, A), customer=True),
}

# The matrix itself: {(contract, function): {caller kind: allowed}}.
MATRIX: dict[tuple[str, str], dict[str, bool]] = {
    fn: {kind: rule.allows(kind) for kind in CALLER_KINDS} for fn, rule in RULES.items()
}

BEGIN = "<!-- authorization-matrix:begin (generated from chaincode/authorization.py) -->"
END = "<!-- authorization-matrix:end -->"


def render_markdown() -> str:
    """The table as README.md shows it, between :data:`BEGIN` and :data:`END`."""
    head = ["function", *(title for _, title in CALLERS), "why"]
    lines = [BEGIN, "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (contract, function), rule in RULES.items():
        marks = ["✓" if MATRIX[(contract, function)][kind] else "✗" for kind in CALLER_KINDS]
        lines.append(f"| `{contract}:{function}` | " + " | ".join(marks) + f" | {rule.reason} |")
    lines.append(END)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
