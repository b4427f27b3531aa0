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
MARKET_RELAY = ("a participant's signed message, relayed by an operator (a customer's own "
                "certificate would name it in the block)")
MARKET_PUBLIC = "public and pseudonymous: names pseudonyms and VPPs, never people"

RULES: dict[tuple[str, str], Rule] = {
    # -- metering: the collection's key secret -------------------------------------------
    ("metering", "InitKeySecret"): Rule(
        "once, at bring-up: the secret customerData's key names are derived with", (U,)),
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
    ("wattcoin", "SupplyStatus"): Rule(
        "whether each meter's paying account is exhausted: members' bridges check it "
        "before switching a relay (an event is only a hint)", (U, R)),
    # -- access (DACT/IDoT) ---------------------------------------------------------------
    ("access", "RegisterDevice"): Rule(
        "an IDoT of the caller's own: an organisation's device (its operators), a "
        "customer's own device", (U, R, A), customer=True),
    ("access", "RevokeDevice"): Rule(
        "ends an IDoT of the caller's own: an organisation's device (its operators), a "
        "customer's device (the customer, or the Utility for it)", (U, R, A), customer=True),
    ("access", "GetDevice"): Rule(
        "public IDoT record (a device or a meter): every endorser checks device proofs "
        "against it", member=True),
    ("access", "RegisterResource"): Rule(
        "a data owner's hash address: the customer, or the Utility acting for it (the "
        "owner goes to customerData)", (U,), customer=True),
    ("access", "GetResource"): Rule(
        "public record: a hash address is a name, not a capability", member=True),
    ("access", "ResourceOwner"): Rule(
        "whose content a service node is about to serve (customerData): members' "
        "operators", (U, R)),
    ("access", "RegisterDact"): Rule(
        "the data owner grants: the customer, or the Utility acting for it", (U,),
        customer=True),
    ("access", "AmendDact"): Rule(
        "the data owner grants: the customer, or the Utility acting for it", (U,),
        customer=True),
    ("access", "RevokeDact"): Rule(
        "the data owner withdraws: the customer, or the Utility acting for it", (U,),
        customer=True),
    ("access", "GetDact"): Rule(
        "the table and its owner are in customerData: members' operators, the owner its "
        "own", (U, R), customer=True),
    ("access", "Certify"): Rule(
        "anyone may ask; the DACT decides who gets a token (requester, device proof); "
        "the Utility and one other endorser check it", member=True),
    ("access", "GetToken"): Rule(
        "public grant: holder, scope, expiry, state", member=True),
    ("access", "RevokeToken"): Rule(
        "the holder gives it back, or the DACT's owner (or the Utility for it) ends it",
        member=True),
    ("access", "Access"): Rule(
        "the token's holder runs the contract and gets the hash addresses (checked inside)",
        member=True),
    ("access", "ProveHolder"): Rule(
        "the holder's signed proof for one service node, evaluated on that node's peer "
        "(holder, token and scope checked inside)", member=True),
    ("access", "Serve"): Rule(
        "a member organisation's service node logs what it serves, with the holder's "
        "proof naming that node", (U, R, A)),
    ("access", "AccessLog"): Rule(
        "public log of disclosures: tokens, holders, hash addresses, times (no owner)",
        member=True),
    # -- market (peer-to-peer trading, VPPs) --------------------------------------------
    ("market", "ConfigureMarket"): Rule(
        "the Aggregator runs the market: interval length, gate closure, reference tariff",
        (A,)),
    ("market", "EnrolParticipant"): Rule(
        "the Regulator relays the consented enrolment the energy channel linked: the "
        "Utility's and the Regulator's peers read the link across", (R,)),
    ("market", "RetireParticipant"): Rule(
        "the Utility relays a participant's signed retirement (its free tokens become a "
        "payout for its private account)", (U,)),
    ("market", "Deposit"): Rule(
        "credits a voucher the energy channel took out of a private account: the Utility, "
        "which relayed it", (U,)),
    ("market", "Withdraw"): Rule(
        "tokens out of the market for a private account: the Utility relays the "
        "participant's signed request", (U,)),
    ("market", "Participant"): Rule(MARKET_PUBLIC, member=True),
    ("market", "Payout"): Rule(
        "public: a payout the energy channel redeems (pseudonym, amount)", member=True),
    ("market", "OpenInterval"): Rule("the Aggregator runs the market", (A,)),
    ("market", "PlaceOffer"): Rule(MARKET_RELAY, (A, U)),
    ("market", "PlaceBid"): Rule(MARKET_RELAY, (A, U)),
    ("market", "CancelOrder"): Rule(MARKET_RELAY, (A, U)),
    ("market", "Clear"): Rule(
        "deterministic: any member's operator clears once the gate has closed, so no one "
        "can stall it or pick its moment", (U, R, A)),
    ("market", "SettlementNeeds"): Rule(
        "public: which pseudonyms' records a settlement page needs", member=True),
    ("market", "SettlementPlan"): Rule(
        "computed from the delivery records (customerData, read across): its members' "
        "operators", (U, R)),
    ("market", "Settle"): Rule(
        "the holders of the delivery records submit a page's plan; all three "
        "organisations endorse", (U, R)),
    ("market", "RequestResolution"): Rule(
        "the Regulator audits; the request is logged before any answer", (R,)),
    ("market", "ResolvePseudonym"): Rule(
        "reads the Regulator's own collection (across), for a logged request", (R,)),
    ("market", "CreateVpp"): Rule("the Aggregator operates VPPs", (A,)),
    ("market", "EnrolVppMember"): Rule(
        "the Aggregator enrols a prosumer on its signed consent", (A,)),
    ("market", "LeaveVpp"): Rule(MARKET_RELAY, (A, U)),
    ("market", "PlaceVppOffer"): Rule("the Aggregator offers its VPP's export", (A,)),
    ("market", "PayoutVpp"): Rule(
        "deterministic split: any member's operator pays members out, so none is held "
        "back", (U, R, A)),
    ("market", "VppMembers"): Rule(MARKET_PUBLIC, member=True),
    ("market", "PostStandingOffer"): Rule(MARKET_RELAY, (A, U)),
    ("market", "AcceptStandingOffer"): Rule(MARKET_RELAY, (A, U)),
    ("market", "WithdrawStandingOffer"): Rule(MARKET_RELAY, (A, U)),
    ("market", "MarketConfig"): Rule(MARKET_PUBLIC, member=True),
    ("market", "GetInterval"): Rule(MARKET_PUBLIC, member=True),
    ("market", "OrderBook"): Rule(MARKET_PUBLIC, member=True),
    ("market", "ClearingPrices"): Rule(MARKET_PUBLIC, member=True),
    ("market", "OrdersOf"): Rule(MARKET_PUBLIC, member=True),
    ("market", "TradesOf"): Rule(MARKET_PUBLIC, member=True),
    ("market", "VppPayouts"): Rule(MARKET_PUBLIC, member=True),
    ("market", "MarketWallet"): Rule(MARKET_PUBLIC, member=True),
    ("market", "MarketTotals"): Rule(MARKET_PUBLIC, member=True),
    ("market", "AuditLog"): Rule(
        "public: that the Regulator resolved a pseudonym, and why", member=True),
    # -- marketlink (the market's side on the energy channel) ----------------------------
    ("marketlink", "RecordPseudonym"): Rule(
        "pseudonym -> identity goes to the Regulator's own collection: only it may resolve",
        (R,)),
    ("marketlink", "LinkParticipant"): Rule(
        "the Regulator relays the customer's consented enrolment: its peer checks the "
        "pseudonym it issued is the meter's customer's", (R,)),
    ("marketlink", "UnlinkParticipant"): Rule(
        "the Utility ends a retired participant's link (its meter's records)", (U,)),
    ("marketlink", "FundMarket"): Rule(
        "moves tokens out of a private account: the Utility relays the participant's "
        "signed deposit", (U,)),
    ("marketlink", "RedeemPayout"): Rule(
        "moves a market payout into a private account: the Utility relays it", (U,)),
    ("marketlink", "Link"): Rule(
        "a pseudonym's link (market and key only), from customerData: its members' "
        "operators, and the market's endorsers reading across", (U, R)),
    ("marketlink", "Voucher"): Rule(
        "a deposit's voucher, from customerData: its members' operators", (U, R)),
    ("marketlink", "DeliveryRecords"): Rule(
        "pseudonyms' metered energy per interval (customerData): its members' operators",
        (U, R)),
    ("marketlink", "HoldsCustomerData"): Rule(
        "public: whether the answering peer holds customerData", member=True),
    ("marketlink", "PseudonymHolder"): Rule(
        "reads the Regulator's own collection: the market's ResolvePseudonym asks it for a "
        "logged request", (R,)),
    ("marketlink", "TariffVersion"): Rule(
        "public tariff records: the market's reference prices", member=True),
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
