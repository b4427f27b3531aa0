"""`gridledger identity|chaincode|events|block ...`: the ledger from a terminal.

Tables and progress for people, ``--json`` for scripts. Every command acts as one
identity of one organisation (``--org``, ``--identity``), found through the network's
state directory (``--state-dir``); the options are in :mod:`.cli_options`.

``gridledger network revoke`` is here too: it speaks to the CA through this package, so
the top-level command adds it to the ``network`` group (:data:`NETWORK_COMMANDS`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from gridledger.network.cli import consortium
from gridledger.network.cli import up as network_up
from gridledger.network.crl import CRLError
from gridledger.network.crl_publish import publish_crl

from . import ledger_init
from .blocks import iso
from .cli_options import channel_option, common, console, emit, fail
from .errors import CommitError, GridLedgerError
from .events import FileCheckpoint
from .session import PASSPHRASE_ENV, Session


def _decode(result: bytes) -> Any:
    try:
        return json.loads(result)
    except ValueError:
        return result.decode("utf-8", "replace")


# -- identity --------------------------------------------------------------------------


@click.group()
def identity() -> None:
    """Register and enroll identities at an organisation's CA; list the wallet."""


@identity.command()
@click.argument("name")
@click.option("--type", "id_type", default="client", show_default=True,
              type=click.Choice(["client", "admin", "peer", "orderer"]))
@click.option("--attr", "attrs", multiple=True, metavar="NAME=VALUE",
              help="Attribute put in the certificate (e.g. role=customer). Repeatable.")
@click.option("--secret", help="Enrollment secret (the CA makes one if omitted).")
@common
def register(session: Session, name: str, id_type: str, attrs: tuple[str, ...],
             secret: str | None, label: str, as_json: bool) -> None:
    """Register NAME at the organisation's CA (as its registrar); print the secret."""
    attributes = []
    for a in attrs:
        key, sep, value = a.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{a!r}: use NAME=VALUE", param_hint="--attr")
        attributes.append((key, value, True))
    registrar = session.registrar()
    with session.ca() as ca:
        secret = ca.register(registrar, name, secret=secret, type=id_type,
                             attributes=attributes)
    emit(as_json, {"name": name, "secret": secret, "org": session.org},
         lambda: click.echo(f"registered {name} at {session.org}'s CA; secret: {secret}"))


@identity.command()
@click.argument("name")
@click.option("--secret", required=True, prompt=True, hide_input=True)
@click.option("--label", "as_label", help="Wallet label (default: NAME).")
@click.option("--encrypt", is_flag=True,
              help="Encrypt the key with the passphrase in GRIDLEDGER_WALLET_PASSPHRASE.")
@common
def enroll(session: Session, name: str, secret: str, as_label: str | None, encrypt: bool,
           label: str, as_json: bool) -> None:
    """Enroll NAME with its secret; keep the certificate and key in the wallet."""
    passphrase = os.environ.get(PASSPHRASE_ENV) if encrypt else None
    if encrypt and not passphrase:
        raise click.UsageError(f"--encrypt needs the passphrase in {PASSPHRASE_ENV}")
    with session.ca() as ca:
        enrollment = ca.enroll(name, secret)
    entry = session.wallet.put(as_label or name, session.msp_id, enrollment,
                               passphrase=passphrase)
    emit(as_json, {"label": entry.label, "mspId": entry.msp_id,
                   "attributes": enrollment.attributes},
         lambda: click.echo(f"enrolled {name} as {entry.label} ({entry.msp_id}) into "
                            f"{session.wallet.path}"))


@identity.command("list")
@common
def list_identities(session: Session, label: str, as_json: bool) -> None:
    """The identities in the wallet (never their keys)."""
    entries = session.wallet.list()

    def human() -> None:
        table = Table(title=f"wallet {session.wallet.path}")
        for col in ("label", "MSP", "name", "role", "expires", "encrypted"):
            table.add_column(col)
        for e in entries:
            table.add_row(e.label, e.msp_id, e.enrollment_id, e.role,
                          str(e.not_after)[:19], "yes" if e.encrypted else "no")
        Console().print(table)

    emit(as_json, [e.__dict__ for e in entries], human)


# -- chaincode -------------------------------------------------------------------------


def _arguments(args: tuple[str, ...], json_args: str | None) -> list[str]:
    if json_args is None:
        return list(args)
    try:
        values = json.loads(json_args)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--args") from None
    if not isinstance(values, list):
        raise click.BadParameter("must be a JSON array", param_hint="--args")
    # Strings pass as they are; anything else as its JSON text.
    return [*args, *(v if isinstance(v, str) else json.dumps(v) for v in values)]


def _chaincode_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.argument("args", nargs=-1)(fn)
    fn = click.argument("function")(fn)
    fn = click.argument("chaincode")(fn)
    fn = click.option("--args", "json_args", metavar="JSON",
                      help='Arguments as a JSON array, e.g. \'["M-1", {"seq": 1}]\'.')(fn)
    fn = click.option("--transient", "transient", multiple=True, metavar="KEY=VALUE",
                      help="Private (transient) data, not written to the ledger.")(fn)
    return fn


def _transient(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use KEY=VALUE", param_hint="--transient")
        out[key] = value
    return out


@click.group()
def chaincode() -> None:
    """Invoke (submit) or query (evaluate) any chaincode function."""


@chaincode.command()
@_chaincode_options
@click.option("--endorsing-org", "endorsers", multiple=True, metavar="MSPID",
              help="Endorse only on these organisations' peers.")
@channel_option
@common
def invoke(session: Session, chaincode: str, function: str, args: tuple[str, ...],
           json_args: str | None, transient: tuple[str, ...], endorsers: tuple[str, ...],
           channel: str, label: str, as_json: bool) -> None:
    """Submit FUNCTION of CHAINCODE and wait for its commit."""
    with session.gateway(label) as gw:
        contract = gw.network(channel).contract(chaincode)
        with console.status("endorsing and ordering ...", spinner="dots") as st:
            commit = contract.submit_async(
                function, *_arguments(args, json_args), transient=_transient(transient),
                endorsing_organizations=endorsers,
            )  # fmt: skip
            st.update(f"waiting for commit of {commit.transaction_id[:12]} ...")
            status = commit.status()
    if not status.successful:
        failed = CommitError(commit.transaction_id, status.code, status.block_number)
        click.secho(f"error: {failed}", fg="red", err=True)
        sys.exit(2)
    data = {"transactionId": commit.transaction_id, "blockNumber": status.block_number,
            "status": status.code_name, "result": _decode(commit.result)}

    def human() -> None:
        console.print(f"[green]committed[/] {commit.transaction_id} in block "
                      f"{status.block_number}")
        if commit.result:
            click.echo(json.dumps(data["result"], indent=2))

    emit(as_json, data, human)


@chaincode.command()
@_chaincode_options
@channel_option
@common
def query(session: Session, chaincode: str, function: str, args: tuple[str, ...],
          json_args: str | None, transient: tuple[str, ...], channel: str, label: str,
          as_json: bool) -> None:
    """Evaluate FUNCTION of CHAINCODE on a peer; nothing is ordered."""
    with session.gateway(label) as gw:
        result = gw.network(channel).contract(chaincode).evaluate(
            function, *_arguments(args, json_args), transient=_transient(transient)
        )
    decoded = _decode(result)
    if as_json or not isinstance(decoded, str):
        click.echo(json.dumps(decoded, indent=2))
    else:
        click.echo(decoded)


# -- events and blocks -----------------------------------------------------------------


@click.group()
def events() -> None:
    """Chaincode events as they commit."""


@events.command()
@click.argument("chaincode")
@click.option("--from-block", type=int, help="Start at this block (default: the next one).")
@click.option("--checkpoint", type=click.Path(path_type=Path),
              help="Resume from and record progress in this file.")
@click.option("-n", "--count", type=int, help="Stop after this many events.")
@channel_option
@common
def tail(session: Session, chaincode: str, from_block: int | None, checkpoint: Path | None,
         count: int | None, channel: str, label: str, as_json: bool) -> None:
    """Print CHAINCODE's events as they commit (Ctrl-C to stop)."""
    cp = FileCheckpoint(checkpoint) if checkpoint else None
    seen = 0
    with session.gateway(label) as gw, gw.network(channel).chaincode_events(
        chaincode, start_block=from_block, checkpoint=cp
    ) as stream:
        try:
            for ev in stream:
                payload = _decode(ev.payload)
                if as_json:
                    click.echo(json.dumps({"blockNumber": ev.block_number,
                                           "transactionId": ev.transaction_id,
                                           "name": ev.name, "payload": payload}))
                else:
                    click.echo(f"block {ev.block_number} {ev.transaction_id[:12]} {ev.name} "
                               f"{json.dumps(payload)}")
                if cp:
                    cp.checkpoint_event(ev)
                seen += 1
                if count and seen >= count:
                    break
        except KeyboardInterrupt:
            pass


@click.group()
def block() -> None:
    """Blocks of the channel, decoded."""


@block.command()
@click.argument("number", type=int)
@channel_option
@common
def show(session: Session, number: int, channel: str, label: str, as_json: bool) -> None:
    """Block NUMBER: its hashes, and each transaction with its validation code."""
    with session.gateway(label) as gw, gw.network(channel).block_events(
        start_block=number, stop_block=number, timeout=30
    ) as stream:
        blocks = list(stream)
    if not blocks:
        raise click.ClickException(f"block {number} not returned")
    b = blocks[0]
    data = {
        "number": b.number, "dataHash": b.data_hash.hex(), "previousHash": b.previous_hash.hex(),
        "headerHash": b.header_hash.hex(), "dataHashMatches": b.data_hash_matches,
        "transactions": [
            {"index": t.index, "transactionId": t.transaction_id, "type": t.type,
             "creator": t.creator_msp_id, "timestamp": iso(t.timestamp),
             "validationCode": t.validation_code}
            for t in b.transactions
        ],
    }  # fmt: skip

    def human() -> None:
        out = Console()
        out.print(f"[bold]block {b.number}[/] on {channel}")
        out.print(f"  data hash      {data['dataHash']}"
                  + ("" if b.data_hash_matches else "  [red]DOES NOT MATCH ITS DATA[/]"))
        out.print(f"  previous hash  {data['previousHash']}")
        out.print(f"  header hash    {data['headerHash']}")
        table = Table()
        for col in ("#", "transaction", "type", "creator", "time", "validation"):
            table.add_column(col)
        for t in data["transactions"]:
            style = "green" if t["validationCode"] == "VALID" else "red"
            table.add_row(str(t["index"]), t["transactionId"], t["type"], t["creator"],
                          t["timestamp"], f"[{style}]{t['validationCode']}[/]")
        out.print(table)

    emit(as_json, data, human)


# -- revocation, as part of `gridledger network` ---------------------------------------------


@click.command()
@click.argument("org")
@click.argument("name")
@click.option("--reason", default="unspecified", show_default=True,
              help="RFC 5280 reason, e.g. keycompromise, superseded, cessationofoperation.")
@click.pass_context
def revoke(ctx: click.Context, org: str, name: str, reason: str) -> None:
    """Revoke NAME at ORG's CA and publish the CRL to every channel, so every peer refuses it."""
    try:
        net = consortium(ctx)
        session = Session(net.layout.root, org)
        registrar = session.registrar()
        with session.ca() as ca:
            revocation = ca.revoke(registrar, name, reason=reason, gencrl=True)
        if not revocation.crl:
            raise CRLError(f"{org}'s CA revoked no certificate of {name} (never enrolled?); "
                           "nothing to publish")
        click.echo(f"revoked {len(revocation.revoked)} certificate(s) of {name} at {org}'s CA")
        blocks = publish_crl(net, org, revocation.crl)
    except GridLedgerError as exc:
        fail(exc)
    for channel, block in blocks.items():
        click.echo(f"CRL in config block {block} of {channel}")
    click.echo("every peer now refuses those certificates on every channel")


@click.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Generate what is missing, start every node, create the channels, deploy chaincode,
    and set up what a new ledger needs once (customerData's key secret)."""
    ctx.invoke(network_up)
    try:
        net = consortium(ctx)
        for step in ledger_init.initialise(net.layout.root, net.topology.channel):
            click.echo(f"ledger: {step}")
    except GridLedgerError as exc:
        fail(exc)


COMMANDS = (identity, chaincode, events, block)
# Added to the `network` group by gridledger.cli (`up` replacing the network layer's own,
# which it runs first): network/ must not import clients/.
NETWORK_COMMANDS = (up, revoke)
