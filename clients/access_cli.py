"""`gridledger access ...`: DACT/IDoT data access from a terminal.

    access dact new ... > table.json        a table with a fresh salt (keep the file)
    access dact register @table.json        the owner (or the Utility, --customer)
    access dact amend @table-v2.json / revoke DACT_ID REASON / show DACT_ID
    access certify @table.json DEVICE_ID --device-key key.pem     ask for a threshold
    access resources TOKEN_ID               run the contract: the hash addresses (logged)
    access fetch HASH --token TOKEN_ID --service URL [--out FILE]   from the service node
    access device register|show|revoke, access resource register|show|owner,
    access token show|revoke, access log TOKEN_ID [--after CURSOR] [--limit N]

JSON arguments are given as text, ``@file.json`` or ``-`` (standard input).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .access import Access, device_signer, new_dact, requester
from .access_service import ServiceNodeClient
from .cli_options import channel_option, common, console, emit
from .metering_cli import _load_json
from .session import Session
from .signing import load_private_key


def _show(as_json: bool, data: Any) -> None:
    emit(as_json, data, lambda: console.print_json(data=data))


def _access(session: Session, label: str, channel: str, call: Any) -> Any:
    with session.gateway(label) as gw:
        return call(Access(gw.network(channel)))


@click.group()
def access() -> None:
    """DACT/IDoT data access: devices, resources, DACTs, tokens, the service node."""


@access.group()
def dact() -> None:
    """Data access control tables: what an owner grants, to whom, until when."""


@access.group()
def device() -> None:
    """IDoT devices (meters are IDoTs too: `meter register`)."""


@access.group()
def resource() -> None:
    """Shared data: hash addresses of content a service node holds."""


@access.group()
def token() -> None:
    """Certification tokens."""


@dact.command("new")
@click.option("--device", "devices", multiple=True, required=True, help="IDoT id (repeat).")
@click.option("--resource", "resources", multiple=True, required=True, help="Resource id.")
@click.option("--requester-kind", type=click.Choice(["identity", "organisation", "operator"]),
              default="organisation", show_default=True)
@click.option("--requester-msp", required=True, help="e.g. AggregatorMSP")
@click.option("--requester-cert", type=click.Path(exists=True, path_type=Path),
              help="The requester's PEM certificate (kind identity).")
@click.option("--purpose", required=True)
@click.option("--not-after", required=True, help="YYYY-MM-DDTHH:MM:SSZ")
@click.option("--owner-info", type=click.Choice(["if-several", "always", "never"]),
              default="if-several", show_default=True,
              help="When the owner's identifying fields go with the data (seed 001: only "
                   "when more than one hash address is granted).")
@click.option("--terms", help="Conditions of use (inside the commitment only).")
def dact_new(devices: tuple[str, ...], resources: tuple[str, ...], requester_kind: str,
             requester_msp: str, requester_cert: Path | None, purpose: str, not_after: str,
             owner_info: str, terms: str | None) -> None:
    """Print a new DACT table (version 1, fresh salt) as JSON: keep it, register it."""
    cert = requester_cert.read_bytes() if requester_cert else None
    if requester_kind == "identity" and cert is None:
        raise click.UsageError("--requester-kind identity needs --requester-cert")
    table = new_dact(devices=devices, resources=resources,
                     requester=requester(requester_kind, requester_msp, cert),
                     purpose=purpose, not_after=not_after, owner_info=owner_info, terms=terms)
    click.echo(json.dumps(table, indent=2, sort_keys=True))


def _owner_command(group: click.Group, name: str, method: str, doc: str) -> None:
    @group.command(name, help=doc)
    @click.argument("table_json")
    @click.option("--customer", help="The customer a Utility operator acts for.")
    @channel_option
    @common
    def run(session: Session, table_json: str, customer: str | None, label: str,
            as_json: bool, channel: str) -> None:
        table = _load_json(table_json)
        with console.status(f"access dact {name}: endorsing, ordering, committing ..."):
            result = _access(session, label, channel,
                             lambda a: getattr(a, method)(table, customer))
        _show(as_json, result)


_owner_command(dact, "register", "register_dact",
               "Register a DACT table (its owner; or the Utility with --customer).")
_owner_command(dact, "amend", "amend_dact",
               "Replace a DACT by its next version: tokens of earlier versions end.")


@dact.command("revoke")
@click.argument("dact_id")
@click.argument("reason")
@channel_option
@common
def dact_revoke(session: Session, dact_id: str, reason: str, label: str, as_json: bool,
                channel: str) -> None:
    """End a DACT for good: every token issued under it ends too."""
    _show(as_json, _access(session, label, channel, lambda a: a.revoke_dact(dact_id, reason)))


@dact.command("show")
@click.argument("dact_id")
@channel_option
@common
def dact_show(session: Session, dact_id: str, label: str, as_json: bool, channel: str) -> None:
    """A DACT with its table and owner (the owner, the Utility, the Regulator)."""
    _show(as_json, _access(session, label, channel, lambda a: a.get_dact(dact_id)))


@access.command()
@click.argument("table_json")
@click.argument("device_id")
@click.option("--device-key", type=click.Path(exists=True, path_type=Path), required=True,
              help="The device's PEM private key (proof of possession).")
@click.option("--resource", "resources", multiple=True, help="Ask for these only.")
@click.option("--lifetime", type=int, help="Token lifetime in seconds (default 3600).")
@channel_option
@common
def certify(session: Session, table_json: str, device_id: str, device_key: Path,
            resources: tuple[str, ...], lifetime: int | None, label: str, as_json: bool,
            channel: str) -> None:
    """Request a threshold: present the DACT and the device's proof; a token."""
    table = _load_json(table_json)
    signer = device_signer(load_private_key(device_key.read_bytes()))
    with console.status("access certify: each endorser checks the DACT and the proof ..."):
        result = _access(session, label, channel, lambda a: a.certify(
            table, device_id, signer, resources=list(resources) or None,
            lifetime_seconds=lifetime))
    _show(as_json, result)


@access.command()
@click.argument("token_id")
@channel_option
@common
def resources(session: Session, token_id: str, label: str, as_json: bool,
              channel: str) -> None:
    """Run the contract with a token: the hash addresses in its scope (logged)."""
    _show(as_json, _access(session, label, channel, lambda a: a.access(token_id)))


@access.command()
@click.argument("hash_address")
@click.option("--token", "token_id", required=True)
@click.option("--service", required=True, help="The service node's URL.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the content here.")
@common
def fetch(session: Session, hash_address: str, token_id: str, service: str,
          out: Path | None, label: str, as_json: bool) -> None:
    """Fetch shared data from the service node under a token (logged on the ledger)."""
    identity, signer = session.credentials(label)
    with ServiceNodeClient(service, identity, signer) as node:
        got = node.fetch(hash_address, token_id)
    if out is not None:
        out.write_bytes(got.content)
    elif not as_json:
        sys.stdout.buffer.write(got.content)
        return
    _show(as_json, {"hashAddress": got.hash_address, "size": len(got.content),
                    "accessTx": got.access_tx, "ownerInfo": got.owner_info,
                    **({"out": str(out)} if out else {})})


def _simple(group: click.Group, name: str, param: str, call: Any, doc: str,
            *, json_arg: bool = False) -> None:
    @group.command(name, help=doc)
    @click.argument(param)
    @channel_option
    @common
    def run(session: Session, label: str, as_json: bool, channel: str, **kw: Any) -> None:
        value = _load_json(kw[param]) if json_arg else kw[param]
        _show(as_json, _access(session, label, channel, lambda a: call(a, value)))


_simple(device, "register", "device_json", Access.register_device,
        "Register an IDoT: {deviceId, kind, publicKeyPem, curve}.", json_arg=True)
_simple(device, "show", "device_id", Access.get_device, "An IDoT (a device or a meter).")
_simple(resource, "register", "resource_json", Access.register_resource,
        "Register a hash address: {resourceId, hashAddress, mediaType, size, description, "
        "customerId?}. A hash address names one owner's content: the first to register it "
        "holds it.", json_arg=True)
_simple(resource, "show", "resource_id", Access.get_resource, "A resource's public record.")
_simple(resource, "owner", "resource_id", Access.resource_owner,
        "Whose a resource is (the Utility's and the Regulator's operators).")
_simple(token, "show", "token_id", Access.get_token, "A token and its state.")
_simple(token, "revoke", "token_id", Access.revoke_token, "End a token (holder or owner).")


@device.command("revoke")
@click.argument("device_id")
@click.argument("reason")
@channel_option
@common
def device_revoke(session: Session, device_id: str, reason: str, label: str, as_json: bool,
                  channel: str) -> None:
    """End a device for good (its organisation's operators; a customer's device: the
    customer or the Utility): every token exercised through it ends."""
    _show(as_json, _access(session, label, channel,
                           lambda a: a.revoke_device(device_id, reason)))


@access.command("log")
@click.argument("token_id")
@click.option("--after", default="", help="Resume after this cursor (a page's `next`).")
@click.option("--limit", type=click.IntRange(1, 100), default=100, show_default=True)
@channel_option
@common
def log(session: Session, token_id: str, after: str, limit: int, label: str, as_json: bool,
        channel: str) -> None:
    """One page of a token's accesses, oldest first; `next` resumes."""
    _show(as_json, _access(session, label, channel,
                           lambda a: a.access_log_page(token_id, after, limit)))

COMMANDS = (access,)
