"""Registers -> values -> reading units, per profile. No I/O here, so it is fuzzed alone.

Word order is the only byte-level option: within a register Modbus is always big-endian;
``word_order: little`` means the least significant register comes first. The conversion
itself is pymodbus's ``convert_from_registers`` (the installed client's helper), so the
bridge decodes exactly as pymodbus clients do.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.exceptions import ModbusException

from gridledger.formats.numbers import MAX_INT

from .errors import DecodeError
from .profiles import BitSpec, Profile, RegisterSpec

_DT = ModbusClientMixin.DATATYPE
_PYMODBUS_TYPES = {
    "uint16": _DT.UINT16, "int16": _DT.INT16, "uint32": _DT.UINT32, "int32": _DT.INT32,
    "uint64": _DT.UINT64, "int64": _DT.INT64, "float32": _DT.FLOAT32, "float64": _DT.FLOAT64,
}


def decode_value(spec: RegisterSpec, registers: Sequence[int]) -> int | float:
    """The raw value of one quantity from exactly ``spec.count`` registers."""
    if len(registers) != spec.count:
        raise DecodeError(f"{spec.quantity}: {spec.datatype} needs {spec.count} registers, "
                          f"got {len(registers)}")
    if any(not isinstance(r, int) or not 0 <= r <= 0xFFFF for r in registers):
        raise DecodeError(f"{spec.quantity}: registers must be 16-bit unsigned integers")
    try:
        value = ModbusClientMixin.convert_from_registers(
            list(registers), _PYMODBUS_TYPES[spec.datatype],
            word_order="little" if spec.word_order == "little" else "big",
        )
    except (ModbusException, ValueError, TypeError) as exc:
        raise DecodeError(f"{spec.quantity}: {exc}") from None
    assert isinstance(value, (int, float))
    return value


def to_reading_units(spec: RegisterSpec, raw: int | float) -> int:
    """Scale a raw value into the reading's integer unit, refusing what cannot be valid.

    Current is taken as its magnitude (some meters sign it by direction; the direction is
    in powerW). Energy registers and voltage must not be negative.
    """
    if isinstance(raw, float) and not math.isfinite(raw):
        raise DecodeError(f"{spec.quantity}: register holds {raw} (not a number)")
    try:
        # repr() of a float is the shortest text that round-trips, so 229.9f stays 229.9.
        exact = (Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)) * spec.factor
        value = int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))
    except (InvalidOperation, OverflowError):
        raise DecodeError(f"{spec.quantity}: {raw!r} cannot be scaled") from None
    if spec.target == "currentMa":
        value = abs(value)
    if value < 0 and spec.target != "powerW":
        raise DecodeError(f"{spec.quantity}: negative value {raw!r} {spec.unit}")
    if abs(value) > MAX_INT:
        raise DecodeError(f"{spec.quantity}: {raw!r} {spec.unit} is out of range")
    return value


@dataclasses.dataclass(frozen=True)
class Block:
    """One read request: ``count`` registers or bits from ``address`` with ``function``."""

    function: int
    address: int
    count: int
    specs: tuple[RegisterSpec | BitSpec, ...]


#: Protocol limits per request (Modbus application protocol v1.1b3, 6.1-6.4).
MAX_REGISTERS = 125
MAX_BITS = 2000


def read_plan(profile: Profile, quantities: Sequence[str] | None = None) -> list[Block]:
    """Group a profile's quantities into as few read requests as the device allows.

    Quantities merge when they share a function code and the gap between them is at most
    ``profile.max_gap`` (devices often refuse reads that touch undefined addresses, hence
    the default 0), within the per-request limits.
    """
    wanted = set(quantities) if quantities is not None else None
    specs: list[RegisterSpec | BitSpec] = [
        s for s in (*profile.registers.values(), *profile.bits.values())
        if wanted is None or s.quantity in wanted
    ]
    specs.sort(key=lambda s: (s.function, s.address))
    blocks: list[Block] = []
    for spec in specs:
        width = spec.count if isinstance(spec, RegisterSpec) else 1
        limit = MAX_REGISTERS if spec.function in (3, 4) else MAX_BITS
        if blocks:
            last = blocks[-1]
            end = max(last.address + last.count, spec.address + width)
            if (last.function == spec.function
                    and spec.address <= last.address + last.count + profile.max_gap
                    and end - last.address <= limit):
                blocks[-1] = Block(last.function, last.address, end - last.address,
                                   (*last.specs, spec))
                continue
        blocks.append(Block(spec.function, spec.address, width, (spec,)))
    return blocks


def decode_block(block: Block, data: Sequence[int] | Sequence[bool]) -> dict[str, int | bool]:
    """Values of every quantity in ``block`` from the registers or bits read for it.

    Registers come back in reading units (ints); bits as booleans with ``invert`` applied.
    """
    if len(data) < block.count:
        raise DecodeError(f"expected {block.count} values from address {block.address}, "
                          f"got {len(data)}")
    out: dict[str, int | bool] = {}
    for spec in block.specs:
        offset = spec.address - block.address
        if isinstance(spec, RegisterSpec):
            regs = [int(r) for r in data[offset:offset + spec.count]]
            out[spec.target] = to_reading_units(spec, decode_value(spec, regs))
        else:
            out[spec.quantity] = bool(data[offset]) != spec.invert
    return out


def from_reading_units(spec: RegisterSpec, value: int) -> int | float:
    """Inverse of :func:`to_reading_units` (for simulators and tests): the raw value."""
    raw = Decimal(value) / spec.factor
    if spec.datatype.startswith("float"):
        return float(raw)
    return int(raw.to_integral_value(rounding=ROUND_HALF_EVEN))


def encode_value(spec: RegisterSpec, raw: int | float) -> list[int]:
    """Registers that hold ``raw`` as ``spec`` describes (pymodbus's own conversion)."""
    return ModbusClientMixin.convert_to_registers(
        raw, _PYMODBUS_TYPES[spec.datatype],
        word_order="little" if spec.word_order == "little" else "big",
    )
