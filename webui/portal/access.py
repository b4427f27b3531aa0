"""Who may open what: one table from endpoint to roles, enforced before every request.

Roles: ``customer`` (at the Utility's portal), ``utility``, ``regulator``, ``aggregator``
(the operators of the portal's organisation) and ``anonymous``. An endpoint missing from
:data:`RULES` is refused to everyone (tests/unit/webui/portal/test_access_matrix.py holds
every route to this table). Anonymous visitors of a page are sent to sign in; of the API,
answered 401. Signed in with the wrong role: 403. Which records of a permitted page a
customer sees (its own only) is checked in the view: 403 for another's, 404 for none.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for

from .config import OPERATOR_ROLES, ROLES

ANON = "anonymous"
PUBLIC = frozenset({ANON, *ROLES})
SIGNED_IN = frozenset(ROLES)
OPERATORS = frozenset(OPERATOR_ROLES)
MEMBERS = frozenset({"utility", "regulator"})  # operators of customerData's members
CUSTOMER = frozenset({"customer"})


def _only(*roles: str) -> frozenset[str]:
    return frozenset(roles)


RULES: dict[str, frozenset[str]] = {
    "static": PUBLIC,
    "home.index": PUBLIC,
    "home.vendor": PUBLIC,
    "home.health": PUBLIC,
    "auth.signin": PUBLIC,
    "auth.signup": PUBLIC,
    "auth.signout": SIGNED_IN,
    # customer
    "customer.dashboard": CUSTOMER,
    "customer.meter": CUSTOMER,
    "customer.bills": CUSTOMER,
    "customer.bill": CUSTOMER,
    "customer.wallet": CUSTOMER,
    "customer.open_account": CUSTOMER,
    "customer.topup": CUSTOMER,
    "customer.transfer": CUSTOMER,
    "customer.policy": CUSTOMER,
    "customer.alarms": CUSTOMER,
    "customer.alerts": CUSTOMER,
    "customer.search": CUSTOMER,
    "customer.market": CUSTOMER,
    "customer.sharing.index": CUSTOMER,
    "customer.sharing.register_resource": CUSTOMER,
    "customer.sharing.produce_profile": CUSTOMER,
    "customer.sharing.register_dact": CUSTOMER,
    "customer.sharing.revoke_dact": CUSTOMER,
    "customer.sharing.dact_table": CUSTOMER,
    # utility operator
    "utility.dashboard": _only("utility"),
    "utility.customers": _only("utility"),
    "utility.customer": _only("utility"),
    "utility.signup_code": _only("utility"),
    "utility.meters": _only("utility"),
    "utility.meter": _only("utility"),
    "utility.meter_status": _only("utility"),
    "utility.refused": _only("utility"),
    "utility.arrears": _only("utility"),
    "utility.issue_bill": _only("utility"),
    # regulator
    "regulator.dashboard": _only("regulator"),
    "regulator.tariffs": _only("regulator"),
    "regulator.propose": _only("regulator"),
    "regulator.decide": _only("regulator"),
    "regulator.audit": _only("regulator"),
    "regulator.customer": _only("regulator"),
    "regulator.meter": _only("regulator"),
    "regulator.market": _only("regulator"),
    "regulator.resolve": _only("regulator"),
    # aggregator
    "aggregator.dashboard": _only("aggregator"),
    "aggregator.devices": _only("aggregator"),
    "aggregator.market": _only("aggregator"),
    "aggregator.access.index": _only("aggregator"),
    "aggregator.access.register_device": _only("aggregator"),
    "aggregator.access.request_token": _only("aggregator"),
    # every operator
    "explorer.index": OPERATORS,
    "explorer.block": OPERATORS,
    "explorer.transaction": OPERATORS,
    "explorer.search": OPERATORS,
    "integrity.index": OPERATORS,
    "integrity.check": OPERATORS,
    "integrity.repair": OPERATORS,
    # JSON API
    "api.status": PUBLIC,
    "api.me": SIGNED_IN,
    "api.meters": frozenset({"customer", *MEMBERS}),
    "api.meter": frozenset({"customer", *MEMBERS}),
    "api.readings": frozenset({"customer", *MEMBERS}),
    "api.usage": frozenset({"customer", *MEMBERS}),
    "api.bills": frozenset({"customer", *MEMBERS}),
    "api.account": frozenset({"customer", *MEMBERS}),
    "api.alarms": frozenset({"customer", *MEMBERS}),
    "api.customers": MEMBERS,
    "api.refused": OPERATORS,
    "api.tariffs": SIGNED_IN,
    "api.blocks": OPERATORS,
    "api.block": OPERATORS,
    "api.transaction": OPERATORS,
    "api.search": SIGNED_IN,
    "api.alerts": SIGNED_IN,
    "api.live": SIGNED_IN,
    "api.transfer": CUSTOMER,
    "api.policy": CUSTOMER,
}


@dataclass(frozen=True)
class User:
    """The signed-in person, from the server-side session."""

    account_id: int
    username: str
    role: str
    customer_id: str | None

    @property
    def is_operator(self) -> bool:
        return self.role in OPERATOR_ROLES


def load_user() -> User | None:
    account_id = session.get("account")
    if account_id is None:
        return None
    services = current_app.extensions["portal"]
    row = services.accounts.get(account_id)
    if row is None or row.disabled or row.role != session.get("role"):
        session.regenerate()
        return None
    return User(row.id, row.username, row.role, row.customer_id)


def enforce() -> object | None:
    """The before-request hook: 401/redirect, 403, or None to go on."""
    g.user = load_user()
    endpoint = request.endpoint
    if endpoint is None:  # no route: let Flask answer 404 / 405
        return None
    allowed = RULES.get(endpoint)
    role = g.user.role if g.user else ANON
    if allowed is not None and role in allowed:
        return None
    if g.user is None:
        if endpoint.startswith("api."):
            return jsonify({"error": "sign in first"}), 401
        return redirect(url_for("auth.signin", next=request.full_path))
    abort(403, description="your role may not open this page"
          if allowed is not None else "no access rule for this page")
    return None


def passphrase() -> str:
    """The signed-in person's key passphrase (server-side session only)."""
    value = session.get("key")
    if not value:
        abort(401, description="sign in again to sign transactions")
    return value
