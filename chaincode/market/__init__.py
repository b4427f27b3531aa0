"""market: peer-to-peer trading and virtual power plants (issue 12), served by chaincode
``metering`` beside ``metering`` and ``wattcoin``, so settlement can check the meters'
private interval records by their hashes and move Wattcoin on the same stub:

    python -m gridledger.chaincode --contracts metering,wattcoin,market ...
"""

from .contract import MarketContract

# Contracts this package contributes to the chaincode server (see chaincode/__main__.py).
CONTRACTS = (MarketContract,)

__all__ = ["CONTRACTS", "MarketContract"]
