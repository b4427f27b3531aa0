"""The integrity dashboard (operators): open tamper alerts naming block, transaction and
customer, the latest check runs, "check now", and "repair" (rebuild the rows from the
ledger)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, url_for

from ..mirror import queries
from ..mirror.integrity import KINDS, REPAIRABLE
from .common import mirror, services
from .forms import ConfirmForm

bp = Blueprint("integrity", __name__, url_prefix="/integrity")


@bp.get("/")
def index():
    svc = services()
    with mirror() as s:
        open_ = queries.alerts(s)
        resolved = [a for a in queries.alerts(s, open_only=False, limit=100) if a.resolved_at]
        runs = queries.runs(s, limit=15)
    return render_template("integrity/index.html", alerts=open_, resolved=resolved[:30],
                           runs=runs, kinds=KINDS, repairable=REPAIRABLE,
                           form=ConfirmForm(), last_run=svc.integrity.last_run,
                           scheduler_error=svc.scheduler.last_error if svc.scheduler else None)


@bp.post("/check")
def check():
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("integrity.index")), 303
    results = services().integrity.run(full=True)
    found = sum(len(r.problems) for r in results)
    incomplete = [f"{r.group} ({r.detail})" if r.detail else r.group
                  for r in results if not r.complete]
    note = f"; not complete: {', '.join(incomplete)}" if incomplete else ""
    flash(f"check done: {found} problem(s){note}", "error" if found else "info")
    return redirect(url_for("integrity.index"))


@bp.post("/repair")
def repair():
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("integrity.index")), 303
    try:
        out = services().integrity.repair(by=g.user.username)
    except Exception as exc:  # the peer down, most likely: say so, keep the alerts
        flash(f"repair needs the ledger and could not reach it: {exc}", "error")
        return redirect(url_for("integrity.index")), 303
    blocks = "; ".join(f"{', '.join(map(str, numbers))} of {channel}"
                       for channel, numbers in out["blocks"].items())
    flash(f"rebuilt block(s) {blocks or 'none'} and "
          f"{out['keys']} record(s) from the ledger; {out['problemsLeft']} problem(s) left",
          "error" if out["problemsLeft"] else "info")
    return redirect(url_for("integrity.index"))
