"""GridLedger's meter bridge: Modbus and serial meters -> signed readings -> the ledger.

See README.md in this folder. The seam to the ledger is :mod:`.ledger`
(``ReadingLedger``); errors form one tree in :mod:`.errors` (under the project's
``GridLedgerError``); simulated meters live in :mod:`.simulators`. Modules are imported on
demand (``from gridledger.meter_bridge.modbus import ModbusMeter``) so that using one part
does not load pymodbus, pyserial and SQLite for all of them.
"""

from .errors import BridgeError
from .ledger import (
    BatchRefused,
    LedgerEvent,
    LedgerUnavailable,
    ReadingLedger,
    ReadingOutcome,
    SubmitResult,
)

__all__ = [
    "BatchRefused",
    "BridgeError",
    "LedgerEvent",
    "LedgerUnavailable",
    "ReadingLedger",
    "ReadingOutcome",
    "SubmitResult",
]
