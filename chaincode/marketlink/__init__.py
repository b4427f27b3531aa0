"""marketlink: the market's side on the energy channel (issue 17, hole 3).

The market trades under pseudonyms on a channel of its own (``market``); what ties a
pseudonym to a meter, a customer and an account, and every token that moves between an
account and a market wallet, stays here on ``energy``, in customerData. No transaction of
this contract writes anything public or names a pseudonym outside the transient map, so
no key hash of one channel meets one of the other (chaincode/README.md, "Privacy").
Served by chaincode ``metering`` beside the contracts whose records it reads:

    python -m gridledger.chaincode --contracts metering,wattcoin,access,marketlink ...
"""

from .contract import MarketLinkContract

# Contracts this package contributes to the chaincode server (see chaincode/__main__.py).
CONTRACTS = (MarketLinkContract,)

__all__ = ["CONTRACTS", "MarketLinkContract"]
