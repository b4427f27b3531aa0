"""Fuzzing what comes back from a device: any bytes give a typed error or a valid reading.

Two layers: the classification of failed exchanges (pure functions), and whole exchanges
through pymodbus and the bridge's decoder against a fake device - a TCP socket and an RTU
pty - that answers with arbitrary or nearly valid frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus.framer.rtu import FramerRTU

from gridledger.formats.reading import validate_reading
from gridledger.formats.utc import parse_utc
from gridledger.meter_bridge.decode import decode_block, read_plan
from gridledger.meter_bridge.errors import (
    CrcError,
    DecodeError,
    FrameError,
    MeterError,
    MeterNotAnswering,
    MeterTimeout,
)
from gridledger.meter_bridge.modbus import (
    ModbusLink,
    classify_rtu_reply,
    classify_tcp_reply,
    rtu_crc,
)
from gridledger.meter_bridge.profiles import builtin_profile
from gridledger.meter_bridge.reading import MeterSample, build_reading

PROFILE = builtin_profile("gridledger-sim")
BLOCK = read_plan(PROFILE, ["import_energy", "export_energy", "voltage", "current",
                            "active_power"])[0]


def test_rtu_crc_matches_pymodbus() -> None:
    frame = bytes([1, 4, 0, 0, 0, 13])
    assert rtu_crc(frame) == FramerRTU.compute_CRC(frame).to_bytes(2, "big")
    assert rtu_crc(b"\x01\x03\x00\x00\x00\x0a") == b"\xc5\xcd"       # a textbook example


def test_classify_rtu() -> None:
    good = bytes([1, 4, 2, 0, 7])
    good += rtu_crc(good)
    assert isinstance(classify_rtu_reply(b"", 1), MeterNotAnswering)
    assert isinstance(classify_rtu_reply(good[:4], 1), MeterTimeout)
    assert isinstance(classify_rtu_reply(good[:-1] + b"\x00", 1), CrcError)
    assert "unit 1, expected 2" in str(classify_rtu_reply(good, 2))
    assert isinstance(classify_rtu_reply(b"\x01\x77garbage!", 1), FrameError)


def test_classify_tcp() -> None:
    assert isinstance(classify_tcp_reply(b""), MeterNotAnswering)
    assert isinstance(classify_tcp_reply(b"\x00\x01\x00"), MeterTimeout)
    assert isinstance(classify_tcp_reply(b"\x00\x01\xff\xff\x00\x05\x01\x04\x02"), FrameError)
    assert isinstance(classify_tcp_reply(b"\x00\x01\x00\x00\x00\x09\x01\x04\x02"), MeterTimeout)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 255))
def test_fuzz_classification_never_raises(raw: bytes, unit: int) -> None:
    assert isinstance(classify_rtu_reply(raw, unit), MeterError)
    assert isinstance(classify_tcp_reply(raw), MeterError)


# --- whole exchanges --------------------------------------------------------------------------

def valid_pdu(registers: list[int]) -> bytes:
    return bytes([4, 2 * len(registers)]) + b"".join(r.to_bytes(2, "big") for r in registers)


# A reply recipe: (kind, payload). Kinds: raw bytes; an arbitrary PDU in a correct envelope;
# a valid answer with arbitrary registers; the same with one byte changed; silence.
recipes = st.one_of(
    st.tuples(st.just("raw"), st.binary(max_size=60)),
    st.tuples(st.just("pdu"), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("valid"), st.lists(st.integers(0, 0xFFFF), min_size=13, max_size=13)),
    st.tuples(st.just("short"), st.lists(st.integers(0, 0xFFFF), min_size=0, max_size=14)),
    st.tuples(st.just("flip"), st.tuples(
        st.lists(st.integers(0, 0xFFFF), min_size=13, max_size=13), st.integers(0, 40),
        st.integers(1, 255))),
    st.tuples(st.just("silent"), st.none()),
)


def build_pdu(kind: str, payload: Any) -> bytes | None:
    if kind == "silent":
        return None
    if kind == "pdu":
        return payload
    if kind in ("valid", "short"):
        return valid_pdu(payload)
    return valid_pdu(payload[0])


def flip(frame: bytes, payload: Any) -> bytes:
    _, at, mask = payload
    at %= len(frame)
    return frame[:at] + bytes([frame[at] ^ mask]) + frame[at + 1:]


def tcp_reply(request: bytes, kind: str, payload: Any) -> bytes:
    if kind == "raw":
        return payload
    pdu = build_pdu(kind, payload)
    if pdu is None:
        return b""
    frame = request[:2] + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big") + request[6:7] + pdu
    return flip(frame, payload) if kind == "flip" else frame


def rtu_reply(request: bytes, kind: str, payload: Any) -> bytes:
    if kind == "raw":
        return payload
    pdu = build_pdu(kind, payload)
    if pdu is None:
        return b""
    frame = request[:1] + pdu
    frame += rtu_crc(frame)
    return flip(frame, payload) if kind == "flip" else frame


def check_outcome(outcome: list[int] | MeterError) -> None:
    """A decoded answer must make a reading the chaincode accepts; else a typed error."""
    if isinstance(outcome, MeterError):
        return
    assert len(outcome) == BLOCK.count and all(0 <= r <= 0xFFFF for r in outcome)
    try:
        values = decode_block(BLOCK, outcome)
    except DecodeError:
        return
    reading = build_reading("m-1", 1, parse_utc("2025-03-01T10:00:00Z", "intervalEnd"),
                            MeterSample.from_values(values))
    validate_reading(reading)


async def exchange(link: ModbusLink) -> list[int] | MeterError:
    try:
        return await link.call(1, 4, BLOCK.address, count=BLOCK.count)  # type: ignore[return-value]
    except MeterError as exc:
        return exc
    finally:
        link.close()


async def over_tcp(reply: Callable[[bytes], bytes]) -> list[int] | MeterError:
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            request = await reader.readexactly(12)
            writer.write(reply(request))
            await writer.drain()
            await reader.read()           # hold the connection until the client goes
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await exchange(ModbusLink(host="127.0.0.1", port=port, timeout=0.15, retries=0))
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.gather(*handlers, return_exceptions=True)


async def over_rtu(reply: Callable[[bytes], bytes]) -> list[int] | MeterError:
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    loop = asyncio.get_running_loop()
    received = bytearray()

    def on_request() -> None:
        with contextlib.suppress(OSError):
            received.extend(os.read(master, 256))
        if len(received) >= 8:
            with contextlib.suppress(OSError):
                os.write(master, reply(bytes(received[:8])))
            received.clear()

    loop.add_reader(master, on_request)
    try:
        return await exchange(ModbusLink(serial_port=os.ttyname(slave), timeout=0.15,
                                         retries=0))
    finally:
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(recipes)
def test_fuzz_tcp_replies(recipe: tuple[str, Any]) -> None:
    kind, payload = recipe
    outcome = asyncio.run(over_tcp(lambda req: tcp_reply(req, kind, payload)))
    check_outcome(outcome)
    if kind == "valid":
        assert outcome == payload
    if kind == "silent":
        assert isinstance(outcome, MeterNotAnswering)


@FUZZ
@given(recipes)
def test_fuzz_rtu_replies(recipe: tuple[str, Any]) -> None:
    kind, payload = recipe
    outcome = asyncio.run(over_rtu(lambda req: rtu_reply(req, kind, payload)))
    check_outcome(outcome)
    if kind == "valid":
        assert outcome == payload
    if kind == "silent":
        assert isinstance(outcome, MeterNotAnswering)
