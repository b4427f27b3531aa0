"""Market participants: a pseudonym from the Regulator, enrolment by the Utility, tokens in
and out of the market.

1. **RecordPseudonym** (Regulator; its peer alone endorses, nothing public is written):
   the Regulator's client computes the pseudonym ``p-...`` as HMAC(its secret, identity)
   (gridledger.formats.market) and stores ``mktwho~<p>`` = the customer in its own
   collection ``regulatorOnly``, which no other organisation's peer receives.
2. **EnrolParticipant** (Utility; Utility and Regulator endorse): the customer's wallet
   made a market key and signed ``{"action": "enrol", "pseudonym", "marketId", "meterId",
   "publicKeyPem"}`` with it; the Utility checks off-ledger that the meter is the
   customer's and submits. The chaincode checks that the Regulator issued the pseudonym
   (its hash is on the channel: ``GetPrivateDataHash``, readable by every peer), links
   pseudonym -> meter, customer and paying account privately (``mktlink``) and meter ->
   pseudonym for the reading path (metering's ``mktmeter``), and publishes only the
   pseudonym and its key (``mktparty``), with an empty market wallet.
3. **Deposit / Withdraw** (Utility; Utility and Regulator endorse, arguments in the
   transient map): signed by the market key; tokens move between the private account and
   the public balance (``mktfund``), never touching a key the Aggregator must endorse.

A withdrawal that clears an exhausted account sets no event: an event would put the
customer's meters and the pseudonym in the same block. The Utility's operators see the
account and reconnect.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.market import check_pseudonym, verifies

from ..common.keys import key
from ..common.privacy import REGULATOR_ONLY, regulator_ledger
from ..metering import api as metering
from ..shim import ChaincodeError, Stub
from ..wattcoin import api as wattcoin
from . import intervals, signed
from .ledger import FUNDING, Market, available, fund_key, open_wallet


def who_key(pseudonym: str) -> str:
    """regulatorOnly: the customer behind a pseudonym."""
    return key("mktwho", pseudonym)


def link_key(pseudonym: str) -> str:
    """customerData: a pseudonym's meter, customer and paying account."""
    return key("mktlink", pseudonym)


def record_pseudonym(stub: Stub, pseudonym: str, customer_id: str) -> None:
    """Store pseudonym -> customer in the Regulator's collection (409 if issued)."""
    check_pseudonym(pseudonym)
    check_id(customer_id, "customerId")
    ov = regulator_ledger(stub)
    if ov.get(who_key(pseudonym)) is not None:
        raise ChaincodeError(f"pseudonym {pseudonym} is issued already", status=409)
    ov.put_json(who_key(pseudonym), {"pseudonym": pseudonym, "customerId": customer_id,
                                     "mspId": "UtilityMSP", "issuedAt": _now(stub)})


def _now(stub: Stub) -> str:
    return stub.tx_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def issued(stub: Stub, pseudonym: str) -> bool:
    """Whether the Regulator issued ``pseudonym`` (its record's hash, on any peer)."""
    return stub.get_private_data_hash(REGULATOR_ONLY, who_key(pseudonym)) is not None


def enrol(m: Market, text: str) -> str:
    """Enrol a participant from its self-signed request; its pseudonym."""
    message, raw, signature = signed.read(text, "enrol", ("pseudonym", "marketId", "meterId",
                                                          "publicKeyPem"))
    pseudonym = message["pseudonym"]
    if not verifies(message["publicKeyPem"], raw, signature):
        raise ChaincodeError("the enrolment is not signed by the market key it names",
                             status=403)
    if not issued(m.stub, pseudonym):
        raise ChaincodeError(f"the Regulator has not issued pseudonym {pseudonym}", status=409)
    if m.get(signed.party_key(pseudonym)) is not None:
        raise ChaincodeError(f"{pseudonym} is enrolled already", status=409)
    cfg = intervals.config(m, message["marketId"])
    # The private record only: a public read of meter~<id> would put the meter id in the
    # block next to the pseudonym (read sets carry public keys in plain text).
    meter_id = message["meterId"]
    customer_id = metering.meter_owner(m.ov, meter_id)  # 404 unknown
    address = wattcoin.address_of_customer(m.ov, customer_id)
    if address is None:
        raise ChaincodeError(f"meter {meter_id}'s customer has no Wattcoin account: market "
                             "money moves in Wattcoin", status=409)
    metering.enrol_market_meter(m.ov, meter_id, pseudonym, cfg["marketId"],
                                cfg["intervalSeconds"])
    m.ov.put_json(link_key(pseudonym), {"meterId": meter_id, "customerId": customer_id,
                                        "address": address})
    m.create(signed.party_key(pseudonym), {
        "trader": pseudonym, "kind": "participant", "publicKeyPem": message["publicKeyPem"],
        "marketId": cfg["marketId"], "enrolledAt": m.now}, FUNDING)
    m.create(fund_key(pseudonym), {"pseudonym": pseudonym, "deposited": 0, "withdrawn": 0},
             FUNDING)
    open_wallet(m, pseudonym)
    return pseudonym


def _request(m: Market, text: str, action: str) -> tuple[dict[str, Any], dict[str, Any]]:
    message = signed.signed_by(m, text, action, ("pseudonym", "amount", "requestId"))
    pseudonym = message["pseudonym"]
    req = key("mktreq", pseudonym, message["requestId"])
    if m.get(req) is not None:
        raise ChaincodeError(f"request {message['requestId']} of {pseudonym} is done "
                             "already", status=409)
    m.create(req, {"action": action, "amount": message["amount"], "at": m.now,
                   "txId": m.stub.tx_id}, FUNDING)
    link = m.ov.get_json(link_key(pseudonym))
    if link is None:
        raise ChaincodeError(f"{pseudonym} has no link on this peer: Deposit and Withdraw "
                             "run on the Utility's and the Regulator's peers", status=404)
    return message, link


def deposit(m: Market, text: str) -> None:
    """Move tokens from the participant's private account into its market balance."""
    message, link = _request(m, text, "deposit")
    wattcoin.to_market(m.ov, link["address"], message["amount"],
                       requestId=message["requestId"])
    fund = m.get(fund_key(message["pseudonym"]))
    fund["deposited"] += message["amount"]
    m.put(fund_key(message["pseudonym"]), fund)


def withdraw(m: Market, text: str) -> None:
    """Move tokens from the market balance back into the private account."""
    message, link = _request(m, text, "withdraw")
    pseudonym, amount = message["pseudonym"], message["amount"]
    have = available(m, pseudonym)
    if have < amount:
        raise ChaincodeError(f"{pseudonym} has {have} tokens free in the market, less than "
                             f"{amount} (escrowed tokens return after settlement)", status=409)
    fund = m.get(fund_key(pseudonym))
    fund["withdrawn"] += amount
    m.put(fund_key(pseudonym), fund)
    wattcoin.from_market(m.ov, link["address"], amount, requestId=message["requestId"])
