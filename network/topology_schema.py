"""The topology file's shape, checked by pydantic before anything is built from it.

The models mirror ``network/topology.yaml``; :func:`validate` checks a parsed file and
shifts every port by the port offset, :func:`problems` turns pydantic's errors into
lines that name the place in the file (``organisations[2].orderer.admin_port``) and the
value that is wrong.  :mod:`.topology` builds the frozen :class:`~.topology.Topology`
from the result.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)


def _shift_port(value: int, info: ValidationInfo) -> int:
    # The offset lets a second copy of the network (the test suite's) run beside the main
    # one; a port must stay usable after the shift.
    offset = (info.context or {}).get("port_offset", 0)
    if not 1 <= value + offset <= 65535:
        shifted = f" (shifted by the port offset {offset}: {value + offset})" if offset else ""
        raise ValueError(f"{value!r} is not a usable TCP port{shifted}")
    return value + offset


def _number_as_text(value: Any) -> Any:
    # YAML reads `version: 1.0` as a number; Fabric's version is a label, so keep its text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _channel_name(value: str) -> str:
    # Fabric's own rule (configtx ValidateChannelID); configtxgen would refuse it later.
    if not re.fullmatch(r"[a-z][a-z0-9.-]{0,248}", value):
        raise ValueError(
            f"{value!r} is not a Fabric channel name: lower-case letters, digits, '.' and '-', "
            "starting with a letter, at most 249 characters"
        )
    return value


Port = Annotated[StrictInt, AfterValidator(_shift_port)]
Name = Annotated[StrictStr, Field(min_length=1)]
ChannelName = Annotated[StrictStr, AfterValidator(_channel_name)]
Version = Annotated[StrictStr, BeforeValidator(_number_as_text), Field(min_length=1)]


class File(BaseModel):
    # Unknown keys are ignored, as they always were: a comment-like extra key in someone's
    # topology must not stop their network.
    model_config = ConfigDict(frozen=True)


class CAFile(File):
    port: Port
    operations_port: Port


class PeerFile(File):
    name: Name
    port: Port
    chaincode_port: Port
    operations_port: Port


class OrdererFile(File):
    name: Name
    port: Port
    admin_port: Port
    operations_port: Port


class ChaincodeServerFile(File):
    port: Port


class OrganisationFile(File):
    name: Name
    msp_id: Name
    host: Name = "127.0.0.1"
    ca: CAFile
    peer: PeerFile
    orderer: OrdererFile
    chaincode_server: ChaincodeServerFile


class ChaincodeFile(File):
    name: Name
    version: Version
    sequence: int = Field(ge=1)
    contracts: tuple[Name, ...] = Field(min_length=1)
    endorsement_policy: Name
    # Private data collections, in the JSON shape `peer lifecycle --collections-config` takes.
    collections: tuple[dict[str, Any], ...] = ()
    # The channels it is defined on (one package, one server, a definition per channel);
    # unset: the main channel only.
    channels: tuple[ChannelName, ...] | None = Field(default=None, min_length=1)

    @field_validator("channels")
    @classmethod
    def _distinct(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _distinct_channels(value)


class TopologyFile(File):
    name: Name
    # The application channels; the first is the main one (the clients' default).
    channels: tuple[ChannelName, ...] | None = Field(default=None, min_length=1)
    # The older one-channel key, still read: `channel: energy` is `channels: [energy]`.
    channel: ChannelName | None = None
    organisations: tuple[OrganisationFile, ...] = Field(min_length=1)
    chaincodes: tuple[ChaincodeFile, ...] = ()

    @field_validator("channels")
    @classmethod
    def _distinct(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _distinct_channels(value)

    @model_validator(mode="after")
    def _one_channel_key(self) -> TopologyFile:
        if self.channels is not None and self.channel is not None:
            raise ValueError(
                "both `channel` and `channels` are given: keep `channels` (a list, the main "
                "channel first) and remove `channel`"
            )
        if self.channels is None and self.channel is None:
            raise ValueError("missing field 'channels' (the application channels, main first)")
        if self.channels is None:
            return self.model_copy(update={"channels": (self.channel,), "channel": None})
        return self

    @property
    def channel_names(self) -> tuple[str, ...]:
        """The channels, whichever key named them (checked: never empty)."""
        assert self.channels is not None  # _one_channel_key made sure
        return self.channels


def _distinct_channels(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value is not None and len(set(value)) != len(value):
        twice = sorted({c for c in value if value.count(c) > 1})
        raise ValueError(f"channel {', '.join(map(repr, twice))} is named more than once")
    return value


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a path into the file: ``organisations[2].orderer``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "topology"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _problem(error: Any) -> str:
    """One pydantic error as a line that names the place and the bad value."""
    loc, kind = tuple(error["loc"]), error["type"]
    if kind == "missing":
        return f"{_where(loc[:-1])}: missing field {loc[-1]!r}"
    where = _where(loc)
    if kind == "value_error":
        return f"{where}: {error['ctx']['error']}"
    if kind in ("model_type", "dict_type"):
        return f"{where}: should be a mapping of fields, got {_shown(error['input'])}"
    if kind in ("tuple_type", "list_type"):
        return f"{where}: should be a list, got {_shown(error['input'])}"
    message = error["msg"][:1].lower() + error["msg"][1:]
    return f"{where}: {message}, got {_shown(error['input'])}"


def validate(data: Any, port_offset: int = 0) -> TopologyFile:
    """Check parsed YAML against the file's shape; raises pydantic's ValidationError."""
    return TopologyFile.model_validate(data, context={"port_offset": port_offset})


def problems(error: ValidationError) -> list[str]:
    """Each of pydantic's errors as one line naming the place and the bad value."""
    return [_problem(e) for e in error.errors()]
