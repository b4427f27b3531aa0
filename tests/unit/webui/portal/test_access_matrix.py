"""The access-control matrix: every route and every role (and anonymous), from one table.

:data:`gridledger.webui.portal.access.RULES` says who may open each endpoint; here each
endpoint gets a sample request, and every role's answer must be what the table says:
allowed (anything but 401/403 and the sign-in redirect), refused with 403 (signed in,
wrong role), or, for anonymous visitors, sent to sign in (pages) / 401 (API).
"""

from __future__ import annotations

import datetime as dt

import pytest

from gridledger.webui.mirror.schema import AccountRow
from gridledger.webui.portal.access import ANON, RULES
from gridledger.webui.portal.security import Passwords

from . import world
from .portal_fixtures import CHEAP_KDF, PASSWORD, csrf_token, make_portal, sign_in

B = "2026-03-01T00:00:00Z"
# endpoint -> (method, path); POSTs carry a valid CSRF token and (mostly) an empty form.
SAMPLES = {
    "home.index": ("GET", "/"),
    "home.vendor": ("GET", "/vendor/chart.umd.min.js"),
    "home.health": ("GET", "/healthz"),
    "auth.signin": ("GET", "/signin"),
    "auth.signup": ("GET", "/signup"),
    "auth.signout": ("POST", "/signout"),
    "customer.dashboard": ("GET", "/customer/"),
    "customer.meter": ("GET", f"/customer/meters/{world.M1}"),
    "customer.bills": ("GET", "/customer/bills"),
    "customer.bill": ("GET", f"/customer/bills/{B}"),
    "customer.wallet": ("GET", "/customer/wallet"),
    "customer.open_account": ("POST", "/customer/wallet/open"),
    "customer.topup": ("POST", "/customer/wallet/topup"),
    "customer.transfer": ("POST", "/customer/wallet/transfer"),
    "customer.policy": ("POST", "/customer/wallet/policy"),
    "customer.alarms": ("GET", "/customer/alarms"),
    "customer.alerts": ("GET", "/customer/alerts"),
    "customer.search": ("GET", "/customer/search"),
    "customer.sharing.index": ("GET", "/customer/sharing/"),
    "customer.sharing.register_resource": ("POST", "/customer/sharing/resources"),
    "customer.sharing.produce_profile": ("POST", "/customer/sharing/profile"),
    "customer.sharing.register_dact": ("POST", "/customer/sharing/dacts"),
    "customer.sharing.revoke_dact": ("POST", f"/customer/sharing/dacts/{world.DACT}/revoke"),
    "customer.sharing.dact_table": ("GET", f"/customer/sharing/dacts/{world.DACT}/table.json"),
    "customer.market": ("GET", "/customer/market"),
    "utility.dashboard": ("GET", "/utility/"),
    "utility.customers": ("GET", "/utility/customers"),
    "utility.customer": ("GET", f"/utility/customers/{world.C1}"),
    "utility.signup_code": ("POST", "/utility/signup-codes"),
    "utility.meters": ("GET", "/utility/meters"),
    "utility.meter": ("GET", f"/utility/meters/{world.M1}"),
    "utility.meter_status": ("POST", f"/utility/meters/{world.M1}/status"),
    "utility.refused": ("GET", "/utility/refused"),
    "utility.arrears": ("GET", "/utility/arrears"),
    "utility.issue_bill": ("POST", "/utility/bills"),
    "regulator.dashboard": ("GET", "/regulator/"),
    "regulator.tariffs": ("GET", "/regulator/tariffs"),
    "regulator.propose": ("POST", "/regulator/tariffs/proposals"),
    "regulator.decide": ("POST", "/regulator/tariffs/proposals/999"),
    "regulator.audit": ("GET", "/regulator/audit"),
    "regulator.customer": ("GET", f"/regulator/customers/{world.C1}"),
    "regulator.meter": ("GET", f"/regulator/meters/{world.M1}"),
    "regulator.market": ("GET", "/regulator/market"),
    "regulator.resolve": ("POST", "/regulator/market/resolve"),
    "aggregator.market": ("GET", "/aggregator/market"),
    "aggregator.dashboard": ("GET", "/aggregator/"),
    "aggregator.devices": ("GET", "/aggregator/devices"),
    "aggregator.access.index": ("GET", "/aggregator/access/"),
    "aggregator.access.register_device": ("POST", "/aggregator/access/devices"),
    "aggregator.access.request_token": ("POST", "/aggregator/access/tokens"),
    "explorer.index": ("GET", "/explorer/"),
    "explorer.block": ("GET", "/explorer/blocks/1"),
    "explorer.transaction": ("GET", "/explorer/tx/0000"),
    "explorer.search": ("GET", "/explorer/search?q=1&go=0"),
    "integrity.index": ("GET", "/integrity/"),
    "integrity.check": ("POST", "/integrity/check"),
    "integrity.repair": ("POST", "/integrity/repair"),
    "api.status": ("GET", "/api/v1/status"),
    "api.me": ("GET", "/api/v1/me"),
    "api.meters": ("GET", "/api/v1/meters"),
    "api.meter": ("GET", f"/api/v1/meters/{world.M1}"),
    "api.readings": ("GET", f"/api/v1/meters/{world.M1}/readings"),
    "api.usage": ("GET", f"/api/v1/meters/{world.M1}/usage"),
    "api.bills": ("GET", f"/api/v1/bills?customer={world.C1}"),
    "api.account": ("GET", f"/api/v1/account?customer={world.C1}"),
    "api.alarms": ("GET", "/api/v1/alarms"),
    "api.customers": ("GET", "/api/v1/customers"),
    "api.refused": ("GET", "/api/v1/refused"),
    "api.tariffs": ("GET", "/api/v1/tariffs"),
    "api.blocks": ("GET", "/api/v1/blocks"),
    "api.block": ("GET", "/api/v1/blocks/1"),
    "api.transaction": ("GET", "/api/v1/transactions/0000"),
    "api.search": ("GET", "/api/v1/search?q=1"),
    "api.alerts": ("GET", "/api/v1/alerts"),
    "api.live": ("GET", "/api/v1/live?since=0"),
    "api.transfer": ("POST", "/api/v1/transfer"),
    "api.policy": ("POST", "/api/v1/policy"),
}
ROLES = ("customer", "utility", "regulator", "aggregator")
USERS = {"customer": "alice", "utility": "utility-op", "regulator": "reg-op",
         "aggregator": "agg-op"}


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    p = make_portal(tmp_path_factory.mktemp("matrix"))
    # Operators of the other organisations as rows of this portal's database: the matrix
    # is about the table, whatever the portal (certificates decide roles: test_auth).
    hasher = Passwords(__import__("gridledger.webui.portal.config", fromlist=["KDFCost"])
                       .KDFCost(**CHEAP_KDF))
    with p.services.mirror.sessions.begin() as s:
        for role, name in (("regulator", "reg-op"), ("aggregator", "agg-op")):
            s.add(AccountRow(username=name, role=role, msp_id="X", customer_id=None,
                             wallet_label="none", enrollment_id=name,
                             password_hash=hasher.hash(PASSWORD), key_salt="00" * 16,
                             created_at=dt.datetime.now(dt.UTC)))
    return p


def test_every_route_has_a_rule_and_a_sample(portal):
    endpoints = {r.endpoint for r in portal.app.url_map.iter_rules()}
    assert endpoints - set(RULES) == set(), "routes without an access rule"
    assert set(RULES) - endpoints == set(), "rules for routes that do not exist"
    assert set(RULES) - {"static"} == set(SAMPLES)


def _request(client, method: str, path: str):
    if method == "GET":
        return client.get(path)
    token = csrf_token(client, "/signin")
    if path.startswith("/api/"):
        return client.post(path, json={}, headers={"X-CSRFToken": token})
    return client.post(path, data={"csrf_token": token})


@pytest.mark.parametrize("endpoint", sorted(SAMPLES))
@pytest.mark.parametrize("role", (ANON, *ROLES))
def test_each_role_gets_what_the_table_says(portal, endpoint, role):
    client = portal.client()
    if role != ANON:
        assert sign_in(client, USERS[role]).status_code == 302
    method, path = SAMPLES[endpoint]
    response = _request(client, method, path)
    allowed = role in RULES[endpoint]
    signin_redirect = response.status_code == 302 and "/signin" in response.location
    if endpoint == "home.index" or (endpoint == "auth.signout" and role != ANON):
        signin_redirect = False  # the front door and sign-out lead to the sign-in page
    if allowed:
        assert response.status_code not in (401, 403) and not signin_redirect, (
            endpoint, role, response.status_code)
    elif role == ANON:
        if path.startswith("/api/"):
            assert response.status_code == 401, (endpoint, response.status_code)
        else:
            assert signin_redirect, (endpoint, response.status_code, response.location)
    else:
        assert response.status_code == 403, (endpoint, role, response.status_code)
