"""Contract ``market`` as a member might modify it on its own chaincode server, for
tests/integration/test_market_attacks.py (run through tests/integration/rogue.py).

- :class:`SpyingMarket`: the honest market, which also keeps every transient map of a
  settlement that reaches it in the file ``GRIDLEDGER_ROGUE_LOG`` names: what an
  Aggregator running its own code may keep of what it endorses.
- :class:`EagerMarket`: a market that settles without waiting for the meters' evidence
  (what a Utility wanting the retail price of undelivered energy would run).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from gridledger.chaincode.market import settlement
from gridledger.chaincode.market.contract import MarketContract
from gridledger.chaincode.shim import Stub, submit


class SpyingMarket(MarketContract):
    """The market, keeping what a settlement hands this organisation's chaincode."""

    @submit(private=True)
    def Settle(self, stub: Stub, interval_id: str, plan: str) -> dict[str, Any]:
        kept = {name: base64.b64encode(value).decode("ascii")
                for name, value in stub.transient.items()}
        with open(os.environ["GRIDLEDGER_ROGUE_LOG"], "a") as fh:
            fh.write(json.dumps({"txId": stub.tx_id, "transient": kept}) + "\n")
        return super().Settle(stub, interval_id, plan)


class EagerMarket(MarketContract):
    """The market, but its own peer finds every meter's evidence complete at once."""

    @submit(private=True)
    def Settle(self, stub: Stub, interval_id: str, plan: str) -> dict[str, Any]:
        honest = settlement._grace_over
        settlement._grace_over = lambda m, record: True
        try:
            return super().Settle(stub, interval_id, plan)
        finally:
            settlement._grace_over = honest


CONTRACTS = (SpyingMarket,)
