"""Standing offers: a named buyer (or anyone) accepts at the offer's price, escrowed, then
cleared and settled with the auction's trades."""

from __future__ import annotations

from .helpers import AGGREGATOR, UTILITY, MarketWorld, at


def _standing(w: MarketWorld, seller, buyer: str = "*", quantity: int = 3000,
              price: int = 1400, offer_id: str = "so-1") -> None:
    w.ledger.ok("market:PostStandingOffer", seller.sign(
        "standing-offer", offerId=offer_id, buyer=buyer, pricePerKwh=price,
        quantityWh=quantity, fromInterval="mkt1.20250311T0000Z",
        untilInterval="mkt1.20250311T2300Z"),
        **UTILITY, when=at(1))


def _accept(w: MarketWorld, buyer, iv: str, wh: int, accept_id: str, offer_id: str = "so-1"):
    return w.ledger.call("market:AcceptStandingOffer", buyer.sign(
        "accept", offerId=offer_id, acceptId=accept_id, intervalId=iv, quantityWh=wh),
        **AGGREGATOR, when=at(8))


def test_a_named_buyer_accepts_and_settles_at_the_offers_price() -> None:
    w = MarketWorld()
    seller, neighbour, other = w.join("c-s"), w.join("c-n"), w.join("c-o")
    _standing(w, seller, buyer=neighbour.pseudonym)
    iv = w.open(at(10))
    res = _accept(w, other, iv, 1000, "a-x")
    assert res.status == 403 and "another buyer" in res.message
    accepted = _accept(w, neighbour, iv, 2000, "a-1")
    assert accepted.status == 200 and accepted.payload["escrow"] == 2800
    assert w.wallet(neighbour) == 100_000 - 2800
    pages = w.clear(iv)
    trades = [t for p in pages for t in p["trades"]]
    assert trades == [{"n": 1, "kind": "bilateral", "wh": 2000, "buyer": neighbour.pseudonym,
                       "acceptId": "a-1", "seller": seller.pseudonym, "offerId": "so-1",
                       "price": 1400}]
    assert pages[-1]["outcome"]["bilateralWh"] == 2000
    w.deliver(at(10), {"c-s": (0, 5000), "c-n": (1500, 0)})
    (page,) = w.settle(iv)
    (trade,) = page["trades"]
    # Delivered 1500 (the neighbour imported no more): 1500 x 1.4 = 2100 paid.
    assert trade["deliveredWh"] == 1500 and trade["paid"] == 2100
    assert w.wallet(neighbour) == 100_000 - 2100 + 3000  # + retail refund 1500 x 2
    assert w.wallet(seller) == 100_000 + 2100 - 1200  # - feed-in 1500 x 0.8
    assert w.totals()["escrow"] == 0 and w.totals()["balanced"]


def test_an_offer_to_anyone_is_shared_up_to_its_quantity_and_can_be_withdrawn() -> None:
    w = MarketWorld()
    seller, a, b = w.join("c-s"), w.join("c-a"), w.join("c-b")
    _standing(w, seller, quantity=3000)
    iv = w.open(at(10))
    assert _accept(w, a, iv, 2000, "a-1").status == 200
    res = _accept(w, b, iv, 1500, "b-1")
    assert res.status == 409 and "1000 Wh left" in res.message
    assert _accept(w, b, iv, 1000, "b-1").status == 200
    assert _accept(w, a, iv, 1, "a-1").status == 409  # replayed acceptance id
    mine = _accept(w, seller, iv, 1, "s-1")
    assert mine.status == 409 and "its own" in mine.message
    iv2 = w.open(at(11))
    wrong = w.ledger.call("market:WithdrawStandingOffer", a.sign(
        "withdraw-offer", offerId="so-1"), **UTILITY, when=at(8))
    assert wrong.status == 403
    w.ledger.ok("market:WithdrawStandingOffer", seller.sign("withdraw-offer", offerId="so-1"),
                **UTILITY, when=at(8))
    res = _accept(w, a, iv2, 100, "a-2")
    assert res.status == 409 and "withdrawn" in res.message
    assert [o["side"] for o in w.ledger.ok("market:OrdersOf", a.pseudonym, iv)] == ["accept"]


def test_the_price_must_suit_the_interval_and_the_interval_the_offer() -> None:
    w = MarketWorld()
    seller, a = w.join("c-s"), w.join("c-a")
    _standing(w, seller, price=2500)  # above the retail price 2000
    iv = w.open(at(10))
    res = _accept(w, a, iv, 100, "a-1")
    assert res.status == 409 and "outside" in res.message
    _standing(w, seller, price=1000, offer_id="so-2")
    late = w.open(at(10) + 14 * (at(11) - at(10)))  # the next day, after untilInterval
    res = _accept(w, a, late, 100, "a-2", offer_id="so-2")
    assert res.status == 409 and "runs from" in res.message
