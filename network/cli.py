"""`gridledger network ...`: bring the consortium up, inspect it, take it down.

Commands that need the clients' layer (``network revoke`` speaks to a CA through
the clients package) are defined there and added to this group by the top-level
``gridledger`` command, so this package imports nothing above it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console
from rich.table import Table

from .consortium import Consortium
from .errors import NetworkError
from .layout import Layout, default_state_dir
from .topology import DEFAULT_TOPOLOGY, load

T = TypeVar("T")


def consortium(ctx: click.Context) -> Consortium:
    """The consortium the ``network`` group's options name (topology, state dir, offset)."""
    opts = ctx.obj
    topology = load(opts["topology"], port_offset=opts["port_offset"])
    return Consortium(topology, Layout(opts["state_dir"]))


@click.group()
@click.option(
    "--topology", type=click.Path(path_type=Path), default=DEFAULT_TOPOLOGY, show_default=True,
    help="Topology file naming organisations, nodes and ports.",
)  # fmt: skip
@click.option(
    "--state-dir", type=click.Path(path_type=Path), default=default_state_dir, show_default=True,
    help="Where generated crypto material, ledgers and logs live (env GRIDLEDGER_STATE).",
)  # fmt: skip
@click.option("--port-offset", type=int, default=0, help="Shift every port (a second network).")
@click.pass_context
def network(ctx: click.Context, topology: Path, state_dir: Path, port_offset: int) -> None:
    """The consortium network: three organisations, each with a CA, a peer and an orderer."""
    ctx.obj = {"topology": topology, "state_dir": state_dir, "port_offset": port_offset}


def run_or_exit(fn: Callable[[], T]) -> T:
    """Run ``fn``; a NetworkError becomes one red line on stderr and exit status 1."""
    # Errors a user meets and can act on: shown as one clear message, no traceback.
    try:
        return fn()
    except NetworkError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)


@network.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Generate what is missing, start every node, create the channels, deploy chaincode."""
    run_or_exit(lambda: consortium(ctx).up())


@network.command()
@click.option("--build", is_flag=True, help="Build what is missing now (as `up` would).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def binaries(build: bool, as_json: bool) -> None:
    """Where each Fabric tool comes from (env, cache, PATH, source build), and what is missing."""
    from .binaries import ensure_all, locate

    if build:
        run_or_exit(ensure_all)
    located = locate()
    if as_json:
        click.echo(json.dumps([{
            "name": loc.name, "tools": list(loc.tools), "found": loc.found,
            "directory": str(loc.directory) if loc.directory else None, "origin": loc.origin,
            "version": loc.version, "detail": loc.detail, "fix": loc.fix, **loc.extra,
        } for loc in located], indent=2))  # fmt: skip
    else:
        for loc in located:
            head = f"{loc.name} ({', '.join(loc.tools)})"
            if loc.found:
                click.echo(f"{head}: {loc.version or 'version not reported'}, from {loc.origin}")
                click.echo(f"  {loc.directory}")
                if loc.detail:
                    click.echo(f"  {loc.detail}")
            else:
                click.secho(f"{head}: missing", fg="red")
                click.echo(f"  {loc.fix}")
    if not all(loc.found for loc in located):
        sys.exit(1)


@network.command()
@click.option("--purge", is_flag=True, help="Also delete ledgers, crypto material and logs.")
@click.pass_context
def down(ctx: click.Context, purge: bool) -> None:
    """Stop every process the network started (ledgers are kept unless --purge)."""
    run_or_exit(lambda: consortium(ctx).down(purge=purge))
    click.echo("network stopped" + (" and its state removed" if purge else "; ledgers kept"))


@network.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Each node's health, peer block heights and Raft leaders per channel, committed chaincodes."""
    report = run_or_exit(lambda: consortium(ctx).status())
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console = Console()
    table = Table(title=f"GridLedger network ({report['state_dir']})")
    for col in ("node", "org", "process", "health", "ports", "detail"):
        table.add_column(col)
    for n in report["nodes"]:
        detail = []
        if n.get("heights"):
            detail.append("height " + ", ".join(f"{c} {h}" for c, h in n["heights"].items()))
        raft = n.get("raft") or {}
        if leads := [c for c, r in raft.items() if r["leader"]]:
            detail.append(f"Raft leader of {', '.join(leads)}")
        if sizes := {r["cluster_size"] for r in raft.values() if r["cluster_size"]}:
            detail.append(f"cluster of {'/'.join(map(str, sorted(sizes)))}")
        table.add_row(
            n["name"], n["org"], n["process"], n.get("health", "-"),
            ",".join(map(str, n["ports"])), "; ".join(detail),
        )  # fmt: skip
    console.print(table)
    for cc in report["chaincodes"]:
        if "sequence" in cc:
            console.print(
                f"chaincode [bold]{cc['name']}[/] on {cc['channel']} v{cc['version']} "
                f"seq {cc['sequence']}: {cc['endorsement_policy']}"
            )
        if pending := cc.get("pending"):
            approved = ", ".join(m for m, ok in pending["approvals"].items() if ok) or "nobody"
            console.print(f"  pending {cc['name']} v{pending['version']} seq "
                          f"{pending['sequence']} on {cc['channel']}: approved by {approved}")
    for warning in report.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}")


@network.command()
@click.argument("node")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", default=50, show_default=True)
@click.pass_context
def logs(ctx: click.Context, node: str, follow: bool, lines: int) -> None:
    """Show a node's log (e.g. peer0-utility, orderer0-regulator, ca-aggregator)."""
    path = run_or_exit(lambda: consortium(ctx).log_path(node))
    cmd = ["tail", "-n", str(lines)] + (["-F"] if follow else []) + [str(path)]
    os.execvp(cmd[0], cmd) if follow else subprocess.run(cmd, check=False)
