"""The bridge's configuration file (YAML) -> frozen dataclasses.

::

    ledger:                         # who submits, through which peer
      state_dir: ~/.local/state/gridledger   # the network's state directory (default)
      org: utility                  # organisation in the topology
      identity: Admin               # wallet label (or the org's network identity)
      peer_org: null                # another organisation's peer (default: our own)
      channel: energy               # default: the channel of the shipped topology
      chaincode: metering           # default: the metering chaincode's name
    data_dir: bridge                # base of the relative paths below (default: the
                                    # config file's directory)
    queue: queue.sqlite             # durable store-and-forward queue
    keys: keys                      # bridge-held meter keys (one PEM per meter)
    checkpoint: events.json         # where the ledger event stream resumes
    audit: relay-audit.jsonl        # every relay command and its answer (null: none)
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

The file's shape is a pydantic model (``_File`` below); every mistake raises
:class:`~.errors.ConfigError` naming the file, the place in it and the bad value, one
line per mistake (:mod:`.validation`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from gridledger.network.layout import default_state_dir

from .errors import ConfigError
from .plausibility import Limits
from .poller import PollConfig
from .sender import SendConfig
from .validation import describe, where


@dataclasses.dataclass(frozen=True)
class LedgerSettings:
    """Who submits, and where; ``None`` leaves the choice to the ledger's defaults."""

    state_dir: Path
    org: str = "utility"
    identity: str = "Admin"
    peer_org: str | None = None
    channel: str | None = None      # None: the shipped topology's channel
    chaincode: str | None = None    # None: the metering chaincode


@dataclasses.dataclass(frozen=True)
class HttpSettings:
    """Where ``/metrics`` and ``/healthz`` listen (``port`` None: nowhere)."""

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


# -- the file's shape ---------------------------------------------------------------------


def _as_text(value: Any) -> Any:
    # YAML reads `identity: 1001` or `queue: 2024` as numbers; these are names.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _ip_address(host: str) -> str:
    # An address, not a name: the bridge must not listen wider than the operator meant
    # because a name resolved differently.
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"must be an IP address, got {host!r}") from None


def _meter(spec: Any) -> Any:
    # The rest of a meter's description is checked where meters are opened (bridge.py),
    # which names the entry in the same way.
    if not isinstance(spec, Mapping) or not isinstance(spec.get("id"), str):
        raise ValueError("needs an id")
    if ("line" in spec) == ("modbus" in spec):
        raise ValueError(f"give meter {spec['id']!r} exactly one of modbus (with unit and "
                         "profile) or line")
    return dict(spec)


def _some_meters(meters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not meters:
        raise ValueError("must be a non-empty list")
    return meters


Text = Annotated[str, BeforeValidator(_as_text), Field(min_length=1)]
Host = Annotated[str, AfterValidator(_ip_address)]
Port = Annotated[int, Field(ge=0, le=65535)]
Seconds = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _LedgerFile(_Section):
    state_dir: Text | None = None
    org: Text = LedgerSettings.org
    identity: Text = LedgerSettings.identity
    peer_org: Text | None = None
    channel: Text | None = None
    chaincode: Text | None = None


class _PollFile(_Section):
    interval: Annotated[float, Field(ge=1)] = PollConfig.interval
    retries: Count = PollConfig.retries
    retry_delay: Seconds = PollConfig.retry_delay
    timeout: Annotated[float, Field(ge=0.05)] = 1.0
    max_power_w: Annotated[int, Field(ge=1)] = Limits.max_power_w
    slack_wh: Count = Limits.slack_wh
    max_voltage_dv: Annotated[int, Field(ge=1)] = Limits.max_voltage_dv


class _SendFile(_Section):
    # Ranges that need the sender's own limits (max_batch) are SendConfig's to check.
    max_batch: Count = SendConfig.max_batch
    max_age: Seconds = SendConfig.max_age
    meters_per_batch: Count = SendConfig.meters_per_batch
    max_in_flight: Count = SendConfig.max_in_flight
    backoff_initial: Seconds = SendConfig.backoff_initial
    backoff_max: Seconds = SendConfig.backoff_max
    idle: Seconds = SendConfig.idle


class _HttpFile(_Section):
    host: Host = HttpSettings.host
    port: Port | None = HttpSettings.port


class _HealthFile(_Section):
    max_queue_age: Annotated[float, Field(ge=1)] = BridgeConfig.max_queue_age


class _LogFile(_Section):
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"],
                     BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)] = "INFO"
    format: Literal["json", "text"] = "json"


class _File(_Section):
    ledger: _LedgerFile = _LedgerFile()
    data_dir: Text | None = None
    queue: Text = "queue.sqlite"
    keys: Text = "keys"
    checkpoint: Text = "events-checkpoint.json"
    audit: Text | None = "relay-audit.jsonl"
    archive: bool = False
    meters: Annotated[list[Annotated[dict[str, Any], BeforeValidator(_meter)]],
                      AfterValidator(_some_meters)] = Field(default_factory=list,
                                                            validate_default=True)
    poll: _PollFile = _PollFile()
    send: _SendFile = _SendFile()
    http: _HttpFile = _HttpFile()
    health: _HealthFile = _HealthFile()
    log: _LogFile = _LogFile()


def _empty_sections(data: Any) -> Any:
    # `poll:` with nothing under it reads as null in YAML: it means "all defaults".
    if isinstance(data, Mapping):
        return {k: ({} if v is None and k in _SECTIONS else v) for k, v in data.items()}
    return data


_SECTIONS = {"ledger", "poll", "send", "http", "health", "log"}


# -- building the configuration -----------------------------------------------------------


def parse_config(data: Any, source: Path) -> BridgeConfig:
    """Check ``data`` (the parsed YAML of ``source``) and build the configuration."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the file must hold a mapping of sections")
    try:
        raw = _File.model_validate(_empty_sections(data))
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc, message = describe(error, _File)
            lines.append(f"{source}: {where(loc) or 'top level'}: {message}")
        raise ConfigError("\n".join(lines)) from None
    base = source.parent
    if raw.data_dir:
        base = (base / Path(raw.data_dir).expanduser()).resolve()

    def path(value: str) -> Path:
        return (base / Path(value).expanduser()).resolve()

    state_dir = Path(raw.ledger.state_dir or default_state_dir()).expanduser()
    if not state_dir.is_absolute():
        state_dir = (source.parent / state_dir).resolve()
    led = raw.ledger
    ledger = LedgerSettings(state_dir=state_dir, org=led.org, identity=led.identity,
                            peer_org=led.peer_org, channel=led.channel,
                            chaincode=led.chaincode)
    p = raw.poll
    poll = PollConfig(interval=p.interval, retries=p.retries, retry_delay=p.retry_delay,
                      limits=Limits(max_power_w=p.max_power_w, slack_wh=p.slack_wh,
                                    max_voltage_dv=p.max_voltage_dv))
    try:
        send = SendConfig(**raw.send.model_dump())
    except ValueError as exc:
        raise ConfigError(f"{source}: send: {exc}") from None
    return BridgeConfig(
        source=source, ledger=ledger, queue=path(raw.queue), keys=path(raw.keys),
        checkpoint=path(raw.checkpoint), audit=path(raw.audit) if raw.audit else None,
        meters=tuple(raw.meters), poll=poll, send=send, read_timeout=p.timeout,
        archive=raw.archive, http=HttpSettings(raw.http.host, raw.http.port),
        max_queue_age=raw.health.max_queue_age, log_level=raw.log.level,
        log_format=raw.log.format,
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
