"""Pseudonyms and their meters, on the energy channel.

1. **RecordPseudonym** (Regulator; its peer alone): pseudonym -> customer in
   ``regulatorOnly`` (``mktwho``), under a keyed name: the pseudonym is public on the
   market channel, so its hash must not be computable from it.
2. **LinkParticipant** (a Regulator operator relays; the Utility's and the Regulator's
   peers endorse; everything in the transient map): the customer's wallet made a market
   key and signed ``{"action": "enrol", "pseudonym", "marketId", "meterId",
   "publicKeyPem"}`` with it, and the customer consented: the same message signed with
   the key controlling its paying account. Each endorser checks: the signature, that the
   Regulator issued the pseudonym to the meter's customer (only the Regulator's peer
   reads to whom; every peer sees that it issued it), the consent, that the meter is
   billed with the market's tariff (the market's configuration, read across from the
   market channel), and that the meter is not enrolled already. It keeps pseudonym ->
   meter, customer and market key (``mktlink``) and meter -> pseudonym for the reading
   path (``mktmeter``). Nothing public is written: the market channel's
   EnrolParticipant then reads the link across and publishes the pseudonym.
3. **UnlinkParticipant** (a Utility operator): once the market channel says the
   participant retired, its meter stops feeding the pseudonym's records and may be
   enrolled again under a new one.

The answers of these transactions are in the block of the energy channel: they say that
something was linked, never what.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.errors import FormatError
from gridledger.formats.ids import check_id
from gridledger.formats.market import check_pseudonym, verifies
from gridledger.formats.numbers import check_object
from gridledger.formats.reading import decode_signature, verify_signature
from gridledger.formats.wattcoin_address import address_of_pem_key

from ..common import crosschannel
from ..common.keys import key
from ..common.overlay import Overlay
from ..common.privacy import ledger, regulator_ledger
from ..market import api as market
from ..metering import api as metering
from ..shim import ChaincodeError, PeerError, Stub, parse_json_arg
from ..wattcoin import api as wattcoin

ENROL_MEMBERS = ("pseudonym", "marketId", "meterId", "publicKeyPem")


def who_key(pseudonym: str) -> str:
    """regulatorOnly: the customer behind a pseudonym."""
    return key("mktwho", pseudonym)


def link_key(pseudonym: str) -> str:
    """customerData: a pseudonym's meter, customer and market key."""
    return key("mktlink", pseudonym)


def _now(stub: Stub) -> str:
    return stub.tx_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def record_pseudonym(stub: Stub, pseudonym: str, customer_id: str) -> None:
    """Store pseudonym -> customer in the Regulator's collection (409 if issued)."""
    check_pseudonym(pseudonym)
    check_id(customer_id, "customerId")
    ov = regulator_ledger(stub)
    if ov.get(who_key(pseudonym)) is not None:
        raise ChaincodeError(f"pseudonym {pseudonym} is issued already", status=409)
    ov.put_json(who_key(pseudonym), {"pseudonym": pseudonym, "customerId": customer_id,
                                     "mspId": "UtilityMSP", "issuedAt": _now(stub)})


def issued(stub: Stub, pseudonym: str) -> bool:
    """Whether the Regulator issued ``pseudonym`` (its record's hash, on any peer that can
    compute the keyed name: the members of customerData)."""
    return regulator_ledger(stub).private_hash(who_key(pseudonym)) is not None


def holder(stub: Stub, pseudonym: str) -> str:
    """The customer the Regulator issued ``pseudonym`` to (the Regulator's peer only)."""
    check_pseudonym(pseudonym)
    try:
        who = regulator_ledger(stub).get_json(who_key(pseudonym))
    except PeerError:
        raise ChaincodeError("only the Regulator's peer holds the pseudonym register: ask "
                             "it", status=404) from None
    if who is None:
        raise ChaincodeError(f"pseudonym {pseudonym} was never issued", status=404)
    return str(who["customerId"])


def _issued_to(stub: Stub, pseudonym: str, customer_id: str) -> None:
    """409 unless the Regulator issued ``pseudonym`` to ``customer_id``. Every member peer
    sees that it issued it (the record's hash); only the Regulator's peer reads to whom,
    so its endorsement is what carries that check."""
    if not issued(stub, pseudonym):
        raise ChaincodeError(f"the Regulator has not issued pseudonym {pseudonym}", status=409)
    try:
        who = regulator_ledger(stub).get_json(who_key(pseudonym))
    except PeerError:  # not the Regulator's peer: the hash it read is all it may know
        return
    if who is not None and who["customerId"] != customer_id:
        raise ChaincodeError(f"pseudonym {pseudonym} was issued to another customer than "
                             "the meter's", status=403)


def _consent(ov: Overlay, consent: Any, raw: bytes, customer_id: str) -> None:
    """403 unless ``raw`` (the enrolment message) is signed by the key controlling the
    account that pays for ``customer_id``: the customer's own consent."""
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
    account = wattcoin.paying_account(ov, customer_id)
    if account is None:
        raise ChaincodeError("the meter's customer has no Wattcoin account: market money "
                             "moves in Wattcoin", status=409)
    if controller != account["controller"] or not good:
        raise ChaincodeError("the enrolment lacks the consent of the meter's customer: its "
                             "signature by the key that controls its paying account",
                             status=403)


def link(stub: Stub, text: str) -> None:
    """Link a pseudonym to its meter, customer and market key, on the customer's consent
    and its market key's signature (module docstring)."""
    envelope = parse_json_arg(text, "signed enrol message")
    if not isinstance(envelope, dict):
        raise ChaincodeError('an enrolment is {"message", "signature", "consent"}', 400)
    consent = envelope.pop("consent", None)
    message, raw, signature = market.read_envelope(envelope, "enrol", ENROL_MEMBERS)
    pseudonym, meter_id = message["pseudonym"], message["meterId"]
    if not verifies(message["publicKeyPem"], raw, signature):
        raise ChaincodeError("the enrolment is not signed by the market key it names",
                             status=403)
    ov = ledger(stub)
    if ov.get(link_key(pseudonym)) is not None:
        raise ChaincodeError(f"{pseudonym} is linked already", status=409)
    cfg = crosschannel.market(stub, "market:MarketConfig", message["marketId"])
    customer_id = metering.meter_owner(ov, meter_id)  # 404 unknown
    _issued_to(stub, pseudonym, customer_id)
    _consent(ov, consent, raw, customer_id)
    billed = metering.meter_tariff_at(ov, meter_id, stub.tx_timestamp)
    if billed != cfg["tariffId"]:
        # Settlement refunds delivered energy at the market tariff's prices.
        raise ChaincodeError(f"meter {meter_id} is billed with another tariff than market "
                             f"{cfg['marketId']}'s: the Utility sets its tariff first",
                             status=409)
    metering.enrol_market_meter(ov, meter_id, pseudonym, cfg["marketId"],
                                cfg["intervalSeconds"])
    ov.put_json(link_key(pseudonym), {
        "pseudonym": pseudonym, "meterId": meter_id, "customerId": customer_id,
        "marketId": cfg["marketId"], "publicKeyPem": message["publicKeyPem"],
        "linkedAt": _now(stub)})


def get_link(ov: Overlay, pseudonym: str) -> dict[str, Any]:
    """A pseudonym's link (404 if none on this peer: ask a member of customerData)."""
    check_pseudonym(pseudonym)
    try:
        record = ov.get_json(link_key(pseudonym))
    except (PeerError, ChaincodeError):
        raise ChaincodeError("this peer does not hold customerData: the links are on the "
                             "Utility's and the Regulator's peers", status=404) from None
    if record is None:
        raise ChaincodeError(f"{pseudonym} is not linked to a meter (LinkParticipant)",
                             status=404)
    return record


def public_link(stub: Stub, pseudonym: str) -> dict[str, Any]:
    """What the market channel may know of a link: that it exists, for which market and
    key, since when and until when. Never the meter nor the customer."""
    record = get_link(ledger(stub), pseudonym)
    return {k: record[k] for k in ("pseudonym", "marketId", "publicKeyPem", "linkedAt",
                                   "unlinkedAt") if k in record}


def unlink(stub: Stub, pseudonym: str) -> None:
    """End a retired participant's link: its meter stops feeding the pseudonym's records
    (409 until the market channel records the retirement; 409 if unlinked already)."""
    ov = ledger(stub)
    record = get_link(ov, pseudonym)
    if record.get("unlinkedAt"):
        raise ChaincodeError(f"{pseudonym} is unlinked already", status=409)
    party = crosschannel.market(stub, "market:Participant", pseudonym)
    if not party.get("retiredAt"):
        raise ChaincodeError(f"{pseudonym} has not retired on the market channel: "
                             "RetireParticipant first", status=409)
    metering.retire_market_meter(ov, record["meterId"], pseudonym)
    ov.put_json(link_key(pseudonym), {**record, "unlinkedAt": _now(stub)})


__all__ = ["get_link", "holder", "issued", "link", "public_link",
           "record_pseudonym", "unlink"]
