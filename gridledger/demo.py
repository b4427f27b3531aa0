"""``gridledger demo up``: simulated meters and a bridge on a running network.

On the network of a state directory (``network up`` done), in this order, each step
checked first so that running it twice changes nothing:

1. the demo tariff, set by the Regulator (``DEMO_TARIFF``);
2. a simulator (``gridledger simulate``) and a bridge (``gridledger bridge run``) as
   programs of the network's supervisord, so ``gridledger network down`` stops them too;
   their logs are ``<state>/logs/demo-simulator.log`` and ``demo-bridge.log``;
3. per simulated meter: the meter registered by the Utility's admin with its bridge-held
   key and its registers as they are now; its customer, a client identity registered at
   the Utility's CA (``role=customer``, its ``customerId``) and kept in the wallet as
   ``demo-<customer>``, opens its own Wattcoin account and makes it pay for its energy
   (only the customer may: the chaincode asks for its own transaction); the Utility tops
   it up once (payment reference ``DEMO-TOPUP-<meter>``);
4. the bridge started; readings on the ledger; the three portals (``ensure_portals``);
5. demo customer 1's DACT granting the Aggregator its consumption profile for
   ``vpp-forecasting`` (gridledger/demo_access.py), then the market's demo day: one
   interval of market ``demo`` traded between demo customers, cleared and, after
   delivery, settled (gridledger/demo_market.py; ``up`` waits for that, ~1.5 min at most).

Everything lives in ``<state>/demo/``: ``bridge.yaml``, ``keys/``, ``queue.sqlite``,
``events-checkpoint.json``, ``relay-audit.jsonl``. The demo sits at the top: it drives
the network (supervisord, the recorded state), the clients and the bridge through their
public faces, and the channel is the topology's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from gridledger.clients.ca import AlreadyRegistered
from gridledger.clients.errors import GatewayError
from gridledger.clients.metering import Metering, Wattcoin
from gridledger.clients.session import Session
from gridledger.errors import GridLedgerError
from gridledger.formats.utc import format_utc
from gridledger.meter_bridge.bridge import open_meters
from gridledger.meter_bridge.keys import KeyStore
from gridledger.network.consortium import Consortium
from gridledger.network.layout import Layout, default_state_dir, write_private
from gridledger.network.nodes import Process
from gridledger.network.polling import poll
from gridledger.network.supervisor import MembersSupervisor, Supervisor, host_supervisor, tail
from gridledger.network.topology import DEFAULT_TOPOLOGY, load

DEMO_TARIFF: dict[str, Any] = {
    "tariffId": "DEMO-RES",
    "effectiveFrom": "2025-01-01T00:00:00Z",
    "currency": "VND",
    "currencyExponent": 0,
    "utcOffsetMinutes": 420,
    "tiers": [
        {"upToKwh": 50, "pricePerKwh": 1984},
        {"upToKwh": 100, "pricePerKwh": 2050},
        {"upToKwh": 200, "pricePerKwh": 2380},
        {"upToKwh": 300, "pricePerKwh": 2998},
        {"upToKwh": 400, "pricePerKwh": 3350},
        {"upToKwh": None, "pricePerKwh": 3460},
    ],
    "taxes": [{"name": "VAT", "rateBasisPoints": 800}],
}
SIMULATOR, BRIDGE = "demo-simulator", "demo-bridge"


class DemoError(GridLedgerError):
    """The demo cannot be set up (network not running, keys lost, ...)."""


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """What ``demo up`` sets up."""

    meters: int = 3
    interval: float = 10.0      # bridge poll interval, seconds
    speed: float = 60.0         # simulated seconds per real second
    top_up: int = 100_000       # tokens (VND) per meter account
    seed: int = 2026
    sim_port: int | None = None     # None: keep the last one, or pick a free one
    http_port: int | None = None


def meter_id(unit: int) -> str:
    """The simulator's name for Modbus unit ``unit``."""
    return f"sim-meter-{unit}"


def customer_id(unit: int) -> str:
    """The demo customer of meter ``unit``."""
    return f"DEMO-CUST-{unit}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _chaincode_status(exc: GatewayError) -> int | None:
    if exc.chaincode_status is not None:
        return exc.chaincode_status
    text = str(exc)
    for status in (404, 409, 403, 400):
        if f"status {status}" in text or f"response {status}" in text:
            return status
    if "not registered" in text or "not found" in text or "no account" in text:
        return 404
    if "already" in text:
        return 409
    return None


class Demo:
    """The demo on one network state directory."""

    def __init__(self, consortium: Consortium, settings: DemoSettings = DemoSettings(), *,
                 say: Callable[[str], None] = lambda m: click.echo(m, err=True)) -> None:
        self.net = consortium
        self.settings = settings
        self.say = say
        self.channel = consortium.topology.channel
        self.dir = consortium.layout.root / "demo"
        self.config_path = self.dir / "bridge.yaml"

    @property
    def layout(self) -> Layout:
        """The network's state directory."""
        return self.net.layout

    # -- checks ---------------------------------------------------------------------------

    def check_network(self) -> None:
        """Refuse (DemoError) unless this topology's network is up and running here."""
        state = self.net.recorded_state()
        if not state.is_up:
            raise DemoError(f"no network is up in {self.layout.root}: run "
                            "`gridledger network up` first")
        if not state.made_for(self.net.topology):
            raise DemoError(f"{self.layout.root} was made with another topology or port "
                            "offset; pass the same --topology/--port-offset as `network up`")
        if not self.net.supervisor.running():
            raise DemoError(f"the network of {self.layout.root} is not running: "
                            "`gridledger network up`")

    # -- configuration ----------------------------------------------------------------------

    def _previous(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.config_path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, yaml.YAMLError):
            return {}

    def write_config(self) -> tuple[int, int, bool]:
        """Write bridge.yaml (ports kept from an earlier run); return the simulator's and
        the bridge's ports, and whether the file changed."""
        previous = self._previous()
        old_sim = old_http = None
        with contextlib.suppress(Exception):
            old_sim = int(previous["meters"][0]["modbus"].rsplit(":", 1)[1])
            old_http = int(previous["http"]["port"])
        sim_port = self.settings.sim_port or old_sim or _free_port()
        http_port = self.settings.http_port or old_http or _free_port()
        s = self.settings
        config = {
            "ledger": {"state_dir": str(self.layout.root), "org": "utility",
                       "identity": "Admin", "channel": self.channel},
            "data_dir": str(self.dir),
            "queue": "queue.sqlite",
            "keys": "keys",
            "checkpoint": "events-checkpoint.json",
            "audit": "relay-audit.jsonl",
            "meters": [{"id": meter_id(u), "modbus": f"tcp://127.0.0.1:{sim_port}", "unit": u,
                        "profile": "gridledger-sim"} for u in range(1, s.meters + 1)],
            # Simulated time runs `speed` times faster: so may the registers.
            "poll": {"interval": s.interval, "retries": 2, "retry_delay": 1.0, "timeout": 2.0,
                     "max_power_w": int(50_000 * max(1.0, s.speed))},
            "send": {"max_age": min(5.0, s.interval), "meters_per_batch": max(1, s.meters),
                     "backoff_max": 30.0},
            "http": {"host": "127.0.0.1", "port": http_port},
            "log": {"level": "INFO", "format": "json"},
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        text = ("# written by `gridledger demo up`; run it again to change it\n"
                + yaml.safe_dump(config, sort_keys=False))
        changed = not self.config_path.exists() or self.config_path.read_text() != text
        if changed:
            tmp = self.config_path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(self.config_path)
        return sim_port, http_port, changed

    def processes(self, sim_port: int, http_port: int) -> list[Process]:
        """The simulator and the bridge as programs of the network's supervisord."""
        s = self.settings
        python = [sys.executable, "-m", "gridledger"]
        sim = Process(
            name=SIMULATOR, kind="demo", org="utility",
            command=[*python, "simulate", "--meters", str(s.meters), "--port", str(sim_port),
                     "--speed", f"{s.speed:g}", "--seed", str(s.seed), "--no-rtu",
                     "--no-serial", "--no-control",
                     "--state", str(self.dir / "simulator-state.json")],
            cwd=str(self.dir), ports=(sim_port,),
        )
        bridge = Process(
            name=BRIDGE, kind="demo", org="utility",
            command=[*python, "bridge", "run", "--config", str(self.config_path)],
            cwd=str(self.dir), ports=(http_port,),
        )
        return [sim, bridge]

    # -- the ledger side --------------------------------------------------------------------

    def ensure_tariff(self) -> str:
        """Set the demo tariff as the Regulator, unless it is there: "set" or "kept"."""
        with Session(self.layout.root, "regulator").gateway("Admin") as gw:
            metering = Metering(gw.network(self.channel))
            try:
                metering.get_tariff(DEMO_TARIFF["tariffId"], format_utc(dt.datetime.now(dt.UTC)))
                return "kept"
            except GatewayError as exc:
                if _chaincode_status(exc) != 404:
                    raise
            try:
                metering.set_tariff(DEMO_TARIFF)
            except GatewayError as exc:
                if _chaincode_status(exc) != 409:
                    raise
            return "set"

    def ensure_meters(self, registers: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
        """Register meters, open and fund their accounts; return a line per meter."""
        keys = KeyStore(self.dir / "keys")
        out = []
        session = Session(self.layout.root, "utility")
        with session.gateway("Admin") as gw:
            network = gw.network(self.channel)
            metering, wattcoin = Metering(network), Wattcoin(network)
            for unit in range(1, self.settings.meters + 1):
                mid, cust = meter_id(unit), customer_id(unit)
                pem = keys.public_key_pem(mid)
                try:
                    record = metering.get_meter(mid)["meter"]
                except GatewayError as exc:
                    if _chaincode_status(exc) != 404:
                        raise
                    record = None
                if record is None:
                    imp, exp = registers[mid]
                    metering.register_meter({
                        "meterId": mid, "publicKeyPem": pem, "curve": "P-256",
                        "customerId": cust, "tariffId": DEMO_TARIFF["tariffId"],
                        "deviceProfile": "gridledger-sim", "location": "GridLedger demo",
                        "installDate": dt.date.today().isoformat(),
                        "initialImportWh": imp, "initialExportWh": exp,
                    })
                    registered = "registered"
                elif record["publicKeyPem"].strip() != pem.strip():
                    raise DemoError(
                        f"{mid} is registered with another key than {keys.path(mid)}: the "
                        "demo's keys were lost. Start over with `gridledger network down "
                        "--purge` and `network up`")
                else:
                    registered = "kept"
                address = self.ensure_customer_account(session, cust)
                try:
                    wattcoin.mint(address, self.settings.top_up, f"DEMO-TOPUP-{mid}")
                except GatewayError as exc:
                    if _chaincode_status(exc) != 409:
                        raise
                balance = wattcoin.balance(address)
                out.append({"meterId": mid, "customerId": cust, "meter": registered,
                            "account": address, "balance": balance["balance"],
                            "arrears": balance["arrears"]})
        return out

    def ensure_customer_account(self, session: Session, customer: str) -> str:
        """The customer's own prepaid account, opened and bound by the customer itself."""
        label = f"demo-{customer}"
        if label not in session.wallet:
            # A fixed secret per customer, kept beside the demo's keys: a second run
            # enrolls again rather than failing on "already registered".
            secret_file = self.dir / "customers" / f"{label}.secret"
            if not secret_file.exists():
                write_private(secret_file, secrets.token_urlsafe(18))
            secret = secret_file.read_text().strip()
            with session.ca() as ca:
                with contextlib.suppress(AlreadyRegistered):  # a wallet lost, not the CA
                    ca.register(session.registrar(), label, secret=secret, max_enrollments=-1,
                                attributes=[("role", "customer", True),
                                            ("customerId", customer, True)])
                session.wallet.put(label, session.msp_id, ca.enroll(label, secret))
        with session.gateway(label) as gw:
            wattcoin = Wattcoin(gw.network(self.channel))
            try:
                wattcoin.open_account()
            except GatewayError as exc:
                if _chaincode_status(exc) != 409:
                    raise
            address = wattcoin.my_address()
            if wattcoin.balance(address).get("customerId") != customer:
                wattcoin.bind_customer(customer, address)
        return address

    async def _read_registers(self, sim_port: int) -> dict[str, tuple[int, int]]:
        meters = open_meters([{"id": meter_id(u), "modbus": f"tcp://127.0.0.1:{sim_port}",
                               "unit": u, "profile": "gridledger-sim"}
                              for u in range(1, self.settings.meters + 1)], timeout=2.0)
        try:
            out = {}
            for mid, meter in meters.items():
                sample = await meter.read()
                out[mid] = (sample.import_wh, sample.export_wh)
            return out
        finally:
            for meter in meters.values():
                meter.link.close()  # type: ignore[attr-defined]

    # -- up ----------------------------------------------------------------------------------

    def _wait(self, what: str, check: Callable[[], bool], timeout: float, log: Path) -> None:
        if not poll(check, bool, timeout=timeout, interval=0.5).done:
            raise DemoError(f"{what} within {timeout:.0f} s; last lines of {log}:\n"
                            f"{tail(log)}")

    def up(self) -> dict[str, Any]:
        """Set everything up (idempotent); return a summary."""
        self.check_network()
        sup = host_supervisor(self.layout)
        self.say(f"demo tariff {DEMO_TARIFF['tariffId']} (Regulator): {self.ensure_tariff()}")
        sim_port, http_port, changed = self.write_config()
        sup.add_programs("demo", self.processes(sim_port, http_port))
        self.say(f"simulator: {self.settings.meters} meters on Modbus TCP 127.0.0.1:{sim_port}"
                 f" (time x{self.settings.speed:g})")
        sup.start_process(SIMULATOR)
        self._wait("the simulator did not listen", lambda: _listening(sim_port), 30,
                   self.layout.log(SIMULATOR))
        registers = asyncio.run(self._read_registers(sim_port))
        self.say("meters and prepaid accounts (Utility)")
        meters = self.ensure_meters(registers)
        for m in meters:
            self.say(f"  {m['meterId']}: {m['meter']}, customer {m['customerId']}, "
                     f"balance {m['balance']} VND")
        if changed:
            # Same command line, new configuration: supervisord would keep the old one.
            sup.stop_process(BRIDGE)
        sup.start_process(BRIDGE)
        self.say(f"bridge: polling every {self.settings.interval:g} s; "
                 f"health http://127.0.0.1:{http_port}/healthz")
        self._wait("the bridge did not answer on its health port",
                   lambda: _listening(http_port), 60, self.layout.log(BRIDGE))
        first = meter_id(1)
        heads: dict[str, Any] = {}

        def flowing() -> bool:
            heads.update(self.heads())
            return heads.get(first, {}).get("seq", 0) >= 1

        self._wait("no reading reached the ledger", flowing, 3 * self.settings.interval + 60,
                   self.layout.log(BRIDGE))
        portals = self.ensure_portals(sup)
        dact, market = self.ensure_market_demo()
        return {"stateDir": str(self.layout.root), "config": str(self.config_path),
                "simulatorPort": sim_port, "health": f"http://127.0.0.1:{http_port}/healthz",
                "metrics": f"http://127.0.0.1:{http_port}/metrics",
                "logs": [str(self.layout.log(SIMULATOR)), str(self.layout.log(BRIDGE))],
                "meters": meters, "heads": heads, "portal": portals, "dact": dact,
                "market": market}

    def ensure_market_demo(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Customer 1's DACT for the Aggregator, then the market's demo interval (traded
        once, cleared, settled after delivery): gridledger/demo_market.py."""
        # Both build on this module (its ids, tariff, error statuses): imported here.
        from gridledger.demo_access import DactGrant
        from gridledger.demo_market import MarketDemo

        dact = DactGrant(self.layout.root, self.channel, self.dir, say=self.say).ensure()
        if self.settings.meters < 2:
            self.say("market: skipped (a trade needs two demo meters: --meters 2)")
            return dact, {"skipped": "a trade needs two demo meters"}
        return dact, MarketDemo(self.layout.root, self.channel, self.dir, self.settings.meters,
                                reading_interval=self.settings.interval, say=self.say).market()

    def ensure_portals(self, sup: Supervisor | MembersSupervisor) -> dict[str, Any]:
        """The three portals (``portal-<org>`` under supervisord), an ``operator`` account at
        each and one per demo customer at the Utility's (its ``demo-<customer>`` identity
        imported, key encrypted); generated passwords are kept 0600 in <state>/demo/portal/."""
        from gridledger.webui.portal.provision import start_demo_portals

        customers = [(f"demo-cust-{u}", f"demo-{customer_id(u)}")
                     for u in range(1, self.settings.meters + 1)]
        self.say("portals (Utility, Regulator, Aggregator)")
        return start_demo_portals(self.layout.root, sup, customers, self.dir / "portal")

    def heads(self) -> dict[str, Any]:
        """Each demo meter's latest reading on the ledger (seq, time, energy)."""
        out: dict[str, Any] = {}
        with Session(self.layout.root, "utility").gateway("Admin") as gw:
            metering = Metering(gw.network(self.channel))
            for unit in range(1, self.settings.meters + 1):
                mid = meter_id(unit)
                try:
                    head = metering.get_meter(mid)["head"]
                except GatewayError:
                    continue
                out[mid] = head
        return out


# -- command line ---------------------------------------------------------------------------


@click.group("demo")
@click.option("--state-dir", type=click.Path(path_type=Path), default=default_state_dir,
              show_default=True, help="The network's state directory (env GRIDLEDGER_STATE).")
@click.option("--topology", type=click.Path(path_type=Path), default=DEFAULT_TOPOLOGY,
              show_default=True, help="The topology the network was made with.")
@click.option("--port-offset", type=int, default=0, help="As given to `network up`.")
@click.pass_context
def demo(ctx: click.Context, state_dir: Path, topology: Path, port_offset: int) -> None:
    """Simulated meters feeding the ledger through the bridge, on a running network."""
    ctx.obj = {"state_dir": state_dir, "topology": topology, "port_offset": port_offset}


def _demo(ctx: click.Context, settings: DemoSettings) -> Demo:
    opts = ctx.obj
    return Demo(Consortium(load(opts["topology"], port_offset=opts["port_offset"]),
                           Layout(opts["state_dir"])), settings)


def _show_heads(heads: dict[str, Any], indent: str = "") -> None:
    for mid, head in heads.items():
        click.echo(f"{indent}{mid:14} seq {head.get('seq', 0):>5}  {head.get('intervalEnd')}  "
                   f"import {head.get('importWh', '?')} Wh")


def _show_portals(portal: dict[str, Any]) -> None:
    click.echo("portals:")
    for p in portal["portals"]:
        click.echo(f"  {p['org']:10} {p['url']}")
    click.echo(f"demo accounts (passwords also in {portal['passwords']}/):")
    for a in portal["accounts"]:
        click.echo(f"  {a['url']:24} {a['username']:12} {a['password']:18} ({a['role']})")


@demo.command("up")
@click.option("--meters", default=3, show_default=True, help="Simulated meters.")
@click.option("--interval", default=10.0, show_default=True, help="Seconds between readings.")
@click.option("--speed", default=60.0, show_default=True,
              help="Simulated seconds per real second (registers grow that much faster).")
@click.option("--top-up", default=100_000, show_default=True,
              help="Wattcoin (VND) put on each meter's prepaid account, once.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.pass_context
def demo_up(ctx: click.Context, meters: int, interval: float, speed: float, top_up: int,
            as_json: bool) -> None:
    """Tariff, meters, prepaid accounts, simulator and bridge; wait for readings."""
    if not 1 <= meters <= 247:
        raise click.BadParameter("1..247 (Modbus unit ids)", param_hint="--meters")
    try:
        summary = _demo(ctx, DemoSettings(meters, interval, speed, top_up)).up()
    except GridLedgerError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo("readings are flowing:")
    _show_heads(summary["heads"], indent="  ")
    click.echo(f"health  {summary['health']}\nmetrics {summary['metrics']}")
    click.echo("logs    " + "\n        ".join(summary["logs"]))
    _show_portals(summary["portal"])
    from gridledger import demo_access, demo_market

    click.echo("\n".join([*demo_market.show(summary["market"]), demo_access.show(summary["dact"])]))
    click.echo("stop with `gridledger network down`")


@demo.command("status")
@click.option("--meters", default=3, show_default=True)
@click.pass_context
def demo_status(ctx: click.Context, meters: int) -> None:
    """Each demo meter's latest reading on the ledger."""
    try:
        d = _demo(ctx, DemoSettings(meters))
        d.check_network()
        heads = d.heads()
    except GridLedgerError as exc:
        raise click.ClickException(str(exc)) from None
    _show_heads(heads)
