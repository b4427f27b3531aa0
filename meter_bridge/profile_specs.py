"""What a device profile says: the quantities a meter may have, and the checked specs.

Register quantities convert to the chaincode's integer units::

    value in reading units = round_half_even(raw x scale x factor(unit))

e.g. ``import_energy`` with ``unit: kWh`` has factor 1000 (to Wh), ``voltage`` with
``unit: V`` has factor 10 (to decivolts). Reading a profile's file into these is
:mod:`.profile_file`'s work; finding one, :mod:`.profiles`'.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal

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


def iter_specs(profile: Profile) -> Iterator[RegisterSpec | BitSpec]:
    """Every quantity of a profile, registers first, in address order."""
    yield from sorted(profile.registers.values(), key=lambda s: (s.function, s.address))
    yield from sorted(profile.bits.values(), key=lambda s: (s.function, s.address))
