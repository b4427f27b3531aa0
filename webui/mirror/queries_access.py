"""What the data-sharing pages read (contract ``access``): a customer's resources and DACTs
(from customerData: only the Utility's and the Regulator's mirrors have them), tokens, the
public access log, and organisations' devices."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .queries import END, _json, _range, _value, provenance
from .schema import StateRow


def resources_of(s: Session, customer_id: str) -> list[dict[str, Any]]:
    """The customer's shared data: hash address (public), description (private)."""
    out = []
    for row in s.scalars(select(StateRow).where(StateRow.kind == "resowner",
                                                StateRow.customer_id == customer_id)
                         .order_by(StateRow.key)):
        private = _json(row.value)
        rid = row.key.split("~", 1)[1]
        public = _value(s, "resource", f"resource~{rid}") or {}
        out.append({**public, **private, "resourceId": rid, **provenance(row)})
    return out


def dacts_of(s: Session, customer_id: str) -> list[dict[str, Any]]:
    """The customer's DACTs: the table (private), version and status (public), tokens."""
    out = []
    for row in s.scalars(select(StateRow).where(StateRow.kind == "dactowner",
                                                StateRow.customer_id == customer_id)
                         .order_by(StateRow.key)):
        private = _json(row.value)
        dact_id = row.key.split("~", 1)[1]
        public = _value(s, "dact", f"dact~{dact_id}") or {}
        out.append({"dactId": dact_id, "table": private.get("table", {}),
                    "revokedReason": private.get("revokedReason"),
                    "status": public.get("status"), "version": public.get("version"),
                    "commitment": public.get("commitment"),
                    "tokens": tokens_of_dact(s, dact_id), **provenance(row)})
    return out


def dact_of(s: Session, customer_id: str, dact_id: str) -> dict[str, Any] | None:
    return next((d for d in dacts_of(s, customer_id) if d["dactId"] == dact_id), None)


def tokens_of_dact(s: Session, dact_id: str) -> list[dict[str, Any]]:
    rows = s.scalars(select(StateRow).where(StateRow.kind == "token", StateRow.ref == dact_id))
    return [{**_json(r.value), "log": access_log(s, _json(r.value)["tokenId"]),
             **provenance(r)} for r in rows]


def access_log(s: Session, token_id: str) -> list[dict[str, Any]]:
    """A token's public log of disclosures, oldest first."""
    rows = [_json(r.value) for r in _range(s, "accesslog", f"accesslog~{token_id}~")]
    return sorted(rows, key=lambda e: (e.get("atMicros", 0), e.get("txId", "")))


def tokens_held(s: Session, fingerprint: str) -> list[dict[str, Any]]:
    """Tokens whose holder is the certificate with ``fingerprint`` (newest first)."""
    out = []
    for row in s.scalars(select(StateRow).where(StateRow.kind == "token")
                         .order_by(StateRow.block_number.desc())):
        token = _json(row.value)
        if (token.get("holder") or {}).get("fingerprint") == fingerprint:
            out.append({**token, "log": access_log(s, token["tokenId"]), **provenance(row)})
    return out


def devices_of(s: Session, msp_id: str) -> list[dict[str, Any]]:
    """IDoT devices an organisation registered (public records)."""
    rows = s.scalars(select(StateRow).where(StateRow.kind == "idot",
                                            StateRow.key >= "idot~",
                                            StateRow.key < "idot~" + END))
    out = []
    for r in rows:
        d = _json(r.value)
        if (d.get("owner") or {}).get("mspId") == msp_id:
            out.append({**d, **provenance(r)})
    return out
