"""What the members' operations cost (issue 18): time per step, and the pause in commits
they cause, on a fresh network of its own (ports +2000).

A writer thread submits `health` Put through the Utility's Gateway (which picks the
endorsers) one after another for the whole run; for each operation we report its wall time
and the longest gap between two commits while it ran (the "pause in commits"), and how
many writes had to be retried.

    .venv/bin/python bench/operations.py
"""

from __future__ import annotations

import itertools
import platform
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psutil
import yaml
from common import BENCH_PORT_OFFSET, fresh_network

from gridledger.clients.errors import GridLedgerError
from gridledger.clients.session import Session
from gridledger.network import backup, lifecycle, renewal
from gridledger.network import config_update as cu
from gridledger.network.layout import Layout
from gridledger.network.member import Member
from gridledger.network.topology import DEFAULT_TOPOLOGY, load

CHANNEL = "energy"


class Writer(threading.Thread):
    def __init__(self, root: Path):
        super().__init__(daemon=True)
        self.root, self.stop = root, threading.Event()
        self.commits: list[float] = []
        self.retries = 0

    def run(self) -> None:
        with Session(self.root, "utility").gateway() as gateway:
            contract = gateway.network(CHANNEL).contract("health")
            while not self.stop.is_set():
                try:
                    contract.submit("Put", f"op-{uuid.uuid4().hex[:8]}", "v")
                    self.commits.append(time.monotonic())
                except GridLedgerError:
                    self.retries += 1
                    self.stop.wait(0.5)

    def gap(self, start: float, end: float) -> float:
        """The longest time without a commit between ``start`` and ``end``."""
        times = [start, *(t for t in self.commits if start <= t <= end), end]
        return max(b - a for a, b in itertools.pairwise(times))


def timed(writer: Writer, rows: list, name: str, step: Callable[[], object]) -> object:
    retries = writer.retries
    t0 = time.monotonic()
    result = step()
    t1 = time.monotonic()
    rows.append((name, t1 - t0, writer.gap(t0, t1), writer.retries - retries))
    print(f"{name}: {t1 - t0:.1f} s, longest gap in commits {writer.gap(t0, t1):.1f} s",
          flush=True)
    return result


def main() -> None:
    rows: list = []
    with fresh_network() as net, tempfile.TemporaryDirectory() as tmp:
        mailbox = Path(tmp)
        utility, regulator, aggregator = (net.member(o) for o in
                                          ("utility", "regulator", "aggregator"))
        writer = Writer(net.layout.root)
        writer.start()
        time.sleep(3)
        try:
            path = mailbox / "batch.update"
            timed(writer, rows, "config update: propose (fetch, change, configtxlator)",
                  lambda: cu.propose(utility.admin, CHANNEL, cu.set_batch(timeout="150ms"),
                                     path))
            timed(writer, rows, "config update: one member signs",
                  lambda: cu.sign(regulator.admin, path))
            timed(writer, rows, "config update: submit until the config block is cut",
                  lambda: cu.submit(utility.admin, path))

            health = net.topology.chaincode("health")
            committed = lifecycle.query_committed(utility.admin, CHANNEL, "health")
            cc = replace(health, sequence=committed.sequence + 1)
            for m in (utility, regulator, aggregator):
                timed(writer, rows, f"chaincode approve ({m.name})",
                      lambda m=m: m.approve(CHANNEL, cc))
            timed(writer, rows, "chaincode commit (two endorsements, wait for the event)",
                  lambda: utility.commit(CHANNEL, cc))

            archive = mailbox / "peer.tar.gz"
            done = timed(writer, rows, "backup of the Regulator's peer (stopped, copied, "
                         "restarted)", lambda: backup.backup(regulator, "peer", archive))
            print(f"  archive {done.bytes / 2**20:.1f} MiB, peer stopped "
                  f"{done.seconds_stopped:.1f} s")
            time.sleep(5)
            timed(writer, rows, "restore of the Regulator's peer until caught up",
                  lambda: backup.restore(regulator, "peer", archive))

            timed(writer, rows, "renewal of all the Regulator's certificates (8 re-enrolled, "
                  "peer, orderer and 3 chaincode servers restarted one by one)",
                  lambda: renewal.renew(regulator, every=True))

            newcomer = _newcomer(Path(tmp) / "newcomer")
            definition = timed(writer, rows, "fourth member: org init (CA, identities)",
                               newcomer.init)
            for m in (utility, regulator, aggregator):
                m.add_definition(newcomer.layout.definition_file)
                newcomer.add_definition(m.layout.definition_file)
            add = mailbox / "add.update"
            timed(writer, rows, "fourth member: config update proposed, signed by two, "
                  "submitted", lambda: (
                      cu.propose(utility.admin, CHANNEL, cu.add_member(
                          utility.bins, utility.layout, utility.definitions(), definition), add),
                      cu.sign(utility.admin, add), cu.sign(regulator.admin, add),
                      cu.submit(utility.admin, add)))
            block = utility.fetch_config_block(CHANNEL, mailbox / "config.block")
            timed(writer, rows, "fourth member: nodes started, orderer joined and active",
                  lambda: (newcomer.start(), newcomer.join_orderer(CHANNEL, block),
                           newcomer.wait_orderer(CHANNEL, timeout=180)))
            snap = timed(writer, rows, "fourth member: snapshot of the Utility's peer",
                         lambda: utility.snapshot(CHANNEL))
            copy = mailbox / "snapshot"
            shutil.copytree(snap, copy)
            timed(writer, rows, "fourth member: peer joined from the snapshot",
                  lambda: newcomer.join_peer_from_snapshot(CHANNEL, copy))
            newcomer.down(purge=True)
        finally:
            writer.stop.set()
            writer.join(timeout=30)
    print(f"\nmachine: {platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; writer: {len(writer.commits)} "
          f"commits, {writer.retries} retried")
    print("| operation | time | longest gap in commits | writes retried |")
    print("|---|---|---|---|")
    for name, seconds, gap, retried in rows:
        print(f"| {name} | {seconds:.1f} s | {gap:.1f} s | {retried} |")


def _newcomer(root: Path) -> Member:
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    raw["organisations"].append({
        "name": "aggregator2", "msp_id": "Aggregator2MSP", "host": "127.0.4.1",
        "ca": {"port": 7454, "operations_port": 7457},
        "peer": {"name": "peer0", "port": 7451, "chaincode_port": 7452,
                 "operations_port": 7455},
        "orderer": {"name": "orderer0", "port": 7450, "admin_port": 7453,
                    "operations_port": 7456},
        "chaincode_server": {"port": 7458},
    })
    path = root.parent / "topology-four.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return Member(load(path, port_offset=BENCH_PORT_OFFSET), "aggregator2", Layout(root))


if __name__ == "__main__":
    main()
