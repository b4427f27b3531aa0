"""The root of every error :mod:`gridledger.network` raises on purpose.

Each module raises its own kind, named for what failed; ``gridledger network`` catches
the root and prints the message (what was wrong, what to do) without a traceback::

    GridLedgerError                       gridledger.errors
     └── NetworkError
          ├── TopologyError               topology.py: the topology file is unusable
          ├── BinaryError                 binaries.py: a Fabric tool is missing, unbuildable
          │   GoError, SourceError        go.py, fabric_source.py: the Go build, the source
          ├── EnrollError                 enroll.py: the CA refused a registration/enrollment
          ├── FabricCommandError          fabric_cli.py: peer/osnadmin/configtxgen failed
          ├── SupervisorError             supervisor.py: supervisord refused or is absent
          ├── PortInUseError, StartupError  health.py: a port is taken, a node did not start
          ├── ChannelError                channel.py: the channel was not created or joined
          ├── LifecycleError              lifecycle.py: chaincode not installed or committed
          ├── CRLError                    crl.py and friends: a CRL was not published
          └── ConsortiumError             consortium.py: bring-up failed, state dir unusable
"""

from __future__ import annotations

from gridledger.errors import GridLedgerError


class NetworkError(GridLedgerError):
    """The consortium network could not do what was asked; the message says why."""
