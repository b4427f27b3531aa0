"""metering: meters (IDoT), tariffs, signed readings with a per-meter hash chain, alarms
and bills. Served together with ``wattcoin`` by one chaincode named ``metering``:

    python -m gridledger.chaincode --contracts metering,wattcoin ...
"""

from .contract import MeteringContract

# Contracts this package contributes to the chaincode server (see chaincode/__main__.py).
CONTRACTS = (MeteringContract,)

__all__ = ["CONTRACTS", "MeteringContract"]
