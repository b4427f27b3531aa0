"""The Regulator resolves a pseudonym for audit, and the resolution is on the ledger first.

1. ``RequestResolution(pseudonym, reason)`` (a Regulator operator; the Regulator's peer
   and one other endorse) writes ``mktaudit~<txId>``: who asked, which pseudonym, why,
   when. Public: every member sees that the Regulator looked, and at whom.
2. ``ResolvePseudonym(auditId)`` (an evaluate, on the Regulator's peer, the only one that
   holds ``regulatorOnly``, on the energy channel: read across) answers the customer only
   for a committed request of the very operator asking: no answer without the log entry
   naming who looked. The answer of an evaluate is in no block.

What this binds is the Regulator's clients, not the Regulator: as a member of customerData
its peer also holds the meter -> pseudonym link the reading path needs (``mktmeter``), so
the organisation itself can find a pseudonym's customer without a log entry. The log makes
its operators' resolutions visible; it cannot make the organisation blind.

A submitted transaction could not answer the identity itself: its response is in the block
every organisation receives.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.market import check_pseudonym

from ..common import crosschannel
from ..common.keys import key
from ..shim import ChaincodeError, Stub
from . import signed
from .ledger import AUDIT, Market


def audit_key(audit_id: str) -> str:
    """Key of one resolution request."""
    return key("mktaudit", audit_id)


def request(m: Market, pseudonym: str, reason: str) -> dict[str, Any]:
    """Log the Regulator's request to resolve ``pseudonym``; its audit id (the tx id)."""
    check_pseudonym(pseudonym)
    if not isinstance(reason, str) or not 3 <= len(reason) <= 512:
        raise ChaincodeError("reason must be 3-512 characters: it is the audit's record",
                             status=400)
    if m.get(signed.party_key(pseudonym)) is None:
        # Only what trades here can be audited here; the energy channel keeps the rest.
        raise ChaincodeError(f"pseudonym {pseudonym} never enrolled in a market", status=404)
    entry = {"auditId": m.stub.tx_id, "pseudonym": pseudonym, "reason": reason,
             "requestedBy": {"mspId": m.stub.creator.msp_id,
                             "subject": m.stub.creator.subject},
             "at": m.now}
    m.create(audit_key(m.stub.tx_id), entry, AUDIT)
    return entry


def resolve(stub: Stub, m: Market, audit_id: str) -> dict[str, Any]:
    """The customer behind a logged request's pseudonym (on the Regulator's peer)."""
    entry = m.get(audit_key(audit_id)) if isinstance(audit_id, str) and audit_id else None
    if entry is None:
        raise ChaincodeError(f"no resolution request {audit_id!r} is on the ledger: submit "
                             "RequestResolution first (it is logged)", status=404)
    if entry["requestedBy"]["mspId"] != "RegulatorMSP":
        raise ChaincodeError(f"request {audit_id} is not the Regulator's", status=403)
    if entry["requestedBy"]["subject"] != stub.creator.subject:
        # The log names who looked: another operator logs a request of its own.
        raise ChaincodeError(f"request {audit_id} was logged by another operator: log your "
                             "own with RequestResolution", status=403)
    who = crosschannel.energy(stub, "marketlink:PseudonymHolder", entry["pseudonym"])
    return {"auditId": audit_id, "pseudonym": entry["pseudonym"],
            "customerId": who["customerId"], "requestedAt": entry["at"]}
