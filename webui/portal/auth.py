"""Sign-in, sign-out and (at the Utility's portal) customers' sign-up.

Sign-up: the customer gives its customer code and the single-use sign-up code the
Utility issued it, a username and a password. The Utility's CA then registers and
enrolls a client identity for it (``role=customer``, its ``customerId``) through the
portal's sign-up registrar, whose own rights are exactly that; the key is made here,
stored encrypted under a passphrase derived from the password, and never shown.

Sign-in: Argon2id password check, rate-limited per username and per address; a new
session (new id) on success, so an id planted before sign-in is worthless.
"""

from __future__ import annotations

from urllib.parse import urlparse

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import TooManyRequests

from gridledger.errors import GridLedgerError

from .accounts import AccountError
from .forms import SignInForm, SignUpForm

bp = Blueprint("auth", __name__)


def _services():
    return current_app.extensions["portal"]


def _safe_next(target: str | None) -> str | None:
    """Only a path on this portal (no open redirect)."""
    if not target:
        return None
    parts = urlparse(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return render_template("signin.html", form=form)
    if not form.validate_on_submit():
        return render_template("signin.html", form=form), 400
    services = _services()
    address = request.remote_addr or "?"
    wait = services.limiter.retry_after(form.username.data, address)
    if wait:
        exc = TooManyRequests(f"too many failed sign-ins: try again in {wait} s")
        exc.retry_after = wait
        raise exc
    found = services.accounts.authenticate(form.username.data, form.password.data)
    if found is None:
        services.limiter.failed(form.username.data, address)
        flash("wrong username or password", "error")
        return render_template("signin.html", form=form), 401
    account, passphrase = found
    services.limiter.succeeded(account.username)
    session.regenerate()  # a new session id: nothing from before sign-in carries over
    session.update({"account": account.id, "role": account.role, "key": passphrase,
                    "username": account.username})
    return redirect(_safe_next(form.next.data) or url_for("home.index"))


@bp.post("/signout")
def signout():
    session.regenerate()
    flash("signed out", "info")
    return redirect(url_for("auth.signin"))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    services = _services()
    if services.config.org != "utility":
        abort(404, description="customers sign up at the Utility's portal")
    form = SignUpForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 200 if request.method == "GET" else 400
        return render_template("signup.html", form=form), status
    accounts = services.accounts
    username = form.username.data.strip().lower()
    if accounts.by_username(username) is not None:
        form.username.errors.append("this username is taken")
        return render_template("signup.html", form=form), 409
    try:
        accounts.take_signup_code(form.customer_id.data, form.code.data)
    except AccountError as exc:
        form.code.errors.append(str(exc))
        return render_template("signup.html", form=form), 403
    try:
        if services.enroller is None:
            raise AccountError("this portal has no CA to register you with")
        enrollment = services.enroller.enroll_customer(f"web-{username}",
                                                       form.customer_id.data)
        accounts.create(username, form.password.data, enrollment=enrollment)
    except (AccountError, GridLedgerError, OSError) as exc:
        accounts.release_signup_code(form.code.data)
        flash(f"sign-up failed: {exc}", "error")
        return render_template("signup.html", form=form), 502
    flash("your account is ready: sign in", "info")
    return redirect(url_for("auth.signin"))


@bp.app_context_processor
def _nav() -> dict:
    return {"signed_in": g.get("user") is not None}
