"""Decoding registers per data type and word order, and scaling into reading units."""

from __future__ import annotations

import math
import struct
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.formats.reading import validate_reading
from gridledger.formats.utc import parse_utc
from gridledger.meter_bridge.decode import (
    Block,
    decode_block,
    decode_value,
    encode_value,
    read_plan,
    to_reading_units,
)
from gridledger.meter_bridge.errors import DecodeError
from gridledger.meter_bridge.profiles import (
    DATATYPES,
    RegisterSpec,
    builtin_profile,
    builtin_profiles,
)
from gridledger.meter_bridge.reading import MeterSample, build_reading


def spec(datatype: str, word_order: str = "big", *, quantity: str = "import_energy",
         unit: str = "Wh", scale: str = "1") -> RegisterSpec:
    return RegisterSpec(quantity, 0, 4, datatype, word_order, Decimal(scale), unit, "verified")


# Hand-computed vectors: Modbus registers are big-endian inside; word order moves registers.
VECTORS = [
    ("uint16", "big", [0x1234], 0x1234),
    ("int16", "big", [0xFFFE], -2),
    ("uint32", "big", [0x1234, 0x5678], 0x12345678),
    ("uint32", "little", [0x5678, 0x1234], 0x12345678),
    ("int32", "big", [0xFFFF, 0xFFFE], -2),
    ("int32", "little", [0xFFFE, 0xFFFF], -2),
    ("uint64", "big", [0x0001, 0x0002, 0x0003, 0x0004], 0x0001000200030004),
    ("uint64", "little", [0x0004, 0x0003, 0x0002, 0x0001], 0x0001000200030004),
    ("int64", "big", [0xFFFF, 0xFFFF, 0xFFFF, 0xFF9C], -100),
    ("float32", "big", [0x4366, 0x8000], 230.5),
    ("float32", "little", [0x8000, 0x4366], 230.5),
    ("float64", "big", [0x406C, 0xD000, 0x0000, 0x0000], 230.5),
    ("float64", "little", [0x0000, 0x0000, 0xD000, 0x406C], 230.5),
]


@pytest.mark.parametrize(("datatype", "order", "registers", "value"), VECTORS)
def test_known_vectors(datatype: str, order: str, registers: list[int], value: float) -> None:
    s = spec(datatype, order)
    assert decode_value(s, registers) == value
    assert encode_value(s, value) == registers


@pytest.mark.parametrize("datatype", sorted(DATATYPES))
@pytest.mark.parametrize("order", ["big", "little"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_round_trip_every_type_and_order(datatype: str, order: str, data: st.DataObject) -> None:
    s = spec(datatype, order)
    bits = DATATYPES[datatype] * 16
    if datatype.startswith("float"):
        value: float = data.draw(st.floats(allow_nan=False, width=bits))
    elif datatype.startswith("u"):
        value = data.draw(st.integers(0, 2**bits - 1))
    else:
        value = data.draw(st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))
    regs = encode_value(s, value)
    assert len(regs) == DATATYPES[datatype]
    assert decode_value(s, regs) == value
    if DATATYPES[datatype] > 1:
        other = "little" if order == "big" else "big"
        assert encode_value(spec(datatype, other), value) == regs[::-1]


def test_float32_matches_ieee754() -> None:
    raw = struct.pack(">f", 1234.5)
    regs = [int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")]
    assert decode_value(spec("float32"), regs) == 1234.5


@pytest.mark.parametrize(("quantity", "unit", "scale", "raw", "expected"), [
    ("import_energy", "kWh", "1", 1234.567, 1_234_567),
    ("import_energy", "kWh", "0.1", 12345, 1_234_500),
    ("import_energy", "Wh", "1", 42, 42),
    ("voltage", "V", "1", 229.96, 2300),            # 2299.6 dV rounds to 2300
    ("voltage", "V", "0.1", 2301, 2301),
    ("current", "A", "0.01", 512, 5120),
    ("current", "A", "1", -5.12, 5120),              # direction is in powerW
    ("active_power", "kW", "1", -1.5, -1500),
    ("active_power", "W", "-1", 800, -800),          # a meter signed the other way
])
def test_units(quantity: str, unit: str, scale: str, raw: float, expected: int) -> None:
    assert to_reading_units(spec("float32", quantity=quantity, unit=unit, scale=scale),
                            raw) == expected


@pytest.mark.parametrize(("quantity", "unit", "raw", "words"), [
    ("import_energy", "Wh", math.nan, "not a number"),
    ("voltage", "V", math.inf, "not a number"),
    ("import_energy", "Wh", -1, "negative"),
    ("voltage", "V", -230.0, "negative"),
    ("import_energy", "MWh", 2**60, "out of range"),
])
def test_impossible_values_are_decode_errors(quantity: str, unit: str, raw: float,
                                             words: str) -> None:
    with pytest.raises(DecodeError, match=words):
        to_reading_units(spec("float64", quantity=quantity, unit=unit), raw)


def test_wrong_register_count() -> None:
    with pytest.raises(DecodeError, match="needs 2 registers"):
        decode_value(spec("uint32"), [1])
    with pytest.raises(DecodeError, match="16-bit"):
        decode_value(spec("uint16"), [70000])
    with pytest.raises(DecodeError, match="expected 13 values"):
        decode_block(read_plan(builtin_profile("gridledger-sim"))[-1], [0] * 5)


def test_bits_and_invert() -> None:
    p = builtin_profile("gridledger-sim")
    coils, inputs, _ = read_plan(p)
    assert decode_block(coils, [True, False]) == {"relay": True, "power_saving": False}
    assert decode_block(inputs, [False, True, True]) == {
        "fire_alarm": False, "flood_alarm": True, "gas_alarm": True}
    inverted = Block(1, 0, 1, (p.bits["relay"].__class__("relay", 0, 1, True, "verified"),))
    assert decode_block(inverted, [True]) == {"relay": False}


@pytest.mark.parametrize("name", builtin_profiles())
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzz_any_registers_give_a_valid_reading_or_decode_error(name: str,
                                                                 data: st.DataObject) -> None:
    """Whatever a device answers, the bridge builds a reading the chaincode accepts, or
    raises DecodeError: never a garbage reading, never another exception."""
    profile = builtin_profile(name)
    values: dict[str, object] = {}
    try:
        for block in read_plan(profile):
            if block.function in (1, 2):
                answer: list = data.draw(st.lists(st.booleans(), min_size=block.count,
                                                  max_size=block.count + 8))
            else:
                answer = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=block.count,
                                            max_size=block.count + 4))
            values.update(decode_block(block, answer))
    except DecodeError:
        return
    sample = MeterSample.from_values(values)
    reading = build_reading("m-1", 1, parse_utc("2025-03-01T10:15:00Z", "intervalEnd"), sample)
    assert validate_reading(reading) is reading
