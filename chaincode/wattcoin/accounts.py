"""Wattcoin accounts: balances, arrears, minting, transfers and per-account history.

One token is one minor unit of the utility's currency (1 VND for VND; 1 cent for USD).

State (all of it private: common/privacy.py):
    wcacct~<address>          the account (JSON, see ``new_account``)
    wccust~<customerId>       address of the account that pays the customer's energy
    wcmint~<paymentReference> the mint done for a payment (refuses a second one)
    wchist~<address>~<n>      history entry n (1, 2, ...) of an account

Counters per account: ``minted`` (tokens created into it by top-ups), ``charged`` (energy
cost it was charged), ``refunded`` (energy cost credited back to it: a month-to-date
cost that went down, a bill below the prepaid charges), ``paid`` (tokens it paid to the
utility, including arrears settled), ``returned`` (tokens the utility gave back into its
balance: a refund beyond its arrears), ``arrears`` (charged but unpaid: a debt, not
tokens). A refund cancels arrears first, then returns tokens. Summed over all accounts:

    sum(minted) + sum(returned)   == sum(balance) + sum(paid)                 tokens
    sum(charged) - sum(refunded)  == sum(paid) - sum(returned) + sum(arrears) cost

The utility's account is sum(paid) - sum(returned): paid tokens are retired, not held in a
single utility balance, because one key updated by every reading transaction would make
concurrent reading batches conflict (MVCC_READ_CONFLICT).
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.numbers import MAX_INT, check_int
from gridledger.formats.utc import format_utc

from ..common.keys import key, prefix_range, seq_part
from ..common.overlay import Overlay, load_json
from ..shim import ChaincodeError

IDENTITY, METER = "identity", "meter"
POLICIES = ("notify", "power-saving")


def account_key(address: str) -> str:
    """Ledger key of an account."""
    return key("wcacct", address)


def customer_key(customer_id: str) -> str:
    """Ledger key of a customer's paying-account binding."""
    return key("wccust", customer_id)


def new_account(ov: Overlay, address: str, kind: str, controller: str,
                **owner: Any) -> dict[str, Any]:
    """Create an account (409 if the address exists)."""
    if ov.get(account_key(address)) is not None:
        raise ChaincodeError(f"account {address} already exists", status=409)
    account = {
        "address": address,
        "kind": kind,
        "controller": controller,
        "owner": owner,
        "customerId": None,
        "balance": 0,
        "arrears": 0,
        "minted": 0,
        "paid": 0,
        "returned": 0,
        "charged": 0,
        "refunded": 0,
        "lowBalanceThreshold": 0,
        "policy": "notify",
        "low": False,
        "exhausted": False,
        "entries": 0,
        "openedAt": format_utc(ov.stub.tx_timestamp),
    }
    ov.put_json(account_key(address), account)
    return account


def get(ov: Overlay, address: str) -> dict[str, Any]:
    """An account, or 404."""
    account = ov.get_json(account_key(check_id(address, "address")))
    if account is None:
        raise ChaincodeError(f"account {address} does not exist", status=404)
    return account


def address_of_customer(ov: Overlay, customer_id: str) -> str | None:
    """Address paying for ``customer_id`` (None: the customer is postpaid)."""
    binding = ov.get_json(customer_key(customer_id))
    return None if binding is None else binding["address"]


def bind_customer(ov: Overlay, customer_id: str, address: str) -> dict[str, Any]:
    """Make ``address`` the account that pays the customer's energy.

    Not away from an account that owes (arrears) or whose supply is cut (exhausted), 409:
    the debt would stay behind on an account nothing pays into any more, a later bill's
    true-up would credit the charges it never paid to the new account as tokens, and the
    customer would be reconnected by a fresh account's first token. Pay the arrears, or
    top the account up, first.
    """
    check_id(customer_id, "customerId")
    account = get(ov, address)
    if account["customerId"] not in (None, customer_id):
        raise ChaincodeError(
            f"account {address} already pays for customer {account['customerId']}", status=409
        )
    previous = address_of_customer(ov, customer_id)
    if previous is not None and previous != address:
        old = get(ov, previous)
        if old["arrears"] > 0 or old["exhausted"]:
            # No amount in the reason: the response is in the block.
            why = "has arrears" if old["arrears"] > 0 else "is exhausted (supply cut)"
            raise ChaincodeError(
                f"customer {customer_id}'s current account {previous} {why}: pay it (a "
                "top-up or a transfer into it) before another account pays for the "
                "customer", status=409)
        old["customerId"] = None
        save(ov, old)
    account["customerId"] = customer_id
    ov.put_json(customer_key(customer_id), {"address": address})
    return save(ov, account)


def save(ov: Overlay, account: dict[str, Any]) -> dict[str, Any]:
    """Write an account back."""
    ov.put_json(account_key(account["address"]), account)
    return account


def add_history(ov: Overlay, account: dict[str, Any], kind: str, amount: int,
                **detail: Any) -> dict[str, Any]:
    """Append a history entry (call before ``save``: it bumps ``entries``)."""
    account["entries"] += 1
    entry = {
        "n": account["entries"],
        "kind": kind,
        "amount": amount,
        "balance": account["balance"],
        "arrears": account["arrears"],
        "at": format_utc(ov.stub.tx_timestamp),
        "txId": ov.stub.tx_id,
        **detail,
    }
    ov.put_json(key("wchist", account["address"], seq_part(account["entries"])), entry)
    return entry


def _refresh_flags(account: dict[str, Any], evented: bool) -> bool:
    """Clear low (and, for an ``evented`` credit, exhausted) once funds are back; True
    when supply may be restored."""
    restored = False
    if (evented and account["exhausted"] and account["balance"] > 0
            and account["arrears"] == 0):
        account["exhausted"] = False
        restored = True
    if account["low"] and account["balance"] >= account["lowBalanceThreshold"]:
        account["low"] = False
    return restored


def credit(account: dict[str, Any], amount: int, *, evented: bool) -> tuple[int, bool]:
    """Add tokens, paying arrears first; return (arrears settled, supply restored).

    ``evented``: the caller emits the ``restored`` event when this returns True (Mint and
    Transfer into an account that pays for a customer). Only such a credit clears
    ``exhausted``: a silent one (the market's Withdraw, a top-up of an account paying for
    nobody) leaves the flag for the next evented credit, which then restores supply with
    its event; cleared silently, no later top-up would ever emit one, and the bridge
    would keep a paying customer cut off.
    """
    settled = min(amount, account["arrears"])
    account["arrears"] -= settled
    account["paid"] += settled
    account["balance"] += amount - settled
    return settled, _refresh_flags(account, evented)


def charge(account: dict[str, Any], due: int) -> dict[str, Any]:
    """Take ``due`` tokens for energy; what the balance cannot pay becomes arrears.

    Returns {"paid", "unpaid", "exhausted", "low"}: ``exhausted`` when the charge left the
    balance at zero, ``low`` when it crossed the owner's threshold downward.
    """
    paid = min(account["balance"], due)
    account["balance"] -= paid
    account["paid"] += paid
    account["charged"] += due
    account["arrears"] += due - paid
    exhausted = due > 0 and account["balance"] == 0
    if exhausted:
        account["exhausted"] = True
    threshold = account["lowBalanceThreshold"]
    low = threshold > 0 and account["balance"] < threshold and not account["low"]
    if low:
        account["low"] = True
    return {"paid": paid, "unpaid": due - paid, "exhausted": exhausted, "low": low}


def refund(account: dict[str, Any], amount: int) -> dict[str, int]:
    """Credit back ``amount`` of energy cost: arrears first, then tokens into the balance.

    Never switches supply back on by itself (``exhausted`` stays): the bridge reconnects on
    a top-up's or transfer's event, and a refund has none. Returns {"arrearsCancelled",
    "returned"}.
    """
    cancelled = min(amount, account["arrears"])
    account["arrears"] -= cancelled
    account["refunded"] += amount
    account["returned"] += amount - cancelled
    account["balance"] += amount - cancelled
    if account["low"] and account["balance"] >= account["lowBalanceThreshold"]:
        account["low"] = False
    return {"arrearsCancelled": cancelled, "returned": amount - cancelled}


def mint(ov: Overlay, address: str, amount: int, reference: str) -> dict[str, Any]:
    """Create tokens for a top-up paid under ``reference`` (never twice for one reference)."""
    check_int(amount, "amount", minimum=1)
    if not isinstance(reference, str) or not 1 <= len(reference) <= 128 or "\x00" in reference:
        raise ChaincodeError("payment reference must be 1-128 characters", status=400)
    ref_key = key("wcmint", reference)
    done = ov.get_json(ref_key)
    if done is not None:
        raise ChaincodeError(
            f"payment reference {reference!r} was already minted in transaction {done['txId']}",
            status=409,
        )
    account = get(ov, address)
    if account["minted"] + amount > MAX_INT:
        raise ChaincodeError("amount would overflow the account", status=400)
    account["minted"] += amount
    # Mint emits the restored event only for an account that pays for a customer.
    settled, restored = credit(account, amount, evented=account["customerId"] is not None)
    add_history(ov, account, "mint", amount, reference=reference, arrearsSettled=settled)
    save(ov, account)
    ov.put_json(ref_key, {"address": address, "amount": amount, "txId": ov.stub.tx_id,
                          "at": format_utc(ov.stub.tx_timestamp)})
    return {"account": account, "arrearsSettled": settled, "restored": restored}


def transfer(ov: Overlay, caller: str, source: str, target: str, amount: int) -> dict[str, Any]:
    """Move tokens from an account the caller controls to another account."""
    check_int(amount, "amount", minimum=1)
    if source == target:
        raise ChaincodeError("cannot transfer to the same account", status=400)
    src = get(ov, source)
    if src["controller"] != caller:
        raise ChaincodeError(f"caller {caller} does not control account {source}", status=403)
    dst = get(ov, target)
    if src["balance"] < amount:
        raise ChaincodeError(
            f"insufficient balance: {src['balance']} < {amount}", status=409
        )
    src["balance"] -= amount
    low = (src["lowBalanceThreshold"] > 0 and src["balance"] < src["lowBalanceThreshold"]
           and not src["low"])
    if low:
        src["low"] = True
    settled, restored = credit(dst, amount, evented=dst["customerId"] is not None)
    add_history(ov, src, "transfer-out", amount, counterparty=target)
    add_history(ov, dst, "transfer-in", amount, counterparty=source, arrearsSettled=settled)
    save(ov, src)
    save(ov, dst)
    return {"from": src, "to": dst, "arrearsSettled": settled, "restored": restored,
            "lowBalance": low}


def set_policy(ov: Overlay, caller: str, address: str, threshold: int,
               policy: str) -> dict[str, Any]:
    """Owner's low-balance threshold and what the bridge should do when crossed."""
    account = get(ov, address)
    if account["controller"] != caller:
        raise ChaincodeError(f"caller {caller} does not control account {address}", status=403)
    account["lowBalanceThreshold"] = check_int(threshold, "threshold")
    if policy not in POLICIES:
        raise ChaincodeError(f"policy must be one of {', '.join(POLICIES)}", status=400)
    account["policy"] = policy
    account["low"] = account["balance"] < account["lowBalanceThreshold"]
    return save(ov, account)


def history(ov: Overlay, address: str, from_n: int, limit: int) -> list[dict[str, Any]]:
    """History entries n >= from_n, oldest first, at most ``limit`` (the range is read no
    further than that)."""
    start, end = prefix_range("wchist", check_id(address, "address"))
    start = key("wchist", address, seq_part(from_n))
    return [load_json(kv.value) for kv in ov.scan(start, end, limit=limit)]


# UtilityAccount sums at most this many accounts in one evaluate: well below the peer's
# silent cut of a range query (core.yaml ledger.state.totalQueryLimit, 100,000 by
# default), so that a larger ledger is reported as such rather than summed short.
MAX_TOTAL_ACCOUNTS = 50_000


def totals(ov: Overlay, max_accounts: int | None = None) -> dict[str, Any]:
    """Sums over every account: the utility's view and the conservation check;
    ``received`` = paid - returned, what the utility has been paid net; ``toMarket`` and
    ``fromMarket``, the tokens moved into and out of the market (wattcoin/market.py).

    ``complete`` is False when there are more than ``max_accounts`` accounts: the sums
    then cover the first ``max_accounts`` in storage order only, and say so (a peer's
    range query stops at its ``totalQueryLimit`` without a word)."""
    if max_accounts is None:
        max_accounts = MAX_TOTAL_ACCOUNTS
    start, end = prefix_range("wcacct")
    fields = ("minted", "balance", "paid", "returned", "charged", "refunded", "arrears",
              "toMarket", "fromMarket")
    sums: dict[str, Any] = {"accounts": 0, **dict.fromkeys(fields, 0), "complete": True}
    for kv in ov.scan(start, end, limit=max_accounts + 1, ordered=False):
        if sums["accounts"] == max_accounts:
            sums["complete"] = False
            break
        account = load_json(kv.value)
        sums["accounts"] += 1
        for field in fields:
            # toMarket / fromMarket: tokens into and out of the market (wattcoin/market.py);
            # an account that never traded has neither.
            sums[field] += account.get(field, 0)
    sums["received"] = sums["paid"] - sums["returned"]
    return sums
