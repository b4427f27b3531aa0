"""wattcoin: prepaid token accounts (seed 004), served by chaincode ``metering``."""

from .contract import WattcoinContract

# Contracts this package contributes to the chaincode server (see chaincode/__main__.py).
CONTRACTS = (WattcoinContract,)

__all__ = ["CONTRACTS", "WattcoinContract"]
