"""Benchmark: the portal's page and API latency over a large mirror, and the mirror's
catch-up rate from a real network.

``--part pages`` (no network): a mirror (SQLite, a temporary directory) filled directly,
as the listener would have filled it, with 1,000 customers, one meter each, and 1,000
readings per meter (one million readings; their writes, usage days, accounts, history,
bills, and 2,000 blocks of 500 readings), every row sealed. The portal then serves it
over HTTP (waitress, 127.0.0.1) and each page and API call is timed, one request at a
time, as a signed-in customer or operator; p50/p95 per URL.

``--part catchup``: a fresh network of its own (ports +2000), meters and SubmitReadings
batches to make blocks, then a new mirror catches up from block 0 through
``DeliverWithPrivateData``: as the Utility's admin (private data) and as the
Aggregator's (none); decoding only (no SQL) for comparison; SQLite and, when Debian's
PostgreSQL is installed, a throwaway PostgreSQL server.

    .venv/bin/python bench/portal.py [--part pages|catchup|all] [--customers 1000]
        [--readings 1000] [--requests 100] [--blocks 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from common import fresh_network, gateway, pct, register_meters

from gridledger.webui.mirror import Mirror
from gridledger.webui.mirror.decode import decode, value_text
from gridledger.webui.mirror.schema import (
    AccountRow,
    BlockRow,
    StateRow,
    TransactionRow,
    WriteRow,
)

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 123"
CHUNK = 20_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- part 1: pages over a large mirror -------------------------------------------------


def _reading(meter: str, seq: int, prev: str, end: str, register: int) -> dict[str, Any]:
    canonical = (f'{{"currentMa":4800,"exportWh":0,"importWh":{register},"intervalEnd":'
                 f'"{end}","meterId":"{meter}","powerW":1100,"seq":{seq},"voltageDv":2301}}')
    import hashlib

    h = hashlib.sha256(bytes.fromhex(prev) + canonical.encode()).hexdigest()
    return {"meterId": meter, "seq": seq, "intervalEnd": end, "prevHash": prev, "hash": h,
            "quality": "measured", "txId": "", "importDeltaWh": 350, "exportDeltaWh": 0,
            "canonical": canonical,
            "signature": "MEUCIQDm3nq2Y8t7" + secrets.token_hex(20) + "AiB0Zg=="}


def fill(mirror: Mirror, customers: int, per_meter: int, say) -> dict[str, int]:
    """Rows as the listener would write them, straight into SQL (sealed)."""
    seal = mirror.store.sealer.seal
    engine = mirror.engine
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    per_block = 500
    total = customers * per_meter
    n_blocks = (total + per_block - 1) // per_block
    counts = {"state": 0, "writes": 0}
    t0 = time.perf_counter()

    def flush(writes: list[dict], state: list[dict]) -> None:
        with engine.begin() as conn:
            if writes:
                conn.execute(WriteRow.__table__.insert(), writes)
            if state:
                conn.execute(StateRow.__table__.insert(), state)
        counts["writes"] += len(writes)
        counts["state"] += len(state)
        writes.clear()
        state.clear()

    writes: list[dict] = []
    state: list[dict] = []
    seqs: dict[int, int] = {}

    def put(block: int, tx: int, key: str, value: dict, collection: str, customer: str | None,
            meter: str | None, ref: str | None = None) -> None:
        s = seqs.get(block, 0)
        seqs[block] = s + 1
        kind = key.split("~", 1)[0]
        text = value_text(json.dumps(value).encode(), bool(collection))
        w = {"channel": "energy", "block_number": block, "tx_index": tx, "seq": s,
             "namespace": "metering",
             "collection": collection, "key": key, "kind": kind, "value": text,
             "customer_id": customer, "meter_id": meter}
        writes.append({**w, "mac": seal(WriteRow, w)})
        st = {"channel": "energy", "namespace": "metering", "collection": collection,
              "key": key, "kind": kind,
              "value": text, "customer_id": customer, "meter_id": meter, "ref": ref,
              "block_number": block, "tx_index": tx, "seq": s}
        state.append({**st, "mac": seal(StateRow, st)})
        if len(writes) >= CHUNK:
            flush(writes, state)

    cd = "customerData"
    # Registrations and accounts in block 0 (one transaction each would be realistic; the
    # pages do not care, the counts below do).
    for c in range(customers):
        cid, mid, addr = f"C-{c:05d}", f"M-{c:05d}", f"{c:040x}"
        put(0, 0, f"meter~{mid}", {"meterId": mid, "status": "active", "curve": "P-256",
                                   "deviceProfile": "EPM5500P", "installDate": "2026-01-01",
                                   "publicKeyPem": "-----BEGIN PUBLIC KEY-----..."},
            "", None, mid)
        put(0, 0, f"meterinfo~{mid}", {"meterId": mid, "customerId": cid,
                                       "location": f"street {c}", "tariffId": "RES",
                                       "tariffs": [], "billedPeriods": []}, cd, cid, mid)
        put(0, 0, f"custmeter~{cid}", {"meters": [mid]}, cd, cid, None)
        put(0, 0, f"wccust~{cid}", {"address": addr}, cd, cid, None, addr)
        for n in range(1, 21):
            put(0, 0, f"wchist~{addr}~{n:012d}", {"n": n, "kind": "charge", "amount": -700,
                                                  "balance": 100_000 - 700 * n, "arrears": 0,
                                                  "at": "2026-01-01T00:00:00Z"}, cd, cid, None,
                addr)
        put(0, 0, f"bill~{cid}~2026-01-01T00:00:00Z", {
            "customerId": cid, "periodStart": "2026-01-01T00:00:00Z",
            "periodEnd": "2026-02-01T00:00:00Z", "total": 731_000, "currency": "VND",
            "energyCharge": 676_000, "touCharge": 0, "taxes": {"VAT": 54_080},
            "exportCredit": 0, "importWh": 350_000, "exportWh": 0, "meters": [],
            "adjustments": []}, cd, cid, None)
    flush(writes, state)
    say(f"  registrations: {counts['state']} rows ({time.perf_counter() - t0:.0f} s)")
    # Readings: seq k of meter c in block 1 + (c * per_meter + k) // per_block; usage days.
    for c in range(customers):
        mid, cid, addr = f"M-{c:05d}", f"C-{c:05d}", f"{c:040x}"
        prev = "00" * 32
        days: dict[str, list[int]] = {}
        for k in range(1, per_meter + 1):
            end = start + dt.timedelta(hours=k)
            block = 1 + (c * per_meter + k - 1) // per_block
            r = _reading(mid, k, prev, end.strftime("%Y-%m-%dT%H:%M:%SZ"), 350 * k)
            prev = r["hash"]
            put(block, 0, f"reading~{mid}~{k:012d}", r, cd, cid, mid, r["hash"])
            days.setdefault((end - dt.timedelta(seconds=1)).strftime("%Y%m%d"),
                            [0] * 24)[(end - dt.timedelta(seconds=1)).hour] += 350
        for day, hours in days.items():
            put(n_blocks, 0, f"usage~{mid}~{day}", {"importWh": hours, "exportWh": [0] * 24,
                                                     "quality": {}}, cd, cid, mid)
        put(n_blocks, 0, f"meterhead~{mid}", {"seq": per_meter, "hash": prev}, cd, cid, mid)
        put(n_blocks, 0, f"wcacct~{addr}", {
            "address": addr, "kind": "identity", "customerId": cid,
            "balance": 100_000 - 7 * c, "arrears": 500 if c % 10 == 0 else 0,
            "exhausted": False, "low": False, "policy": "notify", "lowBalanceThreshold": 0,
            "entries": 20}, cd, cid, None, addr)
        if c % 100 == 99:
            say(f"  readings of {c + 1} meters ({time.perf_counter() - t0:.0f} s)")
    flush(writes, state)
    # Blocks and their transactions (one SubmitReadings each), chained.
    from gridledger.clients.blocks import header_hash

    prev_hash = b""
    blocks, txs = [], []
    for n in range(n_blocks + 1):
        data_hash = os.urandom(32)
        b = {"number": n, "channel": "energy", "data_hash": data_hash.hex(),
             "previous_hash": prev_hash.hex(),
             "header_hash": header_hash(n, prev_hash, data_hash).hex(), "tx_count": 1,
             "write_count": seqs.get(n, 0), "timestamp": "2026-01-01T00:00:00Z"}
        prev_hash = bytes.fromhex(b["header_hash"])
        blocks.append({**b, "mac": seal(BlockRow, b)})
        t = {"channel": "energy", "block_number": n, "tx_index": 0,
             "tx_id": secrets.token_hex(32),
             "type": "ENDORSER_TRANSACTION", "timestamp": "2026-01-01T00:00:00Z",
             "creator_msp": "UtilityMSP", "creator_name": "bridge", "validation_code": "VALID",
             "chaincode": "metering", "function": "metering:SubmitReadings", "args": "[]",
             "endorsers": '["RegulatorMSP", "UtilityMSP"]', "response_status": 200,
             "response_message": "", "response_payload": json.dumps(
                 {"accepted": 499, "refused": 1, "results": [
                     {"index": 7, "meterId": "M-00007", "seq": 9, "status": "refused",
                      "code": "skip", "reason": "sequence 9 skips ahead"}]}),
             "event_name": "ReadingsProcessed", "event_payload": "{}", "refused": 1}
        txs.append({**t, "mac": seal(TransactionRow, t)})
    with engine.begin() as conn:
        conn.execute(BlockRow.__table__.insert(), blocks)
        conn.execute(TransactionRow.__table__.insert(), txs)
    say(f"  {n_blocks + 1} blocks; fill done in {time.perf_counter() - t0:.0f} s")
    return {**counts, "blocks": n_blocks + 1}


def _serve(app) -> tuple[str, Any]:
    from waitress.server import create_server

    port = _free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return f"http://127.0.0.1:{port}", server


def _client(base: str, username: str) -> httpx.Client:
    import re

    c = httpx.Client(base_url=base, timeout=60)
    token = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/signin").text).group(1)
    r = c.post("/signin", data={"username": username, "password": PASSWORD,
                                "csrf_token": token})
    assert r.status_code == 302, r.text[:500]
    return c


def _time(client: httpx.Client, url: str, n: int) -> dict[str, float]:
    for _ in range(3):
        client.get(url)
    lats = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url)
        lats.append(time.perf_counter() - t0)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return {"p50_ms": round(pct(lats, 0.5) * 1000, 1), "p95_ms": round(pct(lats, 0.95) * 1000, 1),
            "bytes": len(r.content)}


def part_pages(args, say) -> dict[str, Any]:
    from gridledger.webui.portal import create_app
    from gridledger.webui.portal.config import KDFCost, PortalConfig
    from gridledger.webui.portal.security import Passwords
    from gridledger.webui.portal.services import build_services

    tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    config = PortalConfig(org="utility", msp_id="UtilityMSP", data_dir=tmp / "portal",
                          start_background=False, kdf=KDFCost(1, 8 * 1024, 1))
    services = build_services(config)
    say(f"filling the mirror: {args.customers} customers x {args.readings} readings")
    counts = fill(services.mirror, args.customers, args.readings, say)
    size = config.sqlite_path.stat().st_size
    hasher = Passwords(config.kdf)
    with services.mirror.sessions.begin() as s:
        mine = args.customers // 2
        for name, role, cid in (("cust", "customer", f"C-{mine:05d}"), ("ops", "utility", None)):
            s.add(AccountRow(username=name, role=role, msp_id="UtilityMSP", customer_id=cid,
                             wallet_label="none", enrollment_id=name,
                             password_hash=hasher.hash(PASSWORD), key_salt="00" * 16,
                             created_at=dt.datetime.now(dt.UTC)))
    app = create_app(config, services)
    base, server = _serve(app)
    cust, ops = _client(base, "cust"), _client(base, "ops")
    with services.mirror.sessions() as s:
        from gridledger.webui.mirror import queries

        some_hash = queries.readings(s, f"M-{mine:05d}", limit=1)[0]["hash"]
    n = args.requests
    mid_block = counts["blocks"] // 2
    m, last = f"M-{mine:05d}", args.customers - 1
    urls = [
        (cust, "/customer/"), (cust, f"/customer/meters/{m}?view=day&date=2026-01-02"),
        (cust, f"/customer/meters/{m}?view=month&date=2026-01"),
        (cust, "/customer/bills"), (cust, "/customer/wallet"),
        (cust, f"/api/v1/meters/{m}/readings?limit=50"),
        (cust, f"/api/v1/meters/{m}/usage?month=2026-01"),
        (cust, f"/api/v1/live?since={counts['blocks'] - 2}"),
        (ops, "/utility/"), (ops, "/utility/customers"),
        (ops, f"/utility/customers/C-{last:05d}"), (ops, f"/utility/meters/M-{last:05d}"),
        (ops, "/utility/arrears"), (ops, "/utility/refused"),
        (ops, "/explorer/"), (ops, f"/explorer/blocks/{mid_block}"),
        (ops, f"/explorer/search?q={some_hash[:20]}&go=0"),
        (ops, f"/explorer/search?q=C-{last // 3:05d}&go=0"),
        (ops, "/api/v1/customers?limit=100"),
    ]
    results = {}
    for client, url in urls:
        results[url] = _time(client, url, n)
        say(f"  {url:58} p50 {results[url]['p50_ms']:7.1f} ms  p95 "
            f"{results[url]['p95_ms']:7.1f} ms")
    # The integrity check's local pass over this mirror (seals, chain, counts, state).
    t0 = time.perf_counter()
    local = services.integrity.check_local()
    local_s = time.perf_counter() - t0
    say(f"  integrity local check: {local.rows} rows, {local.blocks} blocks in {local_s:.1f} s"
        f" ({len(local.problems)} problems; complete={local.complete})")
    server.close()
    services.mirror.close()
    return {"counts": counts, "sqliteBytes": size, "latency": results,
            "integrityLocal": {"seconds": round(local_s, 1), "rows": local.rows,
                               "complete": local.complete, "problems": len(local.problems)}}


# -- part 2: catch-up from a real network ----------------------------------------------


def _make_blocks(net, blocks: int, say) -> int:
    """About ``blocks`` blocks of SubmitReadings (and the registrations before)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gridledger.clients.metering import Metering
    from gridledger.formats.reading import encode_reading, sign

    with gateway(net, "regulator") as gw:
        Metering(gw.network("energy")).set_tariff({
            "tariffId": "BENCH", "effectiveFrom": "2020-01-01T00:00:00Z", "currency": "VND",
            "currencyExponent": 0, "utcOffsetMinutes": 420,
            "tiers": [{"upToKwh": None, "pricePerKwh": 1984}], "taxes": []})
    keys = {}
    with gateway(net, "utility") as gw:
        metering = Metering(gw.network("energy"))
        meters = []
        for i in range(20):
            key = ec.generate_private_key(ec.SECP256R1())
            mid = f"CU-{i:03d}"
            keys[mid] = key
            meters.append({"meterId": mid, "curve": "P-256", "customerId": f"CC-{i:03d}",
                           "tariffId": "BENCH", "deviceProfile": "sim", "location": "x",
                           "installDate": "2026-01-01",
                           "publicKeyPem": key.public_key().public_bytes(
                               serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()})
        register_meters(metering, meters)
        base = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
        seq = dict.fromkeys(keys, 0)
        t0 = time.perf_counter()
        for b in range(blocks):
            commits = []
            for part in range(2):  # two batches in flight: about one block each round
                batch = []
                for mid in list(keys)[part * 10:(part + 1) * 10]:
                    seq[mid] += 1
                    r = {"meterId": mid, "seq": seq[mid],
                         "intervalEnd": (base + dt.timedelta(minutes=5 * seq[mid]))
                         .strftime("%Y-%m-%dT%H:%M:%SZ"), "importWh": 100 * seq[mid],
                         "exportWh": 0, "voltageDv": 2301, "currentMa": 4800, "powerW": 1100}
                    batch.append({"reading": r, "signature": sign(keys[mid],
                                                                  encode_reading(r))})
                commits.append(metering.submit_readings_async(batch))
            for c in commits:
                c.wait()
            if b % 50 == 49:
                say(f"  {b + 1} rounds of readings ({time.perf_counter() - t0:.0f} s)")
        info = gw.network("energy").contract("qscc").evaluate("GetChainInfo", "energy")
    from fabric_protos.common import ledger_pb2

    return int(ledger_pb2.BlockchainInfo.FromString(info).height)


def _catch_up(net, org: str, url: str, height: int) -> dict[str, Any]:
    from gridledger.webui.mirror import Listener, PeerSource

    mirror = Mirror.open(url, key=os.urandom(32))
    source = PeerSource(lambda: gateway(net, org), "energy")
    t0 = time.perf_counter()
    n = Listener(mirror.store, source).catch_up(height - 1)
    wall = time.perf_counter() - t0
    with mirror.sessions() as s:
        from sqlalchemy import func, select

        writes = s.scalar(select(func.count()).select_from(WriteRow))
        txs = s.scalar(select(func.count()).select_from(TransactionRow))
    source.close()
    mirror.close()
    return {"org": org, "database": url.split(":", 1)[0], "blocks": n,
            "seconds": round(wall, 2), "blocksPerSecond": round(n / wall, 1),
            "transactions": txs, "writes": writes, "writesPerSecond": round(writes / wall)}


def _decode_only(net, org: str, height: int) -> dict[str, Any]:
    from gridledger.webui.mirror import PeerSource

    source = PeerSource(lambda: gateway(net, org), "energy")
    t0 = time.perf_counter()
    n = sum(1 for item in source.blocks(0, height - 1)
            if decode(item.block, item.private_writes) is not None)
    wall = time.perf_counter() - t0
    source.close()
    return {"org": org, "blocks": n, "seconds": round(wall, 2),
            "blocksPerSecond": round(n / wall, 1)}


def part_catchup(args, say) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": []}
    with fresh_network() as net:
        say(f"making about {args.blocks} blocks of readings")
        height = _make_blocks(net, args.blocks, say)
        out["height"] = height
        tmp = Path(tempfile.mkdtemp(prefix="bench-catchup-"))
        for org in ("utility", "aggregator"):
            out["runs"].append({"decodeOnly": _decode_only(net, org, height)})
            run = _catch_up(net, org, f"sqlite:///{tmp / (org + '.sqlite')}", height)
            out["runs"].append(run)
            say(f"  {org:10} sqlite: {run['blocks']} blocks in {run['seconds']} s = "
                f"{run['blocksPerSecond']} blocks/s, {run['writesPerSecond']} writes/s")
        try:
            sys.path.insert(0, str(ROOT))
            from tests.unit.webui.portal.postgres import fresh_database, throwaway_cluster

            with throwaway_cluster() as cluster:
                run = _catch_up(net, "utility", fresh_database(cluster, "bench"), height)
                out["runs"].append(run)
                say(f"  utility    postgresql: {run['blocks']} blocks in {run['seconds']} s "
                    f"= {run['blocksPerSecond']} blocks/s, {run['writesPerSecond']} writes/s")
        except Exception as exc:  # no PostgreSQL here: the SQLite figures stand
            say(f"  PostgreSQL run skipped: {exc}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=["pages", "catchup", "all"], default="all")
    p.add_argument("--customers", type=int, default=1000)
    p.add_argument("--readings", type=int, default=1000, help="per customer's meter")
    p.add_argument("--requests", type=int, default=100, help="timed requests per URL")
    p.add_argument("--blocks", type=int, default=300, help="rounds of readings (catch-up)")
    args = p.parse_args()

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python":
                                          platform.python_version(),
                                          "load": os.getloadavg()}}
    if args.part in ("pages", "all"):
        report["pages"] = part_pages(args, say)
    if args.part in ("catchup", "all"):
        report["catchup"] = part_catchup(args, say)
    report["machine"]["loadAfter"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
