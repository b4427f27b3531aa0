"""Market pages: pseudonyms everywhere; a customer sees its own pseudonyms' trading; the
Regulator resolves a pseudonym only through the ledger (a logged request), never from the
mirror; the Aggregator sees its VPPs' members, offers, clearing and payouts."""

from __future__ import annotations

from . import world
from .portal_fixtures import csrf_token, make_portal, signed_in


def _text(r) -> str:
    return r.get_data(as_text=True)


def test_a_customer_sees_its_own_pseudonyms_trades_and_payouts(tmp_path):
    p = make_portal(tmp_path)
    page = _text(signed_in(p, "alice").get("/customer/market"))
    assert world.P1 in page and world.VPP in page and "4\u202f845" in page
    assert world.P2 not in page  # another trader's trade is not among hers
    assert "not enrolled" in _text(signed_in(p, "bob").get("/customer/market"))


def test_the_regulator_resolves_a_pseudonym_through_a_logged_request(tmp_path):
    p = make_portal(tmp_path, "regulator")
    reg = signed_in(p, "regulator-op")
    page = _text(reg.get("/regulator/market"))
    assert world.IV in page and "suspected wash trading" in page and "Sunny roofs" in page
    assert world.C2 not in page  # the mirror never names who is behind a pseudonym
    token = csrf_token(reg, "/regulator/market")
    r = reg.post("/regulator/market/resolve", data={"pseudonym": "bob", "reason": "because",
                                                    "csrf_token": token})
    assert r.status_code == 400 and "24 lowercase hex" in _text(r)
    r = reg.post("/regulator/market/resolve", data={"pseudonym": world.P2, "reason": "x",
                                                    "csrf_token": token})
    assert r.status_code == 400 and "3 to 512" in _text(r)
    assert p.ledger.calls == []
    r = reg.post("/regulator/market/resolve", data={
        "pseudonym": world.P2, "reason": "suspected wash trading", "csrf_token": token})
    assert r.status_code == 200 and 'id="resolved"' in _text(r) and world.C2 in _text(r)
    (call,) = p.ledger.calls
    assert (call.who, call.function, call.args) == (
        "regulator-op", "resolve_pseudonym", (world.P2, "suspected wash trading"))


def test_the_aggregator_sees_its_vpps(tmp_path):
    p = make_portal(tmp_path, "aggregator")
    page = _text(signed_in(p, "aggregator-op").get("/aggregator/market"))
    assert "Sunny roofs" in page and world.P1 in page and "5.000" in page  # capacity kWh
    assert "1\u202f700" in page  # the clearing price
    assert world.C1 not in page


def test_the_market_pages_read_the_market_channels_records(tmp_path):
    """The market lives on its own channel: records of its kinds on the energy channel
    (none should be there) are not the market's, and no page shows them."""
    from gridledger.webui.mirror.decode import decode

    from .fabric_blocks import Tx

    p = make_portal(tmp_path, "regulator")
    chain = world.build()
    decoy = chain.add(Tx("metering:Decoy", writes={
        "mktint~mk-DECOY": {"intervalId": "mk-DECOY", "start": "2026-05-01T00:00:00Z",
                            "status": "open"},
        f"mktaudit~{'8' * 64}": {"auditId": "8" * 64, "pseudonym": world.P1,
                                 "reason": "decoy on energy", "at": "2026-05-01T00:00:00Z",
                                 "requestedBy": {"mspId": "RegulatorMSP"}}}))
    assert p.services.mirror.store.apply(decode(decoy.block, ())) is not None
    page = _text(signed_in(p, "regulator-op").get("/regulator/market"))
    assert world.IV in page and "suspected wash trading" in page
    assert "mk-DECOY" not in page and "decoy on energy" not in page


def test_a_customers_pseudonyms_join_its_energy_link_and_the_markets_records(tmp_path):
    """The link (customerData) is on the energy channel, the VPP membership and payouts on
    the market channel: without the market channel's blocks, the pseudonym is known but
    nothing it did."""
    p = make_portal(tmp_path, filled=False)
    from .conftest import fill

    fill(p.services.mirror, world.build())
    page = _text(signed_in(p, "alice").get("/customer/market"))
    assert world.P1 in page and world.VPP not in page and "4\u202f845" not in page
    fill(p.services.mirror, world.build_market())
    page = _text(signed_in(p, "alice").get("/customer/market"))
    assert world.P1 in page and world.VPP in page and "4\u202f845" in page
