"""The meter bridge's one exception tree, a branch of the project's (``gridledger.errors``).

Lower-level errors (pymodbus, pyserial, sqlite3, yaml, pydantic, the Gateway client's) are
translated at the boundary, so a caller never catches one of theirs from us by accident::

    GridLedgerError                  gridledger.errors: the project's root
     └── BridgeError                 every error the meter bridge raises
          ├── ProfileError           a device profile is wrong (file, line, field)
          ├── MeterError             talking to one meter failed
          │    ├── MeterUnreachable  cannot connect / cannot open the serial port
          │    ├── MeterTimeout      no complete answer before the deadline
          │    │    └── MeterNotAnswering  not one byte came back (device absent or off)
          │    ├── FrameError        bytes came back, but not a valid frame
          │    │    └── CrcError     an RTU frame whose CRC does not match
          │    ├── ModbusExceptionError  the device answered with a Modbus exception code
          │    └── DecodeError       registers that do not make a valid value
          ├── QueueError             the store-and-forward queue refused an operation
          ├── KeyStoreError          a bridge-held meter key cannot be read or created
          ├── ConfigError            the bridge's configuration file is wrong (file, field)
          └── LedgerError            a submission failed as a whole (the seam, ledger.py)
               ├── LedgerUnavailable outcome unknown / ledger unreachable: resend later
               └── BatchRefused      refused as a whole: resending cannot help

A caller decides "retry or give up" from the type alone: ``MeterTimeout``, ``FrameError``
and ``MeterUnreachable`` are transient; ``ModbusExceptionError`` with ILLEGAL_* codes and
``DecodeError`` mean the profile does not match the device; ``LedgerUnavailable`` is
worth a resend, ``BatchRefused`` is not.
"""

from __future__ import annotations

from typing import ClassVar

from gridledger.errors import GridLedgerError


class BridgeError(GridLedgerError):
    """Root of every error the meter bridge raises."""


class ProfileError(BridgeError):
    """A device profile is invalid; names the file, the line and the field."""

    def __init__(self, source: str, line: int | None, field: str, message: str) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {field}: {message}")


class MeterError(BridgeError):
    """Reading or commanding one meter failed."""

    #: True when trying again later may succeed.
    transient = True

    def __init__(self, message: str, *, meter: str = "") -> None:
        self.meter = meter
        super().__init__(f"{meter}: {message}" if meter else message)


class MeterUnreachable(MeterError):
    """The connection to the meter (TCP socket or serial port) cannot be opened."""


class MeterTimeout(MeterError):
    """No complete answer arrived before the deadline."""


class MeterNotAnswering(MeterTimeout):
    """The request went out and not a single byte came back."""


class FrameError(MeterError):
    """Bytes arrived but did not form a valid frame (noise, collision, wrong framing)."""


class CrcError(FrameError):
    """An RTU frame arrived whose CRC does not match its content (line noise)."""


class ModbusExceptionError(MeterError):
    """The device answered with a Modbus exception response."""

    #: Exception codes defined by the Modbus application protocol v1.1b3, section 7.
    NAMES: ClassVar[dict[int, str]] = {
        0x01: "ILLEGAL_FUNCTION",
        0x02: "ILLEGAL_DATA_ADDRESS",
        0x03: "ILLEGAL_DATA_VALUE",
        0x04: "SERVER_DEVICE_FAILURE",
        0x05: "ACKNOWLEDGE",
        0x06: "SERVER_DEVICE_BUSY",
        0x07: "NEGATIVE_ACKNOWLEDGE",
        0x08: "MEMORY_PARITY_ERROR",
        0x0A: "GATEWAY_PATH_UNAVAILABLE",
        0x0B: "GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND",
    }

    def __init__(self, code: int, function: int, address: int, *, meter: str = "") -> None:
        self.code = code
        self.code_name = self.NAMES.get(code, f"UNKNOWN_0x{code:02X}")
        self.function = function
        self.address = address
        # Busy/acknowledge/gateway codes clear by themselves; ILLEGAL_* never will.
        self.transient = code in (0x05, 0x06, 0x0A, 0x0B)
        super().__init__(
            f"exception {code} {self.code_name} for function {function} at address {address}",
            meter=meter,
        )


class DecodeError(MeterError):
    """Registers were read but do not decode to a valid value for the reading."""

    transient = False


class QueueError(BridgeError):
    """The store-and-forward queue refused an operation (e.g. a sequence gap)."""


class KeyStoreError(BridgeError):
    """A meter key held by the bridge cannot be read, parsed or created."""


class ConfigError(BridgeError):
    """The bridge's configuration file is wrong; names the file and the field."""


class LedgerError(BridgeError):
    """A submission to the ledger failed as a whole."""


class LedgerUnavailable(LedgerError):
    """Outcome unknown or ledger unreachable: resend later (a replay is harmless)."""

    retryable = True


class BatchRefused(LedgerError):
    """The ledger refused the whole batch for a reason resending cannot fix."""

    def __init__(self, reason: str, code: str = "batch-refused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
