"""Orders of a delivery interval: sell offers and buy bids. Each order has its own keys,
so orders of different traders never conflict:

    mktbook~<iv>~S~<price>~<time>~<trader>~<orderId>       an offer, ascending price
    mktbook~<iv>~B~<10^12-1-price>~<time>~<trader>~<orderId> a bid, descending price
    mktpo~<trader>~<iv>~<orderId>                            the order: fills, escrow,
                                                             status (also the replay guard)

Key order *is* priority: price, then time (the transaction's timestamp, microseconds,
which each endorser holds within the market's clock tolerance of its own clock), then
trader and order id, so clearing reads the book as a range, the same on every endorser. A
bid escrows ``ceil(quantity x max price / 1000)`` tokens from the buyer's market balance
at once (409 when it lacks them); cancelling an open order before gate closure releases
it. Two bids of one buyer in flight together both write its wallet: one of them fails its
read check (MVCC) and is retried; orders of different traders do not.

Refused at placement: a trader's offer and bid in the same interval (it would trade with
itself and net its own import and export at the retail price: self-trade prevention, as
exchanges do); more than :data:`MAX_ORDERS` orders of one trader in one interval (a book
flooded with tiny orders); an offer of a pseudonym that a VPP counts as its member at the
interval's gate closure (its export is the VPP's: sold once).
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.market import escrow_of

from ..common.keys import key
from ..shim import ChaincodeError
from . import intervals, signed
from .ledger import Market, credit, debit

OFFER, BID = "S", "B"
OPEN, CANCELLED = "open", "cancelled"
MAX_ORDERS = 100  # orders of one trader in one interval
_MAX_KEY_PRICE = 10**12 - 1
ORDER_MEMBERS = ("pseudonym", "intervalId", "orderId", "quantityWh", "pricePerKwh")


def order_key(trader: str, iv: str, order_id: str) -> str:
    """A trader's order record."""
    return key("mktpo", trader, iv, order_id)


def time_key(m: Market) -> str:
    """The transaction time, sortable to the microsecond."""
    return m.stub.tx_timestamp.strftime("%Y%m%dT%H%M%S.%fZ")


def book_key(iv: str, side: str, price: int, at: str, trader: str, order_id: str) -> str:
    """An order's place in the book: key order is priority order."""
    rank = price if side == OFFER else _MAX_KEY_PRICE - price
    return key("mktbook", iv, side, f"{rank:012d}", at, trader, order_id)


def place(m: Market, record: dict[str, Any], trader: str, order_id: str, side: str,
          quantity: int, price: int, escrow: int = 0) -> dict[str, Any]:
    """Write a new order (409 if the trader used ``order_id`` in the interval before)."""
    iv = record["intervalId"]
    okey = order_key(trader, iv, order_id)
    if m.get(okey) is not None:
        raise ChaincodeError(f"{trader} placed order {order_id} in {iv} already", status=409)
    at = time_key(m)
    bkey = book_key(iv, side, price, at, trader, order_id)
    entry = {"side": side, "trader": trader, "orderId": order_id, "quantityWh": quantity,
             "pricePerKwh": price, "at": at}
    m.create(bkey, {**entry, "status": OPEN})
    order = {**entry, "intervalId": iv, "book": bkey, "status": OPEN, "filledWh": 0,
             "escrow": escrow, "settledWh": 0, "deliveredWh": 0, "paid": 0}
    m.create(okey, order)
    return order


def vpp_at(m: Market, pseudonym: str, gate: str) -> str | None:
    """The VPP that counts ``pseudonym`` as a member at instant ``gate`` (an interval's
    gate closure), or None: joined before it and not left by then, exactly as settlement
    counts members (vpp.members_at). A leave dated after the gate closure does not free
    the member's export for that interval."""
    member = m.get(key("mktmember", pseudonym))
    if member is None or member["joinedAt"] >= gate:
        return None
    return member["vppId"] if member["leftAt"] is None or member["leftAt"] >= gate else None


def require_not_in_vpp(m: Market, pseudonym: str, record: dict[str, Any]) -> None:
    """A pseudonym a VPP counts at the interval's gate closure may not sell alone there."""
    vpp_id = vpp_at(m, pseudonym, record["gateClosure"])
    if vpp_id is not None:
        raise ChaincodeError(f"{pseudonym} sells through VPP {vpp_id} in "
                             f"{record['intervalId']}: its export is the VPP's", status=409)


def own_orders(m: Market, trader: str, iv: str) -> list[dict[str, Any]]:
    """A trader's orders in one interval (at most :data:`MAX_ORDERS`)."""
    return [order for _, order in m.scan("mktpo", trader, iv)]


def _admissible(m: Market, trader: str, iv: str, side: str) -> None:
    """Self-trade prevention and the per-trader order cap."""
    mine = own_orders(m, trader, iv)
    if len(mine) >= MAX_ORDERS:
        raise ChaincodeError(f"{trader} has {MAX_ORDERS} orders in {iv} already, the most "
                             "one trader may place in an interval", status=409)
    other = OFFER if side == BID else BID
    if any(o["side"] == other and o["status"] == OPEN for o in mine):
        raise ChaincodeError(f"{trader} has an open {'offer' if other == OFFER else 'bid'} "
                             f"in {iv}: a trader may not trade with itself (cancel it first)",
                             status=409)


def place_offer(m: Market, text: str) -> dict[str, Any]:
    """A participant's signed sell offer: quantity and minimum price."""
    message = signed.signed_by(m, text, "offer", ORDER_MEMBERS)
    record = intervals.require_open(m, message["intervalId"], "PlaceOffer")
    intervals.require_trader_in(m, message["pseudonym"], record)
    intervals.require_price(record, message["pricePerKwh"])
    require_not_in_vpp(m, message["pseudonym"], record)
    _admissible(m, message["pseudonym"], message["intervalId"], OFFER)
    return place(m, record, message["pseudonym"], message["orderId"], OFFER,
                 message["quantityWh"], message["pricePerKwh"])


def place_bid(m: Market, text: str) -> dict[str, Any]:
    """A participant's signed buy bid: quantity and maximum price, escrowed at once."""
    message = signed.signed_by(m, text, "bid", ORDER_MEMBERS)
    record = intervals.require_open(m, message["intervalId"], "PlaceBid")
    intervals.require_trader_in(m, message["pseudonym"], record)
    intervals.require_price(record, message["pricePerKwh"])
    _admissible(m, message["pseudonym"], message["intervalId"], BID)
    escrow = escrow_of(message["quantityWh"], message["pricePerKwh"])
    debit(m, message["pseudonym"], escrow, f"bid {message['orderId']}")
    return place(m, record, message["pseudonym"], message["orderId"], BID,
                 message["quantityWh"], message["pricePerKwh"], escrow)


def cancel(m: Market, text: str) -> dict[str, Any]:
    """Cancel one's own open order before gate closure; a bid's escrow comes back."""
    message, raw, signature = signed.read(text, "cancel", ("pseudonym", "intervalId",
                                                           "orderId"))
    pseudonym, iv = message["pseudonym"], message["intervalId"]
    signed.verify(m, pseudonym, raw, signature)  # 403: another's order, or a forgery
    okey = order_key(pseudonym, iv, message["orderId"])
    order = m.need(okey, f"order {message['orderId']} of {pseudonym} in {iv}")
    intervals.require_open(m, iv, "CancelOrder")
    if order["status"] != OPEN:
        raise ChaincodeError(f"order {message['orderId']} is {order['status']}", status=409)
    credit(m, pseudonym, order["escrow"])
    order.update(status=CANCELLED, released=order["escrow"], escrow=0)
    m.put(okey, order)
    entry = m.get(order["book"])
    m.put(order["book"], {**entry, "status": CANCELLED})
    return order


def public(order: dict[str, Any]) -> dict[str, Any]:
    """An order as queries show it (everything is pseudonymous; the book key left out)."""
    return {k: v for k, v in order.items() if k != "book"}
