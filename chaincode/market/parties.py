"""Market participants: a pseudonym from the Regulator, enrolment with the customer's
consent, tokens in and out of the market, and retirement (a fresh pseudonym after it).

1. **RecordPseudonym** (Regulator; its peer alone endorses, nothing public is written):
   the Regulator's client computes the pseudonym ``p-...`` as HMAC(its secret, identity
   and an epoch) (gridledger.formats.market) and stores ``mktwho~<p>`` = the customer in
   its own collection ``regulatorOnly``, which no other organisation's peer receives.
2. **EnrolParticipant** (relayed by a Regulator operator; the Utility and the Regulator
   endorse): the customer's wallet made a market key and signed ``{"action": "enrol",
   "pseudonym", "marketId", "meterId", "publicKeyPem"}`` with it, and the customer gave
   its **consent**: the same message signed with the key that controls its paying Wattcoin
   account (the key of its own identity, which opened the account in its own transaction),
   sent as ``"consent": {"publicKeyPem", "signature"}`` beside the envelope. Each endorser
   checks: the Regulator issued the pseudonym (its record's hash is on every peer) **to
   the meter's customer** (only the Regulator's peer reads the record: its endorsement
   carries the check), the consent key controls the account paying for the meter's
   customer, the meter is billed with the market's tariff (settlement refunds delivered
   energy at that tariff's prices), and the meter is not enrolled under another pseudonym.
   It links pseudonym -> meter and customer privately (``mktlink``) and meter -> pseudonym
   for the reading path (metering's ``mktmeter``), and publishes only the pseudonym and
   its key (``mktparty``), with an empty market wallet.
3. **Deposit / Withdraw** (Utility; Utility and Regulator endorse, arguments in the
   transient map): signed by the market key; tokens move between the account paying for
   the customer now and the public balance (``mktfund``), never touching a key the
   Aggregator must endorse.
4. **RetireParticipant** (Utility relays the participant's signed ``retire``): with no
   open order in an interval still to come, no standing offer left and no VPP membership,
   the pseudonym stops receiving its meter's records (those of its past intervals stay,
   for settlements still due), its available balance goes back to the customer's account,
   and the meter may be enrolled again under a new pseudonym. Rotating pseudonyms this way
   (the Regulator issues one per epoch) keeps one name from linking every interval of a
   customer's life.

A withdrawal that clears an exhausted account sets no event: an event would put the
customer's meters and the pseudonym in the same block. The Utility's operators see the
account and reconnect.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.errors import FormatError
from gridledger.formats.ids import check_id
from gridledger.formats.market import check_pseudonym, interval_id, verifies
from gridledger.formats.numbers import check_object
from gridledger.formats.reading import decode_signature, verify_signature
from gridledger.formats.wattcoin_address import address_of_pem_key

from ..common.keys import key
from ..common.privacy import REGULATOR_ONLY, regulator_ledger
from ..metering import api as metering
from ..shim import ChaincodeError, PeerError, Stub, parse_json_arg
from ..wattcoin import api as wattcoin
from . import intervals, orders, signed
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


def _issued_to(stub: Stub, pseudonym: str, customer_id: str) -> None:
    """409 unless the Regulator issued ``pseudonym`` to ``customer_id``. Every peer sees
    that it issued it (the record's hash); only the Regulator's peer, the one that holds
    ``regulatorOnly``, reads to whom, so its endorsement is what carries that check."""
    if not issued(stub, pseudonym):
        raise ChaincodeError(f"the Regulator has not issued pseudonym {pseudonym}", status=409)
    try:
        who = regulator_ledger(stub).get_json(who_key(pseudonym))
    except PeerError:  # not the Regulator's peer: the hash it read is all it may know
        return
    if who is not None and who["customerId"] != customer_id:
        raise ChaincodeError(f"pseudonym {pseudonym} was issued to another customer than "
                             "the meter's", status=403)


def _consent(m: Market, envelope: dict[str, Any], raw: bytes, customer_id: str) -> None:
    """403 unless ``raw`` (the enrolment message) is signed by the key controlling the
    account that pays for ``customer_id``: the customer's own consent."""
    consent = envelope.get("consent")
    try:
        check_object(consent, "consent", {"publicKeyPem", "signature"})
        pem = consent.get("publicKeyPem")
        if not isinstance(pem, str) or len(pem) > 4096:
            raise FormatError("consent publicKeyPem must be a PEM public key")
        controller = address_of_pem_key(pem)
        good = verify_signature(pem, "P-256", raw, decode_signature(consent.get("signature")))
    except FormatError as exc:
        raise ChaincodeError(f"the enrolment needs the customer's consent "
                             f'{{"publicKeyPem", "signature"}}: {exc}', status=400) from None
    account = wattcoin.paying_account(m.ov, customer_id)
    if account is None:
        raise ChaincodeError("the meter's customer has no Wattcoin account: market money "
                             "moves in Wattcoin", status=409)
    if controller != account["controller"] or not good:
        raise ChaincodeError("the enrolment lacks the consent of the meter's customer: its "
                             "signature by the key that controls its paying account",
                             status=403)


def enrol(m: Market, text: str) -> str:
    """Enrol a participant from its self-signed request and its customer's consent; its
    pseudonym."""
    envelope = parse_json_arg(text, "signed enrol message")
    if not isinstance(envelope, dict):
        raise ChaincodeError('an enrolment is {"message", "signature", "consent"}', 400)
    consent = {k: envelope.pop(k) for k in ("consent",) if k in envelope}
    message, raw, signature = signed.read_envelope(envelope, "enrol", (
        "pseudonym", "marketId", "meterId", "publicKeyPem"))
    pseudonym = message["pseudonym"]
    if not verifies(message["publicKeyPem"], raw, signature):
        raise ChaincodeError("the enrolment is not signed by the market key it names",
                             status=403)
    if m.get(signed.party_key(pseudonym)) is not None:
        raise ChaincodeError(f"{pseudonym} is enrolled already", status=409)
    cfg = intervals.config(m, message["marketId"])
    # The private record only: a public read of meter~<id> would put the meter id in the
    # block next to the pseudonym (read sets carry public keys in plain text).
    meter_id = message["meterId"]
    customer_id = metering.meter_owner(m.ov, meter_id)  # 404 unknown
    _issued_to(m.stub, pseudonym, customer_id)
    _consent(m, consent, raw, customer_id)
    billed = metering.meter_tariff_at(m.ov, meter_id, m.stub.tx_timestamp)
    if billed != cfg["tariffId"]:
        # Settlement refunds delivered energy at the market tariff's prices.
        raise ChaincodeError(f"meter {meter_id} is billed with another tariff than market "
                             f"{cfg['marketId']}'s: the Utility sets its tariff first",
                             status=409)
    metering.enrol_market_meter(m.ov, meter_id, pseudonym, cfg["marketId"],
                                cfg["intervalSeconds"])
    m.ov.put_json(link_key(pseudonym), {"meterId": meter_id, "customerId": customer_id})
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
    # The account paying for the customer now (it may have bound another since).
    address = wattcoin.address_of_customer(m.ov, link["customerId"])
    if address is None:
        raise ChaincodeError(f"{pseudonym}'s customer has no paying account now: bind one "
                             "first", status=409)
    return message, {**link, "address": address}


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


def retire(m: Market, text: str) -> dict[str, Any]:
    """Retire a participant on its signed ``retire``: what it has free in the market goes
    back to its customer's account, and its meter may be enrolled under a new pseudonym."""
    message = signed.signed_by(m, text, "retire", ("pseudonym", "requestId"))
    pseudonym = message["pseudonym"]
    party = m.get(signed.party_key(pseudonym))
    if party.get("retiredAt"):
        raise ChaincodeError(f"{pseudonym} retired at {party['retiredAt']}", status=409)
    req = key("mktreq", pseudonym, message["requestId"])
    if m.get(req) is not None:
        raise ChaincodeError(f"request {message['requestId']} of {pseudonym} is done "
                             "already", status=409)
    _require_nothing_ahead(m, pseudonym, party["marketId"])
    link = m.ov.get_json(link_key(pseudonym))
    if link is None:
        raise ChaincodeError(f"{pseudonym} has no link on this peer: RetireParticipant runs "
                             "on the Utility's and the Regulator's peers", status=404)
    metering.retire_market_meter(m.ov, link["meterId"], pseudonym)
    amount = available(m, pseudonym)
    m.create(req, {"action": "retire", "amount": amount, "at": m.now, "txId": m.stub.tx_id},
             FUNDING)
    if amount > 0:
        address = wattcoin.address_of_customer(m.ov, link["customerId"])
        if address is None:
            raise ChaincodeError(f"{pseudonym}'s customer has no paying account to take "
                                 f"back its {amount} tokens: bind one first", status=409)
        fund = m.get(fund_key(pseudonym))
        fund["withdrawn"] += amount
        m.put(fund_key(pseudonym), fund)
        wattcoin.from_market(m.ov, address, amount, requestId=message["requestId"])
    m.put(signed.party_key(pseudonym), {**party, "retiredAt": m.now})
    return {"pseudonym": pseudonym, "retired": True}


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
