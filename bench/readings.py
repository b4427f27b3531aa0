"""Benchmark: device-signed readings committed per second, by batch size.

A fresh network of its own (ports +2000). The Regulator sets a tariff; W worker threads,
each with its own meters (no MVCC conflicts between workers), submit `SubmitReadings`
batches through our Gateway client (the batch in the transient map, as the chaincode
requires), endorsed by the Utility and Regulator peers, one
batch in flight per worker, and wait for each commit. Readings are signed beforehand,
as meters sign them, so client-side signing is not in the figure.

Where the time goes comes from the peers' Prometheus metrics (endorsement, block
validation and commit) and from timing each Gateway phase.

    .venv/bin/python bench/readings.py [--batches 1,10,100,500] [--workers 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import threading
import time
import uuid

import psutil
from common import fresh_network, gateway, pct, peer_metric_sums, register_meters
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.metering import Metering, private_call
from gridledger.formats.reading import encode_reading, sign

TARIFF = {
    "tariffId": "BENCH", "effectiveFrom": "2020-01-01T00:00:00Z", "currency": "VND",
    "currencyExponent": 0, "utcOffsetMinutes": 420,
    "tiers": [{"upToKwh": 50, "pricePerKwh": 1984}, {"upToKwh": None, "pricePerKwh": 3460}],
}  # fmt: skip
PER_METER = 10  # readings of one meter in one batch (2.5 h of 15-minute intervals)
METRICS = ("endorser_proposal_duration", "ledger_block_processing_time",
           "ledger_blockstorage_commit_time", "ledger_statedb_commit_time",
           "gossip_privdata_commit_block_duration", "ledger_transaction_count")


def verify_rate(n: int = 3000) -> float:
    """P-256 signature verifications per second on one core, as the chaincode does them."""
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key()
    msg = b'{"exportWh":0,"importWh":1000,"meterId":"M"}'
    sig = key.sign(msg, ec.ECDSA(hashes.SHA256()))
    t0 = time.perf_counter()
    for _ in range(n):
        pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
    return n / (time.perf_counter() - t0)


def new_meters(metering: Metering, count: int) -> list[tuple[str, ec.EllipticCurvePrivateKey]]:
    """``count`` meters with their own keys, registered for the bench tariff."""
    meters, records = [], []
    for _ in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        mid = "B-" + uuid.uuid4().hex[:10]
        records.append({
            "meterId": mid, "publicKeyPem": pem, "curve": "P-256", "customerId": "C-" + mid,
            "tariffId": "BENCH", "deviceProfile": "sim", "location": "bench",
            "installDate": "2020-01-01",
        })  # fmt: skip
        meters.append((mid, key))
    register_meters(metering, records)
    return meters


def batches_for(meters, txs: int, start: dt.datetime, per_meter: int) -> list[str]:
    """``txs`` batches over ``meters``, ``per_meter`` consecutive readings each, pre-signed."""
    out, seq = [], 0
    for _ in range(txs):
        items = []
        for mid, key in meters:
            for s in range(seq + 1, seq + 1 + per_meter):
                r = {"meterId": mid, "seq": s,
                     "intervalEnd": (start + dt.timedelta(minutes=15 * s)).strftime(
                         "%Y-%m-%dT%H:%M:%SZ"),
                     "importWh": 250 * s, "exportWh": 0, "voltageDv": 2300,
                     "currentMa": 4000, "powerW": 900}  # fmt: skip
                items.append({"reading": r, "signature": sign(key, encode_reading(r))})
        seq += per_meter
        out.append(json.dumps(items, separators=(",", ":")))
    return out


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lat: list[float] = []
        self.split: dict[str, list[float]] = {"endorse": [], "submit": [], "commit": []}
        self.errors: list[str] = []


def work(gw, metering: Metering, payloads: list[str], stats: Stats) -> None:
    """Submit each payload in turn, one in flight, timing each Gateway phase."""
    for p in payloads:
        t0 = time.perf_counter()
        args, transient = private_call("SubmitReadings", (p,))
        tx = gw.endorse(metering.contract.new_proposal("SubmitReadings", *args,
                                                       transient=transient))
        t1 = time.perf_counter()
        commit = gw.submit(tx)
        t2 = time.perf_counter()
        status = commit.status()
        t3 = time.perf_counter()
        report = json.loads(commit.result)
        with stats.lock:
            if not status.successful or report["refused"]:
                stats.errors.append(f"{status.code_name} refused={report['refused']}")
            stats.lat.append(t3 - t0)
            stats.split["endorse"].append(t1 - t0)
            stats.split["submit"].append(t2 - t1)
            stats.split["commit"].append(t3 - t2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,10,100,500")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--readings", type=int, default=20000,
                    help="readings per batch size (fewer for batch 1)")
    args = ap.parse_args()
    print(f"# {platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, load before: {os.getloadavg()[0]:.2f}")
    print(f"# P-256 verifications/s on one core (cryptography): {verify_rate():,.0f}")
    with fresh_network() as net:
        with gateway(net, "regulator") as reg:
            Metering(reg.network("energy")).set_tariff(TARIFF)
        gw = gateway(net, "utility")
        metering = Metering(gw.network("energy"))
        start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        start -= dt.timedelta(days=365)
        rows, phases = [], []
        for batch in (int(b) for b in args.batches.split(",")):
            per_meter = min(batch, PER_METER)
            meters_per_tx = max(1, batch // per_meter)
            total = args.readings if batch > 1 else min(args.readings, 2000)
            txs_per_worker = max(2, total // (batch * args.workers))
            workers = []
            for _ in range(args.workers):
                meters = new_meters(metering, meters_per_tx)
                workers.append(batches_for(meters, txs_per_worker, start, per_meter))
            stats = Stats()
            before = peer_metric_sums(net, METRICS)
            threads = [threading.Thread(target=work, args=(gw, metering, w, stats))
                       for w in workers]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            after = peer_metric_sums(net, METRICS)
            d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            readings = sum(len(w) for w in workers) * batch
            lat, split, errors = stats.lat, stats.split, stats.errors
            rows.append(
                f"| {batch} | {args.workers} | {len(lat)} | {readings:,} | "
                f"{readings / wall:,.0f} | {statistics.median(lat) * 1000:.0f} ms | "
                f"{pct(lat, 0.99) * 1000:.0f} ms | "
                f"{len(errors)} |")
            per_endorse = d["endorser_proposal_duration_sum"] / max(1, d["endorser_proposal_duration_count"])  # noqa: E501
            blocks = d["ledger_block_processing_time_count"] / 3
            phases.append(
                f"| {batch} | {statistics.median(split['endorse']) * 1000:.0f} ms | "
                f"{per_endorse * 1000:.0f} ms | {statistics.median(split['submit']) * 1000:.0f} ms | "  # noqa: E501
                f"{statistics.median(split['commit']) * 1000:.0f} ms | {blocks:.0f} | "
                f"{len(lat) / max(1, blocks):.1f} | "
                f"{d['ledger_block_processing_time_sum'] / max(1, d['ledger_block_processing_time_count']) * 1000:.0f} ms |")  # noqa: E501
            print(rows[-1], flush=True)
            if errors:
                print(f"#   errors: {errors[:3]}", flush=True)
        gw.close()
    print("\n| batch | workers | txs | readings | readings/s | p50 submit→commit | p99 | failed |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| batch | endorse (client, p50) | endorse per peer (metrics, mean) | submit | "
          "wait for commit | blocks | txs/block | block validate+commit per peer |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(phases))


if __name__ == "__main__":
    main()
