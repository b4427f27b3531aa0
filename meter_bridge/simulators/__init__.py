"""Simulated meters for demos and tests: Modbus TCP, Modbus RTU on a pty, the line protocol.

- ``SimMeter``: one household. Load follows a daily curve (night base, morning and evening
  peaks) with noise; prosumers (every third meter) have solar panels exporting around noon.
  The import and export registers integrate power over simulated time and only grow. The
  relay cuts both directions (anti-islanding); power-saving mode trims the load.
- ``ModbusSimulator``: a pymodbus server (unit ids 1..N) whose registers follow
  ``profiles/gridledger-sim.yaml``; values are refreshed on every request from the meter
  model. TCP listens on 127.0.0.1; RTU runs on a pseudo-terminal pair joined like a
  null-modem cable: the server opens one tty, the bridge opens the other with pyserial.
- ``LineSimulator``: NodeMCU-style meters on one pty speaking the line protocol, pushing a
  reading every few seconds, at once on an alarm change, and answering commands.

Time can run faster than the wall clock (``speed`` simulated seconds per real second).
Faults for tests: ``silent`` (no reply), ``corrupt`` (bad CRC / bad MBAP), ``busy``
(exception 6) per unit.

Modules: :mod:`.household` (``SimClock``, ``SimMeter``, ``make_meters``),
:mod:`.modbus_server` (``ModbusSimulator``), :mod:`.line_meters` (``LineSimulator``),
:mod:`.pseudo_terminals` (``open_pty``, ``PtyPair``), :mod:`.registers`
(``RegisterState``: registers kept across restarts) and :mod:`.simulation`
(``Simulation``, ``start_simulator``, ``run_simulator``). The names below are the public
face; import them from here.
"""

from .household import SimClock, SimMeter, make_meters
from .line_meters import LineSimulator
from .modbus_server import ModbusSimulator
from .pseudo_terminals import PtyPair, open_pty
from .registers import RegisterState
from .simulation import MAX_UNITS, Simulation, run_simulator, start_simulator

__all__ = ["MAX_UNITS", "LineSimulator", "ModbusSimulator", "PtyPair", "RegisterState",
           "SimClock", "SimMeter", "Simulation", "make_meters", "open_pty", "run_simulator",
           "start_simulator"]
