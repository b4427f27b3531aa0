"""access: DACT/IDoT data access (seed 001, Fig. 8), served by chaincode ``metering``.

IDoT devices (with the meters of ``metering``: one registry of devices), DACTs that data
owners register in advance, certification tokens whose threshold is the chaincode's
endorsement policy (2 of 3 organisations), hash addresses of shared data, and the access
log of every disclosure. Run with ``--contracts metering,wattcoin,access``.
"""

from .contract import AccessContract

# Contracts this package contributes to the chaincode server (see chaincode/__main__.py).
CONTRACTS = (AccessContract,)

__all__ = ["CONTRACTS", "AccessContract"]
