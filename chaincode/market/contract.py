"""The ``market`` contract (chaincode ``metering``): peer-to-peer trading and VPPs.

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

from gridledger.formats.market import check_pseudonym

from ..common.callers import AGGREGATOR, REGULATOR, UTILITY, require_member, require_operator
from ..metering import api as metering
from ..shim import (
    ChaincodeError,
    Contract,
    PeerError,
    Stub,
    evaluate,
    parse_json_arg,
    submit,
)
from . import audit, clearing, intervals, orders, parties, settlement
from .contract_queries import MarketQueries
from .contract_vpp import MarketVpps
from .ledger import Market

MAX_RECORDS = 2000  # pseudonyms one DeliveryRecords call answers


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
    def RecordPseudonym(self, stub: Stub, pseudonym: str, customer_id: str) -> dict[str, Any]:
        """Keep pseudonym -> customer in regulatorOnly (Regulator; its peer alone)."""
        require_operator(stub, REGULATOR, action="RecordPseudonym")
        parties.record_pseudonym(stub, pseudonym, customer_id)
        return {"recorded": True}

    @submit(private=True)
    def EnrolParticipant(self, stub: Stub, request: str) -> dict[str, Any]:
        """Enrol a customer's meter and market key under its pseudonym, with the customer's
        consent (relayed by the Regulator, whose peer checks the pseudonym is the
        customer's; the Utility's and the Regulator's peers endorse)."""
        require_operator(stub, REGULATOR, action="EnrolParticipant")
        return {"pseudonym": parties.enrol(Market(stub), request), "enrolled": True}

    @submit(private=True)
    def RetireParticipant(self, stub: Stub, request: str) -> dict[str, Any]:
        """A participant's signed retirement (Utility relays): its free balance back to its
        customer's account; its meter free for a new pseudonym."""
        require_operator(stub, UTILITY, action="RetireParticipant")
        return parties.retire(Market(stub), request)

    @submit(private=True)
    def Deposit(self, stub: Stub, request: str) -> dict[str, Any]:
        """Tokens from the participant's private account into the market (Utility relays
        the participant's signed request)."""
        require_operator(stub, UTILITY, action="Deposit")
        parties.deposit(Market(stub), request)
        return {"deposited": True}

    @submit(private=True)
    def Withdraw(self, stub: Stub, request: str) -> dict[str, Any]:
        """Tokens from the market back into the private account (Utility relays)."""
        require_operator(stub, UTILITY, action="Withdraw")
        parties.withdraw(Market(stub), request)
        return {"withdrawn": True}

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
        """The next settlement page's plan, from the delivery records on this peer (a
        Utility or Regulator peer): what each trade delivered, a new VPP's members'
        export, the records' keys, and which meters have not reported through the end."""
        require_operator(stub, UTILITY, REGULATOR, action="SettlementPlan")
        return settlement.plan(Market(stub), interval_id)

    @evaluate
    def DeliveryRecords(self, stub: Stub, interval_id: str, pseudonyms: str
                        ) -> dict[str, str | None]:
        """The stored bytes of pseudonyms' interval records (a Utility or Regulator peer)."""
        require_operator(stub, UTILITY, REGULATOR, action="DeliveryRecords")
        intervals.get(Market(stub), interval_id)
        wanted = parse_json_arg(pseudonyms, "pseudonyms")
        if (not isinstance(wanted, list) or len(wanted) > MAX_RECORDS
                or not all(isinstance(p, str) for p in wanted)):
            raise ChaincodeError(f"pseudonyms must be a JSON array of at most {MAX_RECORDS} "
                                 "pseudonyms", status=400)
        for p in wanted:
            check_pseudonym(p)
        m = Market(stub)
        out = {}
        for p in wanted:
            try:
                raw = metering.market_record_bytes(m.ov, p, interval_id)
            except PeerError:  # the Aggregator's peer keeps the hash, not the value
                raise ChaincodeError("this peer does not hold customerData: ask the "
                                     "Utility's or the Regulator's peer", status=404) from None
            out[p] = None if raw is None else raw.decode("utf-8")
        return out

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
