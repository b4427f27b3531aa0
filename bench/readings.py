"""Benchmark: device-signed readings committed per second, by batch size.

Runs on its own fresh network (ports +2000, temporary state), endorsed by two
organisations (Utility and Regulator peers), submitted with Fabric's `peer` CLI and
--waitForEvent, W workers in parallel on disjoint meters (so no MVCC conflicts).

    .venv/bin/python bench/readings.py [--batches 1,10,100,500] [--workers 4] [--seconds 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.chaincode.metering.encoding import encode_reading, sign
from gridledger.network.consortium import Consortium
from gridledger.network.layout import Layout
from gridledger.network.topology import load

TARIFF = {
    "tariffId": "BENCH", "effectiveFrom": "2020-01-01T00:00:00Z", "currency": "VND",
    "currencyExponent": 0, "utcOffsetMinutes": 420,
    "tiers": [{"upToKwh": 50, "pricePerKwh": 1984}, {"upToKwh": None, "pricePerKwh": 3460}],
}  # fmt: skip


class Bench:
    def __init__(self, net: Consortium):
        self.net = net
        self.admin = net.admin("utility")
        self.peers: list[str] = []
        for name in ("utility", "regulator"):
            o = net.topology.org(name)
            self.peers += ["--peerAddresses", o.peer.address,
                           "--tlsRootCertFiles", str(net.layout.ca_cert(o.name))]

    def invoke(self, org: str, *args: str) -> None:
        admin = self.net.admin(org)
        admin.peer(
            "chaincode", "invoke", "-C", "energy", "-n", "metering",
            "-c", json.dumps({"Args": list(args)}), *admin.orderer_tls_args(), *self.peers,
            "--waitForEvent",
        )  # fmt: skip

    def meter(self) -> tuple[str, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        mid = "B-" + uuid.uuid4().hex[:10]
        self.invoke("utility", "RegisterMeter", json.dumps({
            "meterId": mid, "publicKeyPem": pem, "curve": "P-256", "customerId": "C-" + mid,
            "tariffId": "BENCH", "deviceProfile": "sim", "location": "bench",
            "installDate": "2020-01-01",
        }))  # fmt: skip
        return mid, key


def worker(bench: Bench, batch: int, seconds: float, start: dt.datetime, out: list, lock):
    per_meter = min(batch, 100)
    meters = [bench.meter() for _ in range(max(1, batch // per_meter))]
    seqs = {m: 0 for m, _ in meters}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        items = []
        for mid, key in meters:
            for _ in range(per_meter):
                seqs[mid] += 1
                s = seqs[mid]
                r = {"meterId": mid, "seq": s,
                     "intervalEnd": (start + dt.timedelta(minutes=15 * s)).strftime(
                         "%Y-%m-%dT%H:%M:%SZ"),
                     "importWh": 250 * s, "exportWh": 0, "voltageDv": 2300,
                     "currentMa": 4000, "powerW": 900}  # fmt: skip
                items.append({"reading": r, "signature": sign(key, encode_reading(r))})
        t0 = time.perf_counter()
        bench.invoke("utility", "SubmitReadings", json.dumps(items))
        with lock:
            out.append((time.perf_counter() - t0, len(items)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,10,100,500")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        net = Consortium(load(port_offset=2000), Layout(Path(tmp) / "state"))
        net.up()
        try:
            bench = Bench(net)
            bench.invoke("regulator", "SetTariff", json.dumps(TARIFF))
            # Readings 15 minutes apart from a year ago: enough room before "now".
            start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
            start -= dt.timedelta(days=365)
            print("| batch | workers | txs | readings/s | tx latency p50 | p99 |")
            print("|---|---|---|---|---|---|")
            for batch in (int(b) for b in args.batches.split(",")):
                out: list = []
                lock = threading.Lock()
                threads = [threading.Thread(target=worker, args=(
                    bench, batch, args.seconds, start, out, lock)) for _ in range(args.workers)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                if not out:
                    print(f"| {batch} | {args.workers} | 0 | failed (see errors above) | | |")
                    continue
                lat = sorted(x[0] for x in out)
                total = sum(x[1] for x in out)
                # Rate over the measured window: sum of readings / the longest worker's wall
                # time is close to `seconds`; use the sum of latencies per worker instead.
                rate = total / (sum(lat) / args.workers)
                p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
                print(f"| {batch} | {args.workers} | {len(lat)} | {rate:,.0f} | "
                      f"{statistics.median(lat):.2f} s | {p99:.2f} s |", flush=True)
        finally:
            net.down(purge=True)


if __name__ == "__main__":
    main()
