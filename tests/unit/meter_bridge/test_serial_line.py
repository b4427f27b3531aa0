"""The line protocol: round trips, named field errors, and fuzzing with arbitrary bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.meter_bridge.serial_line import (
    MAX_INT,
    MAX_METER_SEQ,
    LineAck,
    LineCommand,
    LineError,
    LineFramer,
    LineReading,
    crc16_ccitt,
    encode,
    parse_line,
)

READING = LineReading("nodemcu-7", 42, 1_234_567, 89, 2301, 5120, -850, False, True, False)


def frame(body: str) -> bytes:
    """A correctly checksummed line around ``body`` (to test field checks)."""
    return f"${body}*{crc16_ccitt(body.encode()):04X}\r\n".encode()


def test_crc_check_value() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1      # CRC-16/CCITT-FALSE


def test_reading_wire_format() -> None:
    line = encode(READING)
    assert line == frame("GLR,nodemcu-7,42,1234567,89,2301,5120,-850,0,1,0")
    assert parse_line(line) == READING
    assert parse_line(line.rstrip(b"\r\n")) == READING
    assert parse_line(line.replace(b"\r\n", b"\n")) == READING
    sample = READING.sample()
    assert (sample.import_wh, sample.power_w, sample.alarms) == (1_234_567, -850,
                                                                  frozenset({"flood"}))


@pytest.mark.parametrize("record", [
    LineCommand("m.1", 1, "RELAY", "OPEN"),
    LineCommand("m.1", 65535, "RELAY", "CLOSE"),
    LineCommand("m_1", 9, "MODE", "SAVE"),
    LineCommand("m-1", 0, "READ"),
    LineAck("m-1", 9, True, False, True),
    LineAck("m-1", 9, False, True, False),
])
def test_commands_and_acks_round_trip(record: LineCommand | LineAck) -> None:
    assert parse_line(encode(record)) == record


def test_command_wire_format() -> None:
    assert encode(LineCommand("m-1", 3, "RELAY", "OPEN")) == frame("GLC,m-1,3,RELAY,OPEN")
    assert encode(LineAck("m-1", 3, True, False, False)) == frame("GLK,m-1,3,OK,OPEN,NORMAL")


@pytest.mark.parametrize(("body", "field"), [
    ("GLR,bad id,1,0,0,2300,0,0,0,0,0", "meterId"),
    ("GLR," + "m" * 65 + ",1,0,0,2300,0,0,0,0,0", "meterId"),
    ("GLR,m,-1,0,0,2300,0,0,0,0,0", "meterSeq"),
    (f"GLR,m,{MAX_METER_SEQ + 1},0,0,2300,0,0,0,0,0", "meterSeq"),
    ("GLR,m,1,007,0,2300,0,0,0,0,0", "importWh"),          # leading zeros are not canonical
    ("GLR,m,1,0,1.5,2300,0,0,0,0,0", "exportWh"),
    ("GLR,m,1,0,0,+2300,0,0,0,0,0", "voltageDv"),
    ("GLR,m,1,0,0,2300,x,0,0,0,0", "currentMa"),
    ("GLR,m,1,0,0,2300,0,-0,0,0,0", "powerW"),
    (f"GLR,m,1,0,0,2300,0,{MAX_INT + 1},0,0,0", "powerW"),
    ("GLR,m,1,0,0,2300,0,0,2,0,0", "fire"),
    ("GLR,m,1,0,0,2300,0,0,0,yes,0", "flood"),
    ("GLR,m,1,0,0,2300,0,0,0,0,", "gas"),
    ("GLR,m,1,0,0,2300,0,0,0,0", "fields"),
    ("GLC,m,1,RELAY", "fields"),
    ("GLC,m,1,RELAY,AJAR", "arg"),
    ("GLC,m,1,EXPLODE", "action"),
    ("GLC,m,70000,READ", "cmdId"),
    ("GLK,m,1,MAYBE,OPEN,NORMAL", "result"),
    ("GLK,m,1,OK,HALF,NORMAL", "relay"),
    ("XYZ,m,1", "type"),
])
def test_bad_field_is_named(body: str, field: str) -> None:
    result = parse_line(frame(body))
    assert isinstance(result, LineError), result
    assert result.field == field
    assert result.kind in ("field", "unknown")


@pytest.mark.parametrize(("raw", "kind"), [
    (b"", "garbled"),
    (b"GLR,m,1*1234", "garbled"),                       # no $
    (b"$GLR,m,1", "garbled"),                           # no checksum
    (b"$GLR,m,1*12g4", "garbled"),
    (b"$GLR,m,1*12ab", "garbled"),                      # lower-case hex is not canonical
    (frame("GLR,m\xe9,1").replace(b"\xc3\xa9", b"\xe9"), "garbled"),
    (b"$" + b"A" * 300 + b"*0000", "garbled"),
    (encode(READING).replace(b"2301", b"2302"), "checksum"),
])
def test_garbled_and_checksum(raw: bytes, kind: str) -> None:
    result = parse_line(raw)
    assert isinstance(result, LineError) and result.kind == kind


def test_parse_line_refuses_non_bytes() -> None:
    assert parse_line("$GLR") == LineError("garbled", "input is not bytes")  # type: ignore[arg-type]


# --- fuzzing ---------------------------------------------------------------------------------

ids = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
uints = st.integers(0, MAX_INT)
readings = st.builds(LineReading, ids, st.integers(0, MAX_METER_SEQ), uints, uints, uints, uints,
                     st.integers(-MAX_INT, MAX_INT), st.booleans(), st.booleans(),
                     st.booleans())


@settings(max_examples=200, deadline=None)
@given(readings)
def test_fuzz_every_valid_reading_round_trips(record: LineReading) -> None:
    assert parse_line(encode(record)) == record


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_never_crash_nor_yield_garbage(raw: bytes) -> None:
    result = parse_line(raw)
    if isinstance(result, LineError):
        assert result.kind in ("garbled", "checksum", "field", "unknown")
        return
    # A record is only ever returned for a line that is exactly its canonical encoding.
    assert encode(result) == raw.rstrip(b"\n").rstrip(b"\r") + b"\r\n"


@settings(max_examples=200, deadline=None)
@given(readings, st.data())
def test_fuzz_any_single_byte_damage_is_caught(record: LineReading, data: st.DataObject) -> None:
    line = encode(record)
    at = data.draw(st.integers(0, len(line) - 3))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != line[at]))
    damaged = line[:at] + bytes([new]) + line[at + 1:]
    assert isinstance(parse_line(damaged), LineError)


@settings(max_examples=200, deadline=None)
@given(st.lists(readings, min_size=1, max_size=5), st.binary(max_size=40),
       st.lists(st.integers(1, 64), min_size=1, max_size=10))
def test_fuzz_framer_resynchronises(records: list[LineReading], noise: bytes,
                                    cuts: list[int]) -> None:
    """Noise before a record never hides it; chunking never matters."""
    stream = noise.replace(b"\n", b"").replace(b"$", b"") + b"".join(map(encode, records))
    framer, lines, at = LineFramer(), [], 0
    for size in cuts * (len(stream) // sum(cuts) + 1):
        lines += framer.feed(stream[at:at + size])
        at += size
    parsed = [parse_line(line) for line in lines]
    assert [p for p in parsed if isinstance(p, LineReading)] == records


def test_framer_drops_overlong_noise() -> None:
    framer = LineFramer()
    assert framer.feed(b"x" * 1000) == []
    assert framer.pending() == 0 and framer.dropped == 1000
    assert [parse_line(x) for x in framer.feed(b"junk" + encode(READING))] == [READING]


def test_the_readme_examples_are_valid_lines() -> None:
    readme = Path(__file__).parents[3] / "meter_bridge" / "README.md"
    examples = [line for line in readme.read_text().splitlines() if line.startswith("$GL")]
    assert len(examples) == 3
    for example in examples:
        record = parse_line(example.encode())
        assert not isinstance(record, LineError), (example, record)
        assert encode(record) == example.encode() + b"\r\n"
