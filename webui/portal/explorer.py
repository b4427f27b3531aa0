"""The block explorer (operators): blocks of each channel the mirror follows (``?channel=``,
the main channel by default) with their number, data hash and previous hash, each
transaction with its validation code, and search by block number, transaction id, reading
hash or customer code (seed 000's look-up)."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from ..mirror import queries
from .common import channel_arg, int_arg, mirror, services

bp = Blueprint("explorer", __name__, url_prefix="/explorer")


@bp.get("/")
def index():
    channel = channel_arg()
    before = int_arg(request.args.get("before"), "before")
    with mirror() as s:
        items = queries.blocks(s, channel, limit=25, before=before)
        heights = queries.heights(s)
    return render_template("explorer/index.html", blocks=items, channel=channel,
                           height=heights.get(channel, 0), heights=heights,
                           channels=services().config.channels)


@bp.get("/blocks/<int:number>")
def block(number: int):
    channel = channel_arg()
    with mirror() as s:
        item = queries.block(s, channel, number)
        height = queries.height(s, channel)
    if item is None:
        abort(404, description=f"block {number} of {channel} is not in the mirror "
                               f"(height {height})")
    return render_template("explorer/block.html", block=item, height=height)


@bp.get("/tx/<tx_id>")
def transaction(tx_id: str):
    if len(tx_id) > 64:
        abort(400, description="a transaction id is 64 hexadecimal digits")
    with mirror() as s:
        item = queries.transaction(s, tx_id)
    if item is None:
        abort(404, description=f"no transaction {tx_id} in the mirror")
    return render_template("explorer/transaction.html", tx=item)


def result_url(r: dict) -> str:
    """Where a search result is shown for the signed-in operator."""
    role = g.user.role
    if r["type"] == "block":
        return url_for("explorer.block", number=r["blockNumber"], channel=r["channel"])
    if r["type"] == "transaction":
        return url_for("explorer.transaction", tx_id=r["txId"])
    if r["type"] == "customer" and role in ("utility", "regulator"):
        return url_for(f"{role}.customer", customer_id=r["customerId"])
    if r["type"] in ("reading", "meter") and role in ("utility", "regulator"):
        return url_for(f"{role}.meter", meter_id=r["meterId"])
    return url_for("explorer.block", number=r.get("blockNumber", 0),
                   channel=r.get("channel"))


@bp.get("/search")
def search():
    q = request.args.get("q", "").strip()
    if len(q) > 200:
        abort(400, description="a search is at most 200 characters")
    with mirror() as s:
        results = queries.search(s, q)
    for r in results:
        r["url"] = result_url(r)
    if len(results) == 1 and request.args.get("go") != "0":
        return redirect(results[0]["url"])
    return render_template("explorer/search.html", q=q, results=results)
