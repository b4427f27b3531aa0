"""Benchmark: DACT/IDoT certification tokens issued per second, and service-node requests
per second with the on-ledger token check (contract access, Serve) on every request.

A fresh network of its own (ports +--port-offset); the Utility's service node as a real
process on 127.0.0.1. A customer registers a 4 KiB resource and one DACT naming the
Aggregator's organisation; the Aggregator's operator certifies (each certification:
DACT match and device proof on two endorsers, ordered, waited for VALID) and fetches
(nonce, signed request, Serve endorsed by two organisations and committed, then the
bytes). Threads share one Gateway (and one HTTP client per thread).

    .venv/bin/python bench/access.py [--tokens 200] [--fetches 200] [--threads 1,16]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil
from common import Run, fresh_network, gateway, run_threads
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.access import Access, device_signer, new_dact, requester
from gridledger.clients.access_service import ServiceNodeClient
from gridledger.clients.ca import CAClient
from gridledger.clients.errors import CommitError
from gridledger.clients.gateway import Gateway
from gridledger.clients.profile import ConnectionProfile
from gridledger.clients.wallet import Wallet
from gridledger.network.consortium import Consortium
from gridledger.network.enroll import ca_admin_password


def customer_gateway(net: Consortium) -> tuple[Gateway, object, object]:
    """A customer of the Utility (registered at its CA): gateway, identity, signer."""
    o = net.topology.org("utility")
    with CAClient(o.ca.url, net.layout.ca_cert("utility"), ca_name=o.ca.name) as ca:
        registrar = ca.enroll("admin", ca_admin_password(net.layout, "utility"))
        name = "bench-" + uuid.uuid4().hex[:8]
        secret = ca.register(registrar, name, attributes=[
            ("role", "customer", True), ("customerId", "C-BENCH", True)])
        enrollment = ca.enroll(name, secret)
    identity, signer = enrollment.identity(o.msp_id), enrollment.signer()
    endpoint = ConnectionProfile.load(net.layout.connection_profile("utility")).peer_endpoint()
    return Gateway.connect(endpoint, identity, signer), identity, signer


def start_node(net: Consortium, store: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gridledger.webui.service_node",
                             "--state-dir", str(net.layout.root), "--store", str(store),
                             "--port", str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the service node did not start")


def row(what: str, threads: int, run: Run, unit: str) -> str:
    return (f"| {what} | {threads} | {len(run.latencies)} | **{run.rate:,.1f} {unit}/s** | "
            f"{run.p50 * 1000:.0f} ms | {run.pct(0.99) * 1000:.0f} ms |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=200, help="certifications per run")
    ap.add_argument("--fetches", type=int, default=200, help="fetches per run")
    ap.add_argument("--threads", default="1,16")
    ap.add_argument("--port-offset", type=int, default=2000)
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    print(f"# {platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}")
    with fresh_network(args.port_offset) as net, tempfile.TemporaryDirectory() as tmp:
        proc, url = start_node(net, Path(tmp) / "store")
        try:
            rows = run(net, url, args, counts)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("| what | threads | operations | rate | p50 | p99 |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


def run(net: Consortium, url: str, args: argparse.Namespace, counts: list[int]) -> list[str]:
    agg = gateway(net, "aggregator")
    channel = net.topology.channel
    aggregator = Access(agg.network(channel))
    key = ec.generate_private_key(ec.SECP256R1())
    aggregator.register_device({"deviceId": "BENCH-GW", "kind": "gateway",
                                "publicKeyPem": key.public_key().public_bytes(
                                    serialization.Encoding.PEM,
                                    serialization.PublicFormat.SubjectPublicKeyInfo).decode()})
    cust_gw, cust_id, cust_signer = customer_gateway(net)
    content = os.urandom(4096)
    with ServiceNodeClient(url, cust_id, cust_signer) as node:
        address = node.upload(content)
    owner = Access(cust_gw.network(channel))
    owner.register_resource({"resourceId": "BENCH-R", "hashAddress": address,
                             "mediaType": "application/octet-stream", "size": len(content),
                             "description": "bench"})
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    dact = new_dact(devices=["BENCH-GW"], resources=["BENCH-R"], purpose="bench",
                    requester=requester("organisation", "AggregatorMSP"), not_after=until)
    owner.register_dact(dact)
    sign = device_signer(key)
    token = aggregator.certify(dact, "BENCH-GW", sign)["tokenId"]  # warm
    o = net.topology.org("aggregator")
    identity, signer = Wallet.from_msp_dir(net.layout.msp(o.name, "Admin"), o.msp_id)
    with ServiceNodeClient(url, identity, signer) as node:
        assert node.fetch(address, token).content == content  # warm
    rows = []
    for threads in counts:
        per = max(1, args.tokens // threads)
        # A DACT of its own per run: a DACT lists at most 256 unexpired tokens, and every
        # certification writes its `issued` map (one key: concurrent ones conflict, and
        # are retried here as a client would).
        run_dact = new_dact(devices=["BENCH-GW"], resources=["BENCH-R"], purpose="bench",
                            requester=requester("organisation", "AggregatorMSP"),
                            not_after=until)
        owner.register_dact(run_dact)

        def certify(t: int, i: int, table: dict = run_dact) -> int:
            for _ in range(20):
                try:
                    return bool(aggregator.certify(table, "BENCH-GW", sign))
                except CommitError as exc:
                    if not exc.retryable:
                        raise
            raise RuntimeError("certify: 20 conflicts in a row")

        r = run_threads(certify, threads, per)
        rows.append(row("certify (token issued, VALID)", threads, r, "tokens"))
        print(rows[-1], flush=True)
    for threads in counts:
        per = max(1, args.fetches // threads)
        clients = [ServiceNodeClient(url, identity, signer) for _ in range(threads)]

        def fetch(t: int, i: int, clients: list[ServiceNodeClient] = clients) -> int:
            got = clients[t].fetch(address, token)
            return int(got.content == content)

        r = run_threads(fetch, threads, per)
        for c in clients:
            c.close()
        assert r.items == len(r.latencies)
        rows.append(row("service-node fetch (Serve VALID, then bytes)", threads, r, "req"))
        print(rows[-1], flush=True)
    logged = [e for e in aggregator.access_log(token) if e["kind"] == "service"]
    print(f"# access log of the fetch token: {len(logged)} servings on the ledger")
    return rows


if __name__ == "__main__":
    main()
