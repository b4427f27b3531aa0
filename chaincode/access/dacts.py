"""DACTs: what a data owner grants, registered in advance (seed 001, step 4).

    dact~<dactId>        public: the table's commitment (SHA-256 of its canonical JSON,
                         salt included), version, status, times, and ``issued``: the
                         tokens certified under it, each {digest of the token's
                         immutable fields, notAfter, status}. Nothing else: who may ask,
                         for what, through which devices and until when are inside the
                         commitment, and reach the channel only in the token that a
                         matching certification issues. Key-level policy DATA_HOLDER
                         (policies.py), set at registration: every later write, each
                         certification's entry in ``issued`` included, needs the
                         Utility's endorsement.
    dactowner~<dactId>   private: the owner (a customer) and the table itself, so the
                         owner can read it back and hand it to the requester

The table's members: ``gridledger.formats.access``. Amending registers version n+1
with a new commitment; a token names the version it was issued under, so amending
ends every earlier token, as revoking does.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.access import dact_commitment, validate_dact
from gridledger.formats.ids import check_id
from gridledger.formats.numbers import check_object
from gridledger.formats.utc import format_utc, parse_utc

from ..common.keys import key
from ..common.overlay import Overlay
from ..shim import ChaincodeError
from . import devices, policies, resources

ACTIVE, REVOKED = "active", "revoked"


def dact_key(dact_id: str) -> str:
    """Ledger key of a DACT's public record."""
    return key("dact", dact_id)


def owner_key(dact_id: str) -> str:
    """Ledger key of a DACT's owner and table (private)."""
    return key("dactowner", dact_id)


def parse_submission(obj: Any) -> tuple[dict[str, Any], Any]:
    """RegisterDact/AmendDact argument {table, customerId?}: (the table, the owner named)."""
    check_object(obj, "DACT submission", {"table", "customerId"})
    return validate_dact(obj.get("table")), obj.get("customerId")


def _check_references(ov: Overlay, table: dict[str, Any], owner: str) -> None:
    """The table's devices exist, its resources are the owner's, it has not ended."""
    if parse_utc(table["notAfter"], "notAfter") <= ov.stub.tx_timestamp:
        raise ChaincodeError(f"DACT notAfter {table['notAfter']} is already past", status=400)
    for device_id in table["devices"]:
        devices.lookup(ov, device_id)
    for resource_id in table["resources"]:
        if resources.owner(ov, resource_id) != owner:
            raise ChaincodeError(f"resource {resource_id} is not the DACT owner's", status=403)


def _write(ov: Overlay, table: dict[str, Any], owner: str, registered_at: str,
           issued: dict[str, Any] | None = None) -> dict[str, Any]:
    now = format_utc(ov.stub.tx_timestamp)
    public = {"dactId": table["dactId"], "version": table["version"],
              "commitment": dact_commitment(table), "status": ACTIVE,
              "registeredAt": registered_at, "updatedAt": now,
              "issued": prune(ov, issued or {})}
    ov.put_json(dact_key(table["dactId"]), public)
    ov.put_json(owner_key(table["dactId"]), {"dactId": table["dactId"], "customerId": owner,
                                             "table": table})
    return public


def register(ov: Overlay, table: dict[str, Any], owner: str) -> dict[str, Any]:
    """Register version 1 of a DACT for customer ``owner`` (409 if the id is taken)."""
    if table["version"] != 1:
        raise ChaincodeError("a new DACT is version 1 (AmendDact for later versions)", 400)
    if ov.get(dact_key(table["dactId"])) is not None:
        raise ChaincodeError(f"DACT {table['dactId']} is already registered", status=409)
    _check_references(ov, table, owner)
    record = _write(ov, table, owner, format_utc(ov.stub.tx_timestamp))
    policies.create(ov.stub, dact_key(table["dactId"]))
    return record


def get(ov: Overlay, dact_id: str) -> dict[str, Any]:
    """A DACT's public record, or 404."""
    record = ov.get_json(dact_key(check_id(dact_id, "dactId")))
    if record is None:
        raise ChaincodeError(f"no DACT {dact_id}", status=404)
    if not isinstance(record, dict) or not isinstance(record.get("issued", {}), dict):
        raise ChaincodeError(f"dact~{dact_id} is not a record RegisterDact wrote", status=409)
    return record


def owner_record(ov: Overlay, dact_id: str) -> dict[str, Any]:
    """{dactId, customerId, table}: a read of customerData (members' peers only)."""
    get(ov, dact_id)
    record = ov.get_json(owner_key(dact_id))
    if record is None:
        raise ChaincodeError(f"DACT {dact_id} has no owner record on this peer; ask a Utility "
                             "or Regulator peer", status=404)
    return record


def amend(ov: Overlay, table: dict[str, Any], owner: str) -> dict[str, Any]:
    """Replace the table by version n+1 (the owner's; 409 if revoked or not n+1)."""
    current = get(ov, table["dactId"])
    if owner_record(ov, table["dactId"])["customerId"] != owner:
        raise ChaincodeError(f"DACT {table['dactId']} is not the owner's", status=403)
    if current["status"] != ACTIVE:
        raise ChaincodeError(f"DACT {table['dactId']} is revoked: register a new one", 409)
    if table["version"] != current["version"] + 1:
        raise ChaincodeError(f"DACT {table['dactId']} is at version {current['version']}: an "
                             f"amendment is version {current['version'] + 1}", status=409)
    _check_references(ov, table, owner)
    # Tokens of earlier versions end (they name their version); their entries stay until
    # they expire, so a revocation recorded there is never forgotten early.
    return _write(ov, table, owner, current["registeredAt"], current.get("issued"))


def revoke(ov: Overlay, dact_id: str, reason: str) -> dict[str, Any]:
    """End a DACT for good (409 if already revoked); the reason stays private."""
    record = get(ov, dact_id)
    if record["status"] == REVOKED:
        raise ChaincodeError(f"DACT {dact_id} is already revoked", status=409)
    now = format_utc(ov.stub.tx_timestamp)
    record.update(status=REVOKED, revokedAt=now, updatedAt=now,
                  issued=prune(ov, record.get("issued") or {}))
    ov.put_json(dact_key(dact_id), record)
    private = owner_record(ov, dact_id)
    ov.put_json(owner_key(dact_id), {**private, "revokedReason": reason[:256]})
    return record


def prune(ov: Overlay, issued: dict[str, Any]) -> dict[str, Any]:
    """``issued`` without the entries of tokens expired by this transaction's time (an
    expired token is refused by its own ``notAfter`` anyway)."""
    now = ov.stub.tx_timestamp
    return {t: e for t, e in sorted(issued.items())
            if parse_utc(e["notAfter"], "notAfter") > now}


def holder_policy_in_force(ov: Overlay, dact_id: str) -> bool:
    """Whether ``dact~<dactId>`` carries exactly the data holder's key-level policy: a
    DACT record without it was written around the chaincode (or before this check
    existed) and vouches for no token."""
    return policies.carries(ov.stub, dact_key(dact_id))


def owner_record_exists(ov: Overlay, dact_id: str) -> bool:
    """Whether the DACT's private owner record exists, by its hash (``GetPrivateDataHash``
    answers on every peer, the Aggregator's too): a DACT record that no owner registered
    (only the collection's two members can write it) vouches for no token."""
    return ov.private_hash(owner_key(dact_id)) is not None
