"""The JSON API beside the pages, for the same data (``/api/v1``).

Same rules as the pages (:mod:`.access`): 401 when not signed in, 403 for a role or a
record that is not the caller's, 404 for what does not exist, 400 with ``{"error"}`` for
bad input. Writes take a JSON body and the CSRF token in ``X-CSRFToken`` (the session's,
from any page's ``<meta name="csrf-token">``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, g, jsonify, request
from flask_wtf.csrf import generate_csrf

from gridledger.formats.ids import is_id

from ..mirror import queries
from ..mirror.integrity import alert_dict
from .common import (
    as_me,
    channel_arg,
    int_arg,
    mirror,
    own_meter,
    parse_day,
    parse_month,
    services,
)
from .ledger import LedgerWriteError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _customer_scope(param: str = "customer") -> str:
    """The customer a request is about: the caller itself, or (operators) ``?customer=``."""
    if g.user.role == "customer":
        asked = request.args.get(param)
        if asked and asked != g.user.customer_id:
            abort(403, description="you may read your own records only")
        return g.user.customer_id
    cid = request.args.get(param, "")
    if not is_id(cid):
        abort(400, description=f"give ?{param}=<customer code>")
    return cid


@bp.get("/status")
def status():
    svc = services()
    with mirror() as s:
        height = queries.height(s, svc.config.channel)
        heights = queries.heights(s)
    return jsonify({"org": svc.config.org, "mspId": svc.config.msp_id, "mirrorHeight": height,
                    "mirrorHeights": {ch: heights.get(ch, 0) for ch in svc.config.channels},
                    "listener": svc.listener.status.as_dict() if svc.listener else None,
                    "listeners": svc.mirror_status(),
                    "lastIntegrityRun": svc.integrity.last_run.isoformat()
                    if svc.integrity.last_run else None})


@bp.get("/me")
def me():
    return jsonify({"username": g.user.username, "role": g.user.role,
                    "customerId": g.user.customer_id, "csrfToken": generate_csrf()})


@bp.get("/meters")
def meters():
    with mirror() as s:
        if g.user.role == "customer":
            return jsonify(queries.meters(s, g.user.customer_id))
        offset = int_arg(request.args.get("offset"), "offset", 0)
        limit = int_arg(request.args.get("limit"), "limit", 100, low=1, high=1000)
        return jsonify(queries.meters(s, limit=limit, offset=offset))


@bp.get("/meters/<meter_id>")
def meter(meter_id: str):
    with mirror() as s:
        return jsonify(own_meter(s, meter_id))


@bp.get("/meters/<meter_id>/readings")
def readings(meter_id: str):
    limit = int_arg(request.args.get("limit"), "limit", 50, low=1, high=1000)
    before = int_arg(request.args.get("before"), "before", low=1)
    with mirror() as s:
        own_meter(s, meter_id)
        return jsonify(queries.readings(s, meter_id, limit=limit, before_seq=before))


@bp.get("/meters/<meter_id>/usage")
def usage(meter_id: str):
    with mirror() as s:
        own_meter(s, meter_id)
        default = queries.latest_usage_day(s, meter_id) or dt.datetime.now(dt.UTC).date()
        if "month" in request.args:
            year, month = parse_month(request.args["month"], default)
            return jsonify(queries.usage_month(s, meter_id, year, month))
        return jsonify(queries.usage_day(s, meter_id, parse_day(request.args.get("day"),
                                                                default)))


@bp.get("/bills")
def bills():
    cid = _customer_scope()
    with mirror() as s:
        return jsonify(queries.bills(s, cid))


@bp.get("/account")
def account():
    cid = _customer_scope()
    with mirror() as s:
        accounts = queries.accounts_of(s, cid)
        return jsonify({"customerId": cid, "paying": queries.paying_address(s, cid),
                        "accounts": accounts,
                        "history": {a["address"]: queries.history(s, a["address"], 20)
                                    for a in accounts}})


@bp.get("/alarms")
def alarms():
    with mirror() as s:
        cid = g.user.customer_id if g.user.role == "customer" else None
        return jsonify(queries.alarms(s, cid, limit=200))


@bp.get("/customers")
def customers():
    offset = int_arg(request.args.get("offset"), "offset", 0)
    limit = int_arg(request.args.get("limit"), "limit", 100, low=1, high=1000)
    with mirror() as s:
        return jsonify(queries.customers(s, limit=limit, offset=offset))


@bp.get("/refused")
def refused():
    with mirror() as s:
        return jsonify(queries.refused_readings(s, limit=500))


@bp.get("/tariffs")
def tariffs():
    with mirror() as s:
        return jsonify(queries.tariffs(s))


@bp.get("/blocks")
def blocks():
    before = int_arg(request.args.get("before"), "before")
    limit = int_arg(request.args.get("limit"), "limit", 25, low=1, high=500)
    channel = channel_arg()
    with mirror() as s:
        return jsonify(queries.blocks(s, channel, limit=limit, before=before))


@bp.get("/blocks/<int:number>")
def block(number: int):
    channel = channel_arg()
    with mirror() as s:
        item = queries.block(s, channel, number)
    if item is None:
        abort(404, description=f"block {number} of {channel} is not in the mirror")
    return jsonify(item)


@bp.get("/transactions/<tx_id>")
def transaction(tx_id: str):
    with mirror() as s:
        item = queries.transaction(s, tx_id[:64])
    if item is None:
        abort(404, description=f"no transaction {tx_id}")
    return jsonify(item)


@bp.get("/search")
def search():
    q = request.args.get("q", "")
    if len(q) > 200:
        abort(400, description="a search is at most 200 characters")
    cid = g.user.customer_id if g.user.role == "customer" else None
    with mirror() as s:
        return jsonify(queries.search(s, q, customer_id=cid))


@bp.get("/alerts")
def alerts():
    cid = g.user.customer_id if g.user.role == "customer" else None
    with mirror() as s:
        return jsonify([alert_dict(a) for a in queries.alerts(s, cid)])


@bp.get("/live")
def live():
    """What changed since block ``since`` (for polling pages)."""
    since = int_arg(request.args.get("since"), "since", 0)
    cid = g.user.customer_id if g.user.role == "customer" else None
    svc = services()
    with mirror() as s:
        out = queries.live(s, since, cid, channel=svc.config.channel)
        heights = queries.heights(s)
    out["heights"] = {ch: heights.get(ch, 0) for ch in svc.config.channels}
    out["mirror"] = svc.listener.status.as_dict() if svc.listener else None
    return jsonify(out)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="send a JSON object")
    return body


def _amount(value: Any, name: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 10**12:
        abort(400, description=f"{name} must be a whole number from {low} to 10^12")
    return value


def _address(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) != 40 or \
            any(c not in "0123456789abcdef" for c in value):
        abort(400, description=f"{name} must be an account address (40 hex digits)")
    return value


def _mine(address: str) -> None:
    with mirror() as s:
        acct = queries.account(s, address)
    if acct is None:
        abort(404, description=f"no account {address}")
    if acct.get("customerId") != g.user.customer_id:
        abort(403, description="this account is not yours")


def _write(what: str, fn) -> Any:
    try:
        return jsonify({"ok": True, "result": as_me(what, fn)})
    except LedgerWriteError as exc:
        return jsonify({"error": str(exc)}), exc.status


@bp.post("/transfer")
def transfer():
    body = _body()
    source, target = _address(body.get("source"), "source"), _address(body.get("target"),
                                                                       "target")
    amount = _amount(body.get("amount"), "amount", 1)
    if source == target:
        abort(400, description="source and target are the same account")
    _mine(source)
    return _write("the transfer", lambda p: p.transfer(source, target, amount))


@bp.post("/policy")
def policy():
    body = _body()
    address = _address(body.get("address"), "address")
    threshold = _amount(body.get("threshold"), "threshold", 0)
    rule = body.get("policy")
    if rule not in ("notify", "power-saving"):
        abort(400, description="policy is notify or power-saving")
    _mine(address)
    return _write("setting the low-balance policy",
                  lambda p: p.set_low_balance_policy(address, threshold, rule))
