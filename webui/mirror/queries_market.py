"""What the market pages read (contract ``market``): intervals and their clearing, trades,
virtual power plants with members and payouts, the Regulator's audit log, a customer's
pseudonyms (customerData: only the Utility's and the Regulator's mirrors know whose a
pseudonym is). Who is behind a pseudonym (``mktwho``, the Regulator's own collection) is
never read here: the Regulator resolves a name on the ledger, where the request is logged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .queries import _json, _range, provenance
from .schema import StateRow


def _kind(s: Session, kind: str, limit: int = 500) -> list[dict[str, Any]]:
    rows = s.scalars(select(StateRow).where(StateRow.kind == kind)
                     .order_by(StateRow.block_number.desc(), StateRow.key).limit(limit))
    return [{**_json(r.value), "key": r.key, **provenance(r)} for r in rows]


def intervals(s: Session, limit: int = 50) -> list[dict[str, Any]]:
    return sorted(_kind(s, "mktint", 2000), key=lambda r: r.get("start", ""),
                  reverse=True)[:limit]


def trades(s: Session, limit: int = 200, traders: set[str] | None = None
           ) -> list[dict[str, Any]]:
    """Trades of the latest pages, newest interval first; only ``traders``' if given."""
    out: list[dict[str, Any]] = []
    for page in _kind(s, "mkttr", 1000):
        for t in page.get("trades", []):
            if traders is None or t.get("buyer") in traders or t.get("seller") in traders:
                out.append({**t, "intervalId": page.get("intervalId"),
                            "blockNumber": page["blockNumber"]})
                if len(out) >= limit:
                    return out
    return out


def vpps(s: Session) -> list[dict[str, Any]]:
    out = []
    for v in _kind(s, "mktvpp", 200):
        vid = v.get("vppId", "")
        members = [_json(r.value) for r in _range(s, "mktvppm", f"mktvppm~{vid}~")]
        payouts = [{**_json(r.value), "key": r.key} for r in
                   _range(s, "mktpay", f"mktpay~{vid}~", newest_first=True, limit=200)]
        orders = [_json(r.value) for r in
                  _range(s, "mktpo", f"mktpo~{vid}~", newest_first=True, limit=100)]
        out.append({**v, "members": members, "payouts": payouts, "orders": orders})
    return out


def audit_log(s: Session) -> list[dict[str, Any]]:
    return _kind(s, "mktaudit", 200)


def pseudonyms_of(s: Session, customer_id: str) -> list[dict[str, Any]]:
    """A customer's market pseudonyms (private link records) and what they did."""
    out = []
    for r in s.scalars(select(StateRow).where(StateRow.kind == "mktlink",
                                              StateRow.customer_id == customer_id)):
        p = r.key.split("~", 1)[1]
        link = _json(r.value)
        member = _json(s.scalar(select(StateRow.value).where(
            StateRow.kind == "mktmember", StateRow.key == f"mktmember~{p}")))
        out.append({"pseudonym": p, "meterId": link.get("meterId"),
                    "orders": [_json(o.value) for o in
                               _range(s, "mktpo", f"mktpo~{p}~", newest_first=True,
                                      limit=50)],
                    "vpp": member, "payouts": [
                        _json(x.value) for x in s.scalars(select(StateRow).where(
                            StateRow.kind == "mktpay", StateRow.key.endswith(f"~{p}")))]})
    return out
