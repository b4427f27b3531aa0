"""Benchmark: evaluate and submit through our Gateway client, and through the `peer` CLI.

One trivial function (health Ping to evaluate, health Put to submit), on a fresh network
of its own (ports +2000). Sequential runs give latency; threaded runs give throughput.

    .venv/bin/python bench/gateway.py [--evaluate 400] [--submit 200] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import platform
import uuid

import psutil
from common import Run, fresh_network, gateway, run_threads

from gridledger.network.consortium import Consortium


def cli_query(net: Consortium) -> None:
    admin = net.admin("utility")
    admin.peer("chaincode", "query", "-C", "energy", "-n", "health",
               "-c", json.dumps({"Args": ["Ping"]}))


def cli_invoke(net: Consortium, key: str) -> None:
    admin = net.admin("utility")
    peers: list[str] = []
    for org in ("utility", "regulator"):
        o = net.topology.org(org)
        peers += ["--peerAddresses", o.peer.address,
                  "--tlsRootCertFiles", str(net.layout.ca_cert(o.name))]
    admin.peer("chaincode", "invoke", "-C", "energy", "-n", "health",
               "-c", json.dumps({"Args": ["Put", key, "v"]}), *admin.orderer_tls_args(),
               *peers, "--waitForEvent")


def row(what: str, via: str, threads: int, run: Run) -> str:
    return (f"| {what} | {via} | {threads} | {len(run.latencies)} | {run.rate:,.0f} tx/s | "
            f"{run.p50 * 1000:.1f} ms | {run.pct(0.99) * 1000:.1f} ms |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--evaluate", type=int, default=400, help="evaluates per run")
    ap.add_argument("--submit", type=int, default=200, help="submits per run")
    ap.add_argument("--cli", type=int, default=40, help="peer CLI calls per run")
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    print(f"# {platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB")
    with fresh_network() as net:
        gw = gateway(net, "utility")
        health = gw.network("energy").contract("health")
        health.evaluate("Ping")  # warm the connection and the chaincode
        health.submit("Put", "warm", "v")
        t = args.threads
        rows = []
        rows.append(row("evaluate Ping", "our client", 1,
                        run_threads(lambda _t, _i: len(health.evaluate("Ping")) and 1, 1,
                                    args.evaluate)))
        rows.append(row("evaluate Ping", "our client", t,
                        run_threads(lambda _t, _i: len(health.evaluate("Ping")) and 1, t,
                                    args.evaluate // t)))

        def put(_t: int, _i: int) -> int:
            health.submit("Put", uuid.uuid4().hex, "v")
            return 1

        rows.append(row("submit Put", "our client", 1, run_threads(put, 1, args.submit)))
        rows.append(row("submit Put", "our client", t * 4,
                        run_threads(put, t * 4, max(1, args.submit * 2 // (t * 4)))))

        def query(_t: int, _i: int) -> int:
            cli_query(net)
            return 1

        def invoke(_t: int, _i: int) -> int:
            cli_invoke(net, uuid.uuid4().hex)
            return 1

        rows.append(row("evaluate Ping", "peer CLI", 1, run_threads(query, 1, args.cli)))
        rows.append(row("submit Put", "peer CLI", 1, run_threads(invoke, 1, args.cli)))
        rows.append(row("submit Put", "peer CLI", 4, run_threads(invoke, 4, args.cli // 4)))
        gw.close()
    print("| call | via | threads | calls | rate | p50 | p99 |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
