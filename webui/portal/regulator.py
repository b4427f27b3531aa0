"""The Regulator's pages: tariffs (one operator proposes, another approves: only then is
SetTariff signed, by the approver), the audit log of every transaction, and read-only
audit views of customers and meters (the Regulator holds customerData)."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from ..mirror import queries, queries_market
from ..mirror.schema import TariffProposalRow
from .common import as_me, flash_write, int_arg, mirror, mirror_counts, services
from .forms import DecisionForm, ResolveForm, TariffProposalForm
from .ledger import LedgerWriteError
from .utility import customer_page, meter_page

bp = Blueprint("regulator", __name__, url_prefix="/regulator")


@bp.get("/")
def dashboard():
    with mirror() as s:
        counts = mirror_counts(s)
        recent = queries.audit(s, limit=10)
        alerts = queries.alerts(s)[:5]
    return render_template("regulator/dashboard.html", counts=counts, recent=recent,
                           alerts=alerts)


def _proposals() -> list[TariffProposalRow]:
    with services().mirror.sessions() as s:
        return list(s.scalars(select(TariffProposalRow).order_by(TariffProposalRow.id.desc())
                              .limit(50)))


@bp.get("/tariffs")
def tariffs(form: TariffProposalForm | None = None, status: int = 200):
    with mirror() as s:
        current = queries.tariffs(s)
    return render_template("regulator/tariffs.html", tariffs=current,
                           proposals=_proposals(), form=form or TariffProposalForm(),
                           decision=DecisionForm()), status


@bp.post("/tariffs/proposals")
def propose():
    form = TariffProposalForm()
    if not form.validate_on_submit():
        return tariffs(form, 400)
    doc = json.loads(form.document.data)
    with services().mirror.sessions.begin() as s:
        s.add(TariffProposalRow(tariff_id=doc["tariffId"],
                                document=json.dumps(doc, sort_keys=True),
                                proposed_by=g.user.username,
                                proposed_at=dt.datetime.now(dt.UTC)))
    flash(f"tariff {doc['tariffId']} proposed: another regulator operator approves it",
          "info")
    return redirect(url_for("regulator.tariffs"))


@bp.post("/tariffs/proposals/<int:proposal_id>")
def decide(proposal_id: int):
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400, description="choose approve or reject")
    svc = services()
    with svc.mirror.sessions() as s:
        p = s.get(TariffProposalRow, proposal_id)
    if p is None:
        abort(404, description=f"no tariff proposal {proposal_id}")
    if p.status != "proposed":
        abort(409, description=f"proposal {proposal_id} is already {p.status}")
    if p.proposed_by == g.user.username:
        abort(403, description="a proposal is decided by another operator than its author")
    tx_id, error = None, None
    if form.decision.data == "approve":
        try:
            as_me(f"tariff {p.tariff_id}", lambda led: led.set_tariff(json.loads(p.document)))
            status = "approved"
        except LedgerWriteError as exc:
            flash_write(exc)
            status, error = "proposed", str(exc)
    else:
        status = "rejected"
    with svc.mirror.sessions.begin() as s:
        row = s.get(TariffProposalRow, proposal_id)
        row.status, row.error, row.tx_id = status, error, tx_id
        if status != "proposed":
            row.decided_by, row.decided_at = g.user.username, dt.datetime.now(dt.UTC)
    if status != "proposed":
        flash(f"tariff {p.tariff_id}: {status}", "info")
    return redirect(url_for("regulator.tariffs"))


@bp.get("/audit")
def audit():
    function = request.args.get("function", "")[:100]
    msp = request.args.get("msp", "")[:100]
    before = int_arg(request.args.get("before"), "before")
    with mirror() as s:
        rows = queries.audit(s, function=function, msp=msp, limit=100, before=before)
    return render_template("regulator/audit.html", rows=rows, function=function, msp=msp)


@bp.get("/customers/<customer_id>")
def customer(customer_id: str):
    return customer_page(customer_id, "utility/customer.html", read_only=True)


@bp.get("/meters/<meter_id>")
def meter(meter_id: str):
    return meter_page(meter_id, "utility/meter.html", read_only=True)


def _market_page(status: int = 200, form: ResolveForm | None = None,
                 resolved: dict | None = None):
    channel = services().config.market_channel
    with mirror() as s:
        data = {"intervals": queries_market.intervals(s, channel),
                "trades": queries_market.trades(s, channel),
                "vpps": queries_market.vpps(s, channel),
                "audit": queries_market.audit_log(s, channel)}
    return render_template("regulator/market.html", form=form or ResolveForm(),
                           resolved=resolved, **data), status


@bp.get("/market")
def market():
    """The market with pseudonyms: intervals, clearing prices, trades, VPPs, the audit log
    of resolutions."""
    return _market_page()


@bp.post("/market/resolve")
def resolve():
    """Resolve a pseudonym: the request is logged on the ledger (RequestResolution, which
    the Regulator's peer and one other endorse), then answered from the Regulator's own
    collection. Signed by the operator, whose name the log keeps."""
    form = ResolveForm()
    if not form.validate_on_submit():
        return _market_page(400, form)
    try:
        who = as_me(f"resolving {form.pseudonym.data}", lambda p: p.resolve_pseudonym(
            form.pseudonym.data, form.reason.data))
    except LedgerWriteError as exc:
        flash_write(exc)
        return _market_page(exc.status, form)
    flash(f"{form.pseudonym.data} is customer {who.get('customerId')} (request logged as "
          f"{str(who.get('auditId', ''))[:16]}…)", "info")
    return _market_page(200, ResolveForm(formdata=None), who)
