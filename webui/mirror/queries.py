"""What the portal's pages read: the mirror's state and blocks, as plain dicts.

Every function takes an open SQLAlchemy session and returns JSON-ready values. State is
read by key range, the chaincode's own layout (``reading~<meter>~<seq>`` ...), on the
indexed ``(kind, key)``; who may see what is the caller's business (the portal's access
rules), not this module's.

Channels: blocks and transactions are named by channel and number (block numbers repeat
across channels), so the block functions take the channel. The record kinds read here
(meters, readings, bills, accounts, access) exist on the energy channel only, which the
chaincodes' key layouts guarantee (the market's kinds are ``mkt*``: :mod:`.queries_market`,
which reads the market channel's rows by name).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .schema import AlertRow, BlockRow, IntegrityRunRow, StateRow, TransactionRow, WriteRow

END = "\x7f"


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _value(s: Session, kind: str, key: str, channel: str | None = None) -> Any:
    q = select(StateRow.value).where(StateRow.kind == kind, StateRow.key == key)
    if channel is not None:
        q = q.where(StateRow.channel == channel)
    return _json(s.scalar(q.limit(1)))


def _range(s: Session, kind: str, prefix: str, *, limit: int | None = None,
           newest_first: bool = False, after: str | None = None,
           before: str | None = None, channel: str | None = None) -> list[StateRow]:
    q = select(StateRow).where(StateRow.kind == kind, StateRow.key >= prefix,
                               StateRow.key < prefix + END)
    if channel is not None:
        q = q.where(StateRow.channel == channel)
    if after is not None:
        q = q.where(StateRow.key > after)
    if before is not None:
        q = q.where(StateRow.key < before)
    q = q.order_by(StateRow.key.desc() if newest_first else StateRow.key)
    if limit is not None:
        q = q.limit(limit)
    return list(s.scalars(q))


def provenance(row: StateRow) -> dict[str, Any]:
    return {"blockNumber": row.block_number, "txIndex": row.tx_index}


# -- meters and readings ---------------------------------------------------------------


def meter(s: Session, meter_id: str) -> dict[str, Any] | None:
    """A meter: its public device record, and (members only) owner, place and chain head."""
    device = _value(s, "meter", f"meter~{meter_id}")
    if device is None:
        return None
    info = _value(s, "meterinfo", f"meterinfo~{meter_id}") or {}
    head = _value(s, "meterhead", f"meterhead~{meter_id}") or {}
    return {**device, "customerId": info.get("customerId"), "location": info.get("location"),
            "tariffId": info.get("tariffId"), "head": head}


def meter_ids_of(s: Session, customer_id: str) -> list[str]:
    index = _value(s, "custmeter", f"custmeter~{customer_id}") or {}
    return list(index.get("meters", []))


def meters(s: Session, customer_id: str | None = None, limit: int = 500,
           offset: int = 0) -> list[dict[str, Any]]:
    if customer_id is not None:
        ids = meter_ids_of(s, customer_id)
    else:
        ids = [r.key.split("~", 1)[1] for r in s.scalars(
            select(StateRow).where(StateRow.kind == "meter").order_by(StateRow.key)
            .offset(offset).limit(limit))]
    return [m for m in (meter(s, i) for i in ids) if m is not None]


def owner_of_meter(s: Session, meter_id: str) -> str | None:
    info = _value(s, "meterinfo", f"meterinfo~{meter_id}")
    return info.get("customerId") if isinstance(info, dict) else None


def readings(s: Session, meter_id: str, limit: int = 50,
             before_seq: int | None = None) -> list[dict[str, Any]]:
    """A meter's readings, newest first; each with the block that recorded it."""
    before = f"reading~{meter_id}~{before_seq:012d}" if before_seq else None
    out = []
    for row in _range(s, "reading", f"reading~{meter_id}~", limit=limit, newest_first=True,
                      before=before):
        r = _json(row.value)
        canonical = _json(r.get("canonical")) if isinstance(r.get("canonical"), str) else {}
        out.append({**{k: r.get(k) for k in ("meterId", "seq", "intervalEnd", "hash",
                                             "prevHash", "quality", "importDeltaWh",
                                             "exportDeltaWh", "tamper", "alarms")},
                    "importWh": (canonical or {}).get("importWh"),
                    "exportWh": (canonical or {}).get("exportWh"),
                    "powerW": (canonical or {}).get("powerW"),
                    "voltageDv": (canonical or {}).get("voltageDv"), **provenance(row)})
    return out


def reading_count(s: Session, meter_id: str) -> int:
    p = f"reading~{meter_id}~"
    return int(s.scalar(select(func.count()).select_from(StateRow).where(
        StateRow.kind == "reading", StateRow.key >= p, StateRow.key < p + END)) or 0)


def usage_day(s: Session, meter_id: str, day: dt.date) -> dict[str, Any]:
    """Hourly import and export (Wh) of one UTC day."""
    u = _value(s, "usage", f"usage~{meter_id}~{day:%Y%m%d}") or {}
    return {"meterId": meter_id, "day": day.isoformat(),
            "labels": [f"{h:02d}:00" for h in range(24)],
            "importWh": u.get("importWh", [0] * 24), "exportWh": u.get("exportWh", [0] * 24)}


def usage_month(s: Session, meter_id: str, year: int, month: int) -> dict[str, Any]:
    """Daily import and export (Wh) of one month (UTC days)."""
    days = calendar.monthrange(year, month)[1]
    first, last = f"usage~{meter_id}~{year:04d}{month:02d}01", \
        f"usage~{meter_id}~{year:04d}{month:02d}{days:02d}"
    rows = {r.key[-8:]: _json(r.value) for r in s.scalars(select(StateRow).where(
        StateRow.kind == "usage", StateRow.key >= first, StateRow.key <= last))}
    imp, exp = [], []
    for d in range(1, days + 1):
        u = rows.get(f"{year:04d}{month:02d}{d:02d}") or {}
        imp.append(sum(u.get("importWh", [])))
        exp.append(sum(u.get("exportWh", [])))
    return {"meterId": meter_id, "month": f"{year:04d}-{month:02d}",
            "labels": [f"{d:02d}" for d in range(1, days + 1)], "importWh": imp,
            "exportWh": exp}


def latest_usage_day(s: Session, meter_id: str) -> dt.date | None:
    row = _range(s, "usage", f"usage~{meter_id}~", limit=1, newest_first=True)
    if not row:
        return None
    d = row[0].key[-8:]
    return dt.date(int(d[:4]), int(d[4:6]), int(d[6:]))


# -- bills and accounts ------------------------------------------------------------------


def bills(s: Session, customer_id: str) -> list[dict[str, Any]]:
    return [{**_json(r.value), **provenance(r)} for r in
            _range(s, "bill", f"bill~{customer_id}~", newest_first=True)]


def bill(s: Session, customer_id: str, period_start: str) -> dict[str, Any] | None:
    row = s.scalar(select(StateRow).where(StateRow.kind == "bill",
                                          StateRow.key == f"bill~{customer_id}~{period_start}"))
    return {**_json(row.value), **provenance(row)} if row else None


def account(s: Session, address: str) -> dict[str, Any] | None:
    row = s.scalar(select(StateRow).where(StateRow.kind == "wcacct",
                                          StateRow.key == f"wcacct~{address}"))
    return {**_json(row.value), **provenance(row)} if row else None


def paying_address(s: Session, customer_id: str) -> str | None:
    binding = _value(s, "wccust", f"wccust~{customer_id}")
    return binding.get("address") if isinstance(binding, dict) else None


def accounts_of(s: Session, customer_id: str) -> list[dict[str, Any]]:
    """Accounts that pay for, or belong to, a customer."""
    rows = s.scalars(select(StateRow).where(StateRow.kind == "wcacct",
                                            StateRow.customer_id == customer_id))
    return [{**_json(r.value), **provenance(r)} for r in rows]


def history(s: Session, address: str, limit: int = 50) -> list[dict[str, Any]]:
    return [{**_json(r.value), **provenance(r)} for r in
            _range(s, "wchist", f"wchist~{address}~", limit=limit, newest_first=True)]


def all_accounts(s: Session) -> list[dict[str, Any]]:
    return [_json(v) for v in s.scalars(select(StateRow.value).where(
        StateRow.kind == "wcacct").order_by(StateRow.key))]


def arrears(s: Session) -> list[dict[str, Any]]:
    return sorted((a for a in all_accounts(s) if a.get("arrears", 0) > 0),
                  key=lambda a: -a["arrears"])


# -- customers ---------------------------------------------------------------------------


def customers(s: Session, limit: int = 1000, offset: int = 0,
              prefix: str = "") -> list[dict[str, Any]]:
    """Every customer the mirror knows (from the customer -> meters index), with its paying
    account; three queries per page whatever its length."""
    q = select(StateRow).where(StateRow.kind == "custmeter")
    if prefix:
        q = q.where(StateRow.key >= f"custmeter~{prefix}",
                    StateRow.key < f"custmeter~{prefix}{END}")
    rows = list(s.scalars(q.order_by(StateRow.key).offset(offset).limit(limit)))
    ids = [r.key.split("~", 1)[1] for r in rows]
    bindings = {r.key.split("~", 1)[1]: (_json(r.value) or {}).get("address") for r in
                s.scalars(select(StateRow).where(StateRow.kind == "wccust", StateRow.key.in_(
                    [f"wccust~{c}" for c in ids])))} if ids else {}
    accounts = {r.key.split("~", 1)[1]: _json(r.value) for r in
                s.scalars(select(StateRow).where(StateRow.kind == "wcacct", StateRow.key.in_(
                    [f"wcacct~{a}" for a in bindings.values() if a])))} if bindings else {}
    out = []
    for row, cid in zip(rows, ids, strict=True):
        address = bindings.get(cid)
        acct = accounts.get(address) if address else None
        out.append({"customerId": cid, "meters": _json(row.value).get("meters", []),
                    "address": address,
                    "balance": acct.get("balance") if acct else None,
                    "arrears": acct.get("arrears") if acct else None,
                    "exhausted": acct.get("exhausted") if acct else None})
    return out


def customer_count(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(StateRow)
                        .where(StateRow.kind == "custmeter")) or 0)


def customer_known(s: Session, customer_id: str) -> bool:
    return s.scalar(select(StateRow.key).where(
        StateRow.kind == "custmeter", StateRow.key == f"custmeter~{customer_id}")) is not None


# -- alarms, refusals, tariffs -----------------------------------------------------------


def alarms(s: Session, customer_id: str | None = None, limit: int = 100,
           since_block: int | None = None) -> list[dict[str, Any]]:
    q = select(StateRow).where(StateRow.kind == "alarm")
    if customer_id is not None:
        q = q.where(StateRow.customer_id == customer_id)
    if since_block is not None:
        q = q.where(StateRow.block_number >= since_block)
    q = q.order_by(StateRow.block_number.desc(), StateRow.key.desc()).limit(limit)
    out = []
    for r in s.scalars(q):
        a = _json(r.value)
        out.append({k: a.get(k) for k in ("meterId", "kind", "at", "source", "customerId",
                                          "location")} | provenance(r))
    return out


def refused_readings(s: Session, limit: int = 100, meter_ids: set[str] | None = None,
                     scan: int = 1000) -> list[dict[str, Any]]:
    """Readings the chaincode refused, with its code and reason (from the responses of
    SubmitReadings, which every member's blocks carry), newest first, from the latest
    ``scan`` transactions that refused any."""
    out: list[dict[str, Any]] = []
    q = select(TransactionRow).where(TransactionRow.refused > 0) \
        .order_by(TransactionRow.block_number.desc(), TransactionRow.tx_index.desc()) \
        .limit(scan)
    for tx in s.scalars(q).yield_per(50):
        body = _json(tx.response_payload)
        for r in (body.get("results", []) if isinstance(body, dict) else []):
            if r.get("status") != "refused":
                continue
            if meter_ids is not None and r.get("meterId") not in meter_ids:
                continue
            out.append({"meterId": r.get("meterId"), "seq": r.get("seq"), "code": r.get("code"),
                        "reason": r.get("reason"), "txId": tx.tx_id, "at": tx.timestamp,
                        "blockNumber": tx.block_number, "txIndex": tx.tx_index})
            if len(out) >= limit:
                return out
    return out


def tariffs(s: Session) -> list[dict[str, Any]]:
    return [{**_json(r.value), **provenance(r)} for r in
            s.scalars(select(StateRow).where(StateRow.kind == "tariff")
                      .order_by(StateRow.key))]


# -- blocks and transactions -------------------------------------------------------------


def _block(b: BlockRow) -> dict[str, Any]:
    return {"channel": b.channel, "number": b.number, "dataHash": b.data_hash,
            "previousHash": b.previous_hash,
            "headerHash": b.header_hash, "transactions": b.tx_count, "writes": b.write_count,
            "timestamp": b.timestamp}


def height(s: Session, channel: str) -> int:
    """The next block of ``channel`` the mirror expects (its block count)."""
    top = s.scalar(select(func.max(BlockRow.number)).where(BlockRow.channel == channel))
    return 0 if top is None else int(top) + 1


def heights(s: Session) -> dict[str, int]:
    """Every mirrored channel's height."""
    return {c: int(n) + 1 for c, n in s.execute(
        select(BlockRow.channel, func.max(BlockRow.number)).group_by(BlockRow.channel))}


def blocks(s: Session, channel: str, limit: int = 20, before: int | None = None
           ) -> list[dict[str, Any]]:
    q = select(BlockRow).where(BlockRow.channel == channel) \
        .order_by(BlockRow.number.desc()).limit(limit)
    if before is not None:
        q = q.where(BlockRow.number < before)
    return [_block(b) for b in s.scalars(q)]


def _tx(t: TransactionRow, full: bool = False) -> dict[str, Any]:
    out = {"channel": t.channel, "blockNumber": t.block_number, "txIndex": t.tx_index,
           "txId": t.tx_id,
           "type": t.type, "timestamp": t.timestamp, "creatorMsp": t.creator_msp,
           "creatorName": t.creator_name, "validationCode": t.validation_code,
           "chaincode": t.chaincode, "function": t.function,
           "eventName": t.event_name, "responseStatus": t.response_status}
    if full:
        out.update({"args": _json(t.args), "endorsers": _json(t.endorsers),
                    "responseMessage": t.response_message,
                    "response": _json(t.response_payload) if t.response_payload else None,
                    "event": _json(t.event_payload) if t.event_payload else None})
    return out


def block(s: Session, channel: str, number: int) -> dict[str, Any] | None:
    b = s.get(BlockRow, (channel, number))
    if b is None:
        return None
    txs = s.scalars(select(TransactionRow).where(TransactionRow.channel == channel,
                                                 TransactionRow.block_number == number)
                    .order_by(TransactionRow.tx_index))
    return {**_block(b), "transactionList": [_tx(t) for t in txs]}


def transaction(s: Session, tx_id: str) -> dict[str, Any] | None:
    t = s.scalar(select(TransactionRow).where(TransactionRow.tx_id == tx_id).limit(1))
    if t is None:
        return None
    writes = s.scalars(select(WriteRow).where(WriteRow.channel == t.channel,
                                              WriteRow.block_number == t.block_number,
                                              WriteRow.tx_index == t.tx_index)
                       .order_by(WriteRow.seq))
    return {**_tx(t, full=True), "writes": [
        {"namespace": w.namespace, "collection": w.collection or "(public)", "key": w.key,
         "kind": w.kind, "customerId": w.customer_id, "value": _json(w.value),
         "deleted": w.value is None} for w in writes]}


def transactions_of_customer(s: Session, customer_id: str, limit: int = 100
                             ) -> list[dict[str, Any]]:
    pairs = s.execute(select(WriteRow.channel, WriteRow.block_number, WriteRow.tx_index)
                      .where(WriteRow.customer_id == customer_id).distinct()
                      .order_by(WriteRow.block_number.desc()).limit(limit)).all()
    out = []
    for channel, number, index in pairs:
        t = s.get(TransactionRow, (channel, number, index))
        if t is not None:
            out.append(_tx(t))
    return out


def audit(s: Session, function: str = "", msp: str = "", limit: int = 100,
          before: int | None = None, channel: str | None = None) -> list[dict[str, Any]]:
    """Endorser transactions, newest block first: of ``channel``, or of every channel."""
    q = select(TransactionRow).where(TransactionRow.type == "ENDORSER_TRANSACTION")
    if channel is not None:
        q = q.where(TransactionRow.channel == channel)
    if function:
        q = q.where(TransactionRow.function.contains(function))
    if msp:
        q = q.where(TransactionRow.creator_msp == msp)
    if before is not None:
        q = q.where(TransactionRow.block_number < before)
    q = q.order_by(TransactionRow.block_number.desc(), TransactionRow.tx_index.desc())
    return [_tx(t) for t in s.scalars(q.limit(limit))]


def search(s: Session, q: str, customer_id: str | None = None) -> list[dict[str, Any]]:
    """Blocks, transactions, readings and customers matching ``q``: a block number (of
    any channel), a transaction id, a reading hash (or its start) or a customer code.
    With ``customer_id``, only that customer's own records are searched."""
    q = (q or "").strip()
    out: list[dict[str, Any]] = []
    if not q:
        return out
    if customer_id is None and q.isdigit() and len(q) < 19:
        for channel in s.scalars(select(BlockRow.channel).where(BlockRow.number == int(q))
                                 .order_by(BlockRow.channel)):
            out.append({"type": "block", "channel": channel, "blockNumber": int(q),
                        "label": f"{channel} block {q}"})
    if customer_id is None and len(q) >= 8:
        lo = q.lower()
        for t in s.scalars(select(TransactionRow).where(  # a prefix, as an index range
                TransactionRow.tx_id >= lo, TransactionRow.tx_id < lo + END).limit(10)):
            out.append({"type": "transaction", "txId": t.tx_id, "channel": t.channel,
                        "blockNumber": t.block_number,
                        "label": f"transaction {t.tx_id[:16]}... ({t.function or t.type})"})
    if len(q) >= 8:
        lo = q.lower()
        # By the reference index alone (a hash prefix is a narrow range); kind and owner
        # are checked on the few rows it gives, so the planner cannot prefer the kind index.
        rq = select(StateRow).where(StateRow.ref >= lo, StateRow.ref < lo + END).limit(50)
        for r in s.scalars(rq):
            if r.kind != "reading" or (customer_id is not None and r.customer_id != customer_id):
                continue
            v = _json(r.value)
            out.append({"type": "reading", "meterId": v.get("meterId"), "seq": v.get("seq"),
                        "hash": v.get("hash"), "customerId": r.customer_id,
                        "channel": r.channel, "blockNumber": r.block_number,
                        "label": f"reading {v.get('meterId')} #{v.get('seq')}"})
    if customer_id is None and customer_known(s, q):
        out.append({"type": "customer", "customerId": q, "label": f"customer {q}"})
    if customer_id is None and s.scalar(select(StateRow.key).where(
            StateRow.kind == "meter", StateRow.key == f"meter~{q}")) is not None:
        out.append({"type": "meter", "meterId": q, "label": f"meter {q}"})
    return out


# -- live updates, alerts ----------------------------------------------------------------


def live(s: Session, since: int, customer_id: str | None = None, *,
         channel: str) -> dict[str, Any]:
    """What changed from block ``since`` of ``channel`` (the energy channel: readings,
    alarms, accounts) on: for a customer, its own new readings, alarms and account
    flags; for an operator, new blocks, alarms and open alerts."""
    top = height(s, channel)
    scope = [StateRow.channel == channel, StateRow.block_number >= since]
    if customer_id is not None:
        scope.append(StateRow.customer_id == customer_id)
    new_readings = [
        {"meterId": r.meter_id, "seq": int(r.key.rsplit("~", 1)[1]),
         "blockNumber": r.block_number}
        for r in s.scalars(select(StateRow).where(StateRow.kind == "reading", *scope)
                           .order_by(StateRow.block_number.desc()).limit(50))]
    accounts = [_json(v) for v in s.scalars(select(StateRow.value).where(
        StateRow.kind == "wcacct", *scope))]
    exhausted = [a.get("address") for a in accounts if a.get("exhausted")]
    low = [a.get("address") for a in accounts if a.get("low")]
    open_alerts = select(func.count()).select_from(AlertRow).where(
        AlertRow.resolved_at.is_(None))
    if customer_id is not None:
        open_alerts = open_alerts.where(AlertRow.customer_id == customer_id)
    return {"height": top, "since": since, "readings": new_readings,
            "alarms": alarms(s, customer_id, limit=20, since_block=since),
            "exhausted": exhausted, "lowBalance": low,
            "balances": {a.get("address"): a.get("balance") for a in accounts},
            "openAlerts": int(s.scalar(open_alerts) or 0)}


def alerts(s: Session, customer_id: str | None = None, open_only: bool = True,
           limit: int = 200) -> list[AlertRow]:
    q = select(AlertRow)
    if open_only:
        q = q.where(AlertRow.resolved_at.is_(None))
    if customer_id is not None:
        q = q.where(AlertRow.customer_id == customer_id)
    return list(s.scalars(q.order_by(AlertRow.id.desc()).limit(limit)))


def runs(s: Session, limit: int = 20) -> list[IntegrityRunRow]:
    return list(s.scalars(select(IntegrityRunRow).order_by(IntegrityRunRow.id.desc())
                          .limit(limit)))


def counts(s: Session) -> dict[str, Any]:
    """Record counts; ``blocks`` over every channel, ``heights`` per channel."""
    kinds = dict(s.execute(select(StateRow.kind, func.count()).group_by(StateRow.kind)).all())
    per_channel = heights(s)
    return {"blocks": sum(per_channel.values()), "heights": per_channel,
            "transactions": int(s.scalar(select(func.count())
                                         .select_from(TransactionRow)) or 0),
            "meters": int(kinds.get("meter", 0)), "customers": int(kinds.get("custmeter", 0)),
            "readings": int(kinds.get("reading", 0)), "accounts": int(kinds.get("wcacct", 0)),
            "alarms": int(kinds.get("alarm", 0))}
