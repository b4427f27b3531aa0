"""The command-line pieces: check-profile, and the simulator's console commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gridledger.meter_bridge.cli import _control, check_profile
from gridledger.meter_bridge.simulators import Simulation

pytestmark = pytest.mark.anyio


def test_check_profile_lists_quantities_and_names_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(check_profile, ["eastron-sdm630"])
    assert result.exit_code == 0
    assert "import_energy  fc4 @72" in result.output and "[assumed]" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstatus: verified\nquantities:\n"
                   "  voltage: {address: x, type: uint16, unit: V}\n")
    result = CliRunner().invoke(check_profile, [str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4: quantities.voltage.address: must be an integer" in result.output


async def test_console_commands(sim: Simulation) -> None:
    assert "alarm <meterId>" in _control(sim, "help")
    assert _control(sim, "alarm sim-meter-2 gas on") == "sim-meter-2: gas on"
    assert sim.modbus.meters[2].alarms == {"gas"}
    assert _control(sim, "relay sim-line-1 open") == "sim-line-1: relay open"
    assert sim.line is not None and not sim.line.meters["sim-line-1"].relay_closed
    status = _control(sim, "status")
    assert "sim-meter-2:" in status and "alarms gas" in status and "relay OPEN" in status
    assert _control(sim, "explode everything").startswith("? ")
