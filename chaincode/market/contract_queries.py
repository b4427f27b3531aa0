"""The ``market`` contract's queries (a part of MarketContract): public, pseudonymous."""

from __future__ import annotations

from typing import Any

from ..common.callers import require_member
from ..shim import Stub, evaluate
from . import intervals, queries
from .ledger import Market


class MarketQueries:
    """What any member may read of the market: it names pseudonyms, never people."""

    @evaluate
    def MarketConfig(self, stub: Stub, market_id: str) -> dict[str, Any]:
        """A market's interval length, gate closure and reference tariff."""
        require_member(stub, action="MarketConfig")
        return intervals.config(Market(stub), market_id)

    @evaluate
    def GetInterval(self, stub: Stub, interval_id: str) -> dict[str, Any]:
        """A delivery interval: times, reference prices, status and outcome."""
        require_member(stub, action="GetInterval")
        return intervals.get(Market(stub), interval_id)

    @evaluate
    def OrderBook(self, stub: Stub, interval_id: str) -> dict[str, Any]:
        """Open quantity per price level, bids and offers."""
        require_member(stub, action="OrderBook")
        return queries.depth(Market(stub), interval_id)

    @evaluate
    def ClearingPrices(self, stub: Stub, from_interval: str, to_interval: str
                       ) -> list[dict[str, Any]]:
        """Outcome (price, volume) of each interval from ``from`` to ``to``."""
        require_member(stub, action="ClearingPrices")
        return queries.prices(Market(stub), from_interval, to_interval)

    @evaluate
    def OrdersOf(self, stub: Stub, trader: str, interval_id: str) -> list[dict[str, Any]]:
        """A trader's orders, in one interval or ("") all."""
        require_member(stub, action="OrdersOf")
        return queries.orders_of(Market(stub), trader, interval_id)

    @evaluate
    def TradesOf(self, stub: Stub, trader: str, interval_id: str) -> list[dict[str, Any]]:
        """A trader's trades in an interval, with their settlement."""
        require_member(stub, action="TradesOf")
        return queries.trades_of(Market(stub), trader, interval_id)

    @evaluate
    def VppPayouts(self, stub: Stub, vpp_id: str, interval_id: str) -> dict[str, Any]:
        """A VPP's proceeds in an interval and each member's share and payout."""
        require_member(stub, action="VppPayouts")
        return queries.vpp_payouts(Market(stub), vpp_id, interval_id)

    @evaluate
    def MarketWallet(self, stub: Stub, trader: str) -> dict[str, Any]:
        """A trader's market balance."""
        require_member(stub, action="MarketWallet")
        return queries.wallet(Market(stub), trader)

    @evaluate
    def MarketTotals(self, stub: Stub) -> dict[str, Any]:
        """Token sums over the market and whether they balance."""
        require_member(stub, action="MarketTotals")
        return queries.totals(Market(stub))

    @evaluate
    def AuditLog(self, stub: Stub) -> list[dict[str, Any]]:
        """Every resolution request the Regulator logged."""
        require_member(stub, action="AuditLog")
        return queries.audit_log(Market(stub))
