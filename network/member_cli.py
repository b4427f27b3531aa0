"""`gridledger org | channel | lifecycle ...`: what one member's operator runs on its host.

Every command acts as one organisation, from that organisation's state directory
(``--state-dir``; on a machine that holds several members' directories side by side, as
``make run`` makes them, the consortium's directory and ``--org``).  What the members
exchange are files: definitions (``org definition``), genesis blocks (``channel
genesis``) and config updates (``channel update propose | sign | submit``).  The runbook,
step by step and member by member, is docs/operations.md.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import click

from . import config_update as cu
from .cli import run_or_exit
from .layout import ConsortiumLayout, Layout, default_state_dir, open_layout
from .member import Member
from .topology import DEFAULT_TOPOLOGY, load


def member_options(fn: Callable) -> Callable:
    """The options that say which member acts: its state directory, its name, the topology."""
    fn = click.option("--port-offset", type=int, default=0,
                      help="Shift every port (a second network).")(fn)
    fn = click.option("--topology", type=click.Path(path_type=Path), default=DEFAULT_TOPOLOGY,
                      show_default=True, help="Topology file naming the nodes and ports.")(fn)
    fn = click.option("--org", default=None,
                      help="The organisation acting (recorded in its state directory once "
                           "initialised; needed where several members' directories share one).")(fn)
    return click.option(
        "--state-dir", type=click.Path(path_type=Path), default=default_state_dir,
        show_default=True, help="This member's state directory (env GRIDLEDGER_STATE).")(fn)


def open_member(state_dir: Path, org: str | None, topology: Path, port_offset: int) -> Member:
    """The member acting: from ``--org`` or what its state directory records."""
    topo = run_or_exit(lambda: load(topology, port_offset=port_offset))
    layout = open_layout(state_dir)
    if isinstance(layout, ConsortiumLayout):
        if not org:
            names = ", ".join(layout.member_names()) or "none yet"
            raise click.UsageError(f"{state_dir} holds several members' state directories "
                                   f"({names}): say which acts with --org")
        layout = layout.member(run_or_exit(lambda: topo.org(org)).name)
    recorded = None
    with contextlib.suppress(FileNotFoundError, ValueError):
        recorded = json.loads(layout.state_file.read_text()).get("org")
    name = org or recorded
    if not name:
        raise click.UsageError(f"{state_dir} holds no member yet: `gridledger org init ORG`")
    return run_or_exit(lambda: Member(topo, topo.org(name).name, Layout(layout.root)))


# -- gridledger org ---------------------------------------------------------------------------


@click.group()
def org() -> None:
    """This organisation's own nodes, keys and definition."""


@org.command("init")
@click.argument("name")
@member_options
def org_init(name: str, state_dir: Path, org: str | None, topology: Path,
             port_offset: int) -> None:
    """Create NAME's CA, identities and state directory; write its public definition."""
    if org and org != name:
        raise click.UsageError(f"--org {org} and NAME {name} disagree")
    member = open_member(state_dir, name, topology, port_offset)
    run_or_exit(member.init)
    click.echo(f"{member.name} initialised in {member.layout.root}")
    click.echo(f"public definition: {member.layout.definition_file} (hand it to the other members)")


@org.command("definition")
@click.option("--out", type=click.Path(path_type=Path), help="Write it here (default: stdout).")
@member_options
def org_definition(out: Path | None, **opts) -> None:
    """This organisation's public definition (certificates and endpoints, no key)."""
    definition = run_or_exit(open_member(**opts).definition)
    if out:
        definition.save(out)
        click.echo(f"written to {out}")
    else:
        click.echo(definition.to_json(), nl=False)


@org.command("add-member")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@member_options
def org_add_member(files: tuple[Path, ...], **opts) -> None:
    """Take in other members' definition FILES (checked: certificates only, consistent)."""
    member = open_member(**opts)
    for path in files:
        d = run_or_exit(lambda p=path: member.add_definition(p))
        click.echo(f"{member.name} now knows {d.name} ({d.msp_id}): peer {d.anchor_peer.address}, "
                   f"orderer {d.orderer.address}")


@org.command("start")
@member_options
def org_start(**opts) -> None:
    """Start this organisation's nodes that are not running."""
    run_or_exit(open_member(**opts).start)


@org.command("stop")
@member_options
def org_stop(**opts) -> None:
    """Stop this organisation's nodes (its ledgers and keys are kept)."""
    run_or_exit(open_member(**opts).down)


@org.command("backup")
@click.argument("kind", type=click.Choice(["peer", "orderer"]))
@click.option("--out", type=click.Path(path_type=Path), required=True)
@member_options
def org_backup(kind: str, out: Path, **opts) -> None:
    """Back up our KIND node's ledger (it stops for the copy; the others go on)."""
    from . import backup

    done = run_or_exit(lambda: backup.backup(open_member(**opts), kind, out))
    click.echo(f"{done.node}: {done.bytes / 2**20:.1f} MiB in {out}, heights {done.heights}, "
               f"stopped {done.seconds_stopped:.1f}s")


@org.command("restore")
@click.argument("kind", type=click.Choice(["peer", "orderer"]))
@click.argument("archive", type=click.Path(exists=True, path_type=Path))
@member_options
def org_restore(kind: str, archive: Path, **opts) -> None:
    """Restore our KIND node's ledger from ARCHIVE and wait until it has caught up."""
    from . import backup

    heights = run_or_exit(lambda: backup.restore(open_member(**opts), kind, archive))
    click.echo(f"restored and caught up: heights {heights}")


@org.command("renew")
@click.option("--within-days", type=float, default=30, show_default=True,
              help="Renew each certificate that expires within this many days.")
@click.option("--all", "every", is_flag=True, help="Renew every certificate of ours.")
@member_options
def org_renew(within_days: float, every: bool, **opts) -> None:
    """Renew our certificates before they expire; restart our nodes one at a time."""
    from datetime import timedelta

    from . import renewal

    member = open_member(**opts)
    done = run_or_exit(lambda: renewal.renew(member, timedelta(days=within_days), every))
    for r in done:
        click.echo(f"{r.identity} {r.kind}: valid until {r.not_after:%Y-%m-%d %H:%M} UTC "
                   f"(was {r.not_after_before:%Y-%m-%d %H:%M})")
    if not done:
        click.echo(f"nothing expires within {within_days:g} days")


@org.command("ca-lifetime")
@click.option("--expiry", required=True, help="Enrollment certificates (e.g. 8760h).")
@click.option("--tls-expiry", default=None, help="TLS certificates (default: --expiry).")
@member_options
def org_ca_lifetime(expiry: str, tls_expiry: str | None, **opts) -> None:
    """How long the certificates our CA issues from now on last (restarts the CA)."""
    from . import renewal

    changed = run_or_exit(lambda: renewal.set_lifetime(open_member(**opts), expiry, tls_expiry))
    click.echo(f"certificates now last {expiry}" + ("" if changed else " (unchanged)"))


# -- gridledger channel ----------------------------------------------------------------------


@click.group()
def channel() -> None:
    """Channels: create one from the members' definitions, join it, change it by majority."""


@channel.command("genesis")
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@member_options
def channel_genesis(name: str, out: Path, **opts) -> None:
    """(A founder) make channel NAME's genesis block from every founder's definition."""
    import shutil

    block = run_or_exit(lambda: open_member(**opts).genesis_block(name))
    shutil.copy(block, out)
    click.echo(f"genesis block of {name} written to {out} (hand it to the other founders)")


@channel.command("join")
@click.argument("name")
@click.argument("block", type=click.Path(exists=True, path_type=Path))
@click.option("--peer-snapshot", type=click.Path(exists=True, path_type=Path),
              help="Join our peer from this ledger snapshot (a member joining a running "
                   "channel; BLOCK is then its latest config block).")
@member_options
def channel_join(name: str, block: Path, peer_snapshot: Path | None, **opts) -> None:
    """Join our orderer, then our peer, to channel NAME from its BLOCK."""
    member = open_member(**opts)
    run_or_exit(lambda: member.join_orderer(name, block))
    run_or_exit(lambda: member.wait_orderer(name, timeout=180))
    if peer_snapshot:
        run_or_exit(lambda: member.join_peer_from_snapshot(name, peer_snapshot))
    else:
        run_or_exit(lambda: member.join_peer(name, block))
    run_or_exit(member.write_connection_profile)
    click.echo(f"{member.name}'s orderer and peer joined {name}")


@channel.command("fetch-config")
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@member_options
def channel_fetch_config(name: str, out: Path, **opts) -> None:
    """Write channel NAME's latest config block to --out (a joining member's orderer
    joins from it)."""
    run_or_exit(lambda: open_member(**opts).fetch_config_block(name, out))
    click.echo(f"config block of {name} written to {out}")


@channel.command("snapshot")
@click.argument("name")
@member_options
def channel_snapshot(name: str, **opts) -> None:
    """Have our peer write a snapshot of channel NAME's ledger; print its directory."""
    click.echo(str(run_or_exit(lambda: open_member(**opts).snapshot(name))))


@channel.group("update")
def update() -> None:
    """A config update as a file: propose, show, sign (each member), submit."""


@update.command("propose")
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--batch-timeout", help="Orderers cut a block after this long (e.g. 250ms).")
@click.option("--max-message-count", type=int, help="At most this many transactions a block.")
@click.option("--add-member", "new_member", type=click.Path(exists=True, path_type=Path),
              help="Add the organisation of this definition file (taken in first with "
                   "`org add-member`): its peers, its orderer as a consenter.")
@member_options
def update_propose(name: str, out: Path, batch_timeout: str | None,
                   max_message_count: int | None, new_member: Path | None, **opts) -> None:
    """Write the update of channel NAME to --out, unsigned: each member signs it."""
    batch = batch_timeout is not None or max_message_count is not None
    if batch == bool(new_member):
        raise click.UsageError("say what to change: --batch-timeout/--max-message-count, "
                               "or --add-member (one kind of change per update)")
    member = open_member(**opts)
    if new_member:
        from .definition import load as load_definition

        definition = run_or_exit(lambda: load_definition(new_member))
        if definition.name not in {d.name for d in run_or_exit(member.definitions)}:
            raise click.UsageError(f"take in {new_member} first: `gridledger org add-member`")
        change = run_or_exit(lambda: cu.add_member(member.bins, member.layout, member.definitions(),
                                            definition))
    else:
        change = run_or_exit(lambda: cu.set_batch(batch_timeout, max_message_count))
    _show(run_or_exit(lambda: cu.propose(member.admin, name, change, out)), out)


@update.command("show")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def update_show(file: Path) -> None:
    """What an update FILE changes, and who has signed it."""
    _show(run_or_exit(lambda: cu.describe(file)), file)


@update.command("sign")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@member_options
def update_sign(file: Path, **opts) -> None:
    """Add our admin's signature to FILE (read `show` first: you sign what it changes)."""
    _show(run_or_exit(lambda: cu.sign(open_member(**opts).admin, file)), file)


@update.command("submit")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@member_options
def update_submit(file: Path, **opts) -> None:
    """Submit FILE to our orderer; refused with Fabric's reason if too few have signed."""
    number = run_or_exit(lambda: cu.submit(open_member(**opts).admin, file))
    click.echo(f"applied: config block {number}")


def _show(described: cu.UpdateFile, path: Path) -> None:
    click.echo(f"{path}: update of channel {described.channel}")
    for change in described.changes:
        click.echo(f"  changes {change}")
    click.echo(f"  signed by: {', '.join(described.signers) or 'nobody yet'}")


# -- gridledger chaincode ---------------------------------------------------------------------


@click.group("lifecycle")
def lifecycle_group() -> None:
    """Chaincode lifecycle, member by member: install, approve, commit, status."""


def _definition(member: Member, name: str, sequence: int | None, version: str | None):
    from dataclasses import replace

    cc = run_or_exit(lambda: member.topology.chaincode(name))
    if sequence is not None or version is not None:
        cc = replace(cc, sequence=sequence or cc.sequence, version=version or cc.version)
    return cc


def chaincode_options(fn: Callable) -> Callable:
    fn = click.option("--version", default=None, help="Default: the topology's.")(fn)
    fn = click.option("--sequence", type=int, default=None, help="Default: the topology's.")(fn)
    fn = click.option("--channel", "on", default=None, help="Default: each of its channels.")(fn)
    return click.argument("name")(fn)


@lifecycle_group.command("install")
@click.argument("name")
@member_options
def chaincode_install(name: str, **opts) -> None:
    """Install NAME on our peer and start our server for it."""
    member = open_member(**opts)
    package_id = run_or_exit(lambda: member.install(_definition(member, name, None, None)))
    click.echo(f"installed on {member.org.peer.id}: {package_id}")


@lifecycle_group.command("approve")
@chaincode_options
@member_options
def chaincode_approve(name: str, on: str | None, sequence: int | None, version: str | None,
                      **opts) -> None:
    """Approve NAME's definition for our organisation."""
    member = open_member(**opts)
    cc = _definition(member, name, sequence, version)
    for ch in [on] if on else cc.channels:
        run_or_exit(lambda ch=ch: member.approve(ch, cc))
        click.echo(f"{member.org.msp_id} approved {cc.name} sequence {cc.sequence} on {ch}")


@lifecycle_group.command("commit")
@chaincode_options
@member_options
def chaincode_commit(name: str, on: str | None, sequence: int | None, version: str | None,
                     **opts) -> None:
    """Commit NAME's definition; refused until a majority of members has approved it."""
    member = open_member(**opts)
    cc = _definition(member, name, sequence, version)
    for ch in [on] if on else cc.channels:
        run_or_exit(lambda ch=ch: member.commit(ch, cc))
        click.echo(f"{cc.name} sequence {cc.sequence} committed on {ch}")


@lifecycle_group.command("status")
@chaincode_options
@member_options
def chaincode_status(name: str, on: str | None, sequence: int | None, version: str | None,
                     **opts) -> None:
    """Who has approved NAME's definition (at --sequence), and what is committed."""
    from . import lifecycle

    member = open_member(**opts)
    cc = _definition(member, name, sequence, version)
    for ch in [on] if on else cc.channels:
        committed = run_or_exit(lambda ch=ch: lifecycle.query_committed(member.admin, ch, cc.name))
        have = f"sequence {committed.sequence} (v{committed.version})" if committed else "nothing"
        click.echo(f"{cc.name} on {ch}: committed {have}")
        if committed is None or committed.sequence < cc.sequence:
            approvals = run_or_exit(lambda ch=ch: member.approvals(ch, cc))
            listed = ", ".join(f"{m} {'yes' if ok else 'no'}" for m, ok in approvals.items())
            click.echo(f"  sequence {cc.sequence} approvals: {listed}")


COMMANDS = (org, channel, lifecycle_group)
