"""The customer's pages and API: its own records only (403 for another's, 404 for none),
bad input refused with a reason, writes signed with its own identity, and a peer that is
down reported clearly."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from gridledger.webui.mirror.schema import PaymentRow
from gridledger.webui.portal.ledger import LedgerWriteError

from . import world
from .portal_fixtures import csrf_token, make_portal, signed_in


@pytest.fixture
def portal(tmp_path):
    return make_portal(tmp_path)


@pytest.fixture
def alice(portal):
    return signed_in(portal, "alice")


def _text(r) -> str:
    return r.get_data(as_text=True)


def test_the_dashboard_shows_own_meters_balance_and_latest_readings(alice):
    page = _text(alice.get("/customer/"))
    assert world.M1 in page and world.M2 not in page
    assert "49\u202f500" in page  # alice's balance
    assert "1.200" in page  # reading 2's import register, kWh


def test_a_meter_page_is_for_its_owner_only(alice):
    r = alice.get(f"/customer/meters/{world.M1}?view=day&date=2026-03-01")
    assert r.status_code == 200
    page = _text(r)
    assert 'id="usage-chart"' in page and '"importWh": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100' \
        in page
    assert alice.get(f"/customer/meters/{world.M1}?view=month&date=2026-03").status_code \
        == 200
    assert alice.get(f"/customer/meters/{world.M2}").status_code == 403
    assert alice.get("/customer/meters/nope").status_code == 404
    assert alice.get(f"/customer/meters/{world.M1}?view=year").status_code == 400
    r = alice.get(f"/customer/meters/{world.M1}?date=yesterday")
    assert r.status_code == 400 and "YYYY-MM-DD" in _text(r)
    assert alice.get(f"/customer/meters/{world.M1}?before=x").status_code == 400


def test_bills_with_their_tier_breakdown(alice, portal):
    page = _text(alice.get("/customer/bills"))
    assert "431" in page
    r = alice.get("/customer/bills/2026-03-01T00:00:00Z")
    assert r.status_code == 200 and "1\u202f984" in _text(r) and "VAT" in _text(r)
    assert alice.get("/customer/bills/2026-04-01T00:00:00Z").status_code == 404
    bob = signed_in(portal, "bob")  # bob has no bill: alice's is not found for him
    assert bob.get("/customer/bills/2026-03-01T00:00:00Z").status_code == 404


def test_transfer_is_signed_by_the_customer_itself(alice, portal):
    token = csrf_token(alice, "/customer/wallet")
    r = alice.post("/customer/wallet/transfer", data={
        "t-source": world.A1, "t-target": world.A2, "t-amount": "250", "csrf_token": token})
    assert r.status_code == 302
    (call,) = portal.ledger.calls
    assert (call.who, call.function, call.args) == ("web-alice", "transfer",
                                                    (world.A1, world.A2, 250))


@pytest.mark.parametrize(("data", "says"), [
    ({"t-source": world.A1, "t-target": "xyz", "t-amount": "5"}, "40 hexadecimal"),
    ({"t-source": world.A1, "t-target": world.A2, "t-amount": "0"}, "between 1"),
    ({"t-source": world.A1, "t-target": world.A2, "t-amount": "lots"}, "Amount"),
    ({"t-source": world.A2, "t-target": world.A1, "t-amount": "5"}, "Not a valid choice"),
    ({"t-source": world.A1, "t-target": world.A1, "t-amount": "5"}, "the same account"),
])
def test_a_bad_transfer_form_is_refused_with_a_reason(alice, portal, data, says):
    token = csrf_token(alice, "/customer/wallet")
    r = alice.post("/customer/wallet/transfer", data={**data, "csrf_token": token})
    assert r.status_code == 400 and says in _text(r)
    assert portal.ledger.calls == []


def test_with_the_peer_down_reads_work_and_writes_say_so(alice, portal):
    portal.ledger.fail = LedgerWriteError("the transfer was not sent: the peer is "
                                          "unreachable (UNAVAILABLE)", 503)
    assert alice.get("/customer/").status_code == 200
    token = csrf_token(alice, "/customer/wallet")
    r = alice.post("/customer/wallet/transfer", data={
        "t-source": world.A1, "t-target": world.A2, "t-amount": "5", "csrf_token": token})
    assert r.status_code == 503 and "peer is unreachable" in _text(r)


def test_top_up_is_the_utilitys_mint_for_the_customers_payment(alice, portal):
    token = csrf_token(alice, "/customer/wallet")
    r = alice.post("/customer/wallet/topup", data={"u-amount": "7000", "csrf_token": token})
    assert r.status_code == 302
    (call,) = portal.ledger.calls
    assert call.who == "portal-payments" and call.function == "mint"
    address, amount, reference = call.args
    assert (address, amount) == (world.A1, 7000) and reference.startswith("WEB-")
    with portal.services.mirror.sessions() as s:
        payment = s.scalar(select(PaymentRow))
    assert (payment.reference, payment.status, payment.customer_id) == (reference, "minted",
                                                                        world.C1)


def test_a_failed_mint_is_recorded_and_said(alice, portal):
    portal.ledger.fail = LedgerWriteError("the top-up was refused: reference used", 409)
    token = csrf_token(alice, "/customer/wallet")
    r = alice.post("/customer/wallet/topup", data={"u-amount": "7000", "csrf_token": token})
    assert r.status_code == 502 and "reference used" in _text(r)
    with portal.services.mirror.sessions() as s:
        assert s.scalar(select(PaymentRow.status)) == "failed"


def test_policy_and_opening_an_account(alice, portal):
    token = csrf_token(alice, "/customer/wallet")
    r = alice.post("/customer/wallet/policy", data={
        "p-address": world.A1, "p-threshold": "10000", "p-policy": "power-saving",
        "csrf_token": token})
    assert r.status_code == 302
    r = alice.post("/customer/wallet/policy", data={
        "p-address": world.A1, "p-threshold": "-1", "p-policy": "power-saving",
        "csrf_token": token})
    assert r.status_code == 400
    r = alice.post("/customer/wallet/open", data={"csrf_token": token})
    assert r.status_code == 302
    assert [(c.function, c.args) for c in portal.ledger.calls] == [
        ("set_low_balance_policy", (world.A1, 10000, "power-saving")),
        ("open_and_bind", (world.C1,))]


def test_an_oversized_form_is_refused(alice):
    token = csrf_token(alice, "/customer/wallet")
    r = alice.post("/customer/wallet/transfer", data={"t-target": "a" * 100_000,
                                                      "csrf_token": token})
    assert r.status_code == 413 and "larger than this portal accepts" in _text(r)


def test_the_api_keeps_a_customer_to_its_own_records(alice):
    assert [m["meterId"] for m in alice.get("/api/v1/meters").get_json()] == [world.M1]
    rows = alice.get(f"/api/v1/meters/{world.M1}/readings").get_json()
    assert [r["seq"] for r in rows] == [2, 1] and rows[0]["blockNumber"] == 4
    assert alice.get(f"/api/v1/meters/{world.M2}/readings").status_code == 403
    assert alice.get(f"/api/v1/meters/{world.M2}/usage").status_code == 403
    assert alice.get("/api/v1/meters/none/readings").status_code == 404
    assert alice.get(f"/api/v1/bills?customer={world.C2}").status_code == 403
    assert alice.get(f"/api/v1/account?customer={world.C2}").status_code == 403
    assert alice.get("/api/v1/account").get_json()["paying"] == world.A1
    assert alice.get(f"/api/v1/meters/{world.M1}/readings?limit=0").status_code == 400
    assert alice.get("/api/v1/search?q=" + "x" * 300).status_code == 400
    assert alice.get("/api/v1/blocks").status_code == 403  # blocks: operators only


def test_api_writes_check_ownership_and_input(alice, portal):
    token = alice.get("/api/v1/me").get_json()["csrfToken"]
    h = {"X-CSRFToken": token}
    assert alice.post("/api/v1/transfer", json={"source": world.A2, "target": world.A1,
                                                "amount": 5}, headers=h).status_code == 403
    assert alice.post("/api/v1/transfer", json={"source": world.A1, "target": world.A2,
                                                "amount": 1.5}, headers=h).status_code == 400
    assert alice.post("/api/v1/transfer", data="[]", headers={**h, "Content-Type":
                                                               "application/json"}
                      ).status_code == 400
    assert alice.post("/api/v1/policy", json={"address": world.A1, "threshold": 5,
                                              "policy": "panic"}, headers=h).status_code == 400
    portal.ledger.fail = LedgerWriteError("refused: 409 insufficient balance", 409)
    r = alice.post("/api/v1/transfer", json={"source": world.A1, "target": world.A2,
                                             "amount": 5}, headers=h)
    assert r.status_code == 409 and "insufficient" in r.get_json()["error"]


def test_live_updates_for_the_customer_only(alice, portal):
    live = alice.get("/api/v1/live?since=4").get_json()
    assert {r["meterId"] for r in live["readings"]} == {world.M1}
    assert live["balances"] == {world.A1: 49_500}
    bob = signed_in(portal, "bob")
    live = bob.get("/api/v1/live?since=4").get_json()
    assert live["exhausted"] == [world.A2] and [a["kind"] for a in live["alarms"]] == ["fire"]
    assert bob.get("/api/v1/live?since=-1").status_code == 400


def test_live_heights_are_the_energy_channels_and_each_channels(alice):
    """``height`` (what the next poll asks ``since``) is the energy channel's, where
    readings, alarms and accounts are; the market channel's blocks do not move it."""
    live = alice.get("/api/v1/live?since=0").get_json()
    assert live["height"] == 9 and live["heights"] == {"energy": 9, "market": 2}
    status = alice.get("/api/v1/status").get_json()
    assert status["mirrorHeight"] == 9 and status["mirrorHeights"] == {"energy": 9,
                                                                       "market": 2}
    assert set(status["listeners"]) == {"energy", "market"}
    assert 'id="mirror-height-market"' in alice.get("/customer/").get_data(as_text=True)


def test_the_status_bar_says_which_channels_listener_lost_the_peer(alice, portal):
    import datetime as dt

    status = portal.services.listeners["market"].status
    status.error, status.error_since = "OSError: peer unreachable", dt.datetime.now(dt.UTC)
    page = alice.get("/customer/").get_data(as_text=True)
    assert "peer unreachable since" in page and "(market)" in page
    status.error = status.error_since = None
    status.connected = True
    page = alice.get("/customer/").get_data(as_text=True)
    assert "peer unreachable since" not in page and "following the utility peer" in page


def test_a_customer_sees_a_tamper_alert_about_its_own_data_only(portal):
    with portal.services.mirror.engine.begin() as conn:
        conn.execute(text("UPDATE state SET value = replace(value, '49500', '99999') "
                          "WHERE key = :k"), {"k": f"wcacct~{world.A1}"})
    portal.services.integrity.run()
    alice, bob = signed_in(portal, "alice"), signed_in(portal, "bob")
    page = _text(alice.get("/customer/"))
    assert 'id="tamper-alerts"' in page and "block" in page
    assert alice.get("/api/v1/alerts").get_json()[0]["blockNumber"] == 4
    assert 'id="tamper-alerts"' not in _text(bob.get("/customer/"))
    assert bob.get("/api/v1/alerts").get_json() == []


def test_customer_search_finds_own_readings_by_hash_only(alice, portal):
    with portal.services.mirror.sessions() as s:
        from gridledger.webui.mirror import queries

        mine = queries.readings(s, world.M1)[0]["hash"]
        theirs = queries.readings(s, world.M2)[0]["hash"]
    assert mine[:16] in _text(alice.get(f"/customer/search?q={mine[:16]}"))
    assert "Nothing of yours" in _text(alice.get(f"/customer/search?q={theirs}"))
