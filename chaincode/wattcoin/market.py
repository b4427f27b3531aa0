"""Tokens between a private Wattcoin account and the public, pseudonymous market wallet.

The market (chaincode/market) never reads a customer's account: money enters it by
:func:`to_market` and leaves it by :func:`from_market`, each in a transaction that both
members of customerData endorse (the market's Deposit and Withdraw). The account keeps
two more counters, so Wattcoin's token invariant still holds with a market beside it:

    sum(minted) + sum(returned) + sum(fromMarket) == sum(balance) + sum(paid) + sum(toMarket)

and on the market side (chaincode/market/ledger.py) the tokens that left the accounts,
``sum(toMarket) - sum(fromMarket)``, are exactly the deposits less the withdrawals of the
market wallets.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.numbers import check_int

from ..common.overlay import Overlay
from ..shim import ChaincodeError
from . import accounts

TO_MARKET, FROM_MARKET = "toMarket", "fromMarket"


def to_market(ov: Overlay, address: str, amount: int, **detail: Any) -> dict[str, Any]:
    """Take ``amount`` tokens out of the account into the market (409 if it lacks them)."""
    check_int(amount, "amount", minimum=1)
    account = accounts.get(ov, address)
    if account["balance"] < amount:
        # No balance in the reason: the response is in the block.
        raise ChaincodeError(f"account {address} cannot pay {amount} into the market: "
                             "insufficient balance", status=409)
    account["balance"] -= amount
    account[TO_MARKET] = account.get(TO_MARKET, 0) + amount
    threshold = account["lowBalanceThreshold"]
    low = threshold > 0 and account["balance"] < threshold and not account["low"]
    if low:
        account["low"] = True
    entry = accounts.add_history(ov, account, "to-market", amount, **detail)
    accounts.save(ov, account)
    return {"entry": entry, "lowBalance": low}


def from_market(ov: Overlay, address: str, amount: int, **detail: Any) -> dict[str, Any]:
    """Put ``amount`` tokens from the market back into the account (arrears paid first).

    Never clears ``exhausted`` (``restored`` is always False): a withdrawal sets no event
    (it would put the customer's meters and the pseudonym in one block), so the account
    stays marked cut until its next top-up or transfer in, whose event reconnects it."""
    check_int(amount, "amount", minimum=1)
    account = accounts.get(ov, address)
    account[FROM_MARKET] = account.get(FROM_MARKET, 0) + amount
    settled, restored = accounts.credit(account, amount, evented=False)
    entry = accounts.add_history(ov, account, "from-market", amount, arrearsSettled=settled,
                                 **detail)
    accounts.save(ov, account)
    return {"entry": entry, "restored": restored, "customerId": account["customerId"]}
