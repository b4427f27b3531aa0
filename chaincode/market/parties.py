"""Market participants, on the market channel: enrolment, tokens in and out, retirement.

What ties a pseudonym to a meter, a customer and an account is on the energy channel
(chaincode/marketlink); this side names pseudonyms only and reads that side across
channels, at the Utility's and the Regulator's endorsers (chaincode/common/crosschannel.py),
so that no transaction here touches a key of theirs (chaincode/README.md, "Privacy").

1. **EnrolParticipant** (relayed by a Regulator operator; the Utility's and the
   Regulator's peers endorse; the signed enrolment in the transient map, as the energy
   channel's LinkParticipant took it): once the energy channel links the pseudonym (with
   the customer's consent, marketlink/links.py), each endorser reads the link across
   and checks it names this market and this market key; the pseudonym and its key are
   published (``mktparty``) with an empty market wallet. The meter is never named here.
2. **Deposit(pseudonym, requestId)** (Utility): credits the voucher the energy channel's
   FundMarket took out of the customer's account (read across), once (``mktdep``).
3. **Withdraw** (Utility relays the participant's signed request): takes tokens out of the
   wallet into a payout ``mktout~<pseudonym>~<requestId>``, which the energy channel's
   RedeemPayout puts into the customer's account.
4. **RetireParticipant** (Utility relays the participant's signed ``retire``): with no
   open order in an interval still to come, no standing offer left and no VPP
   membership, the pseudonym retires; what it has free becomes a payout; the energy
   channel's UnlinkParticipant then frees its meter for a new pseudonym. Rotating
   pseudonyms this way (the Regulator issues one per epoch) keeps one name from linking
   every interval of a customer's life.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.market import check_pseudonym, interval_id, verifies

from ..common import crosschannel
from ..common.keys import key
from ..shim import ChaincodeError, Stub, parse_json_arg
from . import intervals, orders, signed
from .ledger import FUNDING, Market, available, fund_key, open_wallet

ENROL_MEMBERS = ("pseudonym", "marketId", "meterId", "publicKeyPem")


def deposit_key(pseudonym: str, request_id: str) -> str:
    """A deposit's voucher credited (no voucher is credited twice)."""
    return key("mktdep", pseudonym, request_id)


def payout_key(pseudonym: str, request_id: str) -> str:
    """Tokens taken out of the market for the energy channel to pay into the account."""
    return key("mktout", pseudonym, request_id)


def _link(stub: Stub, pseudonym: str) -> dict[str, Any]:
    """The energy channel's link of ``pseudonym`` (market, key, since), read across."""
    return crosschannel.energy(stub, "marketlink:Link", pseudonym)


def enrol(m: Market, text: str) -> str:
    """Publish a linked participant's pseudonym and market key; its pseudonym."""
    envelope = parse_json_arg(text, "signed enrol message")
    if not isinstance(envelope, dict):
        raise ChaincodeError('an enrolment is {"message", "signature"[, "consent"]}', 400)
    envelope.pop("consent", None)  # checked on the energy channel, where the account is
    message, raw, signature = signed.read_envelope(envelope, "enrol", ENROL_MEMBERS)
    pseudonym = message["pseudonym"]
    if not verifies(message["publicKeyPem"], raw, signature):
        raise ChaincodeError("the enrolment is not signed by the market key it names",
                             status=403)
    if m.get(signed.party_key(pseudonym)) is not None:
        raise ChaincodeError(f"{pseudonym} is enrolled already", status=409)
    cfg = intervals.config(m, message["marketId"])
    link = _link(m.stub, pseudonym)
    if (link.get("marketId"), link.get("publicKeyPem")) != (cfg["marketId"],
                                                           message["publicKeyPem"]):
        raise ChaincodeError(f"{pseudonym} is linked on the energy channel for another "
                             "market or key than this enrolment names", status=409)
    if link.get("unlinkedAt"):
        raise ChaincodeError(f"{pseudonym}'s link ended at {link['unlinkedAt']}", status=409)
    m.create(signed.party_key(pseudonym), {
        "trader": pseudonym, "kind": "participant", "publicKeyPem": message["publicKeyPem"],
        "marketId": cfg["marketId"], "enrolledAt": m.now}, FUNDING)
    m.create(fund_key(pseudonym), {"pseudonym": pseudonym, "deposited": 0, "withdrawn": 0},
             FUNDING)
    open_wallet(m, pseudonym)
    return pseudonym


def deposit(m: Market, pseudonym: str, request_id: str) -> int:
    """Credit a deposit the energy channel funded (read across); the amount."""
    check_pseudonym(pseudonym)
    check_id(request_id, "requestId")
    m.need(signed.party_key(pseudonym), f"market participant {pseudonym}")
    voucher = crosschannel.energy(m.stub, "marketlink:Voucher", pseudonym, request_id)
    amount = int(voucher["amount"])
    m.create(deposit_key(pseudonym, request_id), {
        "pseudonym": pseudonym, "requestId": request_id, "amount": amount, "at": m.now,
        "txId": m.stub.tx_id}, FUNDING)
    fund = m.get(fund_key(pseudonym))
    fund["deposited"] += amount
    m.put(fund_key(pseudonym), fund)
    return amount


def _new_request(m: Market, pseudonym: str, request_id: str, action: str,
                 amount: int) -> None:
    req = key("mktreq", pseudonym, request_id)
    if m.get(req) is not None:
        raise ChaincodeError(f"request {request_id} of {pseudonym} is done already",
                             status=409)
    m.create(req, {"action": action, "amount": amount, "at": m.now, "txId": m.stub.tx_id},
             FUNDING)


def _pay_out(m: Market, pseudonym: str, request_id: str, amount: int) -> None:
    """Take ``amount`` out of the market for the energy channel to pay into the account."""
    fund = m.get(fund_key(pseudonym))
    fund["withdrawn"] += amount
    m.put(fund_key(pseudonym), fund)
    m.create(payout_key(pseudonym, request_id), {
        "pseudonym": pseudonym, "requestId": request_id, "amount": amount, "at": m.now,
        "txId": m.stub.tx_id}, FUNDING)


def withdraw(m: Market, text: str) -> dict[str, Any]:
    """Take tokens out of the market balance into a payout for the customer's account."""
    message = signed.signed_by(m, text, "withdraw", ("pseudonym", "amount", "requestId"))
    pseudonym, amount, request_id = (message["pseudonym"], message["amount"],
                                     message["requestId"])
    _new_request(m, pseudonym, request_id, "withdraw", amount)
    have = available(m, pseudonym)
    if have < amount:
        raise ChaincodeError(f"{pseudonym} has {have} tokens free in the market, less than "
                             f"{amount} (escrowed tokens return after settlement)", status=409)
    _pay_out(m, pseudonym, request_id, amount)
    return {"pseudonym": pseudonym, "requestId": request_id, "amount": amount}


def retire(m: Market, text: str) -> dict[str, Any]:
    """Retire a participant on its signed ``retire``: what it has free in the market
    becomes a payout for its customer's account; the energy channel then unlinks its
    meter, which may be enrolled under a new pseudonym."""
    message = signed.signed_by(m, text, "retire", ("pseudonym", "requestId"))
    pseudonym, request_id = message["pseudonym"], message["requestId"]
    party = m.get(signed.party_key(pseudonym))
    if party.get("retiredAt"):
        raise ChaincodeError(f"{pseudonym} retired at {party['retiredAt']}", status=409)
    _require_nothing_ahead(m, pseudonym, party["marketId"])
    amount = available(m, pseudonym)
    _new_request(m, pseudonym, request_id, "retire", amount)
    _pay_out(m, pseudonym, request_id, amount)
    m.put(signed.party_key(pseudonym), {**party, "retiredAt": m.now})
    return {"pseudonym": pseudonym, "retired": True, "requestId": request_id,
            "amount": amount}


def participant(m: Market, pseudonym: str) -> dict[str, Any]:
    """A participant's public record: key, market, enrolled and retired when."""
    check_pseudonym(pseudonym)
    return m.need(signed.party_key(pseudonym), f"market participant {pseudonym}")


def payout(m: Market, pseudonym: str, request_id: str) -> dict[str, Any]:
    """A payout the energy channel may redeem (404 if none)."""
    check_pseudonym(pseudonym)
    check_id(request_id, "requestId")
    return m.need(payout_key(pseudonym, request_id),
                  f"payout {request_id} of {pseudonym}")


def _require_nothing_ahead(m: Market, pseudonym: str, market_id: str) -> None:
    """409 while the pseudonym has an order in an interval still to come, a standing
    offer not withdrawn, or a VPP membership: retiring would leave them without a meter."""
    now = m.stub.tx_timestamp.replace(second=0, microsecond=0)
    ahead = key("mktpo", pseudonym, interval_id(market_id, now))
    for _, order in m.scan("mktpo", pseudonym, start=ahead):
        if order["status"] in (orders.OPEN, "partial", "matched"):
            raise ChaincodeError(f"{pseudonym} has order {order['orderId']} in "
                                 f"{order['intervalId']}, still to come: cancel it or retire "
                                 "after its interval", status=409)
    for _, entry in m.scan("mktsos", pseudonym):
        if m.get(key("mktso", entry["offerId"]))["withdrawnAt"] is None:
            raise ChaincodeError(f"{pseudonym}'s standing offer {entry['offerId']} is not "
                                 "withdrawn", status=409)
    member = m.get(key("mktmember", pseudonym))
    if member is not None and member["leftAt"] is None:
        raise ChaincodeError(f"{pseudonym} is a member of VPP {member['vppId']}: leave it "
                             "first", status=409)
