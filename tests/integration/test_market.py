"""The market on the real network: a day of delivery intervals with a VPP of three
prosumers, two prosumers selling alone and three consumers, readings signed by the
meters, clearing and settlement; then Wattcoin's invariant, every escrow released or
spent, and each participant's balances equal to an independent computation from the
trades and the readings. Then the refusals the issue lists, an aggregator that cannot
clear or settle alone (ENDORSEMENT_POLICY_FAILURE), and the Regulator's logged resolution.

The day is compressed: its 24 hours are 12 one-minute intervals of this module's own
market (interval h is hours 2h and 2h + 1: night, sunrise at 6, sunset after 17), the
last twelve minutes, because every peer refuses a transaction time more than 15 minutes
from its clock (``peer.authentication.timewindow``) and a meter's reading may not come
from the future: a day further past cannot be replayed, one reaching into the future
cannot be metered yet. Orders go in just before each gate closure (their transaction
times set so: the module's market accepts the peers' whole window), clearing, readings
and settlement afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from gridledger.chaincode.common.amounts import div_round
from gridledger.cli import cli
from gridledger.clients.errors import CommitError, EndorseError, EvaluateError, GatewayError
from gridledger.formats.market import interval_id, value_of

from .gateways import connect
from .market_world import (
    FEED_IN,
    MINUTE,
    RETAIL,
    Orgs,
    Participant,
    join_many,
    minute_start,
    new_market,
    not_before,
    now,
    submit_readings,
)

pytestmark = pytest.mark.integration

COMMISSION_BP = 1000
CAPACITY_WH = 4000
INTERVALS = 12  # the day: interval h is hours 2h and 2h + 1
SUN = range(3, 9)  # 06:00-17:59: the VPP and the prosumers sell
ACCEPTED = range(4, 8)  # b3 takes 500 Wh of s2's standing offer
CANCELLED_AT, NO_EXPORT_AT, PEAK = 1, 5, 6
LATE = 11  # the interval the refusal and endorsement tests clear and settle themselves
SECOND = dt.timedelta(seconds=1)


@dataclass
class Day:
    orgs: Orgs
    market_id: str
    members: list[Participant]
    sellers: list[Participant]
    buyers: list[Participant]
    vpp: str
    starts: list[dt.datetime]
    ivs: list[str]
    orders: dict[str, list[dict[str, Any]]]  # per interval: placed and not cancelled
    flows: dict[str, dict[str, tuple[int, int]]]  # per interval: pseudonym -> (in, out)
    # MarketTotals before the day: other modules' markets on this ledger (the
    # authorization matrix's) keep escrow of their own.
    totals_before: dict[str, Any]

    @property
    def everyone(self) -> list[Participant]:
        return [*self.members, *self.sellers, *self.buyers]


@pytest.fixture(scope="module")
def orgs(consortium, utility, regulator) -> Iterator[Orgs]:
    with connect(consortium, "aggregator") as aggregator:
        yield Orgs(utility, regulator, aggregator, consortium.topology.channel)


def _quarters(total: int) -> list[int]:
    q = total // 4
    return [q, q, q, total - 3 * q]


def _place(day_orders: list[dict[str, Any]], agg, iv: str, at: dt.datetime,
           vpp: str) -> None:
    commits = []
    for o in day_orders:
        if o["trader"] == vpp:
            commits.append(agg.submit_async("PlaceVppOffer", vpp, iv, o["orderId"],
                                            str(o["wh"]), str(o["price"]), at=at))
        else:
            kind = "offer" if o["side"] == "S" else "bid"
            commits.append(agg.submit_async(
                "PlaceOffer" if kind == "offer" else "PlaceBid",
                o["key"].order(kind, iv, o["orderId"], o["wh"], o["price"]), at=at))
    for c in commits:
        c.wait()


@pytest.fixture(scope="module")
def day(consortium, orgs: Orgs) -> Day:
    totals_before = orgs.market("aggregator").totals()
    market_id = new_market(orgs, "day")
    people = join_many(consortium, orgs, market_id, 8)
    members, sellers, buyers = people[:3], people[3:5], people[5:]
    agg = orgs.market("aggregator")
    vpp = "vpp-" + market_id
    agg.create_vpp(vpp, market_id, "Integration Street", COMMISSION_BP)
    first = minute_start(now()) - INTERVALS * MINUTE
    for m in members:  # members before the day's first gate closure
        agg.submit("EnrolVppMember", vpp, m.key.vpp_consent(vpp, CAPACITY_WH, COMMISSION_BP),
                   at=first - 2 * MINUTE)
    starts = [first + h * MINUTE for h in range(INTERVALS)]
    ivs = [interval_id(market_id, s) for s in starts]
    s2, b3 = sellers[1], buyers[2]
    agg.post_standing_offer(s2.key.sign(
        "standing-offer", offerId="so-" + market_id, buyer=b3.pseudonym, pricePerKwh=1400,
        quantityWh=500, fromInterval=ivs[0], untilInterval=ivs[-1]), at=first - 2 * MINUTE)
    rng = random.Random(12)
    orders: dict[str, list[dict[str, Any]]] = {}
    for h, (iv, start) in enumerate(zip(ivs, starts, strict=True)):
        agg.open_interval(iv, "uniform" if h % 2 == 0 else "pay-as-bid", at=start - MINUTE)
        placed = []
        if h in SUN:  # the sun is up: the VPP and the prosumers sell
            placed.append({"side": "S", "trader": vpp, "orderId": f"v{h}",
                           "wh": rng.randrange(2000, 9001, 500),
                           "price": rng.randrange(900, 1301, 50)})
            for s in sellers:
                placed.append({"side": "S", "trader": s.pseudonym, "key": s.key,
                               "orderId": f"s{h}", "wh": rng.randrange(500, 4001, 250),
                               "price": rng.randrange(850, 1501, 50)})
        for b in buyers:
            placed.append({"side": "B", "trader": b.pseudonym, "key": b.key,
                           "orderId": f"b{h}", "wh": rng.randrange(500, 4001, 250),
                           "price": rng.randrange(1100, 1901, 50)})
        _place(placed, agg, iv, start - 40 * SECOND, vpp)
        if h in ACCEPTED:
            agg.accept_standing_offer(b3.key.sign(
                "accept", offerId="so-" + market_id, acceptId=f"a{h}", intervalId=iv,
                quantityWh=500), at=start - 35 * SECOND)
        if h == CANCELLED_AT:  # b1 changes its mind
            agg.cancel(buyers[0].key.cancel(iv, f"b{h}"), at=start - 30 * SECOND)
            placed = [o for o in placed if o["trader"] != buyers[0].pseudonym]
        orders[iv] = placed
    for h, (iv, start) in enumerate(zip(ivs, starts, strict=True)):
        if h != LATE:
            agg.clear(iv, at=not_before(start))

    flow_rng = random.Random(34)
    flows: dict[str, dict[str, tuple[int, int]]] = {}
    for h, iv in enumerate(ivs):
        sun = h in SUN
        hour: dict[str, tuple[int, int]] = {}
        for m in members:
            hour[m.pseudonym] = ((0, flow_rng.randrange(800, 4001)) if sun
                                 else (flow_rng.randrange(100, 601), 0))
        for i, s in enumerate(sellers):
            exported = 0 if (i == 0 and h == NO_EXPORT_AT) else flow_rng.randrange(500, 3501)
            hour[s.pseudonym] = (0, exported) if sun else (flow_rng.randrange(200, 801), 0)
        for b in buyers:
            hour[b.pseudonym] = (flow_rng.randrange(300, 5001), 0)
        flows[iv] = hour
    by_pseudonym = {p.pseudonym: p for p in people}
    for part in range(3):
        batch = []
        for h in range(part * 4, part * 4 + 4):
            for pseudonym, (imp, exp) in flows[ivs[h]].items():
                p = by_pseudonym[pseudonym]
                for q, (qi, qe) in enumerate(zip(_quarters(imp), _quarters(exp), strict=True)):
                    batch.append(p.reading(starts[h] + (q + 1) * 15 * SECOND, qi, qe))
        submit_readings(orgs, batch, at=not_before(starts[part * 4 + 3] + MINUTE))

    market = orgs.market("utility")
    for h, (iv, start) in enumerate(zip(ivs, starts, strict=True)):
        if h != LATE:
            market.settle(iv, at=not_before(start + MINUTE))
            agg.pay_vpp(vpp, iv)
    return Day(orgs, market_id, members, sellers, buyers, vpp, starts, ivs, orders, flows,
               totals_before)


# -- refusals and endorsement (on the LATE interval, which they clear and settle) ------------


def _refused(fn, status: int, reason: str,  # type: ignore[no-untyped-def]
             error: type[GatewayError] = EndorseError) -> None:
    with pytest.raises(error) as info:
        fn()
    assert info.value.chaincode_status == status, info.value
    assert reason in str(info.value), info.value


def test_the_refusals_the_issue_lists(day: Day) -> None:
    agg, util = day.orgs.market("aggregator"), day.orgs.market("utility")
    b1, b2, stranger = day.buyers
    late, start = day.ivs[LATE], day.starts[LATE]
    before_gate, after_gate = start - 30 * SECOND, start - 10 * SECOND
    before = agg.totals()
    wallet = agg.wallet(b1.pseudonym)
    _refused(lambda: agg.place_bid(b2.key.order("bid", late, "too-late", 100, 1500),
                                   at=after_gate), 409, "gate closed")
    _refused(lambda: agg.place_bid(b2.key.order("bid", late, "rich", 10**9, 1500),
                                   at=before_gate), 409, "tokens")
    _refused(lambda: agg.submit("Clear", late, at=start - 25 * SECOND), 409, "too early")
    _refused(lambda: util.submit("Settle", day.ivs[0], "{}"), 409, "settled already")
    _refused(lambda: agg.submit("PayoutVpp", day.vpp, day.ivs[PEAK], stranger.pseudonym),
             409, "never consented")
    forged = json.loads(b2.key.cancel(late, f"b{LATE}"))
    forged["message"]["pseudonym"] = b1.pseudonym  # b2's key, b1's order
    _refused(lambda: agg.cancel(json.dumps(forged), at=before_gate), 403, "not signed by")
    missing = interval_id(day.market_id, start + 30 * MINUTE)
    _refused(lambda: agg.place_bid(b1.key.order("bid", missing, "x", 100, 1500)),
             404, "does not exist")
    _refused(lambda: agg.submit("Clear", missing), 404, "does not exist")
    assert agg.totals() == before and agg.wallet(b1.pseudonym) == wallet
    assert agg.interval(late)["status"] == "open"


def test_an_aggregator_alone_can_neither_clear_nor_settle(day: Day) -> None:
    agg, util = day.orgs.market("aggregator"), day.orgs.market("utility")
    late, start = day.ivs[LATE], day.starts[LATE]
    for endorsers in (("AggregatorMSP",), ("UtilityMSP", "RegulatorMSP")):
        commit = agg.submit_async("Clear", late, at=start, endorsers=endorsers)
        with pytest.raises(CommitError) as info:
            commit.wait()
        assert info.value.code_name == "ENDORSEMENT_POLICY_FAILURE", endorsers
        assert agg.interval(late)["status"] == "open"
    agg.clear(late, at=not_before(start))
    assert agg.interval(late)["status"] == "cleared"
    end = not_before(start + MINUTE)
    plan = json.dumps(util.plan(late), separators=(",", ":"), sort_keys=True)
    # A settlement page needs all three: the Aggregator, and the Utility and the Regulator
    # each checking the deliveries against its own records.
    for endorsers in (("AggregatorMSP",), ("AggregatorMSP", "UtilityMSP"),
                      ("AggregatorMSP", "RegulatorMSP")):
        commit = util.submit_async("Settle", late, plan, at=end, endorsers=endorsers)
        with pytest.raises(CommitError) as info:
            commit.wait()
        assert info.value.code_name == "ENDORSEMENT_POLICY_FAILURE", endorsers
        assert agg.interval(late)["status"] == "cleared"
    util.settle(late, at=end)
    agg.pay_vpp(day.vpp, late)
    assert agg.interval(late)["status"] == "settled"


# -- the outcome of the day -------------------------------------------------------------------


def test_wattcoins_invariant_holds_with_the_market_and_every_escrow_is_spent_or_released(
        day: Day) -> None:
    wc = day.orgs.wattcoin("regulator").utility_account()
    assert (wc["minted"] + wc["returned"] + wc["fromMarket"]
            == wc["balance"] + wc["paid"] + wc["toMarket"])
    assert wc["charged"] - wc["refunded"] == wc["paid"] - wc["returned"] + wc["arrears"]
    mk = day.orgs.market("aggregator").totals()
    assert mk["balanced"], mk
    # The day's market leaves no escrow and no VPP proceeds unpaid.
    assert mk["escrow"] == day.totals_before["escrow"]
    assert mk["vppUnpaid"] == day.totals_before["vppUnpaid"]
    assert wc["toMarket"] - wc["fromMarket"] == mk["deposited"] - mk["withdrawn"]
    for iv in day.ivs:
        assert day.orgs.market("aggregator").interval(iv)["status"] == "settled"


def test_total_wattcoin_is_minted_less_burned(day: Day) -> None:
    # Issue 17: every token is in an account, free in the market, in escrow or owed to a
    # VPP member; tokens come only from top-ups and the utility's refunds of delivered
    # energy, and leave only as payments to the utility.
    wc = day.orgs.wattcoin("regulator").utility_account()
    mk = day.orgs.market("aggregator").totals()
    circulating = wc["balance"] + mk["available"] + mk["escrow"] + mk["vppUnpaid"]
    burned = (wc["paid"] - wc["returned"]) - (mk["utilityReturned"] - mk["utilityPaid"])
    assert circulating == wc["minted"] - burned, (wc, mk)
    assert circulating > 0 and burned > 0


def test_energy_paid_for_never_exceeds_energy_metered(day: Day) -> None:
    # Issue 17: per interval, what a seller was paid for delivering is at most what its
    # meter exported, what a buyer was delivered at most what its meter imported, and a
    # VPP's deliveries at most its members' export; the meters' records (on the Utility's
    # peer) are exactly what the meters sent.
    util = day.orgs.market("utility")
    members = [m.pseudonym for m in day.members]
    checked = 0
    for iv in day.ivs:
        flows = day.flows[iv]
        records = util.delivery_records(iv, sorted(flows))
        for pseudonym, (imported, exported) in flows.items():
            record = records[pseudonym]
            assert (record["importWh"], record["exportWh"], record["complete"]) == (
                imported, exported, True), (iv, pseudonym)
        sold: dict[str, int] = {}
        bought: dict[str, int] = {}
        for t in _trades(day, iv):
            delivered = t["settlement"]["deliveredWh"]  # every interval is settled
            sold[t["seller"]] = sold.get(t["seller"], 0) + delivered
            bought[t["buyer"]] = bought.get(t["buyer"], 0) + delivered
            checked += 1
        for seller, wh in sold.items():
            export = (sum(flows[m][1] for m in members) if seller == day.vpp
                      else flows[seller][1])
            assert wh <= export, (iv, seller, wh, export)
        for buyer, wh in bought.items():
            assert wh <= flows[buyer][0], (iv, buyer, wh)
    assert checked > 10


def _reference_trades(orders: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """The auction by hand: bids by price down, offers by price up, then trader and id
    (every order of an interval has the same time), partial fills."""
    bids = sorted((o for o in orders if o["side"] == "B"),
                  key=lambda o: (-o["price"], o["trader"], o["orderId"]))
    offers = sorted((o for o in orders if o["side"] == "S"),
                    key=lambda o: (o["price"], o["trader"], o["orderId"]))
    left = {id(o): o["wh"] for o in orders}
    trades = []
    i = j = 0
    while i < len(bids) and j < len(offers) and bids[i]["price"] >= offers[j]["price"]:
        wh = min(left[id(bids[i])], left[id(offers[j])])
        trades.append((bids[i]["orderId"] + "@" + bids[i]["trader"],
                       offers[j]["orderId"] + "@" + offers[j]["trader"], wh))
        left[id(bids[i])] -= wh
        left[id(offers[j])] -= wh
        i += left[id(bids[i])] == 0
        j += left[id(offers[j])] == 0
    return trades


def _trades(day: Day, iv: str) -> list[dict[str, Any]]:
    """The interval's trades, from the ledger (each trader's view, merged)."""
    found: dict[int, dict[str, Any]] = {}
    market = day.orgs.market("aggregator")
    for trader in [p.pseudonym for p in day.everyone] + [day.vpp]:
        for t in market.trades_of(trader, iv):
            found[t["n"]] = t
    return [found[n] for n in sorted(found)]


def test_clearing_matches_an_independent_auction(day: Day) -> None:
    market = day.orgs.market("aggregator")
    traded = 0
    for iv in day.ivs:
        trades = [t for t in _trades(day, iv) if t["kind"] == "auction"]
        assert [(t["bidId"] + "@" + t["buyer"], t["offerId"] + "@" + t["seller"], t["wh"])
                for t in trades] == _reference_trades(day.orders[iv]), iv
        record = market.interval(iv)
        if trades and record["marketType"] == "uniform":
            last = trades[-1]
            assert record["clearingPrice"] == (last["bidPrice"] + last["offerPrice"]) // 2
        traded += len(trades)
    assert traded > 10
    history = market.prices(day.ivs[0], day.ivs[-1])
    assert [h["intervalId"] for h in history] == day.ivs


def _expected(day: Day) -> tuple[dict[str, int], dict[str, int]]:
    """Market wallets and private balances, computed here from the trades and readings."""
    wallet = {p.pseudonym: p.deposited - p.withdrawn for p in day.everyone}
    members = [m.pseudonym for m in day.members]
    for iv in day.ivs:
        flows = day.flows[iv]
        export_left = {p: e for p, (_, e) in flows.items()}
        export_left[day.vpp] = sum(flows[m][1] for m in members)
        import_left = {p: i for p, (i, _) in flows.items()}
        trades = _trades(day, iv)
        uniform = day.orgs.market("aggregator").interval(iv)["marketType"] == "uniform"
        auction = [t for t in trades if t["kind"] == "auction"]
        price_all = ((auction[-1]["bidPrice"] + auction[-1]["offerPrice"]) // 2
                     if auction else None)
        proceeds = 0
        for t in trades:
            price = (t["price"] if t["kind"] == "bilateral"
                     else price_all if uniform else t["bidPrice"])
            d = min(t["wh"], export_left[t["seller"]], import_left[t["buyer"]])
            export_left[t["seller"]] -= d
            import_left[t["buyer"]] -= d
            paid, refund, back = value_of(d, price), value_of(d, RETAIL), value_of(d, FEED_IN)
            wallet[t["buyer"]] += refund - paid
            if t["seller"] == day.vpp:
                proceeds += paid - back
            else:
                wallet[t["seller"]] += paid - back
        weights = {m: flows[m][1] for m in members}
        total = sum(weights.values())
        shares: dict[str, int] = {}
        if total:  # no export, no delivery: nothing to share
            shares = {m: proceeds * w // total for m, w in weights.items()}
            rest = proceeds - sum(shares.values())
            by_remainder = sorted(weights, key=lambda m: (-(proceeds * weights[m] % total), m))
            for m in by_remainder[:rest]:
                shares[m] += 1
        for m, share in shares.items():
            wallet[m] += share - share * COMMISSION_BP // 10_000
    balance = {}
    for p in day.everyone:
        imports = sum(day.flows[iv][p.pseudonym][0] for iv in day.ivs)
        exports = sum(day.flows[iv][p.pseudonym][1] for iv in day.ivs)
        retail = div_round(imports * RETAIL - exports * FEED_IN, 1000)
        balance[p.pseudonym] = p.minted - p.deposited + p.withdrawn - retail
    return wallet, balance


def test_each_participants_balances_equal_an_independent_computation(day: Day) -> None:
    b2 = day.buyers[1]
    day.orgs.market("utility").withdraw(b2.key.withdrawal(10_000))
    b2.withdrawn = 10_000
    wallet, balance = _expected(day)
    market = day.orgs.market("aggregator")
    wattcoin = day.orgs.wattcoin("regulator")
    for p in day.everyone:
        assert market.wallet(p.pseudonym)["available"] == wallet[p.pseudonym], p.pseudonym
        account = wattcoin.balance(p.address)
        assert (account["balance"], account["arrears"]) == (balance[p.pseudonym], 0)
    # Something really happened: members were paid, the VPP kept its commission.
    assert all(wallet[m.pseudonym] > m.deposited for m in day.members)
    payouts = market.vpp_payouts(day.vpp, day.ivs[PEAK])
    assert payouts["proceeds"] > 0 and payouts["commissionPaid"]
    assert market.wallet(day.vpp)["available"] > 0


def test_queries_show_pseudonyms_the_book_and_the_vpp(day: Day) -> None:
    market = day.orgs.market("aggregator")
    b1 = day.buyers[0]
    assert [o["status"] for o in market.orders_of(b1.pseudonym, day.ivs[CANCELLED_AT])] == [
        "cancelled"]
    members = market.vpp_members(day.vpp)
    assert {m["pseudonym"] for m in members["members"]} == {m.pseudonym for m in day.members}
    assert all(m["consent"]["message"]["sharesExport"] for m in members["members"])
    text = json.dumps([market.book(iv) for iv in day.ivs[:3]] + [members])
    for p in day.everyone:
        assert p.customer.customer_id not in text and p.meter_id not in text


def test_the_cli_reads_the_market(consortium, day: Day) -> None:
    runner = CliRunner()
    base = ["--state-dir", str(consortium.layout.root), "--org", "aggregator", "--json"]
    res = runner.invoke(cli, ["market", "prices", day.ivs[0], day.ivs[5], *base])
    assert res.exit_code == 0, res.output
    assert [h["intervalId"] for h in json.loads(res.output)] == day.ivs[:6]
    res = runner.invoke(cli, ["vpp", "payouts", day.vpp, day.ivs[PEAK], *base])
    assert res.exit_code == 0 and json.loads(res.output)["commissionPaid"], res.output
    res = runner.invoke(cli, ["market", "trades", day.buyers[0].pseudonym, day.ivs[10],
                              *base])
    assert res.exit_code == 0 and isinstance(json.loads(res.output), list), res.output


def test_the_regulator_resolves_a_pseudonym_and_the_resolution_is_on_the_ledger(
        day: Day) -> None:
    reg, agg, util = (day.orgs.market(o) for o in ("regulator", "aggregator", "utility"))
    who = day.buyers[1]
    logged = reg.request_resolution(who.pseudonym, "complaint 2026-117: disputed trade")
    assert who.customer.customer_id not in json.dumps(logged)
    log = agg.audit_log()  # any member sees that the Regulator looked, and why
    assert any(e["auditId"] == logged["auditId"] and e["pseudonym"] == who.pseudonym
               for e in log)
    assert reg.resolve(logged["auditId"])["customerId"] == who.customer.customer_id
    _refused(lambda: reg.resolve("0" * 64), 404, "RequestResolution first", EvaluateError)
    _refused(lambda: util.evaluate("ResolvePseudonym", logged["auditId"]), 403,
             "is not an operator of RegulatorMSP", EvaluateError)
    # Only the Regulator's peer holds the register: asked elsewhere, there is no answer.
    _refused(lambda: reg.evaluate("ResolvePseudonym", logged["auditId"], on=("UtilityMSP",)),
             404, "only the Regulator's peer holds", EvaluateError)
