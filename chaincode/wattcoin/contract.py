"""The ``wattcoin`` contract: prepaid token accounts (seed 004), served by chaincode
``metering`` beside the ``metering`` contract, so exhaustion runs inside SubmitReadings'
own transaction. See chaincode/README.md for arguments and answers.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats import events
from gridledger.formats.ids import check_id
from gridledger.formats.numbers import parse_decimal

from ..common.arguments import amount_arg
from ..common.callers import (
    REGULATOR,
    UTILITY,
    require_customer,
    require_customer_or_operator,
    require_member,
    require_operator,
    require_own,
)
from ..common.overlay import Overlay
from ..common.privacy import ledger
from ..metering import api as metering
from ..shim import (
    ChaincodeError,
    Contract,
    Stub,
    canonical_json,
    evaluate,
    parse_json_arg,
    submit,
)
from . import accounts
from .address import address_of_cert, address_of_pem_key


def caller_address(stub: Stub) -> str:
    """Address of the calling Fabric identity's key."""
    return address_of_cert(stub.creator.cert_pem)


def _may_read(stub: Stub, customer: str | None, account: dict[str, Any], action: str) -> None:
    """After the caller check: operators (``customer`` None) read any account; a customer
    reads the accounts it controls and the one that pays for it."""
    if customer is not None and account["controller"] == caller_address(stub):
        return
    require_own(stub, customer, account["customerId"], action=action,
                what=f"account {account['address']}")


def _restored_event(ov: Overlay, name: str) -> None:
    """Tell the bridges that some supply may be switched back on, and nothing else (the
    event is in the block, and a customer's own Transfer names the customer as creator):
    no meter, account, customer or amount. A bridge asks the ledger (SupplyStatus) which
    of the meters it has cut are paid for again: an event is a hint, never an order."""
    ov.stub.set_event(name, canonical_json({"restored": True}))


# Meters one SupplyStatus answers for (a bridge asks for its own, in pages).
MAX_SUPPLY_METERS = 1000


class WattcoinContract(Contract):
    """Accounts, top-ups, transfers, policies, history and the utility's totals.

    Every account record is private (common/privacy.py); the functions that move money
    take their arguments in the transient map and answer only that they did.
    """

    name = "wattcoin"

    @submit
    def OpenAccount(self, stub: Stub) -> dict[str, Any]:
        """Open the caller's account (address from the caller's certificate key)."""
        require_customer_or_operator(stub, UTILITY, action="OpenAccount")
        address = caller_address(stub)
        accounts.new_account(ledger(stub), address, accounts.IDENTITY, address,
                             mspId=stub.creator.msp_id, subject=stub.creator.subject)
        return {"address": address, "opened": True}

    @submit(private=True)
    def OpenMeterAccount(self, stub: Stub, meter_id: str, controller: str) -> dict[str, Any]:
        """Open a meter's wallet (address from the meter's key), spent by ``controller``."""
        require_operator(stub, UTILITY, action="OpenMeterAccount")
        ov = ledger(stub)
        meter = metering.get_meter(ov, meter_id)
        accounts.get(ov, controller)  # 404 unless the controlling account exists
        address = address_of_pem_key(meter["publicKeyPem"])
        accounts.new_account(ov, address, accounts.METER, controller, meterId=meter_id)
        return {"address": address, "opened": True}

    @submit(private=True)
    def BindCustomer(self, stub: Stub, customer_id: str, address: str) -> dict[str, Any]:
        """Make the caller's own account pay the caller's own energy: the customer is prepaid.

        Consent is the transaction itself: only the customer (a customer identity of the
        Utility's CA with that customerId) may bind, and only an account it controls.
        """
        require_customer(stub, action="BindCustomer", customer_id=customer_id)
        ov = ledger(stub)
        account = accounts.get(ov, check_id(address, "address"))
        if account["controller"] != caller_address(stub):
            raise ChaincodeError(f"BindCustomer: the caller does not control account {address}",
                                 status=403)
        accounts.bind_customer(ov, customer_id, address)
        return {"bound": True}

    @submit(private=True)
    def Mint(self, stub: Stub, address: str, amount: str, reference: str) -> dict[str, Any]:
        """Top up: create tokens for a payment (Utility); arrears are paid first."""
        require_operator(stub, UTILITY, action="Mint")
        ov = ledger(stub)
        result = accounts.mint(ov, check_id(address, "address"), amount_arg(amount), reference)
        if result["restored"]:
            _restored_event(ov, events.WATTCOIN_MINTED)
        return {"minted": True}

    @submit(private=True)
    def Transfer(self, stub: Stub, source: str, target: str, amount: str) -> dict[str, Any]:
        """Move tokens from an account the caller controls to another account."""
        require_customer_or_operator(stub, UTILITY, action="Transfer")
        ov = ledger(stub)
        result = accounts.transfer(ov, caller_address(stub), check_id(source, "from"),
                                   check_id(target, "to"), amount_arg(amount))
        if result["restored"]:
            _restored_event(ov, events.WATTCOIN_TRANSFERRED)
        return {"transferred": True}

    @submit(private=True)
    def SetLowBalancePolicy(self, stub: Stub, address: str, threshold: str,
                            policy: str) -> dict[str, Any]:
        """Owner's threshold (tokens) and action: "notify" or "power-saving"."""
        require_customer_or_operator(stub, UTILITY, action="SetLowBalancePolicy")
        accounts.set_policy(ledger(stub), caller_address(stub), check_id(address, "address"),
                            parse_decimal(threshold, "threshold"), policy)
        return {"set": True}

    @evaluate
    def Balance(self, stub: Stub, address: str) -> dict[str, Any]:
        """The account: balance, arrears, counters, policy (owner, its customer, operators)."""
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR, action="Balance")
        account = accounts.get(ledger(stub), address)
        _may_read(stub, customer, account, "Balance")
        return account

    @evaluate
    def MyAddress(self, stub: Stub) -> dict[str, str]:
        """The caller's address (whether or not an account is open)."""
        require_member(stub, action="MyAddress")
        return {"address": caller_address(stub)}

    @evaluate
    def AccountOfCustomer(self, stub: Stub, customer_id: str) -> dict[str, Any]:
        """The account paying for a customer (404 when the customer is postpaid)."""
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR,
                                                action="AccountOfCustomer",
                                                customer_id=customer_id)
        ov = ledger(stub)
        address = accounts.address_of_customer(ov, check_id(customer_id, "customerId"))
        if address is None:
            raise ChaincodeError(f"customer {customer_id} has no Wattcoin account", status=404)
        account = accounts.get(ov, address)
        _may_read(stub, customer, account, "AccountOfCustomer")
        return account

    @evaluate
    def History(self, stub: Stub, address: str, from_n: str, limit: str) -> list[Any]:
        """History entries n >= from_n (1-based), oldest first, at most limit (<= 1000)."""
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR, action="History")
        ov = ledger(stub)
        _may_read(stub, customer, accounts.get(ov, address), "History")
        first = parse_decimal(from_n, "fromN", minimum=1)
        count = parse_decimal(limit, "limit", minimum=1)
        return accounts.history(ov, address, first, min(count, 1000))

    @evaluate
    def UtilityAccount(self, stub: Stub) -> dict[str, Any]:
        """Sums over all accounts: paid (the utility's receipts), minted, balances, arrears;
        ``complete`` false when there are more accounts than one evaluate sums."""
        require_operator(stub, UTILITY, REGULATOR, action="UtilityAccount")
        return accounts.totals(ledger(stub))

    @evaluate
    def SupplyStatus(self, stub: Stub, meter_ids_json: str) -> dict[str, Any]:
        """Whether each meter's supply should be on, from the ledger's state (a bridge's
        own peer): {"meters": {meterId: {"known", "prepaid", "supply", "powerSaving"}}}.

        What a bridge checks before it cuts or restores supply: chaincode events are only
        hints, since any member's transaction can carry any event. ``supply`` is false
        while the account paying for the meter's customer is exhausted; ``powerSaving``
        true while it is below the owner's threshold with policy power-saving. Operators
        of the Utility and the Regulator (their bridges); at most 1000 meters a call.
        """
        require_operator(stub, UTILITY, REGULATOR, action="SupplyStatus")
        ids = parse_json_arg(meter_ids_json, "meterIds")
        if (not isinstance(ids, list) or not 1 <= len(ids) <= MAX_SUPPLY_METERS
                or len(set(map(str, ids))) != len(ids)):
            raise ChaincodeError(f"meterIds must be a JSON array of 1 to {MAX_SUPPLY_METERS} "
                                 "distinct meter ids", status=400)
        meter_ids = [check_id(m, "meterId") for m in ids]
        ov = ledger(stub)
        owners = metering.meter_owners(ov, meter_ids)
        customers = sorted({c for c in owners.values() if c})
        ov.prefetch(accounts.customer_key(c) for c in customers)
        payer = {c: accounts.address_of_customer(ov, c) for c in customers}
        ov.prefetch(accounts.account_key(a) for a in payer.values() if a)
        out: dict[str, Any] = {}
        for meter_id in meter_ids:
            customer = owners[meter_id]
            address = payer.get(customer) if customer else None
            if customer is None:
                out[meter_id] = {"known": False, "prepaid": False, "supply": True,
                                 "powerSaving": False}
            elif address is None:  # postpaid: supply never depends on a balance
                out[meter_id] = {"known": True, "prepaid": False, "supply": True,
                                 "powerSaving": False}
            else:
                account = accounts.get(ov, address)
                out[meter_id] = {
                    "known": True, "prepaid": True, "supply": not account["exhausted"],
                    "powerSaving": account["low"] and account["policy"] == "power-saving"}
        return {"meters": out}
