"""market: peer-to-peer trading and virtual power plants (issue 12), served by chaincode
``market`` on a channel of its own (issue 17): everything here names pseudonyms only.
What ties a pseudonym to a meter, a customer or an account is on the energy channel
(chaincode/marketlink), read across channels at the Utility's and the Regulator's
endorsers (chaincode/common/crosschannel.py):

    python -m gridledger.chaincode --contracts market ...
"""

from .contract import MarketContract

# Contracts this package contributes to the chaincode server (see chaincode/__main__.py).
CONTRACTS = (MarketContract,)

__all__ = ["CONTRACTS", "MarketContract"]
