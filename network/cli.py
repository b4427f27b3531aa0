"""`gridledger network ...`: bring the consortium up, inspect it, take it down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .binaries import BinaryError
from .channel import ChannelError
from .consortium import Consortium, NetworkError
from .enroll import EnrollError
from .fabric_cli import FabricCommandError
from .health import PortInUseError
from .layout import Layout, default_state_dir
from .lifecycle import LifecycleError
from .supervisor import SupervisorError
from .topology import DEFAULT_TOPOLOGY, TopologyError, load

# Errors a user meets and can act on: shown as one clear message, no traceback.
USER_ERRORS = (
    BinaryError,
    ChannelError,
    LifecycleError,
    NetworkError,
    EnrollError,
    FabricCommandError,
    PortInUseError,
    SupervisorError,
    TopologyError,
)


def consortium(ctx: click.Context) -> Consortium:
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


def _run(fn):
    try:
        return fn()
    except USER_ERRORS as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)


@network.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Generate what is missing, start every node, create the channel, deploy chaincode."""
    _run(lambda: consortium(ctx).up())


@network.command()
@click.option("--build", is_flag=True, help="Build what is missing now (as `up` would).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def binaries(build: bool, as_json: bool) -> None:
    """Where each Fabric tool comes from (env, cache, PATH, source build), and what is missing."""
    from .binaries import ensure_all, locate

    if build:
        _run(ensure_all)
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
    _run(lambda: consortium(ctx).down(purge=purge))
    click.echo("network stopped" + (" and its state removed" if purge else "; ledgers kept"))


@network.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Each node's health, peer block heights, the Raft leader, committed chaincodes."""
    report = _run(lambda: consortium(ctx).status())
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console = Console()
    table = Table(title=f"GridLedger network ({report['state_dir']})")
    for col in ("node", "org", "process", "health", "ports", "detail"):
        table.add_column(col)
    for n in report["nodes"]:
        detail = []
        if "height" in n:
            detail.append(f"height {n['height']}")
        if n.get("raft_leader"):
            detail.append("Raft leader")
        if n.get("raft_cluster_size"):
            detail.append(f"cluster of {n['raft_cluster_size']}")
        table.add_row(
            n["name"], n["org"], n["process"], n.get("health", "-"),
            ",".join(map(str, n["ports"])), "; ".join(detail),
        )  # fmt: skip
    console.print(table)
    for cc in report["chaincodes"]:
        console.print(
            f"chaincode [bold]{cc['name']}[/] v{cc['version']} seq {cc['sequence']}: "
            f"{cc['endorsement_policy']}"
        )


@network.command()
@click.argument("node")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", default=50, show_default=True)
@click.pass_context
def logs(ctx: click.Context, node: str, follow: bool, lines: int) -> None:
    """Show a node's log (e.g. peer0-utility, orderer0-regulator, ca-aggregator)."""
    path = _run(lambda: consortium(ctx).log_path(node))
    cmd = ["tail", "-n", str(lines)] + (["-F"] if follow else []) + [str(path)]
    os.execvp(cmd[0], cmd) if follow else subprocess.run(cmd, check=False)


@network.command()
@click.argument("org")
@click.argument("name")
@click.option("--reason", default="unspecified", show_default=True,
              help="RFC 5280 reason, e.g. keycompromise, superseded, cessationofoperation.")
@click.pass_context
def revoke(ctx: click.Context, org: str, name: str, reason: str) -> None:
    """Revoke NAME at ORG's CA and publish the CRL to the channel, so every peer refuses it."""
    from gridledger.clients.errors import GridLedgerError
    from gridledger.clients.session import Session

    from .crl import CRLError, publish_crl

    net = consortium(ctx)
    session = Session(net.layout.root, org)
    try:
        registrar = session.registrar()
        with session.ca() as ca:
            revocation = ca.revoke(registrar, name, reason=reason, gencrl=True)
        if not revocation.crl:
            raise CRLError(f"{org}'s CA revoked no certificate of {name} (never enrolled?); "
                           "nothing to publish")
        click.echo(f"revoked {len(revocation.revoked)} certificate(s) of {name} at {org}'s CA")
        block = _run(lambda: publish_crl(net, org, revocation.crl))
    except (GridLedgerError, CRLError) as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"CRL in config block {block}; every peer now refuses those certificates")
