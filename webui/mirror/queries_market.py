"""What the market pages read (contract ``market``, on the market channel): intervals and
their clearing, trades, virtual power plants with members and payouts, the Regulator's
audit log, and a customer's pseudonyms.

The market has a channel of its own (chaincode ``market``): every function here reads
that channel's rows, by its name (``channel``). What ties a pseudonym to a customer is on
the energy channel, in customerData (``mktlink``, contract ``marketlink``): only the
Utility's and the Regulator's mirrors know whose a pseudonym is, and
:func:`pseudonyms_of` joins the two channels in the portal, never on a ledger. Who is
behind a pseudonym for the Regulator (``mktwho``, its own collection) is never read here:
the Regulator resolves a name on the ledger, where the request is logged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .queries import _json, _range, _value, provenance
from .schema import StateRow


def _kind(s: Session, channel: str, kind: str, limit: int = 500) -> list[dict[str, Any]]:
    rows = s.scalars(select(StateRow).where(StateRow.channel == channel, StateRow.kind == kind)
                     .order_by(StateRow.block_number.desc(), StateRow.key).limit(limit))
    return [{**_json(r.value), "key": r.key, **provenance(r)} for r in rows]


def intervals(s: Session, channel: str, limit: int = 50) -> list[dict[str, Any]]:
    """The market's delivery intervals, the latest first."""
    return sorted(_kind(s, channel, "mktint", 2000), key=lambda r: r.get("start", ""),
                  reverse=True)[:limit]


def trades(s: Session, channel: str, limit: int = 200, traders: set[str] | None = None
           ) -> list[dict[str, Any]]:
    """Trades of the latest pages, newest interval first; only ``traders``' if given."""
    out: list[dict[str, Any]] = []
    for page in _kind(s, channel, "mkttr", 1000):
        for t in page.get("trades", []):
            if traders is None or t.get("buyer") in traders or t.get("seller") in traders:
                out.append({**t, "intervalId": page.get("intervalId"),
                            "blockNumber": page["blockNumber"]})
                if len(out) >= limit:
                    return out
    return out


def vpps(s: Session, channel: str) -> list[dict[str, Any]]:
    """Virtual power plants with their members, payouts and offers."""
    out = []
    for v in _kind(s, channel, "mktvpp", 200):
        vid = v.get("vppId", "")
        members = [_json(r.value) for r in
                   _range(s, "mktvppm", f"mktvppm~{vid}~", channel=channel)]
        payouts = [{**_json(r.value), "key": r.key} for r in
                   _range(s, "mktpay", f"mktpay~{vid}~", newest_first=True, limit=200,
                          channel=channel)]
        orders = [_json(r.value) for r in
                  _range(s, "mktpo", f"mktpo~{vid}~", newest_first=True, limit=100,
                         channel=channel)]
        out.append({**v, "members": members, "payouts": payouts, "orders": orders})
    return out


def audit_log(s: Session, channel: str) -> list[dict[str, Any]]:
    """The resolutions the Regulator requested (public, on the market channel)."""
    return _kind(s, channel, "mktaudit", 200)


def pseudonyms_of(s: Session, customer_id: str, *, energy_channel: str,
                  market_channel: str) -> list[dict[str, Any]]:
    """A customer's market pseudonyms (its private link records, on the energy channel)
    and what they did (on the market channel)."""
    out = []
    for r in s.scalars(select(StateRow).where(StateRow.channel == energy_channel,
                                              StateRow.kind == "mktlink",
                                              StateRow.customer_id == customer_id)):
        p = r.key.split("~", 1)[1]
        link = _json(r.value)
        member = _value(s, "mktmember", f"mktmember~{p}", channel=market_channel)
        out.append({"pseudonym": p, "meterId": link.get("meterId"),
                    "orders": [_json(o.value) for o in
                               _range(s, "mktpo", f"mktpo~{p}~", newest_first=True,
                                      limit=50, channel=market_channel)],
                    "vpp": member, "payouts": [
                        _json(x.value) for x in s.scalars(select(StateRow).where(
                            StateRow.channel == market_channel, StateRow.kind == "mktpay",
                            StateRow.key.endswith(f"~{p}")))]})
    return out
