"""`gridledger identity|chaincode|events|block ...`: the ledger from a terminal.

Tables and progress for people, ``--json`` for scripts. Every command acts as one
identity of one organisation (``--org``, ``--identity``), found through the network's
state directory (``--state-dir``).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from gridledger.network.layout import default_state_dir

from .blocks import iso
from .errors import CommitError, GridLedgerError
from .events import FileCheckpoint
from .session import ORGS, PASSPHRASE_ENV, Session

console = Console(stderr=True)


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--state-dir, --org, --identity, --json on every command; user errors without traces."""

    @click.option(
        "--state-dir", type=click.Path(path_type=Path), default=default_state_dir,
        show_default=True, help="The network's state directory (env GRIDLEDGER_STATE).",
    )  # fmt: skip
    @click.option("--org", type=click.Choice(ORGS), default="utility", show_default=True)
    @click.option("--identity", "label", default="Admin", show_default=True,
                  help="Wallet label (or the organisation's network identity of that name).")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @functools.wraps(fn)
    def wrapper(state_dir: Path, org: str, **kwargs: Any) -> Any:
        try:
            return fn(Session(state_dir, org), **kwargs)
        except GridLedgerError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2 if isinstance(exc, CommitError) else 1)

    return wrapper


def _emit(as_json: bool, data: Any, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


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
@_common
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
    _emit(as_json, {"name": name, "secret": secret, "org": session.org},
          lambda: click.echo(f"registered {name} at {session.org}'s CA; secret: {secret}"))


@identity.command()
@click.argument("name")
@click.option("--secret", required=True, prompt=True, hide_input=True)
@click.option("--label", "as_label", help="Wallet label (default: NAME).")
@click.option("--encrypt", is_flag=True,
              help="Encrypt the key with the passphrase in GRIDLEDGER_WALLET_PASSPHRASE.")
@_common
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
    _emit(as_json, {"label": entry.label, "mspId": entry.msp_id,
                    "attributes": enrollment.attributes},
          lambda: click.echo(f"enrolled {name} as {entry.label} ({entry.msp_id}) into "
                             f"{session.wallet.path}"))


@identity.command("list")
@_common
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

    _emit(as_json, [e.__dict__ for e in entries], human)


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
@click.option("--channel", default="energy", show_default=True)
@_common
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

    _emit(as_json, data, human)


@chaincode.command()
@_chaincode_options
@click.option("--channel", default="energy", show_default=True)
@_common
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
@click.option("--channel", default="energy", show_default=True)
@_common
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
@click.option("--channel", default="energy", show_default=True)
@_common
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

    _emit(as_json, data, human)


COMMANDS = (identity, chaincode, events, block)
