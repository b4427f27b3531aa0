"""The root of GridLedger's exception tree, shared by every package.

::

    GridLedgerError
    ├── NetworkError          gridledger.network   (bring-up, binaries, lifecycle, ...)
    ├── ClientError tree      gridledger.clients   (gateway phases, CA, wallet, identity)
    ├── BridgeError tree      gridledger.meter_bridge
    └── DemoError             gridledger.demo

Chaincode has its own tree (``ChaincodeError`` and the shim's errors): it runs inside a
peer's chaincode server and answers with statuses, never with Python exceptions.
Shared formats raise :class:`gridledger.formats.errors.FormatError`, a plain ValueError.
"""

from __future__ import annotations


class GridLedgerError(Exception):
    """Base of every error a GridLedger package raises on purpose."""

    retryable = False
