"""Fixtures for the meter bridge's unit tests: an asyncio backend and running simulators.

The simulators are real pymodbus servers on 127.0.0.1 (free ports) and real
pseudo-terminals; each fixture stops what it started.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from gridledger.meter_bridge.simulators import Simulation, start_simulator


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio (the bridge is asyncio-only)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _quiet_pymodbus() -> None:
    # pymodbus logs each unanswered request at ERROR; several tests cause them on purpose.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    """Three Modbus meters on TCP (free port) and RTU (pty), one line-protocol meter."""
    simulation = await start_simulator(3, 0, rtu=True, serial=True, seed=7,
                                       push_interval=0.2)
    try:
        yield simulation
    finally:
        await simulation.stop()
