"""`gridledger market ...` and `gridledger vpp ...`: peer-to-peer trading and VPPs.

A participant's messages are signed with its market key file (``--key``, written by
``market key``: its pseudonym and P-256 key, 0600) and relayed by the identity the command
runs as (``--org aggregator`` or ``--org utility``): a customer never submits under its own
certificate, which every block carries. Who runs what, as the chaincode checks it:

    market configure MARKET_ID SECONDS GATE TARIFF   the Aggregator: set up a market
    market issue CUSTOMER_ID            the Regulator: compute and record a pseudonym
    market key PSEUDONYM FILE           anyone: make a participant's market key file
    market enrol MARKET_ID METER_ID --key FILE   the Utility: enrol the meter
    market deposit|withdraw AMOUNT      the Utility relays the participant's request
    market open INTERVAL [TYPE]         the Aggregator: open an interval (uniform|pay-as-bid)
    market offer|bid INTERVAL WH PRICE  a relay: the participant's order
    market cancel INTERVAL ORDER_ID     a relay: the participant's cancel
    market book|trades|prices|wallet    anyone: the pseudonymous public record
    market clear INTERVAL               the Aggregator: clear page by page to the end
    market settle INTERVAL              the Utility: settle page by page against its records
    vpp create|enrol|leave|payouts      the Aggregator (leave: a relay of the member's)
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from gridledger.formats.market import pseudonym_for

from .cli_options import channel_option, common, console
from .market import Market, MarketKey
from .session import Session

SECRET_FILE = "regulator-pseudonym.secret"


def _show(result: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
    else:
        Console().print_json(data=result)


def _command(group: click.Group, name: str, doc: str,
             call: Callable[[Market, dict[str, Any], Session], Any], *,
             params: tuple[click.Parameter, ...] = (), submit: bool = False) -> None:
    """Add ``group name`` calling ``call(market, params, session)``."""

    def run(session: Session, label: str, as_json: bool, channel: str, **kw: Any) -> None:
        with session.gateway(label) as gw:
            market = Market(gw.network(channel))
            if submit:
                with console.status(f"{group.name} {name}: endorsing, ordering, committing"):
                    result = call(market, kw, session)
            else:
                result = call(market, kw, session)
        _show(result, as_json)

    run.__doc__ = doc
    run.__name__ = name
    cmd = common(run)
    for param in reversed(params):
        cmd = param(cmd)
    group.command(name)(channel_option(cmd))


def _key() -> Any:
    return click.option("--key", "key_file", required=True, type=click.Path(
        path_type=Path, exists=True, dir_okay=False), help="The participant's market key file.")


def _arg(name: str, kind: Any = str) -> Any:
    return click.argument(name, type=kind)


@click.group()
def market() -> None:
    """Peer-to-peer trading: intervals, orders, clearing, settlement (pseudonymous)."""


@click.group()
def vpp() -> None:
    """Virtual power plants: prosumers' export sold as one, paid pro rata."""


def _secret(session: Session) -> bytes:
    """The Regulator's pseudonym secret, made once in the state directory (0600)."""
    path = Path(session.state_dir) / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
    return path.read_bytes()


def _issue(m: Market, a: dict[str, Any], session: Session) -> Any:
    pseudonym = pseudonym_for(_secret(session), "UtilityMSP", a["customer_id"])
    m.record_pseudonym(pseudonym, a["customer_id"])
    return {"pseudonym": pseudonym, "recorded": True}


def _new_key(a: dict[str, Any]) -> Any:
    MarketKey.generate(a["pseudonym"]).save(a["file"])
    return {"pseudonym": a["pseudonym"], "keyFile": str(a["file"])}


_command(market, "issue", "Compute a customer's pseudonym and record it (the Regulator).",
         _issue, params=(_arg("customer_id"),), submit=True)


@market.command("key")
@click.argument("pseudonym")
@click.argument("file", type=click.Path(path_type=Path))
def key(pseudonym: str, file: Path) -> None:
    """Make a participant's market key file (keep it private: 0600)."""
    _show(_new_key({"pseudonym": pseudonym, "file": file}), False)

_command(market, "configure", "Set up a market: interval and gate closure in seconds, "
         "reference tariff (the Aggregator; once per market).",
         lambda m, a, s: m.configure(a["market_id"], a["interval_seconds"],
                                     a["gate_closure_seconds"], a["tariff_id"]),
         params=(_arg("market_id"), _arg("interval_seconds", int),
                 _arg("gate_closure_seconds", int), _arg("tariff_id")), submit=True)
_command(market, "enrol", "Enrol a meter in a market under the key file's pseudonym "
         "(the Utility).",
         lambda m, a, s: m.enrol(MarketKey.load(a["key_file"]), a["market_id"], a["meter_id"]),
         params=(_arg("market_id"), _arg("meter_id"), _key()), submit=True)
_command(market, "deposit", "Move tokens into the market (the Utility relays the request).",
         lambda m, a, s: m.deposit(MarketKey.load(a["key_file"]).deposit(a["amount"])),
         params=(_arg("amount", int), _key()), submit=True)
_command(market, "withdraw", "Move tokens back to the account (the Utility relays it).",
         lambda m, a, s: m.withdraw(MarketKey.load(a["key_file"]).withdrawal(a["amount"])),
         params=(_arg("amount", int), _key()), submit=True)
_command(market, "open", "Open a delivery interval (the Aggregator).",
         lambda m, a, s: m.open_interval(a["interval_id"], a["market_type"]),
         params=(_arg("interval_id"), click.argument("market_type", default="uniform",
                                                     type=click.Choice(["uniform",
                                                                        "pay-as-bid"]))),
         submit=True)


def _order(kind: str) -> Callable[[Market, dict[str, Any], Session], Any]:
    def place(m: Market, a: dict[str, Any], s: Session) -> Any:
        signed = MarketKey.load(a["key_file"]).order(
            kind, a["interval_id"], a["order_id"] or uuid.uuid4().hex[:12], a["wh"], a["price"])
        return m.place_offer(signed) if kind == "offer" else m.place_bid(signed)
    return place


for _kind in ("offer", "bid"):
    _command(market, _kind, f"Place a signed {_kind}: WH at PRICE tokens per kWh (a relay).",
             _order(_kind), params=(_arg("interval_id"), _arg("wh", int), _arg("price", int),
                                    _key(), click.option("--order-id",
                                                         help="Default: a random one.")),
             submit=True)
_command(market, "cancel", "Cancel one's own open order before gate closure (a relay).",
         lambda m, a, s: m.cancel(MarketKey.load(a["key_file"]).cancel(a["interval_id"],
                                                                        a["order_id"])),
         params=(_arg("interval_id"), _arg("order_id"), _key()), submit=True)
_command(market, "book", "Order book depth per price level (pseudonymous).",
         lambda m, a, s: m.book(a["interval_id"]), params=(_arg("interval_id"),))
_command(market, "clear", "Clear an interval at gate closure, page by page (the Aggregator).",
         lambda m, a, s: m.clear(a["interval_id"])[-1], params=(_arg("interval_id"),),
         submit=True)


def _settle(m: Market, a: dict[str, Any], s: Session) -> Any:
    pages = m.settle(a["interval_id"])
    return {"intervalId": a["interval_id"], "pages": len(pages),
            "deliveredWh": pages[-1]["deliveredWh"]}


_command(market, "settle", "Settle an interval after delivery, page by page (the Utility).",
         _settle, params=(_arg("interval_id"),), submit=True)
_command(market, "trades", "A trader's trades in an interval, with their settlement.",
         lambda m, a, s: m.trades_of(a["trader"], a["interval_id"]),
         params=(_arg("trader"), _arg("interval_id")))
_command(market, "prices", "Clearing prices and volumes from one interval to another.",
         lambda m, a, s: m.prices(a["first"], a["last"]), params=(_arg("first"), _arg("last")))
_command(market, "wallet", "A trader's market balance.",
         lambda m, a, s: m.wallet(a["trader"]), params=(_arg("trader"),))

_command(vpp, "create", "Create a VPP in a market, with its commission in basis points "
         "(the Aggregator).",
         lambda m, a, s: m.create_vpp(a["vpp_id"], a["market_id"], a["name"],
                                      a["commission_bp"]),
         params=(_arg("vpp_id"), _arg("market_id"), _arg("name"), _arg("commission_bp", int)),
         submit=True)


def _enrol(m: Market, a: dict[str, Any], s: Session) -> Any:
    terms = m.vpp_members(a["vpp_id"])["vpp"]
    consent = MarketKey.load(a["key_file"]).vpp_consent(a["vpp_id"], a["capacity_wh"],
                                                        terms["commissionBp"])
    return m.enrol_vpp_member(a["vpp_id"], consent)


_command(vpp, "enrol", "Enrol a prosumer on its signed consent to the VPP's terms.", _enrol,
         params=(_arg("vpp_id"), _key(), click.option("--capacity-wh", type=int,
                                                      required=True)), submit=True)
_command(vpp, "leave", "A member's signed leave (a relay).",
         lambda m, a, s: m.leave_vpp(a["vpp_id"], MarketKey.load(a["key_file"]).vpp_leave(
             a["vpp_id"])), params=(_arg("vpp_id"), _key()), submit=True)
_command(vpp, "members", "A VPP's terms and members, with their consents.",
         lambda m, a, s: m.vpp_members(a["vpp_id"]), params=(_arg("vpp_id"),))


def _payouts(m: Market, a: dict[str, Any], s: Session) -> Any:
    if a["pay"]:
        m.pay_vpp(a["vpp_id"], a["interval_id"])
    return m.vpp_payouts(a["vpp_id"], a["interval_id"])


_command(vpp, "payouts", "A VPP's interval proceeds per member; --pay pays what is due.",
         _payouts, params=(_arg("vpp_id"), _arg("interval_id"),
                 click.option("--pay", is_flag=True, help="Pay the members and the VPP.")),
         submit=True)

COMMANDS = (market, vpp)
