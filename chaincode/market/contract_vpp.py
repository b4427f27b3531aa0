"""The ``market`` contract's VPP and standing-offer functions (a part of MarketContract)."""

from __future__ import annotations

from typing import Any

from ..common.arguments import int_arg
from ..common.callers import AGGREGATOR, REGULATOR, UTILITY, require_member, require_operator
from ..shim import Stub, evaluate, parse_json_arg, submit
from . import bilateral, orders, settlement, vpp
from .ledger import Market


class MarketVpps:
    """Virtual power plants and bilateral standing offers."""

    # -- VPPs ------------------------------------------------------------------------------

    @submit
    def CreateVpp(self, stub: Stub, vpp_doc: str) -> dict[str, Any]:
        """Create a VPP {vppId, marketId, name, commissionBp} operated by the Aggregator."""
        require_operator(stub, AGGREGATOR, action="CreateVpp")
        return vpp.create(Market(stub), parse_json_arg(vpp_doc, "vpp"))

    @submit
    def EnrolVppMember(self, stub: Stub, vpp_id: str, consent: str) -> dict[str, Any]:
        """Enrol a prosumer on its signed consent (Aggregator)."""
        require_operator(stub, AGGREGATOR, action="EnrolVppMember")
        return vpp.enrol(Market(stub), vpp_id, consent)

    @submit
    def LeaveVpp(self, stub: Stub, vpp_id: str, request: str) -> dict[str, Any]:
        """A member's signed leave (relayed by an Aggregator or Utility operator)."""
        require_operator(stub, AGGREGATOR, UTILITY, action="LeaveVpp")
        return vpp.leave(Market(stub), vpp_id, request)

    @submit
    def PlaceVppOffer(self, stub: Stub, vpp_id: str, interval_id: str, order_id: str,
                      quantity_wh: str, price_per_kwh: str) -> dict[str, Any]:
        """A bundled offer of the VPP, within its members' capacity (Aggregator)."""
        require_operator(stub, AGGREGATOR, action="PlaceVppOffer")
        return orders.public(vpp.place_offer(
            Market(stub), vpp_id, interval_id, order_id, int_arg(quantity_wh, "quantityWh", 1),
            int_arg(price_per_kwh, "pricePerKwh")))

    @submit
    def PayoutVpp(self, stub: Stub, vpp_id: str, interval_id: str, member: str
                  ) -> dict[str, Any]:
        """Pay a member its share of the VPP's proceeds in a settled interval, or the VPP
        its commission (``member`` = the VPP's id): any member's operator (the split is
        deterministic, so the Aggregator cannot hold members' proceeds back)."""
        require_operator(stub, AGGREGATOR, UTILITY, REGULATOR, action="PayoutVpp")
        m = Market(stub)
        delivery = m.get(settlement.delivery_key(interval_id, vpp_id))
        return vpp.payout(m, vpp_id, interval_id, member, delivery)

    @evaluate
    def VppMembers(self, stub: Stub, vpp_id: str) -> dict[str, Any]:
        """A VPP, its terms, and every member with its consent and terms."""
        require_member(stub, action="VppMembers")
        m = Market(stub)
        return {"vpp": vpp.get(m, vpp_id), "members": vpp.members(m, vpp_id)}

    # -- standing offers -------------------------------------------------------------------

    @submit
    def PostStandingOffer(self, stub: Stub, offer: str) -> dict[str, Any]:
        """A seller's signed standing offer to a named buyer or anyone (relayed)."""
        require_operator(stub, AGGREGATOR, UTILITY, action="PostStandingOffer")
        return bilateral.post(Market(stub), offer)

    @submit
    def AcceptStandingOffer(self, stub: Stub, request: str) -> dict[str, Any]:
        """A buyer's signed acceptance for one interval, escrowed at once (relayed)."""
        require_operator(stub, AGGREGATOR, UTILITY, action="AcceptStandingOffer")
        return bilateral.accept(Market(stub), request)

    @submit
    def WithdrawStandingOffer(self, stub: Stub, request: str) -> dict[str, Any]:
        """The seller's signed withdrawal of its standing offer (relayed)."""
        require_operator(stub, AGGREGATOR, UTILITY, action="WithdrawStandingOffer")
        return bilateral.withdraw(Market(stub), request)
