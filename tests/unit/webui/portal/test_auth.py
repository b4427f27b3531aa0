"""Sign-in, sign-up and sessions: password hashing, rate limits, CSRF, session fixation,
cookie flags, and roles read from certificates."""

from __future__ import annotations

import re

import pytest

from gridledger.webui.portal.accounts import AccountError, role_of
from gridledger.webui.portal.config import KDFCost
from gridledger.webui.portal.security import Passwords, SessionStore, SignInLimiter

from . import world
from .identities import TestCA
from .portal_fixtures import CHEAP_KDF, PASSWORD, csrf_token, make_portal, sign_in, signed_in

COOKIE = "gridledger_session"


@pytest.fixture
def portal(tmp_path):
    return make_portal(tmp_path)


def _cookie(client) -> str | None:
    c = client.get_cookie(COOKIE)
    return c.value if c else None


# -- sign-in -------------------------------------------------------------------------------


def test_sign_in_starts_a_new_session_and_refuses_wrong_passwords(portal):
    client = portal.client()
    token = csrf_token(client)
    before = _cookie(client)
    assert before  # the anonymous session that holds the CSRF token
    r = client.post("/signin", data={"username": "alice", "password": "wrong password!",
                                     "csrf_token": token})
    assert r.status_code == 401 and "wrong username or password" in r.get_data(as_text=True)
    r = client.post("/signin", data={"username": "nobody", "password": PASSWORD,
                                     "csrf_token": token})
    assert r.status_code == 401  # the same answer for an unknown user
    r = client.post("/signin", data={"username": "alice", "password": PASSWORD,
                                     "csrf_token": token})
    assert r.status_code == 302 and r.location.endswith("/")
    after = _cookie(client)
    assert after and after != before  # no session fixation
    assert before not in portal.services.sessions
    assert client.get("/customer/").status_code == 200


def test_a_planted_session_id_is_never_adopted(portal):
    client = portal.client()
    client.set_cookie(COOKIE, "attacker-chosen-id")
    client.get("/signin")
    assert _cookie(client) != "attacker-chosen-id"
    assert sign_in(client, "alice").status_code == 302
    assert _cookie(client) != "attacker-chosen-id"
    # The attacker's id does not open alice's session.
    other = portal.client()
    other.set_cookie(COOKIE, "attacker-chosen-id")
    assert other.get("/customer/").status_code == 302


def test_session_cookie_flags(tmp_path):
    for tls in (False, True):
        p = make_portal(tmp_path / str(tls), tls=tls)
        client = p.client()
        r = client.get("/signin", base_url="https://localhost" if tls else "http://localhost")
        header = r.headers["Set-Cookie"]
        assert "HttpOnly" in header and "SameSite=Lax" in header
        assert ("Secure" in header) is tls
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]


def test_sign_out_ends_the_session_for_good(portal):
    client = signed_in(portal, "alice")
    sid = _cookie(client)
    token = csrf_token(client, "/customer/")
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    assert sid not in portal.services.sessions
    stale = portal.client()
    stale.set_cookie(COOKIE, sid)
    assert stale.get("/customer/").status_code == 302


def test_failed_sign_ins_are_rate_limited_per_user(portal):
    client = portal.client()
    token = csrf_token(client)
    for _ in range(portal.services.config.signin_failures_per_user):
        r = client.post("/signin", data={"username": "alice", "password": "nope nope nope",
                                         "csrf_token": token})
        assert r.status_code == 401
    r = client.post("/signin", data={"username": "alice", "password": PASSWORD,
                                     "csrf_token": token})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # Another user from elsewhere is not locked out by alice's failures...
    assert sign_in(portal.client(), "bob").status_code == 302


def test_the_limiter_counts_per_user_and_address_and_forgets_after_the_window():
    now = [0.0]
    lim = SignInLimiter(per_user=2, per_address=3, window=60, clock=lambda: now[0])
    lim.failed("a", "1.1.1.1")
    lim.failed("a", "1.1.1.1")
    assert lim.retry_after("a", "2.2.2.2") == 61
    assert lim.retry_after("b", "1.1.1.1") == 0
    lim.failed("b", "1.1.1.1")
    assert lim.retry_after("c", "1.1.1.1") > 0  # the address's limit
    now[0] = 61
    assert lim.retry_after("a", "1.1.1.1") == 0


def test_sessions_expire_when_idle():
    now = [0.0]
    store = SessionStore(idle_seconds=10, clock=lambda: now[0])
    store.put("s", {"account": 1})
    now[0] = 9
    assert store.get("s") == {"account": 1}
    now[0] = 20
    assert store.get("s") is None


def test_next_is_only_a_path_of_this_portal(portal):
    client = portal.client()
    token = csrf_token(client)
    for target, expected in (("//evil.example/x", "/"), ("https://evil.example/", "/"),
                             ("/customer/bills", "/customer/bills")):
        r = client.post("/signin", data={"username": "alice", "password": PASSWORD,
                                         "csrf_token": token, "next": target})
        assert r.location == expected, target
        token = csrf_token(client, "/customer/")


# -- CSRF ----------------------------------------------------------------------------------


def test_every_form_needs_its_csrf_token(portal):
    client = portal.client()
    client.get("/signin")
    r = client.post("/signin", data={"username": "alice", "password": PASSWORD})
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    client = signed_in(portal, "alice")
    for path, data in (("/customer/wallet/transfer", {"t-source": world.A1,
                                                      "t-target": world.A2, "t-amount": "5"}),
                       ("/customer/wallet/topup", {"u-amount": "5"}),
                       ("/signout", {})):
        assert client.post(path, data=data).status_code == 400, path
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400
    assert portal.ledger.calls == []


def test_api_writes_need_the_csrf_header(portal):
    client = signed_in(portal, "alice")
    body = {"source": world.A1, "target": world.A2, "amount": 5}
    assert client.post("/api/v1/transfer", json=body).status_code == 400
    token = client.get("/api/v1/me").get_json()["csrfToken"]
    r = client.post("/api/v1/transfer", json=body, headers={"X-CSRFToken": token})
    assert r.status_code == 200, r.get_json()
    assert [(c.who, c.function) for c in portal.ledger.calls] == [("web-alice", "transfer")]


def test_a_token_from_another_session_does_not_pass(portal):
    mallory = signed_in(portal, "bob")
    token = csrf_token(mallory, "/customer/")
    alice = signed_in(portal, "alice")
    r = alice.post("/customer/wallet/transfer", data={
        "t-source": world.A1, "t-target": world.A2, "t-amount": "5", "csrf_token": token})
    assert r.status_code == 400 and portal.ledger.calls == []


# -- sign-up -------------------------------------------------------------------------------


def _signup(client, **fields):
    data = {"customer_id": world.C1, "username": "alice2", "password": "a long password 1",
            "confirm": "a long password 1", "csrf_token": csrf_token(client, "/signup"),
            **fields}
    return client.post("/signup", data=data)


def test_a_customer_signs_up_with_the_code_the_utility_gave_it(portal):
    code = portal.services.accounts.issue_signup_code(world.C1, "utility-op", 14)
    r = _signup(portal.client(), code=code)
    assert r.status_code == 302, r.get_data(as_text=True)
    assert portal.ca.registered == [("web-alice2", world.C1)]
    row = portal.services.accounts.by_username("alice2")
    assert (row.role, row.customer_id) == ("customer", world.C1)
    assert row.password_hash.startswith("$argon2id$") and "long password" not in \
        row.password_hash
    key = (portal.services.accounts.wallet.msp_dir(row.wallet_label) / "keystore"
           / "priv_sk").read_bytes()
    assert b"ENCRYPTED" in key.split(b"\n", 1)[0]
    client = portal.client()
    assert sign_in(client, "alice2", "a long password 1").status_code == 302
    assert "C-1001" in client.get("/customer/").get_data(as_text=True)
    # The code is used up.
    r = _signup(portal.client(), code=code, username="alice3")
    assert r.status_code == 403 and "not valid" in r.get_data(as_text=True)


@pytest.mark.parametrize(("fields", "status", "says"), [
    ({"code": "0000-0000-0000-0000"}, 403, "not valid"),
    ({"code": "not a code"}, 400, "looks like"),
    ({"confirm": "something else!"}, 400, "differ"),
    ({"password": "short", "confirm": "short"}, 400, "10 to 256"),
    ({"username": "Bad Name!"}, 400, "3 to 32"),
    ({"username": "alice"}, 409, "taken"),
    ({"customer_id": "C-2002"}, 403, "not valid"),  # a code of C-1001 used for C-2002
])
def test_sign_up_refusals_say_what_is_wrong(portal, fields, status, says):
    code = portal.services.accounts.issue_signup_code(world.C1, "utility-op", 14)
    r = _signup(portal.client(), **{"code": code, **fields})
    assert r.status_code == status and says in r.get_data(as_text=True)
    assert portal.ca.registered == []


def test_only_the_utility_portal_signs_customers_up(tmp_path):
    p = make_portal(tmp_path, "regulator")
    assert p.client().get("/signup").status_code == 404


# -- roles from certificates ---------------------------------------------------------------


def test_roles_come_from_the_certificate_never_from_a_choice():
    ca = TestCA("utility")
    admin = ca.enroll("Admin", ou="admin").certificate
    op = ca.enroll("svc", attrs={"gridledger.operator": "true"}).certificate
    cust = ca.enroll("c", attrs={"role": "customer", "customerId": "C-1"}).certificate
    plain = ca.enroll("p").certificate
    fake_op = ca.enroll("f", attrs={"gridledger.operator": "yes"}).certificate
    assert role_of("UtilityMSP", admin, "UtilityMSP", "utility").role == "utility"
    assert role_of("UtilityMSP", op, "UtilityMSP", "utility").role == "utility"
    assert role_of("UtilityMSP", cust, "UtilityMSP", "utility").customer_id == "C-1"
    assert role_of("UtilityMSP", plain, "UtilityMSP", "utility").role is None
    assert role_of("UtilityMSP", fake_op, "UtilityMSP", "utility").role is None
    # Another organisation's identities, and customers anywhere but at the Utility.
    assert role_of("RegulatorMSP", admin, "UtilityMSP", "utility").role is None
    assert role_of("RegulatorMSP", cust, "RegulatorMSP", "regulator").role is None


def test_an_identity_without_a_role_gets_no_account(portal):
    with pytest.raises(AccountError, match="no role"):
        portal.services.accounts.create("plain", PASSWORD,
                                        enrollment=portal.test_ca.enroll("plain"))


def test_the_key_passphrase_is_not_the_password_hash():
    pw = Passwords(KDFCost(**CHEAP_KDF))
    stored = pw.hash(PASSWORD)
    a = pw.key_passphrase(PASSWORD, "11" * 16)
    assert a == pw.key_passphrase(PASSWORD, "11" * 16) != pw.key_passphrase(PASSWORD,
                                                                             "22" * 16)
    assert a not in stored and re.fullmatch(r"[0-9a-f]{64}", a)
    assert pw.verify(stored, PASSWORD) and not pw.verify(stored, "other")
    assert not pw.verify(None, PASSWORD)
