"""Operators' pages: the Utility's customers, meters, refusals, arrears, sign-up codes and
bills; the Regulator's tariffs (four eyes) and audit log; the Aggregator's public view;
the explorer and its search; the integrity dashboard with repair."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import text

from gridledger.webui.portal.ledger import LedgerWriteError

from . import world
from .portal_fixtures import csrf_token, make_portal, signed_in


def _text(r) -> str:
    return r.get_data(as_text=True)


@pytest.fixture
def portal(tmp_path):
    return make_portal(tmp_path)


@pytest.fixture
def op(portal):
    return signed_in(portal, "utility-op")


def test_customers_meters_refusals_and_arrears(op):
    page = _text(op.get("/utility/customers"))
    assert world.C1 in page and world.C2 in page
    page = _text(op.get(f"/utility/customers/{world.C1}"))
    assert world.M1 in page and "49\u202f500" in page and "alice" in page
    assert op.get("/utility/customers/C-NONE").status_code == 404
    page = _text(op.get(f"/utility/meters/{world.M2}"))
    assert world.C2 in page and "fire" in page
    assert op.get("/utility/meters/none").status_code == 404
    page = _text(op.get("/utility/refused"))
    assert "skip" in page and "sequence 9 skips ahead" in page
    page = _text(op.get("/utility/arrears"))
    assert world.C2 in page and "120" in page
    assert op.get("/utility/customers?offset=-3").status_code == 400


def test_a_sign_up_code_is_shown_once_to_the_operator(op, portal):
    token = csrf_token(op, "/utility/customers")
    r = op.post("/utility/signup-codes", data={"customer_id": world.C2, "csrf_token": token},
                follow_redirects=True)
    code = re.search(r"sign-up code for C-2002: ([0-9A-F-]{19})", _text(r)).group(1)
    portal.services.accounts.take_signup_code(world.C2, code)  # valid, once
    r = op.post("/utility/signup-codes", data={"customer_id": "bad id!", "csrf_token": token},
                follow_redirects=True)
    assert "1-64 characters" in _text(r)


def test_issuing_a_bill_is_signed_by_the_operator(op, portal):
    token = csrf_token(op, f"/utility/customers/{world.C1}")
    data = {"customer_id": world.C1, "period_start": "2026-04-01T00:00:00Z",
            "period_end": "2026-05-01T00:00:00Z", "csrf_token": token}
    assert op.post("/utility/bills", data=data).status_code == 302
    (call,) = portal.ledger.calls
    assert (call.who, call.function) == ("utility-op", "issue_bill")
    r = op.post("/utility/bills", data={**data, "period_end": "2026-03-01T00:00:00Z"},
                follow_redirects=True)
    assert "end after it starts" in _text(r)
    assert op.post("/utility/bills", data={**data, "customer_id": "C-NONE"}).status_code == 404
    portal.ledger.fail = LedgerWriteError("the bill was refused: period ends later", 409)
    r = op.post("/utility/bills", data=data, follow_redirects=True)
    assert "period ends later" in _text(r)


def test_suspending_a_meter_needs_a_reason(op, portal):
    token = csrf_token(op, f"/utility/meters/{world.M1}")
    r = op.post(f"/utility/meters/{world.M1}/status", data={"action": "suspend",
                                                            "reason": "", "csrf_token": token})
    assert r.status_code == 303 and portal.ledger.calls == []
    r = op.post(f"/utility/meters/{world.M1}/status", data={
        "action": "suspend", "reason": "tamper seal broken", "csrf_token": token})
    assert r.status_code == 302
    assert portal.ledger.calls[0].args == (world.M1, "suspend", "tamper seal broken")
    assert op.post("/utility/meters/none/status", data={
        "action": "suspend", "reason": "x", "csrf_token": token}).status_code == 404


def test_the_explorer_shows_blocks_hashes_transactions_and_codes(op, portal):
    page = _text(op.get("/explorer/blocks/4"))  # the main channel by default
    with portal.services.mirror.sessions() as s:
        from gridledger.webui.mirror import queries

        b = queries.block(s, "energy", 4)
    assert b["dataHash"] in page and b["previousHash"] in page
    assert "MVCC_READ_CONFLICT" in page and "metering:SubmitReadings" in page
    txid = b["transactionList"][0]["txId"]
    page = _text(op.get(f"/explorer/tx/{txid}"))
    assert "customerData" in page and f"reading~{world.M1}~000000000001" in page
    assert op.get("/explorer/blocks/99").status_code == 404
    assert op.get("/explorer/tx/ffff").status_code == 404


def test_the_explorer_shows_either_channels_blocks(op, portal):
    """Block numbers repeat across channels: ?channel= picks one, the main one by
    default; the index offers every channel the mirror follows."""
    with portal.services.mirror.sessions() as s:
        from gridledger.webui.mirror import queries

        energy, market = queries.block(s, "energy", 1), queries.block(s, "market", 1)
    assert energy["dataHash"] != market["dataHash"]
    page = _text(op.get("/explorer/blocks/1?channel=market"))
    assert market["dataHash"] in page and energy["dataHash"] not in page
    assert "market:Clear" in page and "of market" in page
    page = _text(op.get("/explorer/blocks/1"))
    assert energy["dataHash"] in page and "market:Clear" not in page
    index = _text(op.get("/explorer/?channel=market"))
    assert 'data-channel="market"' in index and market["dataHash"][:20] in index
    assert 'href="/explorer/?channel=energy"' in index
    assert 'href="/explorer/blocks/1?channel=market"' in index
    assert "/explorer/blocks/2?channel=market" not in index  # the market has 2 blocks
    r = op.get("/explorer/?channel=nope")
    assert r.status_code == 404 and "energy, market" in _text(r)
    assert op.get("/explorer/blocks/5?channel=market").status_code == 404
    # A market transaction, found by id, shows its channel and its block's link.
    txid = market["transactionList"][0]["txId"]
    page = _text(op.get(f"/explorer/tx/{txid}"))
    assert 'href="/explorer/blocks/1?channel=market"' in page and "mktpay~" in page
    assert op.get("/api/v1/blocks/1?channel=market").get_json()["dataHash"] == \
        market["dataHash"]
    assert op.get("/api/v1/blocks?channel=nope").status_code == 404


def test_a_block_number_of_both_channels_finds_both(op):
    page = _text(op.get("/explorer/search?q=1"))
    assert 'href="/explorer/blocks/1?channel=energy"' in page
    assert 'href="/explorer/blocks/1?channel=market"' in page


@pytest.mark.parametrize(("query", "lands"), [
    ("4", "/explorer/blocks/4?channel=energy"), (world.C1, f"/utility/customers/{world.C1}"),
    (world.M2, f"/utility/meters/{world.M2}"),
])
def test_search_by_block_customer_or_meter(op, query, lands):
    r = op.get(f"/explorer/search?q={query}")
    assert r.status_code == 302 and r.location == lands


def test_search_by_transaction_id_and_reading_hash(op, portal):
    with portal.services.mirror.sessions() as s:
        from gridledger.webui.mirror import queries

        txid = queries.block(s, "energy", 2)["transactionList"][0]["txId"]
        h = queries.readings(s, world.M1)[0]["hash"]
    assert op.get(f"/explorer/search?q={txid[:20]}").location == f"/explorer/tx/{txid}"
    assert op.get(f"/explorer/search?q={h[:20]}").location == f"/utility/meters/{world.M1}"
    assert "Nothing in the mirror" in _text(op.get("/explorer/search?q=zzzzzzzzzz"))


def test_tamper_alert_then_repair_on_the_integrity_dashboard(op, portal):
    key = f"reading~{world.M1}~000000000002"
    with portal.services.mirror.engine.begin() as conn:
        conn.execute(text("UPDATE state SET value = replace(value, '\"quality\":\"measured\"',"
                          " '\"quality\":\"estimated\"') WHERE key = :k"), {"k": key})
    token = csrf_token(op, "/integrity/")
    r = op.post("/integrity/check", data={"csrf_token": token}, follow_redirects=True)
    page = _text(r)
    assert "1 problem" in page and 'id="open-alerts"' in page
    assert key in page and world.C1 in page and ">4<" in page
    r = op.post("/integrity/repair", data={"csrf_token": token}, follow_redirects=True)
    page = _text(r)
    assert "rebuilt block(s) 4" in page and 'id="no-open-alerts"' in page
    assert "repaired from the ledger by utility-op" in page


def test_repair_with_the_peer_down_says_so_and_keeps_the_alerts(op, portal):
    with portal.services.mirror.engine.begin() as conn:
        conn.execute(text("UPDATE blocks SET tx_count = 9 WHERE number = 2"))
    portal.services.integrity.run()

    def down(channel: str):
        raise OSError(f"peer unreachable ({channel})")

    portal.services.integrity.source_factory = down
    token = csrf_token(op, "/integrity/")
    r = op.post("/integrity/repair", data={"csrf_token": token}, follow_redirects=True)
    assert "could not reach it" in _text(r) and 'id="open-alerts"' in _text(r)


def test_regulator_tariffs_need_a_second_operator(tmp_path):
    p = make_portal(tmp_path, "regulator")
    first, second = signed_in(p, "regulator-op"), signed_in(p, "regulator-op2")
    doc = {"tariffId": "RES-2", "effectiveFrom": "2026-06-01T00:00:00Z", "currency": "VND",
           "currencyExponent": 0, "utcOffsetMinutes": 420,
           "tiers": [{"upToKwh": None, "pricePerKwh": 2000}], "taxes": []}
    token = csrf_token(first, "/regulator/tariffs")
    assert first.post("/regulator/tariffs/proposals", data={
        "document": "{not json", "csrf_token": token}).status_code == 400
    assert first.post("/regulator/tariffs/proposals", data={
        "document": json.dumps({"tariffId": "X"}), "csrf_token": token}).status_code == 400
    assert first.post("/regulator/tariffs/proposals", data={
        "document": json.dumps(doc), "csrf_token": token}).status_code == 302
    assert first.post("/regulator/tariffs/proposals/1", data={
        "decision": "approve", "csrf_token": token}).status_code == 403
    assert p.ledger.calls == []
    token2 = csrf_token(second, "/regulator/tariffs")
    assert second.post("/regulator/tariffs/proposals/1", data={
        "decision": "approve", "csrf_token": token2}).status_code == 302
    (call,) = p.ledger.calls
    assert (call.who, call.function, call.args[0]["tariffId"]) == ("regulator-op2",
                                                                  "set_tariff", "RES-2")
    assert second.post("/regulator/tariffs/proposals/1", data={
        "decision": "reject", "csrf_token": token2}).status_code == 409
    assert second.post("/regulator/tariffs/proposals/7", data={
        "decision": "reject", "csrf_token": token2}).status_code == 404
    assert "approved" in _text(second.get("/regulator/tariffs"))


def test_the_regulator_audits_every_transaction(tmp_path):
    p = make_portal(tmp_path, "regulator")
    reg = signed_in(p, "regulator-op")
    page = _text(reg.get("/regulator/audit?function=Mint"))
    assert "wattcoin:Mint" in page and "SubmitReadings" not in page
    page = _text(reg.get("/regulator/audit?msp=RegulatorMSP"))
    assert "metering:SetTariff" in page and "wattcoin:Mint" not in page
    assert world.M1 in _text(reg.get(f"/regulator/customers/{world.C1}"))


def test_the_aggregators_portal_holds_no_customer_data(tmp_path):
    from gridledger.webui.mirror.decode import decode

    p = make_portal(tmp_path, "aggregator", filled=False)
    for item in world.build().blocks:  # as its peer delivers them: no private writes
        p.services.mirror.store.apply(decode(item.block, ()))
    agg = signed_in(p, "aggregator-op")
    page = _text(agg.get("/aggregator/"))
    assert "customers: 0" in page and "readings: 0" in page
    assert world.M1 in _text(agg.get("/aggregator/devices"))
    assert world.C1 not in _text(agg.get("/aggregator/devices"))
    assert agg.get(f"/api/v1/meters/{world.M1}/readings").status_code == 403
    r = agg.get(f"/explorer/search?q={world.C1}&go=0")
    assert "Nothing in the mirror" in _text(r)
