"""Command-line entry points of the meter bridge (registered in the ``gridledger`` CLI).

``simulate``        run simulated meters (Modbus TCP/RTU, line protocol) for demos
``check-profile``   validate a device profile file and show what it reads
``bridge run``      run the bridge from a configuration file (see :mod:`.config`)
``bridge status``   what its queue holds: waiting, refused, each meter's last reading
``bridge requeue``  send a meter's refused readings again (an operator's decision)

(``demo up|status``, which drives a whole network, is :mod:`gridledger.demo`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys

import click

from .errors import ConfigError, ProfileError
from .profiles import resolve_profile
from .simulators import Simulation, run_simulator

CONTROL_HELP = ("commands: alarm <meterId> fire|flood|gas on|off | relay <meterId> "
                "open|close | status | help")


def _control(sim: Simulation, line: str) -> str:
    """Execute one console command against a running simulation; return the answer."""
    words = line.split()
    if not words or words[0] == "help":
        return CONTROL_HELP
    meters = {m.meter_id: m for m in sim.modbus.meters.values()}
    if sim.line:
        meters.update(sim.line.meters)
    if words[0] == "status":
        out = []
        for meter in meters.values():
            meter.advance(sim.clock.now())
            s = meter.sample()
            out.append(f"{meter.meter_id}: import {s.import_wh} Wh export {s.export_wh} Wh "
                       f"power {s.power_w} W relay {'closed' if s.relay_closed else 'OPEN'} "
                       f"alarms {','.join(sorted(s.alarms)) or '-'}")
        return "\n".join(out)
    if len(words) == 4 and words[0] == "alarm" and words[1] in meters:
        sim.set_alarm(words[1], words[2], words[3] == "on")
        return f"{words[1]}: {words[2]} {words[3]}"
    if len(words) == 3 and words[0] == "relay" and words[1] in meters:
        meters[words[1]].relay_closed = words[2] == "close"
        return f"{words[1]}: relay {words[2]}"
    return f"? {CONTROL_HELP}"


async def _simulate(meters: int, port: int, speed: float, rtu: bool, serial: bool,
                    line_meters: int, push_interval: float, noise: float,
                    seed: int | None, control: bool, state: str | None = None) -> None:
    loop = asyncio.get_running_loop()
    started: asyncio.Future[Simulation] = loop.create_future()
    task = asyncio.ensure_future(run_simulator(
        meters, port, rtu, serial, speed=speed, line_meters=line_meters,
        push_interval=push_interval, noise=noise, seed=seed, state=state, started=started))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():      # failed before it started (a port in use): say why
        await task
        return
    sim = started.result()
    click.echo(f"GridLedger meter simulator, time x{speed:g}")
    for line in sim.describe():
        click.echo(f"  {line}")
    click.echo("  Modbus meters: " + ", ".join(
        f"unit {u} = {m.meter_id}" for u, m in sim.modbus.meters.items()))
    if control and sys.stdin.isatty():
        click.echo(f"  {CONTROL_HELP}")
        loop.add_reader(sys.stdin.fileno(),
                        lambda: click.echo(_control(sim, sys.stdin.readline())))
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(sys.stdin.fileno())


@click.command("simulate")
@click.option("--meters", "meters", default=3, show_default=True,
              type=click.IntRange(1, 247),
              help="Modbus meters (unit ids 1..N); every third is a prosumer with solar.")
@click.option("--port", default=5020, show_default=True,
              help="Modbus TCP port on 127.0.0.1 (0 picks a free one).")
@click.option("--speed", default=1.0, show_default=True,
              help="Simulated seconds per real second.")
@click.option("--rtu/--no-rtu", default=True, show_default=True,
              help="Also serve Modbus RTU on a pseudo-terminal.")
@click.option("--serial/--no-serial", default=True, show_default=True,
              help="Also run line-protocol (NodeMCU-style) meters on a pseudo-terminal.")
@click.option("--line-meters", default=1, show_default=True,
              help="Meters on the line-protocol pty.")
@click.option("--push-interval", default=5.0, show_default=True,
              help="Seconds between pushed line-protocol readings.")
@click.option("--noise", default=0.0, show_default=True,
              help="Chance that a pushed line is damaged (shows the checksum at work).")
@click.option("--seed", type=int, default=None, help="Seed for reproducible meters.")
@click.option("--control/--no-control", default=True, show_default=True,
              help="Read commands (alarms, relays) from the terminal.")
@click.option("--state", "state", metavar="FILE", default=None,
              help="Keep the Modbus meters' registers in FILE across restarts.")
def simulate(meters: int, port: int, speed: float, rtu: bool, serial: bool, line_meters: int,
             push_interval: float, noise: float, seed: int | None, control: bool,
             state: str | None) -> None:
    """Run simulated meters for demos and tests; print where they listen."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING)
    # pymodbus logs every unanswered request at ERROR; the simulator drops some on purpose.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_simulate(meters, port, speed, rtu, serial, line_meters, push_interval,
                              noise, seed, control, state))


@click.command("check-profile")
@click.argument("profile")
def check_profile(profile: str) -> None:
    """Validate a device profile (a file, or a built-in name) and list its quantities."""
    try:
        parsed = resolve_profile(profile)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{parsed.name}: {parsed.manufacturer} {parsed.model} ({parsed.status})")
    for spec in parsed.registers.values():
        click.echo(f"  {spec.quantity:14} fc{spec.function} @{spec.address:<5} {spec.datatype}"
                   f" {spec.word_order}-word x{spec.scale} {spec.unit} -> {spec.target}"
                   f" [{spec.status}]")
    for bit in parsed.bits.values():
        click.echo(f"  {bit.quantity:14} fc{bit.function} @{bit.address:<5}"
                   f"{' inverted' if bit.invert else ''} [{bit.status}]")


def _config(path: str):  # -> BridgeConfig
    from .config import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("bridge")
def bridge() -> None:
    """The meter bridge: meters -> signed readings -> queue -> ledger, and relays back."""


_CONFIG = click.option("--config", "config_path", required=True, metavar="FILE",
                       help="The bridge's YAML configuration.")


@bridge.command("run")
@_CONFIG
def bridge_run(config_path: str) -> None:
    """Run the bridge until SIGTERM/SIGINT; metrics and health on 127.0.0.1."""
    from .service import main

    main(_config(config_path))


@bridge.command("status")
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bridge_status(config_path: str, as_json: bool) -> None:
    """What the queue holds: waiting and refused readings, each meter's last reading."""
    from .queue import ReadingQueue

    config = _config(config_path)
    queue = ReadingQueue(config.queue)
    try:
        meters = {}
        for spec in config.meters:
            seq, last = queue.last(spec["id"])
            meters[spec["id"]] = {"lastSeq": seq,
                                  "lastIntervalEnd": last["intervalEnd"] if last else None}
        report = {
            "queue": str(config.queue), "waiting": queue.depth(),
            "oldestAgeSeconds": queue.oldest_age(), "meters": meters,
            "refused": [{"meterId": r.meter_id, "seq": r.seq, "code": r.code,
                         "reason": r.reason} for r in queue.refused()],
        }
    finally:
        queue.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"queue {report['queue']}: {report['waiting']} waiting")
    for meter_id, info in meters.items():
        click.echo(f"  {meter_id:20} last seq {info['lastSeq']:>6}  {info['lastIntervalEnd']}")
    for r in report["refused"]:
        click.echo(f"  refused {r['meterId']} seq {r['seq']}: {r['code']} {r['reason']}")


@bridge.command("requeue")
@_CONFIG
@click.argument("meter_id")
def bridge_requeue(config_path: str, meter_id: str) -> None:
    """Queue METER_ID's refused readings again (after fixing what the ledger refused)."""
    from .queue import ReadingQueue

    queue = ReadingQueue(_config(config_path).queue)
    try:
        click.echo(f"{queue.requeue_refused(meter_id)} readings of {meter_id} queued again")
    finally:
        queue.close()


COMMANDS = [simulate, check_profile, bridge]
