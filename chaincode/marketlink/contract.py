"""The ``marketlink`` contract (chaincode ``metering``, energy channel).

Submits (all private: arguments in the transient map, answers that name nothing) link
pseudonyms to meters and move tokens between accounts and the market; evaluates answer
the market channel's chaincode, which reads them across channels at the Utility's and
the Regulator's endorsers (chaincode/common/crosschannel.py). chaincode/README.md,
"Market", has the arguments and answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridledger.formats.market import check_pseudonym, parse_interval_id
from gridledger.formats.utc import parse_utc

from ..common.callers import REGULATOR, UTILITY, require_member, require_operator
from ..common.privacy import ledger
from ..metering import api as metering
from ..shim import ChaincodeError, Contract, Stub, evaluate, parse_json_arg, submit
from . import links, money

MAX_RECORDS = 2000  # pseudonyms one DeliveryRecords call answers


class MarketLinkContract(Contract):
    """Pseudonym links, deposits' vouchers, payouts redeemed, delivery evidence."""

    name = "marketlink"

    # -- pseudonyms and links ------------------------------------------------------------

    @submit(private=True)
    def RecordPseudonym(self, stub: Stub, pseudonym: str, customer_id: str) -> dict[str, Any]:
        """Keep pseudonym -> customer in regulatorOnly (Regulator; its peer alone)."""
        require_operator(stub, REGULATOR, action="RecordPseudonym")
        links.record_pseudonym(stub, pseudonym, customer_id)
        return {"recorded": True}

    @submit(private=True)
    def LinkParticipant(self, stub: Stub, request: str) -> dict[str, Any]:
        """Link a customer's meter and market key to its pseudonym, with the customer's
        consent (relayed by the Regulator; the Utility's and the Regulator's peers
        endorse). The market channel's EnrolParticipant follows."""
        require_operator(stub, REGULATOR, action="LinkParticipant")
        links.link(stub, request)
        return {"linked": True}

    @submit(private=True)
    def UnlinkParticipant(self, stub: Stub, pseudonym: str) -> dict[str, Any]:
        """End a participant's link once it retired on the market channel (Utility)."""
        require_operator(stub, UTILITY, action="UnlinkParticipant")
        links.unlink(stub, pseudonym)
        return {"unlinked": True}

    # -- money ---------------------------------------------------------------------------

    @submit(private=True)
    def FundMarket(self, stub: Stub, request: str) -> dict[str, Any]:
        """A participant's signed deposit: tokens out of its customer's account into a
        voucher the market channel's Deposit credits (Utility relays)."""
        require_operator(stub, UTILITY, action="FundMarket")
        money.fund(stub, request)
        return {"funded": True}

    @submit(private=True)
    def RedeemPayout(self, stub: Stub, pseudonym: str, request_id: str) -> dict[str, Any]:
        """A payout of the market channel into the customer's account (Utility relays)."""
        require_operator(stub, UTILITY, action="RedeemPayout")
        money.redeem(stub, pseudonym, request_id)
        return {"redeemed": True}

    # -- what the market channel reads across --------------------------------------------

    @evaluate
    def Link(self, stub: Stub, pseudonym: str) -> dict[str, Any]:
        """A pseudonym's link as the market may know it: market, key, since, until; never
        the meter nor the customer (a Utility or Regulator operator, on its peer)."""
        require_operator(stub, UTILITY, REGULATOR, action="Link")
        return links.public_link(stub, pseudonym)

    @evaluate
    def Voucher(self, stub: Stub, pseudonym: str, request_id: str) -> dict[str, Any]:
        """A funded deposit: pseudonym, request id, amount (Utility or Regulator)."""
        require_operator(stub, UTILITY, REGULATOR, action="Voucher")
        return money.voucher(stub, pseudonym, request_id)

    @evaluate
    def DeliveryRecords(self, stub: Stub, interval_id: str, pseudonyms: str
                        ) -> dict[str, dict[str, Any] | None]:
        """Pseudonyms' metered import and export in a delivery interval, and whether each
        record is complete (its meter reported through the interval's end): what
        settlement checks deliveries against (Utility or Regulator, on its peer)."""
        require_operator(stub, UTILITY, REGULATOR, action="DeliveryRecords")
        parse_interval_id(interval_id, "intervalId")
        wanted = parse_json_arg(pseudonyms, "pseudonyms")
        if (not isinstance(wanted, list) or len(wanted) > MAX_RECORDS
                or not all(isinstance(p, str) for p in wanted)):
            raise ChaincodeError(f"pseudonyms must be a JSON array of at most {MAX_RECORDS} "
                                 "pseudonyms", status=400)
        for p in wanted:
            check_pseudonym(p)
        ov = ledger(stub)
        if not ov.holds_collection():
            raise ChaincodeError("this peer does not hold customerData: ask the Utility's or "
                                 "the Regulator's peer", status=404)
        out: dict[str, dict[str, Any] | None] = {}
        for p in wanted:
            record = ov.get_json(metering.market_record_key(p, interval_id))
            out[p] = None if record is None else {
                k: record[k] for k in ("importWh", "exportWh", "complete") if k in record}
        return out

    @evaluate
    def HoldsCustomerData(self, stub: Stub) -> dict[str, bool]:
        """Whether this peer holds customerData (the Utility's and the Regulator's do):
        the market's endorsers check deliveries against records only where they are."""
        require_member(stub, action="HoldsCustomerData")
        return {"holds": ledger(stub).holds_collection()}

    @evaluate
    def PseudonymHolder(self, stub: Stub, pseudonym: str) -> dict[str, str]:
        """The customer the Regulator issued ``pseudonym`` to (Regulator, on its peer; the
        market channel's ResolvePseudonym asks it for a logged request only)."""
        require_operator(stub, REGULATOR, action="PseudonymHolder")
        return {"pseudonym": pseudonym, "customerId": links.holder(stub, pseudonym)}

    @evaluate
    def TariffVersion(self, stub: Stub, tariff_id: str, at: str) -> dict[str, Any]:
        """The trusted version of ``tariff_id`` in force at ``at`` (public: any member):
        the market's reference prices."""
        require_member(stub, action="TariffVersion")
        when: dt.datetime = parse_utc(at, "at")
        return metering.trusted_tariff_version(ledger(stub), tariff_id, when)
