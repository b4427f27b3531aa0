"""`gridledger market ...` and `gridledger vpp ...`: peer-to-peer trading and VPPs.

Two sides, two machines. The **participant** keeps its market key file (``market key``:
its pseudonym and P-256 key, 0600) on its own device and signs its messages there with
``market sign ...`` (offline: no network, no operator), writing a signed message file.
A **relay** (an operator of the Aggregator, the Utility or the Regulator, as the function
wants) submits that file under its own identity: it never holds the participant's key,
so it can relay what was signed and nothing else, and a customer never submits under its
own certificate, which every block carries. Who runs what, as the chaincode checks it:

    market key PSEUDONYM FILE           the participant: make its market key file
    market sign ACTION ... --key FILE   the participant: sign offer, bid, cancel, deposit,
                                        withdraw, retire, vpp-join, vpp-leave,
                                        standing-offer, accept, withdraw-offer, or enrol
                                        (with its consent, by its own identity's key)
    market issue CUSTOMER_ID [--epoch N]  the Regulator: compute and record a pseudonym
    market enrol SIGNED                 the Regulator relays a consented enrolment
    market deposit|withdraw|retire SIGNED   the Utility relays the participant's request
    market offer|bid|cancel SIGNED      a relay (Aggregator or Utility): the participant's
    market standing-offer|accept|withdraw-offer SIGNED   a relay: bilateral trading
    market configure MARKET_ID SECONDS GATE TARIFF   the Aggregator: set up a market
    market open INTERVAL [TYPE]         the Aggregator: open an interval (uniform|pay-as-bid)
    market book|trades|prices|wallet    anyone: the pseudonymous public record
    market clear INTERVAL               any member's operator: clear page by page
    market settle INTERVAL              the Utility or the Regulator: settle page by page
    vpp create|payouts                  the Aggregator (payouts --pay: any operator)
    vpp enrol|leave VPP_ID SIGNED       a relay of the member's consent / leave

SIGNED is a file written by ``market sign`` (``-`` reads standard input).
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
from gridledger.network.layout import default_state_dir

from .cli_options import channel_option, common, console, market_channel_option
from .market import CustomerConsent, Market, MarketKey
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

    def run(session: Session, label: str, as_json: bool, channel: str, market_channel: str,
            **kw: Any) -> None:
        with session.gateway(label) as gw:
            market = Market(gw, energy_channel=channel, market_channel=market_channel)
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
    group.command(name)(channel_option(market_channel_option(cmd)))


def _arg(name: str, kind: Any = str) -> Any:
    return click.argument(name, type=kind)


def _signed() -> Any:
    return click.argument("signed", type=click.File("r"), callback=_read_signed)


def _read_signed(ctx: click.Context, param: click.Parameter, handle: Any) -> str:
    """The SIGNED file's text, checked before anything connects to a peer."""
    del ctx, param
    return _text(handle.read())


def _text(text: str) -> str:
    """A signed message file's text, checked to be one (what ``market sign`` writes)."""
    try:
        envelope = json.loads(text)
    except ValueError:
        raise click.BadParameter("not a signed market message (JSON): write it with "
                                 "`gridledger market sign`", param_hint="SIGNED") from None
    if not isinstance(envelope, dict) or "message" not in envelope:
        raise click.BadParameter('a signed market message is {"message", "signature"}',
                                 param_hint="SIGNED")
    return text


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
    pseudonym = pseudonym_for(_secret(session), "UtilityMSP", a["customer_id"], a["epoch"])
    m.record_pseudonym(pseudonym, a["customer_id"])
    return {"pseudonym": pseudonym, "recorded": True, "epoch": a["epoch"]}


def _new_key(a: dict[str, Any]) -> Any:
    MarketKey.generate(a["pseudonym"]).save(a["file"])
    return {"pseudonym": a["pseudonym"], "keyFile": str(a["file"])}


_command(market, "issue", "Compute a customer's pseudonym of an epoch and record it (the "
         "Regulator); a new epoch after the last one retired.", _issue,
         params=(_arg("customer_id"), click.option("--epoch", type=click.IntRange(min=1),
                                                   default=1, show_default=True)),
         submit=True)


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
_command(market, "enrol", "Relay a participant's signed enrolment with its customer's "
         "consent (the Regulator).", lambda m, a, s: m.enrol(_text(a["signed"])),
         params=(_signed(),), submit=True)
_command(market, "deposit", "Relay a signed deposit into the market (the Utility).",
         lambda m, a, s: m.deposit(_text(a["signed"])), params=(_signed(),), submit=True)
_command(market, "withdraw", "Relay a signed withdrawal back to the account (the Utility).",
         lambda m, a, s: m.withdraw(_text(a["signed"])), params=(_signed(),), submit=True)
_command(market, "retire", "Relay a participant's signed retirement (the Utility).",
         lambda m, a, s: m.retire(_text(a["signed"])), params=(_signed(),), submit=True)
_command(market, "open", "Open a delivery interval (the Aggregator).",
         lambda m, a, s: m.open_interval(a["interval_id"], a["market_type"]),
         params=(_arg("interval_id"), click.argument("market_type", default="uniform",
                                                     type=click.Choice(["uniform",
                                                                        "pay-as-bid"]))),
         submit=True)


for _name, _function, _doc in (
        ("offer", "PlaceOffer", "Relay a participant's signed sell offer."),
        ("bid", "PlaceBid", "Relay a participant's signed bid (escrowed at once)."),
        ("cancel", "CancelOrder", "Relay a participant's signed cancel of its open order."),
        ("standing-offer", "PostStandingOffer", "Relay a seller's signed standing offer."),
        ("accept", "AcceptStandingOffer", "Relay a buyer's signed acceptance of a standing "
                                          "offer for one interval."),
        ("withdraw-offer", "WithdrawStandingOffer", "Relay a seller's signed withdrawal of "
                                                    "its standing offer.")):
    _command(market, _name, _doc + " (a relay: the Aggregator or the Utility)",
             lambda m, a, s, fn=_function: m.submit(fn, _text(a["signed"])),
             params=(_signed(),), submit=True)
_command(market, "book", "Order book depth per price level (pseudonymous).",
         lambda m, a, s: m.book(a["interval_id"]), params=(_arg("interval_id"),))
_command(market, "clear", "Clear an interval from gate closure on, page by page (any member's "
         "operator).",
         lambda m, a, s: m.clear(a["interval_id"])[-1], params=(_arg("interval_id"),),
         submit=True)


def _settle(m: Market, a: dict[str, Any], s: Session) -> Any:
    pages = m.settle(a["interval_id"])
    return {"intervalId": a["interval_id"], "pages": len(pages),
            "deliveredWh": pages[-1]["deliveredWh"]}


_command(market, "settle", "Settle an interval after delivery, page by page, once its meters "
         "have reported (the Utility or the Regulator).",
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


_command(vpp, "enrol", "Relay a prosumer's signed consent to the VPP's terms (the "
         "Aggregator).", lambda m, a, s: m.enrol_vpp_member(a["vpp_id"], _text(a["signed"])),
         params=(_arg("vpp_id"), _signed()), submit=True)
_command(vpp, "leave", "Relay a member's signed leave.",
         lambda m, a, s: m.leave_vpp(a["vpp_id"], _text(a["signed"])),
         params=(_arg("vpp_id"), _signed()), submit=True)
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

# -- the participant's side: signing, offline ---------------------------------------------


@market.group("sign")
@click.option("--key", "key_file", required=True, type=click.Path(
    path_type=Path, exists=True, dir_okay=False), help="The participant's market key file.")
@click.option("-o", "--output", type=click.File("w"), default="-", show_default=True,
              help="Where to write the signed message.")
@click.pass_context
def sign(ctx: click.Context, key_file: Path, output: Any) -> None:
    """Sign a message with the participant's market key, here, offline: the file it
    writes is what a relay submits (`gridledger market offer SIGNED`, ...)."""
    ctx.obj = {"key": MarketKey.load(key_file), "out": output}


def _write(ctx: click.Context, text: str) -> None:
    ctx.obj["out"].write(text + "\n")


def _signer(name: str, doc: str, params: tuple[Any, ...],
            make: Callable[[MarketKey, dict[str, Any]], str]) -> None:
    """``market sign NAME``: ``make(key, arguments)`` is the signed message's text."""

    @click.pass_context
    def run(ctx: click.Context, **kw: Any) -> None:
        _write(ctx, make(ctx.obj["key"], kw))

    run.__doc__ = doc
    cmd: Any = run
    for param in reversed(params):
        cmd = param(cmd)
    sign.command(name)(cmd)


_ORDER = (_arg("interval_id"), _arg("wh", int), _arg("price", int),
          click.option("--order-id", help="Default: a random one."))
for _kind in ("offer", "bid"):
    _signer(_kind, f"{'An' if _kind == 'offer' else 'A'} {_kind}: WH at PRICE tokens per "
            "kWh in INTERVAL_ID.", _ORDER,
            lambda k, a, kind=_kind: k.order(kind, a["interval_id"],
                                             a["order_id"] or uuid.uuid4().hex[:12],
                                             a["wh"], a["price"]))
_signer("cancel", "Cancel one's own open order.", (_arg("interval_id"), _arg("order_id")),
        lambda k, a: k.cancel(a["interval_id"], a["order_id"]))
_signer("deposit", "Move AMOUNT tokens from one's account into the market.",
        (_arg("amount", int),), lambda k, a: k.deposit(a["amount"]))
_signer("withdraw", "Move AMOUNT tokens back to one's account.", (_arg("amount", int),),
        lambda k, a: k.withdrawal(a["amount"]))
_signer("retire", "Retire this pseudonym (its free tokens go back to one's account).", (),
        lambda k, a: k.retirement())
_signer("vpp-join", "Consent to join VPP_ID on its terms (commission in basis points).",
        (_arg("vpp_id"), _arg("capacity_wh", int), _arg("commission_bp", int)),
        lambda k, a: k.vpp_consent(a["vpp_id"], a["capacity_wh"], a["commission_bp"]))
_signer("vpp-leave", "Leave VPP_ID.", (_arg("vpp_id"),), lambda k, a: k.vpp_leave(a["vpp_id"]))
_signer("standing-offer", "Offer WH per interval at PRICE to BUYER (a pseudonym or *) from "
        "FIRST to LAST interval.",
        (_arg("offer_id"), _arg("buyer"), _arg("price", int), _arg("wh", int),
         _arg("first"), _arg("last")),
        lambda k, a: k.sign("standing-offer", offerId=a["offer_id"], buyer=a["buyer"],
                            pricePerKwh=a["price"], quantityWh=a["wh"],
                            fromInterval=a["first"], untilInterval=a["last"]))
_signer("accept", "Accept WH of standing offer OFFER_ID for one interval.",
        (_arg("offer_id"), _arg("interval_id"), _arg("wh", int),
         click.option("--accept-id", help="Default: a random one.")),
        lambda k, a: k.sign("accept", offerId=a["offer_id"],
                            acceptId=a["accept_id"] or uuid.uuid4().hex[:12],
                            intervalId=a["interval_id"], quantityWh=a["wh"]))
_signer("withdraw-offer", "Withdraw one's standing offer OFFER_ID.", (_arg("offer_id"),),
        lambda k, a: k.sign("withdraw-offer", offerId=a["offer_id"]))


@sign.command("enrol")
@click.argument("market_id")
@click.argument("meter_id")
@click.option("--consent-identity", required=True,
              help="Wallet label of the customer's own identity: its key controls the "
                   "customer's paying account and signs the consent.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=default_state_dir,
              show_default=True, help="Where the wallet is (env GRIDLEDGER_STATE).")
@click.pass_context
def sign_enrol(ctx: click.Context, market_id: str, meter_id: str, consent_identity: str,
               state_dir: Path) -> None:
    """Enrol METER_ID in MARKET_ID under the key's pseudonym, with the customer's consent
    (signed by its own identity's key, from the wallet)."""
    identity, signer = Session(state_dir, "utility").credentials(consent_identity)
    consent = CustomerConsent.of_identity(identity.certificate, signer)
    _write(ctx, ctx.obj["key"].enrolment(market_id, meter_id, consent))


COMMANDS = (market, vpp)
