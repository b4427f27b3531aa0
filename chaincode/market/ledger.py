"""The market's records: keys, key-level endorsement policies, market wallets.

Every market record is public and pseudonymous (traders are pseudonyms ``p-...`` and VPP
ids ``vpp-...``); what ties a pseudonym to a meter, a person or its energy is private
(common/privacy.py: ``mktlink``, ``mktmeter``, ``mktiv`` in customerData, ``mktwho`` in
regulatorOnly). Each public key gets a key-level policy **when it is created** (never
changed later: Fabric invalidates a transaction that writes a key whose policy an earlier
transaction of the same block changed):

=====================================  ========  =========================================
key                                    policy    what
=====================================  ========  =========================================
mktconfig~<marketId>                   MARKET    a market: interval length, gate closure
mktparty~<trader>                      FUNDING   a pseudonym's market key (a VPP's, its
                                                 operator: MARKET)
mktfund~<pseudonym>                    FUNDING   tokens deposited / withdrawn (Utility side)
mktwallet~<trader>                     MARKET    tokens credited / debited by the market
mktreq~<pseudonym>~<requestId>         FUNDING   a deposit or withdrawal done (no replays)
mktint~<intervalId>                    MARKET    a delivery interval and its outcome
mktbook~<iv>~<B|S>~<price>~<t>~<tr>~<id>  MARKET  an order in price-time priority
mktpo~<trader>~<iv>~<orderId>          MARKET    a trader's order: fills, escrow, status
mktclr~<iv> / mkttr~<iv>~<page>        MARKET    clearing cursor / one page of trades
mktstl~<iv>                            SETTLE    settlement cursor, made when the interval
                                                 opens, written by every settlement page
mktsp~<iv>~<page>                      MARKET    one page settled
mktdel~<iv>~<trader>                   MARKET    delivered so far (a VPP: members' export)
mktvpp~<vpp>, mktvppm~<vpp>~<p>        MARKET    a VPP; a member's consent and terms
mktmember~<p>, mktvppq~<vpp>~<iv>      MARKET    which VPP a pseudonym sells through; VPP
                                                 quantity offered in an interval
mktpay~<vpp>~<iv>~<who>                MARKET    a VPP payout made
mktso~<offerId>, mktsof~<offerId>~<iv>  MARKET   a standing offer; accepted in an interval
mktbil~<iv>~<buyer>~<acceptId>         MARKET    an accepted standing offer and its escrow
mktsos~<seller>~<offerId>              MARKET    a seller's standing offers (an index)
mktaudit~<txId>                        AUDIT     the Regulator's request to resolve a name
=====================================  ========  =========================================

MARKET = the Aggregator's peer and one of the Utility's or the Regulator's; FUNDING = both
members of customerData (what they endorse with the private account); AUDIT = the
Regulator's peer and one other; SETTLE = all three: the Aggregator checks the market's
arithmetic, the Utility and the Regulator each check the deliveries against the meters'
records they hold (so neither can settle on evidence of its own making), and the Utility
pays the refunds. A settlement page writes the cursor, so no page is valid without all
three; the cursor is made when the interval opens, before anyone could make it weaker.

A trader's spendable market balance is ``deposited - withdrawn + credited - debited``:
deposits and withdrawals (the Utility side, endorsed with the private account) and market
operations (the Aggregator side) write different keys, so neither needs the other's
endorsement; both read both, so a bid and a withdrawal racing for the same tokens cannot
both commit (the later one fails its read check).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..common.callers import AGGREGATOR, REGULATOR, UTILITY
from ..common.keys import key
from ..common.overlay import load_json
from ..common.privacy import ledger
from ..shim import ChaincodeError, Stub, all_and_one_of_policy, all_of_policy

MARKET = all_and_one_of_policy([AGGREGATOR], [UTILITY, REGULATOR])
FUNDING = all_of_policy([UTILITY, REGULATOR])
AUDIT = all_and_one_of_policy([REGULATOR], [UTILITY, AGGREGATOR])
SETTLE = all_of_policy([AGGREGATOR, UTILITY, REGULATOR])


class Market:
    """One transaction's view of the market: JSON records through the customerData overlay
    (so a private kind can never land in public state), created with their policy."""

    def __init__(self, stub: Stub) -> None:
        self.stub = stub
        self.ov = ledger(stub)

    @property
    def now(self) -> str:
        """The transaction time, ``YYYY-MM-DDTHH:MM:SSZ`` (never the wall clock)."""
        return self.stub.tx_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")

    def get(self, k: str) -> Any:
        """A record (None if absent)."""
        return self.ov.get_json(k)

    def need(self, k: str, what: str) -> Any:
        """A record, or 404 naming ``what``."""
        value = self.get(k)
        if value is None:
            raise ChaincodeError(f"{what} does not exist", status=404)
        return value

    def create(self, k: str, value: Any, policy: bytes = MARKET) -> None:
        """Write a new record and give it its key-level policy (409 if it exists)."""
        if self.ov.get(k) is not None:
            raise ChaincodeError(f"{k} already exists", status=409)
        self.ov.put_json(k, value)
        self.stub.set_state_validation_parameter(k, policy)

    def put(self, k: str, value: Any) -> None:
        """Rewrite an existing record (its policy stays)."""
        self.ov.put_json(k, value)

    def scan(self, *parts: str, start: str | None = None) -> Iterator[tuple[str, Any]]:
        """(key, record) of the committed records under ``parts`` (from ``start`` on), in
        key order, read lazily: a caller that stops early closes the peer's iterator, so
        the transaction's read set (and Fabric's phantom check) covers only what it read.
        This transaction's own writes are not seen (market code never scans what it
        writes)."""
        base = key(*parts) + "~"
        with self.stub.get_state_by_range(start or base, base[:-1] + "\x7f") as it:
            for kv in it:
                yield kv.key, load_json(kv.value)


# -- market wallets -----------------------------------------------------------------------


def fund_key(pseudonym: str) -> str:
    """The Utility side of a pseudonym's market balance."""
    return key("mktfund", pseudonym)


def wallet_key(trader: str) -> str:
    """The market side of a trader's balance."""
    return key("mktwallet", trader)


def available(m: Market, trader: str) -> int:
    """What ``trader`` may spend in the market now."""
    fund = m.get(fund_key(trader)) or {"deposited": 0, "withdrawn": 0}
    wallet = m.need(wallet_key(trader), f"market wallet of {trader}")
    return (fund["deposited"] - fund["withdrawn"] + wallet["credited"] - wallet["debited"])


def debit(m: Market, trader: str, amount: int, what: str) -> None:
    """Take ``amount`` from a trader's market balance (409 when it lacks them)."""
    have = available(m, trader)
    if have < amount:
        raise ChaincodeError(f"{what} needs {amount} tokens; {trader} has {have} in the "
                             "market (deposit more first)", status=409)
    wallet = m.get(wallet_key(trader))
    wallet["debited"] += amount
    m.put(wallet_key(trader), wallet)


def credit(m: Market, trader: str, amount: int) -> None:
    """Add ``amount`` to a trader's market balance (zero writes nothing)."""
    if amount:
        wallet = m.need(wallet_key(trader), f"market wallet of {trader}")
        wallet["credited"] += amount
        m.put(wallet_key(trader), wallet)


def open_wallet(m: Market, trader: str) -> None:
    """Create a trader's market wallet (MARKET policy)."""
    m.create(wallet_key(trader), {"trader": trader, "credited": 0, "debited": 0})
