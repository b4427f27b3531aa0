"""The GridLedger line protocol for Arduino/NodeMCU meters (spec: README.md, "Line protocol").

One record per line, ASCII, framed and checksummed like NMEA but with CRC-16::

    $<TYPE>,<field>,...*<CRC>\\r\\n

CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR) over
the bytes between ``$`` and ``*``, written as four upper-case hex digits; the standard
library computes it (``binascii.crc_hqx`` is that CRC with the initial value as its
argument). Records:

    GLR  meter -> bridge  reading:  meterId, meterSeq, importWh, exportWh, voltageDv,
                                    currentMa, powerW, fire, flood, gas
    GLC  bridge -> meter  command:  meterId, cmdId, RELAY,OPEN|CLOSE | MODE,SAVE|NORMAL | READ
    GLK  meter -> bridge  ack:      meterId, cmdId, OK|ERR, OPEN|CLOSED, SAVE|NORMAL

Integers are canonical decimal (no sign except ``-`` on powerW, no leading zeros), so a
line that parses re-encodes to exactly the same bytes. :func:`parse_line` never raises: it
returns a record or a :class:`LineError` saying what was wrong (garbled, checksum, or
which field).
"""

from __future__ import annotations

import binascii
import dataclasses
import re
from typing import Literal

from gridledger.formats.ids import is_id
from gridledger.formats.numbers import MAX_INT

from .reading import MeterSample

__all__ = ["MAX_INT", "MAX_LINE", "MAX_METER_SEQ", "LineAck", "LineCommand", "LineError",
           "LineFramer", "LineReading", "Record", "crc16_ccitt", "encode", "parse_line"]

MAX_LINE = 255            # bytes, without the line end; longer input is noise
MAX_METER_SEQ = 2**32 - 1  # the meter's own counter is a uint32 and may wrap
# CRC-16/CCITT-FALSE starts from all ones (XMODEM, the other common variant, from zero).
_CRC_INIT = 0xFFFF

_UINT = re.compile(r"0|[1-9][0-9]{0,15}")
_INT = re.compile(r"0|-?[1-9][0-9]{0,15}")
_CRC = re.compile(rb"[0-9A-F]{4}")


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE; check value for b"123456789" is 0x29B1."""
    return binascii.crc_hqx(data, _CRC_INIT)


@dataclasses.dataclass(frozen=True)
class LineReading:
    """A GLR record."""

    meter_id: str
    meter_seq: int
    import_wh: int
    export_wh: int
    voltage_dv: int
    current_ma: int
    power_w: int
    fire: bool
    flood: bool
    gas: bool

    def sample(self) -> MeterSample:
        """The reading values of this record."""
        alarms = frozenset(k for k, on in (("fire", self.fire), ("flood", self.flood),
                                           ("gas", self.gas)) if on)
        return MeterSample(self.import_wh, self.export_wh, self.voltage_dv, self.current_ma,
                           self.power_w, alarms)

    def fields(self) -> list[str]:
        """The record's fields, type first, as they go on the wire."""
        return ["GLR", self.meter_id, str(self.meter_seq), str(self.import_wh),
                str(self.export_wh), str(self.voltage_dv), str(self.current_ma),
                str(self.power_w), *("1" if f else "0" for f in (self.fire, self.flood,
                                                                  self.gas))]


Action = Literal["RELAY", "MODE", "READ"]
_ARGS: dict[str, tuple[str, ...]] = {"RELAY": ("OPEN", "CLOSE"), "MODE": ("SAVE", "NORMAL"),
                                     "READ": ()}


@dataclasses.dataclass(frozen=True)
class LineCommand:
    """A GLC record: ``RELAY OPEN`` cuts the supply, ``RELAY CLOSE`` restores it."""

    meter_id: str
    cmd_id: int
    action: Action
    arg: str | None = None

    def fields(self) -> list[str]:
        """The record's fields, type first, as they go on the wire."""
        return ["GLC", self.meter_id, str(self.cmd_id), self.action,
                *([self.arg] if self.arg else [])]


@dataclasses.dataclass(frozen=True)
class LineAck:
    """A GLK record: the command's result and the meter's switch states after it."""

    meter_id: str
    cmd_id: int
    ok: bool
    relay_closed: bool
    power_saving: bool

    def fields(self) -> list[str]:
        """The record's fields, type first, as they go on the wire."""
        return ["GLK", self.meter_id, str(self.cmd_id), "OK" if self.ok else "ERR",
                "CLOSED" if self.relay_closed else "OPEN",
                "SAVE" if self.power_saving else "NORMAL"]


Record = LineReading | LineCommand | LineAck


@dataclasses.dataclass(frozen=True)
class LineError:
    """Why a line was rejected. ``kind``: garbled | checksum | field | unknown."""

    kind: Literal["garbled", "checksum", "field", "unknown"]
    detail: str
    field: str | None = None


def encode(record: Record) -> bytes:
    """The framed line for a record, ending in CRLF."""
    body = ",".join(record.fields()).encode("ascii")
    return b"$" + body + b"*" + f"{crc16_ccitt(body):04X}".encode("ascii") + b"\r\n"


class _Bad(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field, self.detail = field, detail


def _uint(text: str, field: str, maximum: int = MAX_INT) -> int:
    if not _UINT.fullmatch(text) or int(text) > maximum:
        raise _Bad(field, f"{field} must be an integer from 0 to {maximum}, got {text!r}")
    return int(text)


def _flag(text: str, field: str) -> bool:
    if text not in ("0", "1"):
        raise _Bad(field, f"{field} must be 0 or 1, got {text!r}")
    return text == "1"


def _meter_id(text: str) -> str:
    if not is_id(text):
        raise _Bad("meterId", f"meterId must be 1-64 of A-Z a-z 0-9 . _ -, got {text!r}")
    return text


def _choice(text: str, field: str, options: tuple[str, ...]) -> str:
    if text not in options:
        raise _Bad(field, f"{field} must be one of {'/'.join(options)}, got {text!r}")
    return text


def _reading(f: list[str]) -> LineReading:
    if len(f) != 11:
        raise _Bad("fields", f"GLR has 10 fields, got {len(f) - 1}")
    power = f[7]
    if not _INT.fullmatch(power) or abs(int(power)) > MAX_INT:
        raise _Bad("powerW", f"powerW must be an integer within +-{MAX_INT}, got {power!r}")
    return LineReading(
        _meter_id(f[1]), _uint(f[2], "meterSeq", MAX_METER_SEQ), _uint(f[3], "importWh"),
        _uint(f[4], "exportWh"), _uint(f[5], "voltageDv"), _uint(f[6], "currentMa"),
        int(power), _flag(f[8], "fire"), _flag(f[9], "flood"), _flag(f[10], "gas"),
    )


def _command(f: list[str]) -> LineCommand:
    if len(f) not in (4, 5):
        raise _Bad("fields", f"GLC has 3 or 4 fields, got {len(f) - 1}")
    action = _choice(f[3], "action", tuple(_ARGS))
    wanted = 5 if _ARGS[action] else 4
    if len(f) != wanted:
        raise _Bad("fields", f"GLC {action} has {wanted - 1} fields, got {len(f) - 1}")
    arg = _choice(f[4], "arg", _ARGS[action]) if _ARGS[action] else None
    return LineCommand(_meter_id(f[1]), _uint(f[2], "cmdId", 65535), action, arg)  # type: ignore[arg-type]


def _ack(f: list[str]) -> LineAck:
    if len(f) != 6:
        raise _Bad("fields", f"GLK has 5 fields, got {len(f) - 1}")
    return LineAck(
        _meter_id(f[1]), _uint(f[2], "cmdId", 65535), _choice(f[3], "result", ("OK", "ERR"))
        == "OK", _choice(f[4], "relay", ("OPEN", "CLOSED")) == "CLOSED",
        _choice(f[5], "mode", ("SAVE", "NORMAL")) == "SAVE",
    )


_PARSERS = {"GLR": _reading, "GLC": _command, "GLK": _ack}


def parse_line(raw: bytes) -> Record | LineError:
    """Parse one line (with or without its CR/LF). Never raises."""
    if not isinstance(raw, (bytes, bytearray)):
        return LineError("garbled", "input is not bytes")
    line = bytes(raw)
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    if len(line) > MAX_LINE:
        return LineError("garbled", f"line longer than {MAX_LINE} bytes")
    if not line.startswith(b"$"):
        return LineError("garbled", "line does not start with $")
    star = line.rfind(b"*")
    if star < 0 or len(line) - star != 5 or not _CRC.fullmatch(line[star + 1:]):
        return LineError("garbled", "line does not end in *XXXX (4 upper-case hex digits)")
    body = line[1:star]
    if any(b < 0x20 or b > 0x7E or b in b"$*" for b in body):
        return LineError("garbled", "body holds non-printable, non-ASCII, $ or * bytes")
    if crc16_ccitt(body) != int(line[star + 1:], 16):
        return LineError("checksum", f"CRC mismatch: line says {line[star + 1:].decode()}, "
                         f"body gives {crc16_ccitt(body):04X}")
    fields = body.decode("ascii").split(",")
    parser = _PARSERS.get(fields[0])
    if parser is None:
        return LineError("unknown", f"unknown record type {fields[0]!r}", "type")
    try:
        return parser(fields)
    except _Bad as bad:
        return LineError("field", bad.detail, bad.field)


class LineFramer:
    """Split a byte stream into lines; resynchronise on ``$`` after noise.

    ``feed`` returns complete lines (without CR/LF), each starting at the last ``$`` seen
    before its end; bytes that cannot belong to a record are counted in ``dropped``.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.dropped = 0

    def pending(self) -> int:
        """Bytes of an unfinished line held back."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete lines they finish."""
        self._buf += data
        lines: list[bytes] = []
        while (end := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:end]).rstrip(b"\r")
            del self._buf[:end + 1]
            start = line.rfind(b"$")
            if start < 0:
                self.dropped += len(line) + 1
                continue
            self.dropped += start
            lines.append(line[start:])
        if len(self._buf) > MAX_LINE + 2:
            # No line end in sight: keep only a possible record start, drop the rest.
            start = self._buf.rfind(b"$")
            keep = self._buf[start:] if start >= 0 and len(self._buf) - start <= MAX_LINE else b""
            self.dropped += len(self._buf) - len(keep)
            self._buf = bytearray(keep)
        return lines
