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
from ..shim import ChaincodeError, Contract, Stub, canonical_json, evaluate, submit
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


def _restored_event(ov: Overlay, name: str, restored: list[dict[str, Any]]) -> None:
    """Tell the bridge which meters may be switched back on; nothing else (it is in the
    block): no account, customer or amount, and no event at all when nothing changed."""
    meters = sorted({m for account in restored if account.get("customerId")
                     for m in metering.meters_of_customer(ov, account["customerId"])})
    if meters:
        ov.stub.set_event(name, canonical_json({"restored": True, "meters": meters}))


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
            _restored_event(ov, events.WATTCOIN_MINTED, [result["account"]])
        return {"minted": True}

    @submit(private=True)
    def Transfer(self, stub: Stub, source: str, target: str, amount: str) -> dict[str, Any]:
        """Move tokens from an account the caller controls to another account."""
        require_customer_or_operator(stub, UTILITY, action="Transfer")
        ov = ledger(stub)
        result = accounts.transfer(ov, caller_address(stub), check_id(source, "from"),
                                   check_id(target, "to"), amount_arg(amount))
        if result["restored"]:
            _restored_event(ov, events.WATTCOIN_TRANSFERRED, [result["to"]])
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
    def UtilityAccount(self, stub: Stub) -> dict[str, int]:
        """Sums over all accounts: paid (the utility's receipts), minted, balances, arrears."""
        require_operator(stub, UTILITY, REGULATOR, action="UtilityAccount")
        return accounts.totals(ledger(stub))
