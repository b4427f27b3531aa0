"""Settlement against the meters' interval records, with hand-computed money: exact
delivery, shortfall, a buyer who imported less, surplus export, a seller who never
exported, pay-as-bid; and what settlement refuses.

The tariff (helpers.py): retail 2000 per kWh, feed-in 800, no taxes. One trade: an offer
of 4 kWh at 1000 meets a bid of 4 kWh at 1600: uniform price (1600 + 1000) / 2 = 1300;
the bid escrows 4 x 1600 = 6400.
"""

from __future__ import annotations

import json

import pytest

from gridledger.formats import events
from tests.unit.chaincode.metering.helpers import TxStub

from .helpers import AGGREGATOR, HOUR, UTILITY, MarketWorld, Participant, at

START = 100_000  # tokens each deposits; 50 000 more stay in the private account


def _trade(market_type: str = "uniform") -> tuple[MarketWorld, Participant, Participant, str]:
    w = MarketWorld()
    seller, buyer = w.join("c-s"), w.join("c-b")
    iv = w.open(at(10), market_type)
    assert w.order("offer", seller, iv, "o", 4000, 1000).status == 200
    assert w.order("bid", buyer, iv, "b", 4000, 1600).status == 200
    w.clear(iv)
    return w, seller, buyer, iv


@pytest.mark.parametrize(("case", "seller_export", "buyer_import", "delivered"), [
    ("exact delivery", 4000, 4000, 4000),
    ("shortfall: the seller exported less", 2500, 4000, 2500),
    ("the buyer imported less", 4000, 1000, 1000),
    ("surplus export", 6000, 4000, 4000),
])
def test_delivered_is_the_least_of_sold_exported_and_imported(
        case: str, seller_export: int, buyer_import: int, delivered: int) -> None:
    w, seller, buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (0, seller_export), "c-b": (buyer_import, 0)})
    (page,) = w.settle(iv)
    (trade,) = page["trades"]
    paid, refund, returned = delivered * 1300 // 1000, delivered * 2, delivered * 800 // 1000
    assert trade == {"n": 1, "kind": "auction", "buyer": buyer.pseudonym,
                     "seller": seller.pseudonym, "wh": 4000, "price": 1300,
                     "deliveredWh": delivered, "paid": paid, "retailRefund": refund,
                     "feedInReturned": returned}, case
    # The buyer: its escrow less what it paid comes back, plus the retail price of what was
    # delivered; the seller: the price less the feed-in its export already earned.
    assert w.wallet(buyer) == START - paid + refund
    assert w.wallet(seller) == START + paid - returned
    # With the retail path (every Wh at tariff, every exported Wh at feed-in), net:
    # the buyer paid 1300 per delivered kWh and 2000 per kWh from the grid ...
    buyer_net = (w.wallet(buyer) - START) + (w.balance(buyer) - 50_000)
    assert buyer_net == -(paid + (buyer_import - delivered) * 2)
    # ... and the seller got 1300 per delivered kWh and 800 per kWh of surplus.
    seller_net = (w.wallet(seller) - START) + (w.balance(seller) - 50_000)
    assert seller_net == paid + (seller_export - delivered) * 800 // 1000
    assert w.totals()["balanced"] and w.totals()["escrow"] == 0


def test_a_seller_who_never_exported_delivers_nothing_and_the_buyer_gets_all_back() -> None:
    w, seller, buyer, iv = _trade()
    w.deliver(at(10), {"c-b": (4000, 0)})  # the seller's meter reported nothing
    need = w.ledger.ok("market:SettlementNeeds", iv, **UTILITY, when=at(13))
    records = w.ledger.ok("market:DeliveryRecords", iv, json.dumps(need["pseudonyms"]),
                          **UTILITY, when=at(13))
    assert records[seller.pseudonym] is None and records[buyer.pseudonym] is not None
    (page,) = w.settle(iv)
    assert page["trades"][0]["deliveredWh"] == 0 and page["trades"][0]["paid"] == 0
    assert w.wallet(buyer) == START and w.wallet(seller) == START


def test_a_seller_whose_meter_read_zero_export_delivers_nothing() -> None:
    w, _seller, buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (300, 0), "c-b": (4000, 0)})
    assert w.settle(iv)[0]["trades"][0]["deliveredWh"] == 0
    assert w.wallet(buyer) == START


def test_pay_as_bid_settles_at_the_bid() -> None:
    w, seller, buyer, iv = _trade("pay-as-bid")
    w.deliver(at(10), {"c-s": (0, 4000), "c-b": (4000, 0)})
    (trade,) = w.settle(iv)[0]["trades"]
    assert trade["price"] == 1600 and trade["paid"] == 6400
    assert w.wallet(buyer) == START - 6400 + 8000
    assert w.wallet(seller) == START + 6400 - 3200


def test_settlement_event_and_interval() -> None:
    w, _seller, buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (0, 4000), "c-b": (4000, 0)})
    w.settle(iv)
    assert w.ledger.events[-1] == (events.MARKET_SETTLED, {
        "intervalId": iv, "deliveredWh": 4000, "paid": 5200, "trades": 1})
    record = w.ledger.ok("market:GetInterval", iv)
    assert record["status"] == "settled" and record["deliveredWh"] == 4000
    trades = w.ledger.ok("market:TradesOf", buyer.pseudonym, iv)
    assert trades[0]["side"] == "buy" and trades[0]["settlement"]["paid"] == 5200


def test_settlement_reads_no_private_data_so_the_aggregator_can_endorse_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    w, _seller, _buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (0, 4000), "c-b": (4000, 0)})
    need = w.ledger.ok("market:SettlementNeeds", iv, **UTILITY, when=at(13))
    records = w.ledger.ok("market:DeliveryRecords", iv, json.dumps(need["pseudonyms"]),
                          **UTILITY, when=at(13))

    def refuse(self: TxStub, *a: object) -> None:
        raise AssertionError("Settle read private data: the Aggregator's peer could not")

    monkeypatch.setattr(TxStub, "get_private_data", refuse)
    monkeypatch.setattr(TxStub, "get_private_data_multiple", refuse)
    res = w.ledger.call("market:Settle", iv, json.dumps(records), **UTILITY, when=at(13))
    assert res.status == 200, res.message


def test_what_settlement_refuses() -> None:
    w, seller, buyer, iv = _trade()
    w.deliver(at(10), {"c-s": (0, 4000), "c-b": (4000, 0)})
    need = w.ledger.ok("market:SettlementNeeds", iv, **UTILITY, when=at(13))
    records = w.ledger.ok("market:DeliveryRecords", iv, json.dumps(need["pseudonyms"]),
                          **UTILITY, when=at(13))
    before = w.ledger.snapshot()

    def settle(recs: dict, **kw: object):  # type: ignore[no-untyped-def]
        kw = {**UTILITY, "when": at(13), **kw}
        return w.ledger.call("market:Settle", iv, json.dumps(recs), **kw)

    early = settle(records, when=at(10) + HOUR / 2)
    assert early.status == 409 and "ends at" in early.message
    forged = dict(records)
    forged[seller.pseudonym] = records[seller.pseudonym].replace('"exportWh":4000',
                                                                 '"exportWh":9000')
    res = settle(forged)
    assert res.status == 409 and "does not match the hash" in res.message
    res = settle({**records, seller.pseudonym: None})
    assert res.status == 409 and "send its stored bytes" in res.message
    res = settle({buyer.pseudonym: records[buyer.pseudonym]})
    assert res.status == 400 and "missing" in res.message
    res = settle({**records, "p-" + "0" * 24: None})
    assert res.status == 400 and "not needed" in res.message
    res = settle(records, **AGGREGATOR)
    assert res.status == 403 and "Settle" in res.message
    assert w.ledger.snapshot() == before
    assert settle(records).status == 200
    again = settle(records)
    assert again.status == 409 and "settled already" in again.message


def test_settling_an_interval_not_cleared_or_unknown() -> None:
    w = MarketWorld()
    w.join("c-s")
    iv = w.open(at(10))
    res = w.ledger.call("market:Settle", iv, "{}", **UTILITY, when=at(13))
    assert res.status == 409 and "clear it first" in res.message
    res = w.ledger.call("market:Settle", "mkt1.20250311T1100Z", "{}", **UTILITY, when=at(13))
    assert res.status == 404 and "does not exist" in res.message


def test_an_interval_without_trades_settles_at_once() -> None:
    w = MarketWorld()
    b = w.join("c-b")
    iv = w.open(at(10))
    w.order("bid", b, iv, "b", 1000, 1500)
    w.clear(iv)
    assert w.wallet(b) == START
    (page,) = w.settle(iv)
    assert page["done"] and page["trades"] == []
