"""Health contract: Ping, Put, Get."""

from .contract import HealthContract

# Contracts this package contributes to the chaincode server (see chaincode/__main__.py).
CONTRACTS = (HealthContract,)

__all__ = ["CONTRACTS", "HealthContract"]
