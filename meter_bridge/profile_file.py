"""A device profile's YAML file, checked by pydantic models, into a :class:`Profile`.

The file is composed into YAML nodes first, so every key keeps its line; the plain
values go through the models below (one per quantity, with that quantity's units and
Modbus functions), and each pydantic error becomes a :class:`ProfileError` naming the
file, the line and the field (:mod:`.validation` words the message). Keys are checked
while composing: pydantic never sees a key that appears twice.

``defaults`` (function, type, word order, status) fill in what a register quantity leaves
out; a bad default is reported where it is written, ``defaults.type``, once a quantity
uses it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from .errors import ProfileError
from .profile_specs import (
    DATATYPES,
    QUANTITIES,
    STATUSES,
    BitSpec,
    Profile,
    RegisterSpec,
    SerialSettings,
)
from .validation import Loc, choice, describe, where

# -- the file's shape ---------------------------------------------------------------------


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError(f"must be a non-empty string, got {text!r}")
    return text


def _exact(value: Any) -> Any:
    # repr() keeps what the author wrote (0.1 stays 0.1, not its binary expansion).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {value!r}")
    if (isinstance(value, float) and not math.isfinite(value)) or value == 0:
        raise ValueError(f"must be a finite non-zero number, got {value!r}")
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


Text = Annotated[str, AfterValidator(_not_blank)]
Address = Annotated[int, Field(ge=0, le=65535)]
Scale = Annotated[Decimal, BeforeValidator(_exact)]
Status = Literal[STATUSES]  # type: ignore[valid-type]
DataType = Literal[tuple(DATATYPES)]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Register(_Strict):
    """A register quantity; each quantity narrows ``function`` and ``unit`` (below)."""

    function: choice(3, 4)  # type: ignore[valid-type]
    type: DataType
    word_order: Literal["big", "little"] = "big"
    scale: Scale = Decimal(1)
    unit: str
    status: Status | None = None
    note: Any = None
    address: Address        # after ``type``: its check needs the type's size

    @field_validator("address")
    @classmethod
    def _fits(cls, address: int, info: ValidationInfo) -> int:
        datatype = info.data.get("type")
        if datatype is not None and address + DATATYPES[datatype] > 65536:
            raise ValueError(f"{datatype} at {address} runs past register 65535")
        return address


class _Bit(_Strict):
    """A coil or discrete input; each quantity narrows ``function`` (below)."""

    function: choice(1, 2)  # type: ignore[valid-type]
    address: Address
    invert: bool = False
    status: Status | None = None
    note: Any = None


def _quantity_model(name: str) -> type[BaseModel]:
    kind = QUANTITIES[name]
    if kind.target is None:
        return create_model(f"_{name}", __base__=_Bit,
                            function=(choice(*kind.functions), ...))
    return create_model(f"_{name}", __base__=_Register,
                        function=(choice(*kind.functions), ...),
                        unit=(Literal[tuple(kind.units)], ...))  # type: ignore[valid-type]


class _QuantitiesBase(_Strict):
    noun: ClassVar[str] = "quantity"     # "missing required quantity 'voltage'"


_Quantities = create_model(
    "_Quantities", __base__=_QuantitiesBase,
    **{name: (_quantity_model(name) if kind.required else _quantity_model(name) | None,
              ... if kind.required else None)
       for name, kind in QUANTITIES.items()},
)


class _Serial(_Strict):
    baudrate: choice(1200, 2400, 4800, 9600, 19200, 38400, 57600,  # type: ignore[valid-type]
                     115200) = SerialSettings.baudrate
    parity: Literal["N", "E", "O"] = "N"
    stopbits: choice(1, 2) = SerialSettings.stopbits  # type: ignore[valid-type]
    bytesize: choice(7, 8) = SerialSettings.bytesize  # type: ignore[valid-type]


class _Defaults(_Strict):
    # Checked as part of each register quantity that takes them (see _merge_defaults).
    function: Any = None
    type: Any = None
    word_order: Any = None
    status: Any = None


class _ProfileFile(_Strict):
    name: Text
    status: Literal["verified", "partial", "assumed"]
    manufacturer: Text = ""
    model: Text = ""
    source: Text = ""
    notes: Text = ""
    serial: _Serial = _Serial()
    max_gap: Annotated[int, Field(ge=0, le=120)] = 0
    defaults: _Defaults = _Defaults()
    quantities: _Quantities  # type: ignore[valid-type]


# -- YAML with positions ------------------------------------------------------------------

Places = dict[Loc, tuple[str, int]]     # location -> (field as named in errors, line)


def _plain(node: yaml.Node, loc: Loc, loader: yaml.SafeLoader, source: str,
           places: Places, seen: frozenset[int] = frozenset()) -> Any:
    """The node's value as plain Python; records where each key is written."""
    if id(node) in seen:
        raise ProfileError(source, node.start_mark.line + 1, where(loc) or "profile",
                           "refers to itself (a recursive YAML alias)")
    seen = seen | {id(node)}
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            name = f"{where(loc)}.{key}" if loc else str(key)
            if not isinstance(key, str):
                raise ProfileError(source, line, name, "keys must be strings")
            if key in out:
                raise ProfileError(source, line, name, "appears twice")
            places[(*loc, key)] = (name, line)
            out[key] = _plain(value_node, (*loc, key), loader, source, places, seen)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*loc, i), loader, source, places, seen)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _merge_defaults(data: dict[str, Any], places: Places) -> None:
    """Give each register quantity the defaults it leaves out, placed where they are written."""
    defaults, quantities = data.get("defaults"), data.get("quantities")
    if not isinstance(defaults, dict) or not isinstance(quantities, dict):
        return
    for name, own in quantities.items():
        kind = QUANTITIES.get(name)
        if kind is None or kind.target is None or not isinstance(own, dict):
            continue
        for key in _Defaults.model_fields:
            if key in defaults and key not in own:
                own[key] = defaults[key]
                places[("quantities", name, key)] = places[("defaults", key)]


def _place(loc: Loc, places: Places) -> tuple[str, int]:
    """The field and line to name for ``loc``: its own, else its nearest written parent."""
    while loc not in places:
        loc = loc[:-1]
    return places[loc]


def parse_profile(text: str, source: str = "<string>") -> Profile:
    """Parse and check a profile's YAML text; ``source`` names it in errors."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ProfileError(source, line, "yaml", str(exc.problem or exc)) from None
    except yaml.YAMLError as exc:
        raise ProfileError(source, None, "yaml", str(exc)) from None
    finally:
        loader.dispose()
    if root is None:
        raise ProfileError(source, 1, "profile", "file is empty")
    places: Places = {(): ("profile", root.start_mark.line + 1)}
    try:
        data = _plain(root, (), loader, source, places)
    except yaml.YAMLError as exc:  # a malformed tag or value found while constructing
        raise ProfileError(source, None, "yaml", str(exc)) from None
    if isinstance(data, dict):
        _merge_defaults(data, places)
    try:
        raw = _ProfileFile.model_validate(data)
    except ValidationError as exc:
        found = []
        for error in exc.errors():
            loc, message = describe(error, _ProfileFile)
            field, line = _place(loc, places)
            # Which one to name: a profile without a name, status or quantities is that
            # first; then the first wrong value in the file; then what else is missing.
            missing = error["type"] == "missing"
            rank = (0 if not loc else 2) if missing else 1
            found.append(((rank, line), field, line, message))
        _, field, line, message = min(found, key=lambda f: f[0])
        raise ProfileError(source, line, field, message) from None
    return _profile(raw, source, places)


# -- building the profile -----------------------------------------------------------------


def _profile(raw: _ProfileFile, source: str, places: Places) -> Profile:
    inherited = "verified" if raw.status == "verified" else "assumed"
    registers: dict[str, RegisterSpec] = {}
    bits: dict[str, BitSpec] = {}
    for name in QUANTITIES:
        q = getattr(raw.quantities, name)
        if q is None:
            continue
        line = places[("quantities", name)][1]
        if isinstance(q, _Register):
            registers[name] = RegisterSpec(
                quantity=name, address=q.address, function=q.function, datatype=q.type,
                word_order=q.word_order, scale=q.scale, unit=q.unit,
                status=q.status or inherited, line=line)
        else:
            assert isinstance(q, _Bit)
            bits[name] = BitSpec(quantity=name, address=q.address, function=q.function,
                                 invert=q.invert, status=q.status or inherited, line=line)
    # In the file's order, as before: check-profile lists them as written.
    order = [key[1] for key in places if len(key) == 2 and key[0] == "quantities"]
    return Profile(
        name=raw.name, manufacturer=raw.manufacturer, model=raw.model, status=raw.status,
        source=raw.source, notes=raw.notes,
        serial=SerialSettings(raw.serial.baudrate, raw.serial.parity, raw.serial.stopbits,
                              raw.serial.bytesize),
        max_gap=raw.max_gap,
        registers={n: registers[n] for n in order if n in registers},
        bits={n: bits[n] for n in order if n in bits},
        path=source,
    )
