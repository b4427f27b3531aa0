"""One error tree: every error the network package raises is a NetworkError."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gridledger.errors import GridLedgerError
from gridledger.network.binaries import BinaryError
from gridledger.network.channel import ChannelError
from gridledger.network.consortium import ConsortiumError
from gridledger.network.crl import CRLError
from gridledger.network.enroll import EnrollError
from gridledger.network.errors import NetworkError
from gridledger.network.fabric_cli import FabricCommandError
from gridledger.network.fabric_source import SourceError
from gridledger.network.go import GoError
from gridledger.network.health import PortInUseError, StartupError
from gridledger.network.lifecycle import LifecycleError
from gridledger.network.supervisor import SupervisorError
from gridledger.network.topology import TopologyError


@pytest.mark.parametrize("error", [
    BinaryError, ChannelError, ConsortiumError, CRLError, EnrollError, FabricCommandError,
    GoError, LifecycleError, PortInUseError, SourceError, StartupError, SupervisorError,
    TopologyError,
])  # fmt: skip
def test_each_network_error_derives_from_the_one_root(error: type[Exception]) -> None:
    assert issubclass(error, NetworkError)
    assert issubclass(error, GridLedgerError)


def test_the_network_package_imports_nothing_of_the_layers_above_it() -> None:
    # A fresh interpreter, so what other tests imported does not count.
    code = (
        "import sys, pkgutil, importlib, gridledger.network as n\n"
        "for m in pkgutil.iter_modules(n.__path__):\n"
        "    importlib.import_module(f'{n.__name__}.{m.name}')\n"
        "print(' '.join(sorted({m.split('.')[1] for m in sys.modules\n"
        "                       if m.startswith('gridledger.')})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Below network there are only the shared formats and the project's error root.
    assert set(out.stdout.split()) <= {"errors", "formats", "network"}
    assert "network" in out.stdout.split()
