"""Tokens between a customer's account (energy channel) and its market wallet (market
channel), in two transactions joined by an id nobody outside customerData can link.

- **Deposit**: ``FundMarket`` here (a Utility operator relays the participant's signed
  ``{"action": "deposit", "pseudonym", "amount", "requestId"}``; the Utility's and the
  Regulator's peers endorse) takes the tokens out of the account paying for the
  pseudonym's customer into a voucher ``mktvch~<pseudonym>~<requestId>`` (stored under a
  keyed name); then the market channel's ``Deposit(pseudonym, requestId)`` reads the
  voucher across and credits the wallet, once (its public ``mktdep`` record).
- **Payout** (a withdrawal, a retirement): the market channel writes
  ``mktout~<pseudonym>~<requestId>`` with the amount it took out of the wallet; then
  ``RedeemPayout(pseudonym, requestId)`` here reads it across and puts the tokens into
  the account paying for the customer now, once (``mktred``, keyed).

Conservation across the channels: the tokens that left the accounts
(``toMarket - fromMarket``, wattcoin/market.py) are the wallets' deposits less their
payouts, plus the vouchers not credited yet, less the payouts not redeemed yet
(:func:`voucher` and the market's ``Payout`` tell which).
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.market import check_pseudonym, verifies

from ..common import crosschannel
from ..common.keys import key
from ..common.privacy import ledger
from ..market import api as market
from ..shim import ChaincodeError, Stub
from ..wattcoin import api as wattcoin
from .links import get_link


def voucher_key(pseudonym: str, request_id: str) -> str:
    """customerData: the tokens a deposit took out of the account, for the market."""
    return key("mktvch", pseudonym, request_id)


def redeemed_key(pseudonym: str, request_id: str) -> str:
    """customerData: a market payout already put into the account."""
    return key("mktred", pseudonym, request_id)


def _now(stub: Stub) -> str:
    return stub.tx_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def fund(stub: Stub, text: str) -> None:
    """Take a signed deposit's tokens out of the customer's paying account into a voucher
    for the market channel (409: done already, or the balance lacks them)."""
    message, raw, signature = market.read(text, "deposit", ("pseudonym", "amount",
                                                            "requestId"))
    pseudonym, amount, request_id = (message["pseudonym"], message["amount"],
                                     message["requestId"])
    ov = ledger(stub)
    link = get_link(ov, pseudonym)
    if not verifies(link["publicKeyPem"], raw, signature):
        raise ChaincodeError(f"the deposit is not signed by {pseudonym}'s market key",
                             status=403)
    if link.get("unlinkedAt"):
        raise ChaincodeError(f"{pseudonym} retired: it may only take its tokens out",
                             status=409)
    if ov.get(voucher_key(pseudonym, request_id)) is not None:
        raise ChaincodeError(f"deposit {request_id} of {pseudonym} is funded already",
                             status=409)
    address = wattcoin.address_of_customer(ov, link["customerId"])
    if address is None:
        raise ChaincodeError(f"{pseudonym}'s customer has no paying account now: bind one "
                             "first", status=409)
    wattcoin.to_market(ov, address, amount, requestId=request_id)
    ov.put_json(voucher_key(pseudonym, request_id), {
        "pseudonym": pseudonym, "requestId": request_id, "amount": amount,
        "fundedAt": _now(stub)})


def voucher(stub: Stub, pseudonym: str, request_id: str) -> dict[str, Any]:
    """A funded deposit's voucher: pseudonym, request id, amount (404 if none)."""
    check_pseudonym(pseudonym)
    check_id(request_id, "requestId")
    record = ledger(stub).get_json(voucher_key(pseudonym, request_id))
    if record is None:
        raise ChaincodeError(f"no deposit {request_id} of {pseudonym} is funded on the "
                             "energy channel (FundMarket first)", status=404)
    return {k: record[k] for k in ("pseudonym", "requestId", "amount", "fundedAt")}


def redeem(stub: Stub, pseudonym: str, request_id: str) -> int:
    """Put a market payout into the account paying for the pseudonym's customer now; the
    amount (409 if redeemed already; 404 until the market channel has the payout)."""
    check_pseudonym(pseudonym)
    check_id(request_id, "requestId")
    ov = ledger(stub)
    link = get_link(ov, pseudonym)
    if ov.get(redeemed_key(pseudonym, request_id)) is not None:
        raise ChaincodeError(f"payout {request_id} of {pseudonym} is redeemed already",
                             status=409)
    payout = crosschannel.market(stub, "market:Payout", pseudonym, request_id)
    amount = int(payout["amount"])
    address = wattcoin.address_of_customer(ov, link["customerId"])
    if address is None:
        raise ChaincodeError(f"{pseudonym}'s customer has no paying account to take back its "
                             f"{amount} tokens: bind one first", status=409)
    if amount > 0:
        wattcoin.from_market(ov, address, amount, requestId=request_id)
    ov.put_json(redeemed_key(pseudonym, request_id), {
        "pseudonym": pseudonym, "requestId": request_id, "amount": amount,
        "redeemedAt": _now(stub)})
    return amount
