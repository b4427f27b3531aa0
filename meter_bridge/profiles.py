"""Device profiles: where a meter keeps each quantity, and how to turn it into reading units.

A profile is a YAML file (see ``profiles/*.yaml`` and README.md); a new meter model needs a
new file, never new code. Every mistake raises :class:`ProfileError` naming the file, the
line and the field: the file is composed into a YAML node tree first, so each value keeps
its position.

Register quantities convert to the chaincode's integer units::

    value in reading units = round_half_even(raw x scale x factor(unit))

e.g. ``import_energy`` with ``unit: kWh`` has factor 1000 (to Wh), ``voltage`` with
``unit: V`` has factor 10 (to decivolts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import ProfileError

#: Registers per value for each data type (Modbus registers are 16 bits).
DATATYPES: dict[str, int] = {
    "uint16": 1, "int16": 1, "uint32": 2, "int32": 2,
    "uint64": 4, "int64": 4, "float32": 2, "float64": 4,
}
FUNCTIONS = {1: "coils", 2: "discrete inputs", 3: "holding registers", 4: "input registers"}
STATUSES = ("verified", "assumed")


@dataclasses.dataclass(frozen=True)
class QuantityKind:
    """What a profile quantity means and which units it may come in."""

    target: str | None            # reading member it feeds (None for bits)
    units: dict[str, Decimal]     # unit -> factor to the reading's unit
    required: bool = False
    functions: tuple[int, ...] = (3, 4)


_ENERGY = {"Wh": Decimal(1), "kWh": Decimal(1000), "MWh": Decimal(1_000_000)}
QUANTITIES: dict[str, QuantityKind] = {
    "import_energy": QuantityKind("importWh", _ENERGY, required=True),
    "export_energy": QuantityKind("exportWh", _ENERGY),
    "voltage": QuantityKind(
        "voltageDv", {"V": Decimal(10), "dV": Decimal(1), "kV": Decimal(10_000)}, required=True
    ),
    "current": QuantityKind(
        "currentMa",
        {"A": Decimal(1000), "dA": Decimal(100), "cA": Decimal(10), "mA": Decimal(1)},
        required=True,
    ),
    "active_power": QuantityKind(
        "powerW", {"W": Decimal(1), "kW": Decimal(1000), "MW": Decimal(1_000_000)},
        required=True,
    ),
    # Bits: coil 1 = relay closed (supply on), power saving on, alarm raised; ``invert``
    # flips that for devices wired the other way (e.g. normally-closed sensors).
    "relay": QuantityKind(None, {}, functions=(1,)),
    "power_saving": QuantityKind(None, {}, functions=(1,)),
    "fire_alarm": QuantityKind(None, {}, functions=(1, 2)),
    "flood_alarm": QuantityKind(None, {}, functions=(1, 2)),
    "gas_alarm": QuantityKind(None, {}, functions=(1, 2)),
}
ALARM_QUANTITIES = {"fire_alarm": "fire", "flood_alarm": "flood", "gas_alarm": "gas"}


@dataclasses.dataclass(frozen=True)
class RegisterSpec:
    """One numeric quantity: registers to read and how to scale them."""

    quantity: str
    address: int          # zero-based PDU address (input register 30001 is address 0)
    function: int         # 3 holding or 4 input
    datatype: str         # a key of DATATYPES
    word_order: str       # "big": most significant register first; "little": last
    scale: Decimal        # multiplies the raw value to get ``unit``
    unit: str
    status: str
    line: int | None = None

    @property
    def count(self) -> int:
        """Number of 16-bit registers this value occupies."""
        return DATATYPES[self.datatype]

    @property
    def target(self) -> str:
        """Reading member this quantity feeds (importWh, voltageDv, ...)."""
        target = QUANTITIES[self.quantity].target
        assert target is not None
        return target

    @property
    def factor(self) -> Decimal:
        """scale x unit factor: multiplies the raw value into reading units."""
        return self.scale * QUANTITIES[self.quantity].units[self.unit]


@dataclasses.dataclass(frozen=True)
class BitSpec:
    """One on/off quantity: a coil (1) or discrete input (2)."""

    quantity: str
    address: int
    function: int
    invert: bool
    status: str
    line: int | None = None


@dataclasses.dataclass(frozen=True)
class SerialSettings:
    """RS-485 line settings for Modbus RTU."""

    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8


@dataclasses.dataclass(frozen=True)
class Profile:
    """A parsed, checked device profile."""

    name: str
    manufacturer: str
    model: str
    status: str                          # verified | partial | assumed
    source: str                          # where the register map came from
    notes: str
    serial: SerialSettings
    max_gap: int                         # registers a block read may skip over
    registers: dict[str, RegisterSpec]
    bits: dict[str, BitSpec]
    path: str = "<string>"

    def assumed(self) -> list[str]:
        """Quantities whose register position is assumed, not verified on a device."""
        specs: list[RegisterSpec | BitSpec] = [*self.registers.values(), *self.bits.values()]
        return sorted(s.quantity for s in specs if s.status == "assumed")


# --- YAML node access that remembers positions ------------------------------------------

class _Field:
    """A YAML node with its dotted field path, so every error can name both."""

    def __init__(self, node: yaml.Node, path: str, ctx: _Context,
                 key: yaml.Node | None = None) -> None:
        self.node, self.path, self.ctx, self.key = node, path, ctx, key

    @property
    def line(self) -> int:
        """Line of the field's name (of its value for the document root), 1-based."""
        return (self.key or self.node).start_mark.line + 1

    def fail(self, message: str) -> ProfileError:
        """An error at this field (raise it)."""
        return ProfileError(self.ctx.source, self.line, self.path or "profile", message)

    def mapping(self, allowed: set[str] | None = None) -> dict[str, _Field]:
        """The node as name -> field; refuses non-mappings, duplicates, unknown names."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail("must be a mapping of name: value")
        out: dict[str, _Field] = {}
        for key_node, value_node in self.node.value:
            key = self.ctx.value(key_node)
            name = f"{self.path}.{key}" if self.path else str(key)
            if not isinstance(key, str):
                raise ProfileError(self.ctx.source, key_node.start_mark.line + 1, name,
                                   "keys must be strings")
            if key in out:
                raise ProfileError(self.ctx.source, key_node.start_mark.line + 1, name,
                                   "appears twice")
            if allowed is not None and key not in allowed:
                raise ProfileError(self.ctx.source, key_node.start_mark.line + 1, name,
                                   f"unknown field; allowed: {', '.join(sorted(allowed))}")
            out[key] = _Field(value_node, name, self.ctx, key_node)
        return out

    def scalar(self) -> Any:
        """The node's value (int, float, str, bool, ...); refuses lists and mappings."""
        if not isinstance(self.node, yaml.ScalarNode):
            raise self.fail("must be a single value")
        return self.ctx.value(self.node)

    def text(self) -> str:
        """A non-empty string."""
        value = self.scalar()
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"must be a non-empty string, got {value!r}")
        return value

    def integer(self, low: int, high: int) -> int:
        """An integer within [low, high] (booleans are not integers here)."""
        value = self.scalar()
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(f"must be an integer from {low} to {high}, got {value!r}")
        return value

    def choice(self, options: tuple[Any, ...] | list[Any]) -> Any:
        """One of ``options``."""
        value = self.scalar()
        if isinstance(value, bool) or value not in options:
            shown = ", ".join(str(o) for o in options)
            raise self.fail(f"must be one of {shown}, got {value!r}")
        return value

    def boolean(self) -> bool:
        """true or false."""
        value = self.scalar()
        if not isinstance(value, bool):
            raise self.fail(f"must be true or false, got {value!r}")
        return value

    def number(self) -> Decimal:
        """A finite, non-zero number as an exact Decimal."""
        value = self.scalar()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"must be a number, got {value!r}")
        # repr() keeps what the author wrote (0.1 stays 0.1, not its binary expansion).
        result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not result.is_finite() or result == 0:
            raise self.fail(f"must be a finite non-zero number, got {value!r}")
        return result


class _Context:
    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader, self.source = loader, source

    def value(self, node: yaml.Node) -> Any:
        """Construct the Python value of one node."""
        return self.loader.construct_object(node, deep=True)


# --- parsing -----------------------------------------------------------------------------

_TOP = {"name", "manufacturer", "model", "status", "source", "notes", "serial", "max_gap",
        "defaults", "quantities"}
_REGISTER_FIELDS = {"address", "function", "type", "word_order", "scale", "unit", "status",
                    "note"}
_BIT_FIELDS = {"address", "function", "invert", "status", "note"}
_DEFAULT_FIELDS = {"function", "type", "word_order", "status"}


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
    ctx = _Context(loader, source)
    try:
        return _profile(_Field(root, "", ctx), source)
    except yaml.YAMLError as exc:  # a malformed tag or value found while constructing
        raise ProfileError(source, None, "yaml", str(exc)) from None


def _profile(root: _Field, source: str) -> Profile:
    top = root.mapping(_TOP)
    for required in ("name", "status", "quantities"):
        if required not in top:
            raise root.fail(f"missing required field {required!r}")
    status = top["status"].choice(("verified", "partial", "assumed"))
    defaults = top["defaults"].mapping(_DEFAULT_FIELDS) if "defaults" in top else {}
    fields = top["quantities"].mapping(set(QUANTITIES))
    registers: dict[str, RegisterSpec] = {}
    bits: dict[str, BitSpec] = {}
    inherited = "verified" if status == "verified" else "assumed"
    for name, field in fields.items():
        if QUANTITIES[name].target is None:
            bits[name] = _bit(name, field, inherited)
        else:
            registers[name] = _register(name, field, defaults, inherited)
    for name, kind in QUANTITIES.items():
        if kind.required and name not in fields:
            raise top["quantities"].fail(f"missing required quantity {name!r}")
    return Profile(
        name=top["name"].text(),
        manufacturer=top["manufacturer"].text() if "manufacturer" in top else "",
        model=top["model"].text() if "model" in top else "",
        status=status,
        source=top["source"].text() if "source" in top else "",
        notes=top["notes"].text() if "notes" in top else "",
        serial=_serial(top["serial"]) if "serial" in top else SerialSettings(),
        max_gap=top["max_gap"].integer(0, 120) if "max_gap" in top else 0,
        registers=registers,
        bits=bits,
        path=source,
    )


def _pick(name: str, own: dict[str, _Field], defaults: dict[str, _Field],
          parent: _Field) -> _Field:
    if name in own:
        return own[name]
    if name in defaults:
        return defaults[name]
    raise parent.fail(f"missing required field {name!r}")


def _register(name: str, field: _Field, defaults: dict[str, _Field],
              inherited: str) -> RegisterSpec:
    own = field.mapping(_REGISTER_FIELDS)
    kind = QUANTITIES[name]
    datatype = _pick("type", own, defaults, field).choice(list(DATATYPES))
    address_field = _pick("address", own, {}, field)
    address = address_field.integer(0, 65535)
    if address + DATATYPES[datatype] > 65536:
        raise address_field.fail(f"{datatype} at {address} runs past register 65535")
    word_order = (own.get("word_order") or defaults.get("word_order"))
    status = own.get("status") or defaults.get("status")
    units = list(kind.units)
    return RegisterSpec(
        quantity=name,
        address=address,
        function=_pick("function", own, defaults, field).choice(kind.functions),
        datatype=datatype,
        word_order=word_order.choice(("big", "little")) if word_order else "big",
        scale=own["scale"].number() if "scale" in own else Decimal(1),
        unit=_pick("unit", own, {}, field).choice(units),
        status=status.choice(STATUSES) if status else inherited,
        line=field.line,
    )


def _bit(name: str, field: _Field, inherited: str) -> BitSpec:
    own = field.mapping(_BIT_FIELDS)
    functions = QUANTITIES[name].functions
    return BitSpec(
        quantity=name,
        address=_pick("address", own, {}, field).integer(0, 65535),
        function=_pick("function", own, {}, field).choice(functions),
        invert=own["invert"].boolean() if "invert" in own else False,
        status=own["status"].choice(STATUSES) if "status" in own else inherited,
        line=field.line,
    )


def _serial(field: _Field) -> SerialSettings:
    own = field.mapping({"baudrate", "parity", "stopbits", "bytesize"})
    default = SerialSettings()
    return SerialSettings(
        baudrate=own["baudrate"].choice((1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200))
        if "baudrate" in own else default.baudrate,
        parity=own["parity"].choice(("N", "E", "O")) if "parity" in own else default.parity,
        stopbits=own["stopbits"].choice((1, 2)) if "stopbits" in own else default.stopbits,
        bytesize=own["bytesize"].choice((7, 8)) if "bytesize" in own else default.bytesize,
    )


# --- finding profiles --------------------------------------------------------------------

def load_profile(path: str | Path) -> Profile:
    """Load a profile file; raises ProfileError (also for an unreadable file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(str(path), None, "file", f"cannot read: {exc}") from None
    return parse_profile(text, str(path))


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with the bridge (file stems under profiles/)."""
    folder = resources.files(__package__).joinpath("profiles")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_profile(name: str) -> Profile:
    """A shipped profile by name (e.g. ``eastron-sdm630``)."""
    if name not in builtin_profiles():
        raise ProfileError(name, None, "name",
                           f"no such built-in profile; have {', '.join(builtin_profiles())}")
    resource = resources.files(__package__).joinpath("profiles", f"{name}.yaml")
    return parse_profile(resource.read_text(encoding="utf-8"), f"profiles/{name}.yaml")


def resolve_profile(name_or_path: str) -> Profile:
    """A built-in profile name, or a path to a profile file."""
    if name_or_path in builtin_profiles():
        return builtin_profile(name_or_path)
    return load_profile(name_or_path)


def iter_specs(profile: Profile) -> Iterator[RegisterSpec | BitSpec]:
    """Every quantity of a profile, registers first, in address order."""
    yield from sorted(profile.registers.values(), key=lambda s: (s.function, s.address))
    yield from sorted(profile.bits.values(), key=lambda s: (s.function, s.address))
