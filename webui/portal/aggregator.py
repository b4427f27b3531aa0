"""The Aggregator's pages. Its mirror holds the public ledger only (no customerData):
devices (IDoT: meters as devices, with their keys and status), tariffs, its organisation's
transactions; its devices and the data-access tokens it holds (:mod:`.data_access`)."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..mirror import queries, queries_market
from . import data_access
from .common import mirror, mirror_counts, services

bp = Blueprint("aggregator", __name__, url_prefix="/aggregator")
bp.register_blueprint(data_access.bp)  # /aggregator/access/: devices, tokens


@bp.get("/")
def dashboard():
    with mirror() as s:
        counts = mirror_counts(s)
        recent = queries.audit(s, msp="AggregatorMSP", limit=10)
        tariffs = queries.tariffs(s)
    return render_template("aggregator/dashboard.html", counts=counts, recent=recent,
                           tariffs=tariffs)


@bp.get("/devices")
def devices():
    with mirror() as s:
        items = queries.meters(s, limit=1000)
    return render_template("aggregator/devices.html", devices=items)


@bp.get("/market")
def market():
    """Our virtual power plants: members (pseudonyms and the capacity they consented to),
    offers, the intervals' clearing results, and the payouts made (the market channel)."""
    channel = services().config.market_channel
    with mirror() as s:
        vpps = [v for v in queries_market.vpps(s, channel)
                if v.get("operator") == "AggregatorMSP"]
        intervals = queries_market.intervals(s, channel)
        trades = queries_market.trades(s, channel, traders={v["vppId"] for v in vpps}) \
            if vpps else []
    return render_template("aggregator/market.html", vpps=vpps, intervals=intervals,
                           trades=trades)
