"""The two CRCs the bridge checks, now computed by libraries, against published vectors.

The line protocol's CRC-16/CCITT-FALSE is ``binascii.crc_hqx`` with the initial value
0xFFFF (with 0 it would be CRC-16/XMODEM, a different checksum); the Modbus RTU CRC is
pymodbus's ``FramerRTU.compute_CRC``, in wire order (low byte first).
"""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridledger.meter_bridge.modbus import rtu_crc
from gridledger.meter_bridge.serial_line import crc16_ccitt


@pytest.mark.parametrize(("data", "crc"), [
    (b"123456789", 0x29B1),      # the catalogue's check value (CRC-16/IBM-3740)
    (b"A", 0xB915),
    (b"", 0xFFFF),               # nothing in: the initial value out (no final XOR)
])
def test_line_crc_is_ccitt_false(data: bytes, crc: int) -> None:
    assert crc16_ccitt(data) == crc


def test_line_crc_init_is_the_one_that_matters() -> None:
    # Same polynomial, initial value 0: XMODEM's check value, which the protocol is not.
    assert binascii.crc_hqx(b"123456789", 0) == 0x31C3 != crc16_ccitt(b"123456789")


@pytest.mark.parametrize(("frame", "crc"), [
    ("1103006B0003", "7687"),    # the Modbus over serial line specification's example
    ("010300000001", "840A"),    # read one holding register of unit 1
])
def test_rtu_crc_published_frames(frame: str, crc: str) -> None:
    assert rtu_crc(bytes.fromhex(frame)) == bytes.fromhex(crc)


def test_rtu_crc_check_value() -> None:
    assert rtu_crc(b"123456789") == bytes.fromhex("374B")      # CRC-16/MODBUS 0x4B37


@given(st.binary(max_size=256))
def test_a_frame_with_its_rtu_crc_leaves_no_remainder(frame: bytes) -> None:
    # The property receivers rely on: the CRC over a frame and its CRC is zero.
    assert rtu_crc(frame + rtu_crc(frame)) == b"\x00\x00"
