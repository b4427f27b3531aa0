"""The Utility operator's pages: customers and meters, readings refused and why, arrears,
sign-up codes, bills to issue, meters to suspend or resume.

Reads from the mirror (which holds customerData: the Utility is a member); writes signed
by the operator's own identity (``gridledger.operator=true`` or NodeOU admin).
"""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from ..mirror import queries
from .common import as_me, flash_write, int_arg, mirror, mirror_counts, services
from .forms import IssueBillForm, MeterStatusForm, SignupCodeForm
from .ledger import LedgerWriteError

bp = Blueprint("utility", __name__, url_prefix="/utility")
PAGE = 100


@bp.get("/")
def dashboard():
    with mirror() as s:
        counts = mirror_counts(s)
        refused = queries.refused_readings(s, limit=5)
        arrears = queries.arrears(s)[:5]
        alerts = queries.alerts(s)[:5]
    return render_template("utility/dashboard.html", counts=counts, refused=refused,
                           arrears=arrears, alerts=alerts)


@bp.get("/customers")
def customers():
    offset = int_arg(request.args.get("offset"), "offset", 0)
    prefix = request.args.get("q", "").strip()
    if len(prefix) > 64:
        abort(400, description="a customer code is at most 64 characters")
    with mirror() as s:
        items = queries.customers(s, limit=PAGE, offset=offset, prefix=prefix)
        total = queries.customer_count(s)
    return render_template("utility/customers.html", customers=items, offset=offset,
                           page=PAGE, total=total, q=prefix, code_form=SignupCodeForm())


def customer_page(customer_id: str, template: str, **extra):
    """A customer as members' operators see it (the Utility's page, the Regulator's
    audit view)."""
    with mirror() as s:
        if not queries.customer_known(s, customer_id):
            abort(404, description=f"no customer {customer_id!r} in the mirror")
        meters = queries.meters(s, customer_id)
        accounts = queries.accounts_of(s, customer_id)
        bills = queries.bills(s, customer_id)
        alarms = queries.alarms(s, customer_id, limit=20)
        alerts = queries.alerts(s, customer_id)
        txs = queries.transactions_of_customer(s, customer_id, limit=30)
    portal_accounts = services().accounts.of_customer(customer_id)
    return render_template(template, customer_id=customer_id, meters=meters,
                           accounts=accounts, bills=bills, alarms=alarms, alerts=alerts,
                           transactions=txs, portal_accounts=portal_accounts, **extra)


@bp.get("/customers/<customer_id>")
def customer(customer_id: str):
    return customer_page(customer_id, "utility/customer.html",
                         bill_form=IssueBillForm(customer_id=customer_id))


@bp.post("/signup-codes")
def signup_code():
    form = SignupCodeForm()
    if not form.validate_on_submit():
        flash("; ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for("utility.customers")), 303
    svc = services()
    code = svc.accounts.issue_signup_code(form.customer_id.data, g.user.username,
                                          svc.config.signup_code_days)
    flash(f"sign-up code for {form.customer_id.data}: {code} (valid "
          f"{svc.config.signup_code_days} days, once; give it to the customer)", "code")
    return redirect(url_for("utility.customers"))


@bp.get("/meters")
def meters():
    offset = int_arg(request.args.get("offset"), "offset", 0)
    with mirror() as s:
        items = queries.meters(s, limit=PAGE, offset=offset)
        total = mirror_counts(s)["meters"]
    return render_template("utility/meters.html", meters=items, offset=offset, page=PAGE,
                           total=total)


def meter_page(meter_id: str, template: str, **extra):
    with mirror() as s:
        m = queries.meter(s, meter_id)
        if m is None:
            abort(404, description=f"no meter {meter_id!r}")
        before = int_arg(request.args.get("before"), "before", low=1)
        rows = queries.readings(s, meter_id, limit=50, before_seq=before)
        day = queries.latest_usage_day(s, meter_id) or dt.datetime.now(dt.UTC).date()
        chart = queries.usage_day(s, meter_id, day)
        refused = queries.refused_readings(s, limit=20, meter_ids={meter_id})
        alarms = [a for a in queries.alarms(s, m.get("customerId"), limit=50)
                  if a["meterId"] == meter_id] if m.get("customerId") else []
    return render_template(template, meter=m, readings=rows, chart=chart,
                           chart_json=json.dumps(chart), refused=refused, alarms=alarms,
                           **extra)


@bp.get("/meters/<meter_id>")
def meter(meter_id: str):
    return meter_page(meter_id, "utility/meter.html", status_form=MeterStatusForm())


@bp.post("/meters/<meter_id>/status")
def meter_status(meter_id: str):
    form = MeterStatusForm()
    with mirror() as s:
        if queries.meter(s, meter_id) is None:
            abort(404, description=f"no meter {meter_id!r}")
    if not form.validate_on_submit():
        flash("give a reason (at most 200 characters)", "error")
        return redirect(url_for("utility.meter", meter_id=meter_id)), 303
    try:
        as_me(f"{form.action.data} meter {meter_id}",
              lambda p: p.meter_status(meter_id, form.action.data, form.reason.data))
    except LedgerWriteError as exc:
        flash_write(exc)
        return redirect(url_for("utility.meter", meter_id=meter_id)), 303
    flash(f"meter {meter_id}: {form.action.data} sent", "info")
    return redirect(url_for("utility.meter", meter_id=meter_id))


@bp.get("/refused")
def refused():
    with mirror() as s:
        items = queries.refused_readings(s, limit=500)
    return render_template("utility/refused.html", refused=items)


@bp.get("/arrears")
def arrears():
    with mirror() as s:
        items = queries.arrears(s)
    return render_template("utility/arrears.html", accounts=items)


@bp.post("/bills")
def issue_bill():
    form = IssueBillForm()
    target = form.customer_id.data or ""
    back = url_for("utility.customer", customer_id=target) if target else \
        url_for("utility.customers")
    if not form.validate_on_submit():
        flash("; ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(back), 303
    with mirror() as s:
        if not queries.customer_known(s, target):
            abort(404, description=f"no customer {target!r}")
    try:
        as_me(f"the bill of {target}", lambda p: p.issue_bill(
            target, form.period_start.data, form.period_end.data))
    except LedgerWriteError as exc:
        flash_write(exc)
        return redirect(back), 303
    flash(f"bill issued for {target} from {form.period_start.data}", "info")
    return redirect(back)
