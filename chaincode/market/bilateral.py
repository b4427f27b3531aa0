"""Bilateral trades beside the auction: a seller's standing offer, accepted at its price.

    mktso~<offerId>            the offer: seller, buyer (a pseudonym, or "*" for anyone),
                               pricePerKwh, quantityWh per interval, from/until interval,
                               withdrawnAt
    mktsos~<seller>~<offerId>  the seller's standing offers (a VPP checks them on joining)
    mktsof~<offerId>~<iv>      Wh accepted from it for one interval
    mktbil~<iv>~<buyer>~<acceptId>  an acceptance: buyer, seller, Wh, price, escrow (under
                               the buyer, so no one can take a buyer's acceptance id)

The seller signs ``standing-offer`` (and ``withdraw-offer`` to stop it); a buyer signs
``accept`` for one interval, before its gate closure, at most what is left of the
offer's quantity for that interval, at a price inside the interval's band. The
acceptance escrows ``ceil(Wh x price / 1000)`` at once, exactly like a bid; clearing adds
the interval's acceptances to its trades, and settlement settles them like the auction's.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.market import escrow_of, parse_interval_id

from ..common import clock
from ..common.keys import key
from ..shim import ChaincodeError
from . import intervals, orders, signed
from .ledger import Market, debit


def offer_key(offer_id: str) -> str:
    """Key of a standing offer."""
    return key("mktso", offer_id)


def accept_key(iv: str, buyer: str, accept_id: str) -> str:
    """Key of a buyer's acceptance of a standing offer."""
    return key("mktbil", iv, buyer, accept_id)


def post(m: Market, text: str) -> dict[str, Any]:
    """A seller's signed standing offer."""
    message = signed.signed_by(m, text, "standing-offer", (
        "pseudonym", "offerId", "buyer", "pricePerKwh", "quantityWh", "fromInterval",
        "untilInterval"))
    market_id = m.need(signed.party_key(message["pseudonym"]),
                       message["pseudonym"]).get("marketId")
    clock.require_timely(m.stub, "PostStandingOffer",
                         intervals.tolerance(intervals.config(m, market_id)))
    member = m.get(key("mktmember", message["pseudonym"]))
    if member is not None and member["leftAt"] is None:
        raise ChaincodeError(f"{message['pseudonym']} sells through VPP {member['vppId']}: "
                             "its export is the VPP's", status=409)
    if message["untilInterval"] < message["fromInterval"]:
        raise ChaincodeError("untilInterval is before fromInterval", status=400)
    if message["buyer"] == message["pseudonym"]:
        raise ChaincodeError("a standing offer to oneself is no trade", status=400)
    for member in ("fromInterval", "untilInterval"):
        if parse_interval_id(message[member], member)[0] != market_id:
            raise ChaincodeError(f"{member} is not an interval of {message['pseudonym']}'s "
                                 f"market {market_id}", status=409)
    offer = {k: message[k] for k in ("offerId", "buyer", "pricePerKwh", "quantityWh",
                                     "fromInterval", "untilInterval")}
    offer.update(seller=message["pseudonym"], postedAt=m.now, withdrawnAt=None)
    if m.get(offer_key(message["offerId"])) is not None:
        raise ChaincodeError(f"standing offer {message['offerId']} exists already", 409)
    m.create(offer_key(message["offerId"]), offer)
    m.create(key("mktsos", offer["seller"], offer["offerId"]), {"offerId": offer["offerId"]})
    return offer


def withdraw(m: Market, text: str) -> dict[str, Any]:
    """The seller stops its standing offer (what was accepted stays)."""
    message = signed.signed_by(m, text, "withdraw-offer", ("pseudonym", "offerId"))
    offer = m.need(offer_key(message["offerId"]), f"standing offer {message['offerId']}")
    if offer["seller"] != message["pseudonym"]:
        raise ChaincodeError(f"standing offer {message['offerId']} is not "
                             f"{message['pseudonym']}'s", status=403)
    if offer["withdrawnAt"] is not None:
        raise ChaincodeError(f"standing offer {message['offerId']} is withdrawn already", 409)
    offer["withdrawnAt"] = m.now
    m.put(offer_key(message["offerId"]), offer)
    return offer


def accept(m: Market, text: str) -> dict[str, Any]:
    """A buyer's signed acceptance of a standing offer for one interval, escrowed."""
    message = signed.signed_by(m, text, "accept", (
        "pseudonym", "offerId", "acceptId", "intervalId", "quantityWh"))
    buyer, iv = message["pseudonym"], message["intervalId"]
    offer = m.need(offer_key(message["offerId"]), f"standing offer {message['offerId']}")
    if offer["withdrawnAt"] is not None:
        raise ChaincodeError(f"standing offer {offer['offerId']} was withdrawn", status=409)
    if offer["buyer"] not in ("*", buyer):
        raise ChaincodeError(f"standing offer {offer['offerId']} is for another buyer",
                             status=403)
    if offer["seller"] == buyer:
        raise ChaincodeError("a seller cannot accept its own standing offer", status=409)
    if not offer["fromInterval"] <= iv <= offer["untilInterval"]:
        raise ChaincodeError(f"standing offer {offer['offerId']} runs from "
                             f"{offer['fromInterval']} to {offer['untilInterval']}", 409)
    record = intervals.require_open(m, iv, "AcceptStandingOffer")
    intervals.require_trader_in(m, buyer, record)
    intervals.require_trader_in(m, offer["seller"], record)
    intervals.require_price(record, offer["pricePerKwh"])
    orders.require_not_in_vpp(m, offer["seller"], record)
    fkey = key("mktsof", offer["offerId"], iv)
    taken = m.get(fkey)
    left = offer["quantityWh"] - (taken["acceptedWh"] if taken else 0)
    if message["quantityWh"] > left:
        raise ChaincodeError(f"standing offer {offer['offerId']} has {left} Wh left in {iv}",
                             status=409)
    akey = accept_key(iv, buyer, message["acceptId"])
    if m.get(akey) is not None:
        raise ChaincodeError(f"acceptance {message['acceptId']} exists already", status=409)
    escrow = escrow_of(message["quantityWh"], offer["pricePerKwh"])
    debit(m, buyer, escrow, f"acceptance {message['acceptId']}")
    accepted = {"acceptId": message["acceptId"], "offerId": offer["offerId"],
                "intervalId": iv, "buyer": buyer, "seller": offer["seller"],
                "quantityWh": message["quantityWh"], "pricePerKwh": offer["pricePerKwh"],
                "escrow": escrow, "settledWh": 0, "deliveredWh": 0, "paid": 0,
                "status": orders.OPEN, "at": m.now}
    m.create(akey, accepted)
    if taken is None:
        m.create(fkey, {"acceptedWh": message["quantityWh"]})
    else:
        m.put(fkey, {"acceptedWh": taken["acceptedWh"] + message["quantityWh"]})
    return accepted
