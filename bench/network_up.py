"""Benchmark: time of `network up` from cold (binaries cached) and idle resident memory.

Runs a fresh network in a temporary state directory with a port offset (so a running
main network is untouched), measures, and purges it again.

    .venv/bin/python bench/network_up.py [--idle-seconds 60] [--port-offset 2000]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import psutil

from gridledger.network.consortium import Consortium
from gridledger.network.layout import Layout
from gridledger.network.topology import load


def tree_rss(pid: int) -> dict[str, int]:
    """Resident bytes of a process and its descendants, by process name."""
    root = psutil.Process(pid)
    out: dict[str, int] = {}
    for p in [root, *root.children(recursive=True)]:
        try:
            name = " ".join(p.cmdline()[:3])[-60:] or p.name()
            out[f"{p.pid} {name}"] = p.memory_info().rss
        except psutil.Error:
            pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--port-offset", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        net = Consortium(load(port_offset=args.port_offset), Layout(Path(tmp) / "state"))
        _ = net.bins  # resolve binaries first: the figure is for a cold network, warm cache
        t0 = time.perf_counter()
        net.up()
        up_s = time.perf_counter() - t0
        try:
            time.sleep(args.idle_seconds)
            # Each member's nodes run under its own supervisord.
            rss = {}
            for member in net.members:
                pid = int((member.layout.supervisor / "supervisord.pid").read_text())
                rss.update(tree_rss(pid))
            cpu0 = sum(psutil.Process(int(k.split()[0])).cpu_times().user for k in rss)
            time.sleep(10)
            cpu1 = sum(psutil.Process(int(k.split()[0])).cpu_times().user for k in rss)
        finally:
            net.down(purge=True)
    total = sum(rss.values())
    print(f"machine: {platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB")
    print(f"network up from cold (binaries cached): {up_s:.1f} s")
    print(f"idle resident memory after {args.idle_seconds:.0f} s: {total / 2**20:.0f} MiB "
          f"in {len(rss)} processes")
    print(f"idle CPU (user) over 10 s: {(cpu1 - cpu0) / 10 * 100:.1f} % of one core")
    for name, b in sorted(rss.items(), key=lambda kv: -kv[1]):
        print(f"  {b / 2**20:7.1f} MiB  {name}")


if __name__ == "__main__":
    main()
