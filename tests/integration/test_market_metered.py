"""A trade settled against what simulated meters sent through the meter bridge.

The market day (test_market.py) signs its readings in the test, to replay a day of 24
intervals in a few minutes. Here the whole field side is real: a Modbus TCP simulator
(a prosumer with solar at midday, simulated 60 times faster than real time, and a
consumer), the bridge as its own process reading them and submitting signed readings,
and one one-minute interval traded between the two. The seller offers and the buyer bids
far more than either meters, so the settlement's delivered energy is the metered one:
the least of the trade, the seller's export and the buyer's import in the interval, each
computed here from the readings on the ledger, which are the simulator's own samples.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridledger.clients.metering import Metering
from gridledger.formats.market import interval_id
from gridledger.formats.utc import parse_utc
from gridledger.network.consortium import Consortium

from .customers import register_customer
from .gateways import connect
from .market_world import (
    MINUTE,
    TARIFF_ID,
    Orgs,
    join,
    minute_start,
    new_market,
    now,
)
from .test_meter_bridge import BridgeProcess, SimThread, register, tcp, wait_for

pytestmark = pytest.mark.integration

SECOND = dt.timedelta(seconds=1)
TRADE_WH = 50_000  # far beyond a minute of either meter: delivery decides
SELLER_UNIT, BUYER_UNIT = 3, 2  # every third simulated meter has solar panels


@pytest.fixture(scope="module")
def orgs(consortium, utility, regulator) -> Iterator[Orgs]:
    with connect(consortium, "aggregator") as aggregator:
        yield Orgs(utility, regulator, aggregator, consortium.topology.channel)


@pytest.fixture
def field_side(tmp_path: Path, consortium: Consortium) -> Iterator[tuple[SimThread,
                                                                          BridgeProcess]]:
    # Simulated local noon (UTC+7) today, running 60x: a minute of real time is an hour
    # of sunshine for the prosumer.
    noon = dt.datetime.now(dt.UTC).replace(hour=5, minute=0, second=0, microsecond=0)
    sim = SimThread(3, speed=60.0, start=noon.timestamp())
    bridge = BridgeProcess(consortium, tmp_path / "bridge",
                           [tcp(sim, SELLER_UNIT), tcp(sim, BUYER_UNIT)])
    try:
        yield sim, bridge
    finally:
        bridge.stop()
        sim.stop()


def _share(total: int, since: dt.datetime, until: dt.datetime, start: dt.datetime) -> int:
    """The part of ``total`` Wh, measured over [since, until), that falls in the one-minute
    interval at ``start``: pro rata to seconds, the leftover Wh to the largest remainders
    (ties to the earlier interval), as the market's records spread a reading."""
    first, last = int(since.timestamp()) // 60, (int(until.timestamp()) - 1) // 60
    weights = [max(0, min(int(until.timestamp()), (n + 1) * 60)
                   - max(int(since.timestamp()), n * 60)) for n in range(first, last + 1)]
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    for i in sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))[
            :total - sum(shares)]:
        shares[i] += 1
    n = int(start.timestamp()) // 60
    return shares[n - first] if first <= n <= last else 0


def _energy_in(metering: Metering, meter_id: str, initial: tuple[int, int],
               start: dt.datetime) -> tuple[int, int]:
    """(import, export) Wh of the meter in the one-minute interval at ``start``, from its
    readings on the ledger: each reading's energy (the difference of its registers from
    the previous reading's, the registration's for the first) spread over the time since
    the previous reading."""
    info = metering.get_meter(meter_id)
    prev, since = initial, None
    imported = exported = 0
    for seq in range(1, info["head"]["seq"] + 1):
        r = metering.get_reading_detail(meter_id, seq)["reading"]
        registers = (r["importWh"], r["exportWh"])
        until = parse_utc(r["intervalEnd"], "intervalEnd")
        since = since or until - SECOND
        imported += _share(registers[0] - prev[0], since, until, start)
        exported += _share(registers[1] - prev[1], since, until, start)
        prev, since = registers, until
    return imported, exported


def _reported_past(metering: Metering, meter_id: str, end: dt.datetime) -> bool:
    head = metering.get_meter(meter_id)["head"]
    return bool(head["seq"]) and parse_utc(head["intervalEnd"], "intervalEnd") - SECOND >= end


def test_a_trade_settles_against_the_energy_the_bridge_read_from_the_meters(
        consortium, orgs: Orgs, field_side) -> None:
    sim, bridge = field_side
    metering = orgs.metering()
    market_id = new_market(orgs, "metered", tolerance=30)  # in real time
    seller_customer = register_customer(consortium, "C-SUN-" + market_id[-6:])
    buyer_customer = register_customer(consortium, "C-USE-" + market_id[-6:])
    seller_meter = register(metering, bridge.keys, sim, SELLER_UNIT,
                            seller_customer.customer_id, TARIFF_ID)
    buyer_meter = register(metering, bridge.keys, sim, BUYER_UNIT,
                           buyer_customer.customer_id, TARIFF_ID)
    # The registers as registered (the genesis head): the first reading counts from them.
    initial = {m: (h["importWh"], h["exportWh"]) for m in (seller_meter, buyer_meter)
               for h in [metering.get_meter(m)["head"]]}
    bridge.start()
    seller = join(consortium, orgs, market_id, metered=(seller_customer, seller_meter))
    buyer = join(consortium, orgs, market_id, metered=(buyer_customer, buyer_meter))

    # The next interval whose gate closure (20 s before it) leaves time to place orders.
    start = minute_start(now() + 45 * SECOND) + MINUTE
    end = start + MINUTE
    iv = interval_id(market_id, start)
    agg = orgs.market("aggregator")
    agg.open_interval(iv, "uniform")
    agg.place_offer(seller.key.order("offer", iv, "sun", TRADE_WH, 1000))
    agg.place_bid(buyer.key.order("bid", iv, "use", TRADE_WH, 1600))
    assert now() < start - 20 * SECOND, "the orders took longer than the gate allows"
    gate = start - 20 * SECOND
    wait_for("the gate closure", lambda: now() >= gate, (gate - now()).total_seconds() + 10, 0.5)
    agg.clear(iv)
    (trade,) = agg.trades_of(buyer.pseudonym, iv)
    assert (trade["seller"], trade["wh"]) == (seller.pseudonym, TRADE_WH)

    # The bridge keeps reading; once both meters have reported past the interval's end,
    # its records are complete.
    wait_for("both meters reported past the interval", lambda: all(
        _reported_past(metering, m, end) for m in (seller_meter, buyer_meter)),
        (end - now()).total_seconds() + 90, 1.0)
    orgs.sync()
    orgs.market("utility").settle(iv)

    _, exported = _energy_in(metering, seller_meter, initial[seller_meter], start)
    imported, _ = _energy_in(metering, buyer_meter, initial[buyer_meter], start)
    assert exported > 0 and imported > 0, (exported, imported)  # midday sun, a household
    (settled,) = agg.trades_of(buyer.pseudonym, iv)
    delivered = settled["settlement"]["deliveredWh"]
    assert delivered == min(TRADE_WH, exported, imported), (delivered, exported, imported)
    assert 0 < delivered < TRADE_WH
    assert agg.interval(iv)["status"] == "settled"

    # The readings those figures came from are the simulator's own samples, in order.
    sim.freeze()
    for meter_id in (seller_meter, buyer_meter):
        served = [(s[0], s[1]) for s in sim.values(meter_id)]
        info = metering.get_meter(meter_id)
        on_ledger = [(r["importWh"], r["exportWh"]) for r in (
            metering.get_reading_detail(meter_id, seq)["reading"]
            for seq in range(1, info["head"]["seq"] + 1))]
        it = iter(served)
        assert all(v in it for v in on_ledger), meter_id  # a subsequence of what was served
