"""The ``wattcoin`` contract: prepaid token accounts (seed 004), served by chaincode
``metering`` beside the ``metering`` contract, so exhaustion runs inside SubmitReadings'
own transaction. See chaincode/README.md for arguments and answers.
"""

from __future__ import annotations

from typing import Any

from ..metering import meters
from ..metering.access import (
    REGULATOR,
    UTILITY,
    caller_customer_id,
    is_customer,
    require_operator,
)
from ..metering.ledger import Overlay, check_id
from ..shim import ChaincodeError, Contract, Stub, canonical_json, evaluate, submit
from . import accounts
from .address import address_of_cert, address_of_pem_key

EVENT_MINTED = "WattcoinMinted"
EVENT_TRANSFERRED = "WattcoinTransferred"


def _amount(text: str) -> int:
    if not text.isdigit() or len(text) > 16:
        raise ChaincodeError(f"amount must be a positive integer, got {text!r}", status=400)
    value = int(text)
    if value <= 0:
        raise ChaincodeError("amount must be positive", status=400)
    return value


def caller_address(stub: Stub) -> str:
    """Address of the calling Fabric identity's key."""
    return address_of_cert(stub.creator.cert_pem)


def _may_read(stub: Stub, account: dict[str, Any]) -> None:
    if not is_customer(stub) and stub.creator.msp_id in (UTILITY, REGULATOR):
        return
    if account["controller"] == caller_address(stub):
        return
    customer = caller_customer_id(stub)
    if customer is not None and customer == account["customerId"]:
        return
    raise ChaincodeError(
        f"caller may not read account {account['address']}", status=403
    )


class WattcoinContract(Contract):
    """Accounts, top-ups, transfers, policies, history and the utility's totals."""

    name = "wattcoin"

    @submit
    def OpenAccount(self, stub: Stub) -> dict[str, Any]:
        """Open the caller's account (address from the caller's certificate key)."""
        address = caller_address(stub)
        return accounts.new_account(
            Overlay(stub), address, accounts.IDENTITY, address,
            mspId=stub.creator.msp_id, subject=stub.creator.subject,
        )

    @submit
    def OpenMeterAccount(self, stub: Stub, meter_id: str, controller: str) -> dict[str, Any]:
        """Open a meter's wallet (address from the meter's key), spent by ``controller``."""
        require_operator(stub, UTILITY, action="OpenMeterAccount")
        ov = Overlay(stub)
        meter = meters.get(ov, meter_id)
        accounts.get(ov, controller)  # 404 unless the controlling account exists
        return accounts.new_account(
            ov, address_of_pem_key(meter["publicKeyPem"]), accounts.METER, controller,
            meterId=meter_id,
        )

    @submit
    def BindCustomer(self, stub: Stub, customer_id: str, address: str) -> dict[str, Any]:
        """Make ``address`` pay the customer's energy (Utility): the customer is prepaid."""
        require_operator(stub, UTILITY, action="BindCustomer")
        return accounts.bind_customer(Overlay(stub), customer_id, address)

    @submit
    def Mint(self, stub: Stub, address: str, amount: str, reference: str) -> dict[str, Any]:
        """Top up: create tokens for a payment (Utility); arrears are paid first."""
        require_operator(stub, UTILITY, action="Mint")
        result = accounts.mint(Overlay(stub), check_id(address, "address"), _amount(amount),
                               reference)
        account = result["account"]
        stub.set_event(EVENT_MINTED, canonical_json({
            "account": address, "customerId": account["customerId"], "amount": int(amount),
            "arrearsSettled": result["arrearsSettled"], "restored": result["restored"],
            "balance": account["balance"], "arrears": account["arrears"],
        }))
        return result

    @submit
    def Transfer(self, stub: Stub, source: str, target: str, amount: str) -> dict[str, Any]:
        """Move tokens from an account the caller controls to another account."""
        result = accounts.transfer(Overlay(stub), caller_address(stub),
                                   check_id(source, "from"), check_id(target, "to"),
                                   _amount(amount))
        stub.set_event(EVENT_TRANSFERRED, canonical_json({
            "from": source, "to": target, "amount": int(amount),
            "arrearsSettled": result["arrearsSettled"], "restored": result["restored"],
            "lowBalance": result["lowBalance"],
        }))
        return {"from": result["from"], "to": {"address": target},
                "arrearsSettled": result["arrearsSettled"]}

    @submit
    def SetLowBalancePolicy(self, stub: Stub, address: str, threshold: str,
                            policy: str) -> dict[str, Any]:
        """Owner's threshold (tokens) and action: "notify" or "power-saving"."""
        if not threshold.isdigit():
            raise ChaincodeError("threshold must be a non-negative integer", status=400)
        return accounts.set_policy(Overlay(stub), caller_address(stub),
                                   check_id(address, "address"), int(threshold), policy)

    @evaluate
    def Balance(self, stub: Stub, address: str) -> dict[str, Any]:
        """The account: balance, arrears, counters, policy (owner, its customer, operators)."""
        account = accounts.get(Overlay(stub), address)
        _may_read(stub, account)
        return account

    @evaluate
    def MyAddress(self, stub: Stub) -> dict[str, str]:
        """The caller's address (whether or not an account is open)."""
        return {"address": caller_address(stub)}

    @evaluate
    def AccountOfCustomer(self, stub: Stub, customer_id: str) -> dict[str, Any]:
        """The account paying for a customer (404 when the customer is postpaid)."""
        ov = Overlay(stub)
        address = accounts.address_of_customer(ov, check_id(customer_id, "customerId"))
        if address is None:
            raise ChaincodeError(f"customer {customer_id} has no Wattcoin account", status=404)
        account = accounts.get(ov, address)
        _may_read(stub, account)
        return account

    @evaluate
    def History(self, stub: Stub, address: str, from_n: str, limit: str) -> list[Any]:
        """History entries n >= from_n (1-based), oldest first, at most limit (<= 1000)."""
        ov = Overlay(stub)
        _may_read(stub, accounts.get(ov, address))
        if not from_n.isdigit() or not limit.isdigit() or int(limit) < 1:
            raise ChaincodeError("fromN and limit must be positive integers", status=400)
        return accounts.history(ov, address, max(1, int(from_n)), min(int(limit), 1000))

    @evaluate
    def UtilityAccount(self, stub: Stub) -> dict[str, int]:
        """Sums over all accounts: paid (the utility's receipts), minted, balances, arrears."""
        require_operator(stub, UTILITY, REGULATOR, action="UtilityAccount")
        return accounts.totals(Overlay(stub))
