"""The bridge's configuration file (YAML) -> frozen dataclasses.

::

    ledger:                         # who submits, through which peer
      state_dir: ~/.local/state/gridledger   # the network's state directory (default)
      org: utility                  # organisation in the topology
      identity: Admin               # wallet label (or the org's network identity)
      peer_org: null                # another organisation's peer (default: our own)
      channel: energy
      chaincode: metering
    data_dir: bridge                # base of the relative paths below (default: the
                                    # config file's directory)
    queue: queue.sqlite             # durable store-and-forward queue
    keys: keys                      # bridge-held meter keys (one PEM per meter)
    checkpoint: events.json         # where the ledger event stream resumes
    audit: relay-audit.jsonl        # every relay command and its answer
    archive: false                  # keep committed readings in the queue database
    meters:                         # as bridge.open_meters takes them
      - {id: sim-meter-1, modbus: "tcp://127.0.0.1:5020", unit: 1, profile: gridledger-sim}
    poll: {interval: 900, retries: 2, retry_delay: 2.0, timeout: 1.0,
           max_power_w: 50000, slack_wh: 100, max_voltage_dv: 5000}
    send: {max_batch: 500, max_age: 5.0, meters_per_batch: 1, max_in_flight: 4,
           backoff_initial: 1.0, backoff_max: 60.0}
    http: {host: 127.0.0.1, port: 9464}    # /metrics and /healthz; port null: off
    health: {max_queue_age: 1800}          # /healthz says 503 beyond this
    log: {level: INFO, format: json}       # json | text

Every mistake raises :class:`~.errors.ConfigError` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gridledger.network.layout import default_state_dir

from .errors import ConfigError
from .plausibility import Limits
from .poller import PollConfig
from .sender import SendConfig


@dataclasses.dataclass(frozen=True)
class LedgerSettings:
    state_dir: Path
    org: str = "utility"
    identity: str = "Admin"
    peer_org: str | None = None
    channel: str = "energy"
    chaincode: str = "metering"


@dataclasses.dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int | None = 9464


@dataclasses.dataclass(frozen=True)
class BridgeConfig:
    """Everything ``gridledger bridge run`` needs."""

    source: Path
    ledger: LedgerSettings
    queue: Path
    keys: Path
    checkpoint: Path
    audit: Path | None
    meters: tuple[Mapping[str, Any], ...]
    poll: PollConfig
    send: SendConfig
    read_timeout: float = 1.0
    archive: bool = False
    http: HttpSettings = HttpSettings()
    max_queue_age: float = 1800.0
    log_level: str = "INFO"
    log_format: str = "json"


def _section(data: Mapping[str, Any], name: str, source: Path) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: {name}: must be a mapping")
    return dict(value)


def _known(section: dict[str, Any], allowed: set[str], where: str, source: Path) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(f"{source}: {where}: unknown field(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(allowed))}")


def _number(section: dict[str, Any], key: str, default: Any, where: str, source: Path,
            kind: type = float, minimum: float | None = None) -> Any:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            kind is int and not isinstance(value, int)):
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{source}: {where}.{key}: must be {what}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{source}: {where}.{key}: must be >= {minimum}, got {value!r}")
    return kind(value)


def parse_config(data: Any, source: Path) -> BridgeConfig:
    """Check ``data`` (the parsed YAML of ``source``) and build the configuration."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the file must hold a mapping")
    _known(dict(data), {"ledger", "data_dir", "queue", "keys", "checkpoint", "audit", "archive",
                        "meters", "poll", "send", "http", "health", "log"}, "top level", source)
    base = source.parent
    if data.get("data_dir"):
        base = (base / Path(str(data["data_dir"])).expanduser()).resolve()

    def path(key: str, default: str | None) -> Path | None:
        value = data.get(key, default)
        if value is None:
            return None
        return (base / Path(str(value)).expanduser()).resolve()

    led = _section(data, "ledger", source)
    _known(led, {f.name for f in dataclasses.fields(LedgerSettings)}, "ledger", source)
    state_dir = Path(str(led.pop("state_dir", default_state_dir()))).expanduser()
    if not state_dir.is_absolute():
        state_dir = (source.parent / state_dir).resolve()
    ledger = LedgerSettings(state_dir=state_dir, **{k: (None if v is None else str(v))
                                                    for k, v in led.items()})

    meters = data.get("meters")
    if not isinstance(meters, list) or not meters:
        raise ConfigError(f"{source}: meters: must be a non-empty list")
    for index, spec in enumerate(meters):
        if not isinstance(spec, Mapping) or not isinstance(spec.get("id"), str):
            raise ConfigError(f"{source}: meters[{index}]: needs an id")
        if ("line" in spec) == ("modbus" in spec):
            raise ConfigError(f"{source}: meters[{index}] ({spec['id']}): give exactly one of "
                              "modbus (with unit and profile) or line")

    poll_in = _section(data, "poll", source)
    _known(poll_in, {"interval", "retries", "retry_delay", "timeout", "max_power_w",
                     "slack_wh", "max_voltage_dv"}, "poll", source)
    defaults = Limits()
    limits = Limits(
        max_power_w=_number(poll_in, "max_power_w", defaults.max_power_w, "poll", source,
                            int, 1),
        slack_wh=_number(poll_in, "slack_wh", defaults.slack_wh, "poll", source, int, 0),
        max_voltage_dv=_number(poll_in, "max_voltage_dv", defaults.max_voltage_dv, "poll",
                               source, int, 1),
    )
    poll = PollConfig(
        interval=_number(poll_in, "interval", 900.0, "poll", source, float, 1),
        retries=_number(poll_in, "retries", 2, "poll", source, int, 0),
        retry_delay=_number(poll_in, "retry_delay", 2.0, "poll", source, float, 0),
        limits=limits,
    )
    read_timeout = _number(poll_in, "timeout", 1.0, "poll", source, float, 0.05)

    send_in = _section(data, "send", source)
    send_fields = {f.name for f in dataclasses.fields(SendConfig)}
    _known(send_in, send_fields, "send", source)
    try:
        send = SendConfig(**{k: _number(send_in, k, 0, "send", source,
                                        int if k in ("max_batch", "meters_per_batch",
                                                     "max_in_flight") else float, 0)
                             for k in send_in})
    except ValueError as exc:
        raise ConfigError(f"{source}: send: {exc}") from None

    http_in = _section(data, "http", source)
    _known(http_in, {"host", "port"}, "http", source)
    host = str(http_in.get("host", "127.0.0.1"))
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"{source}: http.host: must be an IP address, got {host!r}") from None
    port = http_in.get("port", 9464)
    if port is not None and (not isinstance(port, int) or not 0 <= port <= 65535):
        raise ConfigError(f"{source}: http.port: must be 0..65535 or null, got {port!r}")

    health_in = _section(data, "health", source)
    _known(health_in, {"max_queue_age"}, "health", source)
    log_in = _section(data, "log", source)
    _known(log_in, {"level", "format"}, "log", source)
    level = str(log_in.get("level", "INFO")).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"{source}: log.level: DEBUG, INFO, WARNING or ERROR, got {level!r}")
    fmt = str(log_in.get("format", "json"))
    if fmt not in ("json", "text"):
        raise ConfigError(f"{source}: log.format: json or text, got {fmt!r}")

    queue, keys, checkpoint = (path("queue", "queue.sqlite"), path("keys", "keys"),
                               path("checkpoint", "events-checkpoint.json"))
    assert queue and keys and checkpoint
    return BridgeConfig(
        source=source, ledger=ledger, queue=queue, keys=keys, checkpoint=checkpoint,
        audit=path("audit", "relay-audit.jsonl"), meters=tuple(dict(m) for m in meters),
        poll=poll, send=send, read_timeout=read_timeout, archive=bool(data.get("archive")),
        http=HttpSettings(host, port),
        max_queue_age=_number(health_in, "max_queue_age", 1800.0, "health", source, float, 1),
        log_level=level, log_format=fmt,
    )


def load_config(path: str | Path) -> BridgeConfig:
    """Read and check a configuration file."""
    source = Path(path).expanduser().absolute()
    try:
        data = yaml.safe_load(source.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    return parse_config(data, source)
