"""`gridledger meter|tariff|reading|bill|wallet ...`: every metering and Wattcoin function.

Objects (a meter, a tariff, a batch of signed readings) are given as JSON text, as
``@file.json``, or as ``-`` for standard input. Answers print as JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from .cli_options import channel_option, common, console
from .metering import Metering, Wattcoin
from .session import Session


def _load_json(text: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            with open(text[1:]) as fh:
                text = fh.read()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {text[1:]}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from None


def _show(result: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
    else:
        Console().print_json(data=result)


def _command(
    group: click.Group,
    name: str,
    params: list[str],
    call: Callable[[Metering, Wattcoin, dict[str, Any]], Any],
    doc: str,
    *,
    json_params: tuple[str, ...] = (),
    int_params: tuple[str, ...] = (),
    submit: bool = False,
) -> None:
    """Add ``group name PARAMS...`` calling ``call`` with the decoded parameters."""

    def run(session: Session, label: str, as_json: bool, channel: str, **kw: Any) -> None:
        for p in json_params:
            kw[p] = _load_json(kw[p])
        with session.gateway(label) as gw:
            network = gw.network(channel)
            if submit:
                with console.status(f"{group.name} {name}: endorsing, ordering, committing ..."):
                    result = call(Metering(network), Wattcoin(network), kw)
            else:
                result = call(Metering(network), Wattcoin(network), kw)
        _show(result, as_json)

    run.__doc__ = doc
    run.__name__ = name.replace("-", "_")
    cmd = common(run)
    for p in reversed(params):
        cmd = click.argument(p, type=int if p in int_params else str)(cmd)
    cmd = channel_option(cmd)
    group.command(name)(cmd)


@click.group()
def meter() -> None:
    """Meters: register, inspect, suspend, check their reading chains."""


@click.group()
def tariff() -> None:
    """Tariff schedules (set by the Regulator)."""


@click.group()
def reading() -> None:
    """Signed meter readings."""


@click.group()
def bill() -> None:
    """Bills per customer and period."""


@click.group()
def wallet() -> None:
    """Prepaid Wattcoin accounts."""


M = Metering
_command(meter, "register", ["meter_json"], lambda m, w, a: m.register_meter(a["meter_json"]),
         "Register a meter (Utility): METER_JSON has meterId, publicKey, customerId, ...",
         json_params=("meter_json",), submit=True)
_command(meter, "show", ["meter_id"], lambda m, w, a: m.get_meter(a["meter_id"]),
         "A meter's registration and state.")
_command(meter, "list", ["customer_id"], lambda m, w, a: m.meters_by_customer(a["customer_id"]),
         "A customer's meters.")
for _verb, _fn in (("suspend", M.suspend_meter), ("resume", M.resume_meter),
                   ("decommission", M.decommission_meter)):
    _command(meter, _verb, ["meter_id", "reason"],
             lambda m, w, a, f=_fn: f(m, a["meter_id"], a["reason"]),
             f"{_verb.capitalize()} a meter, with the reason recorded.", submit=True)
_command(meter, "replace-key", ["meter_id", "key_json"],
         lambda m, w, a: m.replace_meter_key(a["meter_id"], a["key_json"]),
         "Give a meter a new public key; its chain continues.", json_params=("key_json",),
         submit=True)
_command(meter, "set-tariff", ["meter_id", "tariff_id"],
         lambda m, w, a: m.set_meter_tariff(a["meter_id"], a["tariff_id"]),
         "Put a meter on another tariff.", submit=True)
_command(meter, "verify", ["meter_id"], lambda m, w, a: m.verify_meter_chain(a["meter_id"]),
         "Check the meter's readings (hash chain and meter signatures): OK or the first "
         "broken one.")
_command(meter, "supply", ["meter_ids"],
         lambda m, w, a: w.supply_status(a["meter_ids"].split(",")),
         "Whether each meter's supply should be on, from the ledger's state (METER_IDS: "
         "comma-separated; what a bridge checks before switching a relay).")
_command(meter, "alarms", ["meter_id"], lambda m, w, a: m.alarms_by_meter(a["meter_id"]),
         "Fire, flood and gas alarms raised by a meter.")

_command(tariff, "set", ["tariff_json"], lambda m, w, a: m.set_tariff(a["tariff_json"]),
         "Set a tariff version (Regulator; needs the Regulator's endorsement).",
         json_params=("tariff_json",), submit=True)
_command(tariff, "show", ["tariff_id", "at"], lambda m, w, a: m.get_tariff(a["tariff_id"], a["at"]),
         "The tariff version in force at AT (YYYY-MM-DDTHH:MM:SSZ).")

_command(reading, "submit", ["batch_json"], lambda m, w, a: m.submit_readings(a["batch_json"]),
         'Submit a batch: [{"reading": {...}, "signature": "<base64 DER>"}, ...].',
         json_params=("batch_json",), submit=True)
_command(reading, "list", ["meter_id", "from_seq", "limit"],
         lambda m, w, a: m.get_readings(a["meter_id"], a["from_seq"], a["limit"]),
         "A meter's readings from FROM_SEQ, at most LIMIT.", int_params=("from_seq", "limit"))
_command(reading, "detail", ["meter_id", "seq"],
         lambda m, w, a: m.get_reading_detail(a["meter_id"], a["seq"]),
         "One reading's interval detail (Utility and Regulator only).", int_params=("seq",))

for _verb, _doc, _sub in (("compute", "Compute (not store) a bill.", False),
                          ("issue", "Issue and store a bill.", True)):
    _command(bill, _verb, ["customer_id", "period_start", "period_end"],
             lambda m, w, a, v=_verb: getattr(m, f"{v}_bill")(
                 a["customer_id"], a["period_start"], a["period_end"]),
             _doc, submit=_sub)
_command(bill, "show", ["customer_id", "period_start"],
         lambda m, w, a: m.get_bill(a["customer_id"], a["period_start"]), "An issued bill.")
_command(bill, "list", ["customer_id"], lambda m, w, a: m.bills_by_customer(a["customer_id"]),
         "A customer's issued bills.")

_command(wallet, "open", [], lambda m, w, a: w.open_account(),
         "Open the caller's own account.", submit=True)
_command(wallet, "address", [], lambda m, w, a: {"address": w.my_address()},
         "The caller's account address.")
_command(wallet, "topup", ["address", "amount", "reference"],
         lambda m, w, a: w.mint(a["address"], a["amount"], a["reference"]),
         "Top up an account (Utility): REFERENCE is the payment, accepted once.",
         int_params=("amount",), submit=True)
_command(wallet, "transfer", ["source", "target", "amount"],
         lambda m, w, a: w.transfer(a["source"], a["target"], a["amount"]),
         "Move tokens from an account you own.", int_params=("amount",), submit=True)
_command(wallet, "balance", ["address"], lambda m, w, a: w.balance(a["address"]),
         "An account's balance, arrears and policy.")
_command(wallet, "history", ["address", "from_n", "limit"],
         lambda m, w, a: w.history(a["address"], a["from_n"], a["limit"]),
         "An account's movements.", int_params=("from_n", "limit"))
_command(wallet, "bind", ["customer_id", "address"],
         lambda m, w, a: w.bind_customer(a["customer_id"], a["address"]),
         "Make an account you control pay for your energy (the customer itself; refused "
         "while the current account has arrears or is cut off).", submit=True)
_command(wallet, "policy", ["address", "threshold", "policy"],
         lambda m, w, a: w.set_low_balance_policy(a["address"], a["threshold"], a["policy"]),
         'Low-balance threshold and action ("notify" or "power-saving").',
         int_params=("threshold",), submit=True)
_command(wallet, "meter-account", ["meter_id", "controller"],
         lambda m, w, a: w.open_meter_account(a["meter_id"], a["controller"]),
         "Open the account of a meter, controlled by CONTROLLER's address.", submit=True)

COMMANDS = (meter, tariff, reading, bill, wallet)
