"""The customer's pages: consumption, bills, the Wattcoin wallet, alarms and alerts.

A customer sees its own records only: each view reads the mirror for the signed-in
customer's id (from its certificate), and a meter, bill or account of anyone else is 403
(404 when it does not exist), whatever the URL. Writes (transfer, policy, opening the
prepaid account) are signed with the customer's own identity; a top-up is the Utility's
Mint for the payment the customer made, signed by the portal's payment service.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from ..mirror import queries, queries_market
from ..mirror.schema import PaymentRow
from . import sharing
from .common import (
    as_me,
    as_service,
    flash_write,
    int_arg,
    mirror,
    own_meter,
    parse_day,
    parse_month,
    services,
)
from .forms import ConfirmForm, PolicyForm, TopUpForm, TransferForm, choice
from .ledger import LedgerWriteError

bp = Blueprint("customer", __name__, url_prefix="/customer")
bp.register_blueprint(sharing.bp)  # /customer/sharing/: DACTs and shared data


def _me() -> str:
    return g.user.customer_id


@bp.get("/")
def dashboard():
    with mirror() as s:
        meters = queries.meters(s, _me())
        latest = {m["meterId"]: queries.readings(s, m["meterId"], limit=5) for m in meters}
        address = queries.paying_address(s, _me())
        account = queries.account(s, address) if address else None
        alarms = queries.alarms(s, _me(), limit=5)
        alerts = queries.alerts(s, _me())
        height = queries.height(s, services().config.channel)
    return render_template("customer/dashboard.html", meters=meters, latest=latest,
                           account=account, alarms=alarms, alerts=alerts, height=height)


@bp.get("/meters/<meter_id>")
def meter(meter_id: str):
    view = request.args.get("view", "day")
    if view not in ("day", "month"):
        abort(400, description="view is day or month")
    with mirror() as s:
        m = own_meter(s, meter_id)
        default = queries.latest_usage_day(s, meter_id) or dt.datetime.now(dt.UTC).date()
        if view == "day":
            day = parse_day(request.args.get("date"), default)
            chart = queries.usage_day(s, meter_id, day)
        else:
            year, month = parse_month(request.args.get("date"), default)
            chart = queries.usage_month(s, meter_id, year, month)
        before = int_arg(request.args.get("before"), "before", low=1)
        rows = queries.readings(s, meter_id, limit=50, before_seq=before)
        count = queries.reading_count(s, meter_id)
    return render_template("customer/meter.html", meter=m, chart=chart, view=view,
                           chart_json=json.dumps(chart), readings=rows, count=count)


@bp.get("/bills")
def bills():
    with mirror() as s:
        items = queries.bills(s, _me())
    return render_template("customer/bills.html", bills=items)


@bp.get("/bills/<period_start>")
def bill(period_start: str):
    with mirror() as s:
        item = queries.bill(s, _me(), period_start)
    if item is None:
        abort(404, description=f"no bill of yours starting {period_start}")
    return render_template("customer/bill.html", bill=item)


def _wallet_forms(accounts: list[dict]) -> tuple[TopUpForm, TransferForm, PolicyForm]:
    choices = [choice(a["address"], f"{a['address'][:10]}… (balance {a['balance']})")
               for a in accounts]
    transfer, policy = TransferForm(prefix="t"), PolicyForm(prefix="p")
    transfer.source.choices = policy.address.choices = choices
    return TopUpForm(prefix="u"), transfer, policy


def _wallet_page(status: int = 200, forms=None):
    with mirror() as s:
        accounts = queries.accounts_of(s, _me())
        paying = queries.paying_address(s, _me())
        history = {a["address"]: queries.history(s, a["address"], limit=20) for a in accounts}
    topup, transfer, policy = forms or _wallet_forms(accounts)
    if forms is None and accounts:
        policy.threshold.data = accounts[0].get("lowBalanceThreshold", 0)
        policy.policy.data = accounts[0].get("policy", "notify")
    return render_template("customer/wallet.html", accounts=accounts, paying=paying,
                           history=history, topup=topup, transfer=transfer, policy=policy,
                           open_form=ConfirmForm(prefix="o")), status


@bp.get("/wallet")
def wallet():
    return _wallet_page()


@bp.post("/wallet/open")
def open_account():
    if not ConfirmForm(prefix="o").validate_on_submit():
        abort(400, description="the form was incomplete")
    try:
        address = as_me("opening your prepaid account",
                        lambda p: p.open_and_bind(_me()))
    except LedgerWriteError as exc:
        flash_write(exc)
        return _wallet_page(exc.status)
    flash(f"your prepaid account {address} is open and pays for your energy", "info")
    return redirect(url_for("customer.wallet"))


def _forms_posted():
    """The wallet's forms bound to the posted data (choices from the mirror)."""
    with mirror() as s:
        accounts = queries.accounts_of(s, _me())
    return _wallet_forms(accounts)


@bp.post("/wallet/topup")
def topup():
    forms = _forms_posted()
    form = forms[0]
    if not form.validate_on_submit():
        return _wallet_page(400, forms)
    with mirror() as s:
        address = queries.paying_address(s, _me())
    if address is None:
        form.amount.errors.append("open your prepaid account first")
        return _wallet_page(409, forms)
    svc = services()
    reference = "WEB-" + secrets.token_hex(8).upper()
    payment = PaymentRow(reference=reference, account_id=g.user.account_id,
                         customer_id=_me(), address=address, amount=form.amount.data,
                         created_at=dt.datetime.now(dt.UTC))
    with svc.mirror.sessions.begin() as s:
        s.add(payment)
    # The payment itself is the demo's: accepted at once. The Utility then creates the
    # tokens paid for (Mint, the Utility's act), with the payment reference, used once.
    try:
        if svc.enroller is None:
            raise LedgerWriteError("this portal has no payment service", 503)
        as_service("the top-up", svc.enroller.payments(),
                   lambda p: p.mint(address, form.amount.data, reference))
        status, error = "minted", None
    except LedgerWriteError as exc:
        status, error = "failed", str(exc)
    with svc.mirror.sessions.begin() as s:
        row = s.get(PaymentRow, payment.id)
        row.status, row.error = status, error
    if error:
        flash(error, "error")
        return _wallet_page(502, forms)
    flash(f"paid {form.amount.data}: tokens minted to {address[:10]}… (reference "
          f"{reference}); arrears are paid first", "info")
    return redirect(url_for("customer.wallet"))


@bp.post("/wallet/transfer")
def transfer():
    forms = _forms_posted()
    form = forms[1]
    if not form.validate_on_submit():
        return _wallet_page(400, forms)
    try:
        as_me("the transfer", lambda p: p.transfer(form.source.data, form.target.data,
                                                    form.amount.data))
    except LedgerWriteError as exc:
        flash_write(exc)
        return _wallet_page(exc.status, forms)
    flash(f"transferred {form.amount.data} to {form.target.data[:10]}…", "info")
    return redirect(url_for("customer.wallet"))


@bp.post("/wallet/policy")
def policy():
    forms = _forms_posted()
    form = forms[2]
    if not form.validate_on_submit():
        return _wallet_page(400, forms)
    try:
        as_me("setting the low-balance policy", lambda p: p.set_low_balance_policy(
            form.address.data, form.threshold.data, form.policy.data))
    except LedgerWriteError as exc:
        flash_write(exc)
        return _wallet_page(exc.status, forms)
    flash(f"below {form.threshold.data}: {form.policy.data}", "info")
    return redirect(url_for("customer.wallet"))


@bp.get("/alarms")
def alarms():
    with mirror() as s:
        items = queries.alarms(s, _me(), limit=200)
    return render_template("customer/alarms.html", alarms=items)


@bp.get("/alerts")
def alerts():
    with mirror() as s:
        open_ = queries.alerts(s, _me())
        closed = [a for a in queries.alerts(s, _me(), open_only=False) if a.resolved_at]
    return render_template("customer/alerts.html", alerts=open_, resolved=closed[:50])


@bp.get("/search")
def search():
    q = request.args.get("q", "")
    if len(q) > 200:
        abort(400, description="a search is at most 200 characters")
    with mirror() as s:
        results = queries.search(s, q, customer_id=_me())
        mine = queries.transactions_of_customer(s, _me(), limit=20) if not q else []
    return render_template("customer/search.html", q=q, results=results, mine=mine)


@bp.get("/market")
def market():
    """The customer's trading: its pseudonyms (linked on the energy channel), their
    orders, trades and VPP payouts (on the market channel)."""
    cfg = services().config
    with mirror() as s:
        names = queries_market.pseudonyms_of(s, _me(), energy_channel=cfg.channel,
                                             market_channel=cfg.market_channel)
        trades = queries_market.trades(s, cfg.market_channel,
                                       traders={n["pseudonym"] for n in names}) \
            if names else []
    return render_template("customer/market.html", names=names, trades=trades)
