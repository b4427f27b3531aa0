"""Benchmark: market orders placed per second, and clearing and settlement time for 1,000
and 10,000 orders in one delivery interval.

A fresh network of its own (ports +2000). Participants are made as in a deployment: a
customer enrolled at the Utility's CA with a meter, a prepaid account it opens and binds
itself, a pseudonym the Regulator records, a market key, an enrolment (linked on the
energy channel, published on the market channel) and a deposit (funded on energy,
credited on market). Half sell, half buy. For each size, one interval of a one-minute
market that ended a minute before: every trader places its orders one after another, all
traders at once (one in flight each: a trader's bids share its wallet key), signed
beforehand, relayed by the Aggregator, endorsed by the Aggregator and the Utility, dated
before gate closure (the bench market accepts transaction times within 15 minutes of the
peers' clocks; the meters' readings are held to the consortium's tolerance, so the
interval must really have ended). Then the Aggregator clears page by page, the meters
report the interval, and the Utility settles page by page (the plan from its own peer,
Settle endorsed by all three organisations, the records read across from the energy
channel) - each step timed as a whole.

    .venv/bin/python bench/market.py [--sizes 1000,10000] [--traders 120]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psutil
from common import fresh_network, gateway, pct
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.chaincode.market import clearing
from gridledger.clients.all_peers import AllPeers
from gridledger.clients.ca import CAClient
from gridledger.clients.gateway import Gateway
from gridledger.clients.market import (
    ENERGY_CHANNEL,
    MARKET_CHANNEL,
    CustomerConsent,
    Market,
    MarketKey,
)
from gridledger.clients.metering import Metering, Wattcoin
from gridledger.clients.profile import ConnectionProfile
from gridledger.formats.market import interval_id, pseudonym_for
from gridledger.formats.reading import encode_reading, sign
from gridledger.network.enroll import ca_admin_password

TARIFF = {"tariffId": "BENCH-MKT", "effectiveFrom": "2020-01-01T00:00:00Z", "currency": "VND",
          "currencyExponent": 0, "utcOffsetMinutes": 0,
          "tiers": [{"upToKwh": None, "pricePerKwh": 2000}], "feedInPricePerKwh": 800,
          "taxes": []}
SECRET = os.urandom(32)
MINUTE = dt.timedelta(minutes=1)
SYNC_SECONDS = 60.0  # for every peer to reach the others' height


class Trader:
    def __init__(self, key: MarketKey, meter_id: str, meter_key: ec.EllipticCurvePrivateKey,
                 sells: bool) -> None:
        self.key, self.meter_id, self.meter_key, self.sells = key, meter_id, meter_key, sells
        self.seq, self.registers = 0, [0, 0]

    def reading(self, end: dt.datetime, imp: int, exp: int) -> dict:
        self.seq += 1
        self.registers[0] += imp
        self.registers[1] += exp
        body = {"meterId": self.meter_id, "seq": self.seq,
                "intervalEnd": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "importWh": self.registers[0], "exportWh": self.registers[1],
                "voltageDv": 2300, "currentMa": 4000, "powerW": 900}
        return {"reading": body, "signature": sign(self.meter_key, encode_reading(body))}


def make_trader(net, peers: AllPeers, market_id: str, sells: bool
                ) -> Trader:
    """One participant, from its CA enrolment to its deposit (as test_market's)."""
    utility, regulator = peers.utility, peers.regulator
    o = net.topology.org("utility")
    customer_id = "C-B-" + uuid.uuid4().hex[:8]
    with CAClient(o.ca.url, net.layout.ca_cert("utility"), ca_name=o.ca.name) as ca:
        registrar = ca.enroll("admin", ca_admin_password(net.layout, "utility"))
        name = "bench-" + uuid.uuid4().hex[:10]
        secret = ca.register(registrar, name, attributes=[
            ("role", "customer", True), ("customerId", customer_id, True)])
        enrollment = ca.enroll(name, secret)
    meter_key = ec.generate_private_key(ec.SECP256R1())
    meter_id = "BM-" + uuid.uuid4().hex[:8]
    channel = utility.network(ENERGY_CHANNEL)
    Metering(channel).register_meter({
        "meterId": meter_id, "curve": "P-256", "customerId": customer_id,
        "publicKeyPem": meter_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "tariffId": TARIFF["tariffId"], "deviceProfile": "sim", "location": "bench",
        "installDate": "2020-01-01"})
    profile = ConnectionProfile.load(net.layout.connection_profile("utility"))
    with Gateway.connect(profile.peer_endpoint(), enrollment.identity("UtilityMSP"),
                         enrollment.signer()) as own:
        wallet = Wattcoin(own.network(ENERGY_CHANNEL))
        address = wallet.open_account()["address"]
        wallet.bind_customer(customer_id, address)
    peers.sync(SYNC_SECONDS)  # the meter, the account and its binding on every peer
    Wattcoin(channel).mint(address, 50_000_000, "PAY-" + meter_id)
    pseudonym = pseudonym_for(SECRET, "UtilityMSP", customer_id)
    Market(regulator).record_pseudonym(pseudonym, customer_id)
    peers.sync(SYNC_SECONDS)
    key = MarketKey.generate(pseudonym)
    consent = CustomerConsent.of_identity(enrollment.certificate, enrollment.signer())
    Market(regulator).enrol(key.enrolment(market_id, meter_id, consent))
    peers.sync(SYNC_SECONDS)
    Market(utility).deposit(key.deposit(20_000_000))
    return Trader(key, meter_id, meter_key, sells)


def orders_for(traders: list[Trader], iv: str, total: int, rng: random.Random
               ) -> list[list[tuple[str, str]]]:
    """Per trader, its signed orders (function, message), ``total`` in all."""
    out = []
    for n, t in enumerate(traders):
        mine = []
        for i in range(total // len(traders) + (n < total % len(traders))):
            if t.sells:
                msg = t.key.order("offer", iv, f"o{i}", rng.randrange(500, 3001, 100),
                                  rng.randrange(850, 1601, 10))
                mine.append(("PlaceOffer", msg))
            else:
                msg = t.key.order("bid", iv, f"b{i}", rng.randrange(500, 3001, 100),
                                  rng.randrange(1000, 1901, 10))
                mine.append(("PlaceBid", msg))
        out.append(mine)
    return out


def place(market: Market, orders: list[list[tuple[str, str]]], at: dt.datetime
          ) -> tuple[float, list[float]]:
    """Every trader's orders one after another, all traders at once, each at transaction
    time ``at``; (wall, latencies)."""
    lats: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(mine: list[tuple[str, str]]) -> None:
        for fn, msg in mine:
            t0 = time.perf_counter()
            try:
                market.submit_async(fn, msg, at=at).wait()
            except BaseException as exc:  # report, do not hide
                errors.append(exc)
                return
            with lock:
                lats.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in orders]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} orders failed; first: {errors[0]}")
    return time.perf_counter() - t0, lats


def submit_readings(utility: Gateway, batch: list[dict]) -> None:
    """The meters' readings of the interval (ended: the endorsers refuse readings from
    beyond their clocks)."""
    contract = utility.network(ENERGY_CHANNEL).contract("metering", "metering")
    proposal = contract.new_proposal(
        "SubmitReadings", transient={"args": json.dumps([json.dumps(batch)]).encode(),
                                     "salt": os.urandom(32)},
        endorsing_organizations=("UtilityMSP", "RegulatorMSP"))
    result = json.loads(utility.submit(utility.endorse(proposal)).wait())
    assert result["accepted"] == len(batch), result


def clear_synced(agg: Market, peers: AllPeers, iv: str, at: dt.datetime) -> list[dict]:
    """Clear page by page, each page committed on every peer before the next."""
    pages: list[dict] = []
    while not (pages and pages[-1]["done"]):
        commit = agg.submit_async("Clear", iv, at=at)
        pages.append(json.loads(commit.wait()))
        peers.wait_all(commit.transaction_id, MARKET_CHANNEL)
    return pages


def settle_synced(util: Market, peers: AllPeers, iv: str, at: dt.datetime) -> list[dict]:
    """Settle page by page (the plan from the Utility's peer, Settle endorsed by all
    three), each page committed on every peer before the next."""
    pages: list[dict] = []
    while not (pages and pages[-1]["done"]):
        plan = util.plan(iv)
        commit = util.submit_async("Settle", iv, json.dumps(plan, separators=(",", ":"),
                                                            sort_keys=True), at=at)
        pages.append(json.loads(commit.wait()))
        peers.wait_all(commit.transaction_id, MARKET_CHANNEL)
    return pages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--traders", type=int, default=120)
    args = ap.parse_args()
    print(f"# {platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load before: "
          f"{os.getloadavg()[0]:.2f}; clearing page {clearing.PAGE} book entries", flush=True)
    rows = []
    with fresh_network() as net:
        with gateway(net, "regulator") as reg:
            Metering(reg.network(ENERGY_CHANNEL)).set_tariff(TARIFF)
        utility, regulator, aggregator = (gateway(net, o) for o in
                                          ("utility", "regulator", "aggregator"))
        agg, util = Market(aggregator), Market(utility)
        market_id = "bench"
        peers = AllPeers(utility, regulator, aggregator, ENERGY_CHANNEL, MARKET_CHANNEL)
        # Times a quarter hour ahead: the market accepts the peers' whole window.
        agg.configure_market({"marketId": market_id, "intervalSeconds": 60,
                              "gateClosureSeconds": 20, "tariffId": TARIFF["tariffId"],
                              "clockToleranceSeconds": 900})
        peers.sync(SYNC_SECONDS)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            traders = list(pool.map(lambda i: make_trader(
                net, peers, market_id, i % 2 == 0), range(args.traders)))
        peers.sync(SYNC_SECONDS)
        print(f"# {len(traders)} participants made in {time.perf_counter() - t0:.0f} s",
              flush=True)
        rng = random.Random(1)
        last = None
        for size in (int(s) for s in args.sizes.split(",")):
            # An interval that ended a minute ago: the meters can report it at once (the
            # endorsers refuse readings from beyond their clocks), and the orders and the
            # clearing carry times before and after its gate closure, which the market's
            # 15-minute tolerance accepts while placing lasts less than ~12 minutes.
            start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - 2 * MINUTE
            if last is not None and start <= last:
                start = last + MINUTE
            last = start
            iv = interval_id(market_id, start)
            agg.open_interval(iv, "uniform", at=start - MINUTE)
            orders = orders_for(traders, iv, size, rng)
            peers.sync(SYNC_SECONDS)
            wall, lats = place(agg, orders, start - MINUTE / 2)
            peers.sync(SYNC_SECONDS)
            n = sum(len(o) for o in orders)
            print(f"# {n} orders in {wall:.1f} s: {n / wall:.1f} orders/s, "
                  f"p50 {statistics.median(lats) * 1000:.0f} ms, "
                  f"p99 {pct(lats, 0.99) * 1000:.0f} ms", flush=True)
            t0 = time.perf_counter()
            pages = clear_synced(agg, peers, iv, start)
            clear_s = time.perf_counter() - t0
            outcome = pages[-1]["outcome"]
            print(f"# cleared in {clear_s:.1f} s, {len(pages)} transactions: {outcome}",
                  flush=True)
            batch = [t.reading(start + MINUTE, 0 if t.sells else rng.randrange(0, 60_000),
                               rng.randrange(0, 60_000) if t.sells else 0) for t in traders]
            submit_readings(utility, batch)
            peers.sync(SYNC_SECONDS)
            t0 = time.perf_counter()
            settled = settle_synced(util, peers, iv, start + MINUTE)
            settle_s = time.perf_counter() - t0
            print(f"# settled in {settle_s:.1f} s, {len(settled)} transactions, delivered "
                  f"{settled[-1]['deliveredWh']} Wh", flush=True)
            rows.append(f"| {n:,} | {n / wall:.1f} | {statistics.median(lats) * 1000:.0f} ms | "
                        f"{outcome['trades']:,} | {len(pages)} | {clear_s:.1f} s | "
                        f"{len(settled)} | {settle_s:.1f} s |")
        for gw in (utility, regulator, aggregator):
            gw.close()
    print("\n| orders in the interval | orders/s | p50 order submit->commit | trades | "
          "clearing txs | clearing time | settlement txs | settlement time |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(json.dumps({"traders": args.traders, "page": clearing.PAGE}))


if __name__ == "__main__":
    main()
