"""The ``market`` contract (chaincode ``market``, market channel): peer-to-peer trading
and VPPs.

Thin: check the caller, parse arguments, call the domain modules. The functions are in
three classes put together here: participants, money, intervals, orders, clearing,
settlement and audit below; VPPs and standing offers in ``contract_vpp.py``; queries in
``contract_queries.py``. chaincode/README.md, "Market", has the arguments and answers.

Who submits: participants never under their own certificate (it names them, and every
block carries it); an operator relays their signed messages (chaincode/market/signed.py).
Clearing and settlement are deterministic: any member organisation's operator may clear
an interval once its gate has closed, and the Utility's or the Regulator's may settle it
(they hold the delivery records), so no single organisation can stall them or pick the
moment that suits it.
"""

from __future__ import annotations

from typing import Any

from ..common.callers import AGGREGATOR, REGULATOR, UTILITY, require_member, require_operator
from ..shim import Contract, Stub, evaluate, parse_json_arg, submit
from . import audit, clearing, intervals, orders, parties, settlement
from .contract_queries import MarketQueries
from .contract_vpp import MarketVpps
from .ledger import Market


class MarketContract(MarketVpps, MarketQueries, Contract):
    """Delivery intervals, orders, clearing, settlement, participants and their money."""

    name = "market"

    # -- set-up and participants ---------------------------------------------------------

    @submit
    def ConfigureMarket(self, stub: Stub, config: str) -> dict[str, Any]:
        """A market's interval length, gate closure and reference tariff, once per market
        (Aggregator)."""
        require_operator(stub, AGGREGATOR, action="ConfigureMarket")
        return intervals.configure(Market(stub), parse_json_arg(config, "config"))

    @submit(private=True)
    def EnrolParticipant(self, stub: Stub, request: str) -> dict[str, Any]:
        """Publish a participant's pseudonym and market key once the energy channel linked
        them (relayed by the Regulator; the Utility's and the Regulator's peers read the
        link across). The request stays in the transient map: it names the meter."""
        require_operator(stub, REGULATOR, action="EnrolParticipant")
        return {"pseudonym": parties.enrol(Market(stub), request), "enrolled": True}

    @submit
    def RetireParticipant(self, stub: Stub, request: str) -> dict[str, Any]:
        """A participant's signed retirement (Utility relays): its free balance becomes a
        payout; the energy channel then unlinks its meter."""
        require_operator(stub, UTILITY, action="RetireParticipant")
        return parties.retire(Market(stub), request)

    @submit
    def Deposit(self, stub: Stub, pseudonym: str, request_id: str) -> dict[str, Any]:
        """Credit a deposit the energy channel funded (Utility; its voucher read across)."""
        require_operator(stub, UTILITY, action="Deposit")
        amount = parties.deposit(Market(stub), pseudonym, request_id)
        return {"deposited": True, "amount": amount}

    @submit
    def Withdraw(self, stub: Stub, request: str) -> dict[str, Any]:
        """Tokens out of the market into a payout the energy channel redeems (Utility
        relays the participant's signed request)."""
        require_operator(stub, UTILITY, action="Withdraw")
        return parties.withdraw(Market(stub), request)

    @evaluate
    def Participant(self, stub: Stub, pseudonym: str) -> dict[str, Any]:
        """A participant's public record (any member)."""
        require_member(stub, action="Participant")
        return parties.participant(Market(stub), pseudonym)

    @evaluate
    def Payout(self, stub: Stub, pseudonym: str, request_id: str) -> dict[str, Any]:
        """A payout for the energy channel to redeem (any member)."""
        require_member(stub, action="Payout")
        return parties.payout(Market(stub), pseudonym, request_id)

    # -- intervals and orders ------------------------------------------------------------

    @submit
    def OpenInterval(self, stub: Stub, interval_id: str, market_type: str) -> dict[str, Any]:
        """Open a delivery interval, uniform or pay-as-bid (Aggregator), with its
        settlement cursor (only all three organisations together settle it)."""
        require_operator(stub, AGGREGATOR, action="OpenInterval")
        m = Market(stub)
        record = intervals.open_interval(m, interval_id, market_type)
        settlement.prepare(m, record)
        return record

    @submit
    def PlaceOffer(self, stub: Stub, order: str) -> dict[str, Any]:
        """A participant's signed sell offer (relayed by an Aggregator or Utility operator)."""
        require_operator(stub, AGGREGATOR, UTILITY, action="PlaceOffer")
        return orders.public(orders.place_offer(Market(stub), order))

    @submit
    def PlaceBid(self, stub: Stub, order: str) -> dict[str, Any]:
        """A participant's signed buy bid, escrowed at once (relayed)."""
        require_operator(stub, AGGREGATOR, UTILITY, action="PlaceBid")
        return orders.public(orders.place_bid(Market(stub), order))

    @submit
    def CancelOrder(self, stub: Stub, request: str) -> dict[str, Any]:
        """A participant's signed cancel of its own open order (relayed)."""
        require_operator(stub, AGGREGATOR, UTILITY, action="CancelOrder")
        return orders.public(orders.cancel(Market(stub), request))

    # -- clearing and settlement ---------------------------------------------------------

    @submit
    def Clear(self, stub: Stub, interval_id: str) -> dict[str, Any]:
        """One bounded page of the interval's clearing; call until ``done`` (any member's
        operator, from gate closure on)."""
        require_operator(stub, AGGREGATOR, UTILITY, REGULATOR, action="Clear")
        return clearing.clear(Market(stub), interval_id)

    @evaluate
    def SettlementNeeds(self, stub: Stub, interval_id: str) -> dict[str, Any]:
        """The pseudonyms whose delivery records the next Settle page needs."""
        require_member(stub, action="SettlementNeeds")
        return settlement.needs(Market(stub), interval_id)

    @evaluate
    def SettlementPlan(self, stub: Stub, interval_id: str) -> dict[str, Any]:
        """The next settlement page's plan, from the delivery records the energy channel
        holds (read across, on a Utility or Regulator peer): what each trade delivered, a
        new VPP's members' export, and which meters have not reported through the end."""
        require_operator(stub, UTILITY, REGULATOR, action="SettlementPlan")
        return settlement.plan(Market(stub), interval_id)

    @submit(private=True)
    def Settle(self, stub: Stub, interval_id: str, plan: str) -> dict[str, Any]:
        """Settle the next page of trades by its plan (SettlementPlan), which the Utility's
        and the Regulator's peers each check against their records; all three
        organisations endorse (a Utility or Regulator operator submits)."""
        require_operator(stub, UTILITY, REGULATOR, action="Settle")
        return settlement.settle(Market(stub), interval_id, plan)

    # -- audit ---------------------------------------------------------------------------

    @submit
    def RequestResolution(self, stub: Stub, pseudonym: str, reason: str) -> dict[str, Any]:
        """Log the Regulator's intent to resolve a pseudonym (Regulator)."""
        require_operator(stub, REGULATOR, action="RequestResolution")
        return audit.request(Market(stub), pseudonym, reason)

    @evaluate
    def ResolvePseudonym(self, stub: Stub, audit_id: str) -> dict[str, Any]:
        """The customer behind a logged request's pseudonym (Regulator, on its peer)."""
        require_operator(stub, REGULATOR, action="ResolvePseudonym")
        return audit.resolve(stub, Market(stub), audit_id)
