"""Participants: pseudonyms from the Regulator, enrolment, tokens in and out of the market,
key-level policies, what public state holds, the reading path's interval records, and the
Regulator's logged resolution."""

from __future__ import annotations

import json

from gridledger.chaincode.common.privacy import CUSTOMER_DATA, REGULATOR_ONLY
from gridledger.chaincode.market import ledger as market_ledger
from gridledger.chaincode.shim import satisfied_by
from gridledger.formats.market import pseudonym_for
from tests.unit.chaincode.metering.helpers import submit

from .helpers import (
    AGGREGATOR,
    HOUR,
    REGULATOR,
    SECRET,
    UTILITY,
    MarketWorld,
    Participant,
    at,
    tariff,
)


def test_the_pseudonym_is_the_regulators_hmac_and_reveals_nothing_without_its_secret() -> None:
    p = pseudonym_for(SECRET, "UtilityMSP", "c-1")
    assert p.startswith("p-") and len(p) == 26
    assert p == pseudonym_for(SECRET, "UtilityMSP", "c-1")
    assert p != pseudonym_for(b"another secret of 16+ bytes", "UtilityMSP", "c-1")
    assert "c-1" not in p


def test_only_the_regulator_records_a_pseudonym_and_only_in_its_collection() -> None:
    w = MarketWorld()
    p = Participant("c-1")
    for who in (UTILITY, AGGREGATOR):
        res = w.ledger.call("marketlink:RecordPseudonym", p.pseudonym, "c-1", **who)
        assert res.status == 403
    res = w.ledger.call("marketlink:RecordPseudonym", p.pseudonym, "c-1", **REGULATOR)
    assert res.status == 200
    written = [k for k in res.stub.private] + list(res.stub.state)
    # Nothing public; and under a keyed name: the pseudonym is public on the market
    # channel, so sha256("mktwho~<pseudonym>") would name the record's hash.
    assert written == [(REGULATOR_ONLY, w.ledger.stored(f"mktwho~{p.pseudonym}"))]
    assert written[0][1] != f"mktwho~{p.pseudonym}"
    again = w.ledger.call("marketlink:RecordPseudonym", p.pseudonym, "c-1", **REGULATOR)
    assert again.status == 409


def test_enrolment_needs_an_issued_pseudonym_a_self_signed_request_and_an_account() -> None:
    w = MarketWorld()
    p = Participant("c-1")
    w.ledger.ok("RegisterMeter", p.meter.registration("MKT"))
    res = w.ledger.call("marketlink:LinkParticipant", w.enrolment(p), **REGULATOR)
    assert res.status == 409 and "has not issued" in res.message
    w.ledger.ok("marketlink:RecordPseudonym", p.pseudonym, "c-1", **REGULATOR)
    res = w.ledger.call("marketlink:LinkParticipant", w.enrolment(p), **REGULATOR)
    assert res.status == 409 and "no Wattcoin account" in res.message
    p.address = w.ledger.ok("wattcoin:OpenAccount", **p.identity)["address"]
    w.ledger.ok("wattcoin:BindCustomer", "c-1", p.address, **p.identity)
    other = Participant("c-2")
    forged = json.loads(w.enrolment(p))
    forged["message"]["publicKeyPem"] = other.pem  # signed by p's key, naming another
    for fn in ("marketlink:LinkParticipant", "market:EnrolParticipant"):
        res = w.ledger.call(fn, json.dumps(forged), **REGULATOR)
        assert res.status == 403 and "not signed by the market key it names" in res.message
        for who in (AGGREGATOR, UTILITY):
            res = w.ledger.call(fn, w.enrolment(p), **who)
            assert res.status == 403 and "not an operator of RegulatorMSP" in res.message
    # The market channel publishes only what the energy channel linked.
    res = w.ledger.call("market:EnrolParticipant", w.enrolment(p), **REGULATOR)
    assert res.status == 404 and "not linked" in res.message
    res = w.ledger.call("marketlink:LinkParticipant", w.enrolment(p), **REGULATOR)
    assert res.status == 200 and res.payload == {"linked": True}  # the answer names nothing
    assert res.stub.state == {} and res.stub.events == []  # nothing public on energy
    res = w.ledger.call("market:EnrolParticipant", w.enrolment(p), **REGULATOR)
    assert res.status == 200 and res.payload == {"pseudonym": p.pseudonym, "enrolled": True}
    assert w.ledger.call("marketlink:LinkParticipant", w.enrolment(p),
                         **REGULATOR).status == 409
    assert w.ledger.call("market:EnrolParticipant", w.enrolment(p), **REGULATOR).status == 409


def test_enrolment_without_the_customers_own_consent_is_refused_and_changes_nothing() -> None:
    # Issue 17, hole 7: a market key's signature alone proves nothing about the customer.
    # The Utility (which holds the meter and relays money) or anyone who got hold of a
    # pseudonym may not enrol a customer's meter: the customer signs with the key that
    # controls its paying account.
    w = MarketWorld()
    p = Participant("c-1")
    w.ledger.ok("RegisterMeter", p.meter.registration("MKT"))
    w.ledger.ok("marketlink:RecordPseudonym", p.pseudonym, "c-1", **REGULATOR)
    p.address = w.ledger.ok("wattcoin:OpenAccount", **p.identity)["address"]
    w.ledger.ok("wattcoin:BindCustomer", "c-1", p.address, **p.identity)
    bare = p.sign("enrol", marketId="mkt1", meterId=p.meter.meter_id, publicKeyPem=p.pem)
    before = w.ledger.snapshot()
    res = w.ledger.call("marketlink:LinkParticipant", bare, **REGULATOR)
    assert res.status == 400 and "consent" in res.message
    # Signed by someone else's key: the operator's own, or a made-up one.
    from cryptography.hazmat.primitives.asymmetric import ec

    for key in (ec.generate_private_key(ec.SECP256R1()), Participant("c-9").account_key):
        res = w.ledger.call("marketlink:LinkParticipant", p.consent(bare, key), **REGULATOR)
        assert res.status == 403 and "consent of the meter's customer" in res.message
    # The customer's consent to another enrolment (another market) is not this one's.
    elsewhere = json.loads(p.consent(p.sign("enrol", marketId="mkt2", meterId=p.meter.meter_id,
                                            publicKeyPem=p.pem)))
    moved = {**json.loads(bare), "consent": elsewhere["consent"]}
    res = w.ledger.call("marketlink:LinkParticipant", json.dumps(moved), **REGULATOR)
    assert res.status == 403 and "consent of the meter's customer" in res.message
    assert w.ledger.snapshot() == before


class _Impostor(Participant):
    """A participant whose messages name a pseudonym of somebody else's."""

    stolen = ""

    @property
    def pseudonym(self) -> str:
        return self.stolen


def test_a_pseudonym_issued_to_another_customer_cannot_enrol_this_meter() -> None:
    # Reviewer finding: a pseudonym the Regulator issued to c-2 may not carry c-1's meter
    # (an audit would resolve c-1's trades to c-2, and c-2 could never enrol). The
    # Regulator's peer, the only one that reads the register, refuses it.
    w = MarketWorld()
    q = Participant("c-2")
    w.ledger.ok("marketlink:RecordPseudonym", q.pseudonym, "c-2", **REGULATOR)
    p = _Impostor("c-1")
    p.stolen = q.pseudonym
    w.ledger.ok("RegisterMeter", p.meter.registration("MKT"))
    p.address = w.ledger.ok("wattcoin:OpenAccount", **p.identity)["address"]
    w.ledger.ok("wattcoin:BindCustomer", "c-1", p.address, **p.identity)
    before = w.ledger.snapshot()
    res = w.ledger.call("marketlink:LinkParticipant", w.enrolment(p), **REGULATOR)
    assert res.status == 403 and "issued to another customer" in res.message
    assert w.ledger.snapshot() == before


def test_a_meter_billed_with_another_tariff_cannot_enrol_nor_change_tariff_once_enrolled(
        ) -> None:
    # Reviewer finding: settlement refunds delivered energy at the market tariff's prices,
    # so a buyer billed with a cheaper tariff would be refunded more than it was charged.
    w = MarketWorld()
    w.ledger.ok("SetTariff", tariff(tariffId="CHEAP", tiers=[{"upToKwh": None,
                                                              "pricePerKwh": 500}]),
                **REGULATOR)
    p = Participant("c-1")
    w.ledger.ok("RegisterMeter", p.meter.registration("CHEAP"))
    p.address = w.ledger.ok("wattcoin:OpenAccount", **p.identity)["address"]
    w.ledger.ok("wattcoin:BindCustomer", "c-1", p.address, **p.identity)
    w.ledger.ok("marketlink:RecordPseudonym", p.pseudonym, "c-1", **REGULATOR)
    res = w.ledger.call("marketlink:LinkParticipant", w.enrolment(p), **REGULATOR)
    assert res.status == 409 and "another tariff" in res.message
    q = w.join("c-2")
    res = w.ledger.call("SetMeterTariff", q.meter.meter_id, "CHEAP")
    assert res.status == 409 and "trades in the market" in res.message


def test_deposit_and_withdraw_move_tokens_and_keep_both_invariants() -> None:
    w = MarketWorld()
    p = w.join("c-1", tokens=0)
    assert w.balance(p) == 50_000 and w.wallet(p) == 0
    # A deposit: funded out of the account (energy), then credited (market), once.
    funding = p.sign("deposit", amount=30_000, requestId="d-1")
    w.ledger.ok("marketlink:FundMarket", funding)
    assert w.balance(p) == 20_000 and w.wallet(p) == 0
    assert w.ledger.call("marketlink:FundMarket", funding).status == 409
    credited = w.ledger.ok("market:Deposit", p.pseudonym, "d-1")
    assert credited == {"deposited": True, "amount": 30_000}
    assert w.balance(p) == 20_000 and w.wallet(p) == 30_000
    again = w.ledger.call("market:Deposit", p.pseudonym, "d-1")
    assert again.status == 409 and "already exists" in again.message
    unfunded = w.ledger.call("market:Deposit", p.pseudonym, "d-2")
    assert unfunded.status == 404 and "FundMarket first" in unfunded.message
    res = w.ledger.call("marketlink:FundMarket", p.request("deposit", 20_001))
    assert res.status == 409 and "insufficient balance" in res.message
    res = w.ledger.call("market:Withdraw", p.request("withdraw", 30_001))
    assert res.status == 409 and "30000 tokens free" in res.message
    # A withdrawal: paid out of the wallet (market), then redeemed (energy), once.
    w.ledger.ok("market:Withdraw", p.sign("withdraw", amount=10_000, requestId="w-1"))
    assert w.balance(p) == 20_000 and w.wallet(p) == 20_000
    w.ledger.ok("marketlink:RedeemPayout", p.pseudonym, "w-1")
    assert w.balance(p) == 30_000 and w.wallet(p) == 20_000
    res = w.ledger.call("marketlink:RedeemPayout", p.pseudonym, "w-1")
    assert res.status == 409 and "redeemed already" in res.message
    res = w.ledger.call("marketlink:RedeemPayout", p.pseudonym, "w-2")
    assert res.status == 404 and "payout w-2" in res.message
    replay = p.sign("withdraw", amount=1, requestId="w-1")
    res = w.ledger.call("market:Withdraw", replay)
    assert res.status == 409 and "done already" in res.message
    someone = Participant("c-9")
    forged = json.dumps({**json.loads(p.request("withdraw", 1)), "signature": json.loads(
        someone.sign("withdraw", amount=1, requestId="x"))["signature"]})
    assert w.ledger.call("market:Withdraw", forged).status == 403
    forged = json.dumps({**json.loads(p.request("deposit", 1)), "signature": json.loads(
        someone.sign("deposit", amount=1, requestId="x"))["signature"]})
    res = w.ledger.call("marketlink:FundMarket", forged)
    assert res.status == 403 and "market key" in res.message
    for who in (AGGREGATOR, REGULATOR):
        assert w.ledger.call("marketlink:FundMarket", p.request("deposit", 1),
                             **who).status == 403
        assert w.ledger.call("market:Deposit", p.pseudonym, "d-1", **who).status == 403
        assert w.ledger.call("marketlink:RedeemPayout", p.pseudonym, "w-1",
                             **who).status == 403
    totals = w.ledger.ok("wattcoin:UtilityAccount")
    assert totals["toMarket"] == 30_000 and totals["fromMarket"] == 10_000
    assert (totals["minted"] + totals["returned"] + totals["fromMarket"]
            == totals["balance"] + totals["paid"] + totals["toMarket"])
    market = w.totals()
    assert market["deposited"] - market["withdrawn"] == totals["toMarket"] - totals[
        "fromMarket"]
    history = w.ledger.ok("wattcoin:History", p.address, "1", "10")
    assert [h["kind"] for h in history][-2:] == ["to-market", "from-market"]


def test_market_keys_carry_the_aggregator_and_one_other_funding_keys_both_members() -> None:
    w = MarketWorld()
    p = w.join("c-1")
    iv = w.open(at(10))
    w.order("bid", p, iv, "b", 1000, 1500)
    meta = w.ledger.metadata
    for k in (f"mktwallet~{p.pseudonym}", f"mktint~{iv}", "mktconfig~mkt1",
              f"mktpo~{p.pseudonym}~{iv}~b"):
        assert meta[k] == market_ledger.MARKET, k
    assert meta[f"mktfund~{p.pseudonym}"] == market_ledger.FUNDING
    assert meta[f"mktparty~{p.pseudonym}"] == market_ledger.FUNDING
    market = meta[f"mktwallet~{p.pseudonym}"]
    assert not satisfied_by(market, ["AggregatorMSP"])
    assert not satisfied_by(market, ["UtilityMSP", "RegulatorMSP"])
    assert satisfied_by(market, ["AggregatorMSP", "UtilityMSP"])
    assert satisfied_by(market, ["AggregatorMSP", "RegulatorMSP"])
    assert not satisfied_by(meta[f"mktfund~{p.pseudonym}"], ["UtilityMSP", "AggregatorMSP"])
    # Every public key the market wrote has a policy.
    assert all(k in meta for k in w.ledger.state if k.startswith("mkt"))


def test_public_state_names_pseudonyms_never_customers_meters_or_accounts() -> None:
    w = MarketWorld()
    s, b = w.join("c-seller-1"), w.join("c-buyer-1")
    iv = w.open(at(10))
    w.order("offer", s, iv, "o", 2000, 1000)
    w.order("bid", b, iv, "b", 2000, 1600)
    w.clear(iv)
    w.deliver(at(10), {"c-seller-1": (0, 2000), "c-buyer-1": (2000, 0)})
    w.settle(iv)
    public = b"\n".join(k.encode() + b"=" + v for k, v in w.ledger.state.items()
                        if k.startswith("mkt"))
    events = json.dumps(w.ledger.events).encode()
    for secret in ("c-seller-1", "c-buyer-1", s.meter.meter_id, b.meter.meter_id, s.address,
                   b.address):
        assert secret.encode() not in public and secret.encode() not in events, secret
    assert s.pseudonym.encode() in public
    # The link lives in customerData only, the identity in regulatorOnly only, both on
    # the energy channel; the market channel's state holds neither, nor any private data.
    assert (CUSTOMER_DATA, w.ledger.stored(f"mktlink~{s.pseudonym}")) in w.ledger.private
    assert (REGULATOR_ONLY, w.ledger.stored(f"mktwho~{s.pseudonym}")) in w.ledger.private
    assert w.ledger.market.private == {}
    assert not any(k.startswith("mkt") for k in w.ledger.energy.state)


def test_every_reading_of_an_enrolled_meter_rewrites_its_interval_record() -> None:
    w = MarketWorld()
    p = w.join("c-1")
    plain = Participant("c-2")
    w.ledger.ok("RegisterMeter", plain.meter.registration("MKT"))
    key = f"mktiv~{p.pseudonym}~mkt1.20250311T1000Z"
    # Four quarter-hour readings in one hourly interval, one of them zero energy.
    for minutes, (imp, exp) in zip((15, 30, 45, 60), ((100, 0), (0, 0), (0, 700), (50, 20)),
                                   strict=True):
        res = submit(w.ledger, p.meter.reading(at(10) + minutes * HOUR / 60, imp, exp),
                     when=at(12))
        assert res.payload["accepted"] == 1
        assert (CUSTOMER_DATA, w.ledger.stored(key)) in res.stub.private  # zero energy too
    assert w.ledger.private_json(key) == {"importWh": 150, "exportWh": 720, "complete": True}
    # The next reading starts the next interval; a meter not enrolled writes no record.
    submit(w.ledger, p.meter.reading(at(11) + HOUR / 4, 10, 0), when=at(12))
    assert w.ledger.private_json(f"mktiv~{p.pseudonym}~mkt1.20250311T1100Z")["importWh"] == 10
    res = submit(w.ledger, plain.meter.reading(at(10) + HOUR, 100, 0), when=at(12))
    assert not any(json.loads(v)["key"].startswith("mktiv") for v in res.stub.private.values())


def test_resolution_is_logged_first_and_answered_only_to_the_regulator() -> None:
    w = MarketWorld()
    p = w.join("c-audited")
    res = w.ledger.call("market:ResolvePseudonym", "tx-none", **REGULATOR)
    assert res.status == 404 and "RequestResolution first" in res.message
    for who in (UTILITY, AGGREGATOR):
        assert w.ledger.call("market:RequestResolution", p.pseudonym, "audit 2025-Q1",
                             **who).status == 403
    logged = w.ledger.ok("market:RequestResolution", p.pseudonym, "audit 2025-Q1",
                         **REGULATOR)
    assert "c-audited" not in json.dumps(logged)  # the answer is in the block
    log = w.ledger.ok("market:AuditLog")
    assert [(e["pseudonym"], e["reason"]) for e in log] == [(p.pseudonym, "audit 2025-Q1")]
    for who in (UTILITY, AGGREGATOR):
        assert w.ledger.call("market:ResolvePseudonym", logged["auditId"], **who).status == 403
    who = w.ledger.ok("market:ResolvePseudonym", logged["auditId"], **REGULATOR)
    assert who["customerId"] == "c-audited" and who["pseudonym"] == p.pseudonym
    # Another Regulator operator may not ride on this request: the log names who looked.
    colleague = {**REGULATOR, "name": "regulator-colleague"}
    res = w.ledger.call("market:ResolvePseudonym", logged["auditId"], **colleague)
    assert res.status == 403 and "logged by another operator" in res.message
    unknown = w.ledger.call("market:RequestResolution", "p-" + "1" * 24, "audit", **REGULATOR)
    assert unknown.status == 404


def test_markets_are_separate_and_a_trader_trades_only_in_its_own() -> None:
    w = MarketWorld()  # market mkt1: hourly
    w.ledger.ok("market:ConfigureMarket", json.dumps({
        "marketId": "quarter", "intervalSeconds": 900, "gateClosureSeconds": 300,
        "tariffId": "MKT"}), **AGGREGATOR)
    again = w.ledger.call("market:ConfigureMarket", json.dumps({
        "marketId": "quarter", "intervalSeconds": 3600, "gateClosureSeconds": 0,
        "tariffId": "MKT"}), **AGGREGATOR)
    assert again.status == 409 and "configured already" in again.message
    p = w.join("c-1")  # enrolled in mkt1
    iv = "quarter.20250311T1015Z"
    w.ledger.ok("market:OpenInterval", iv, "uniform", **AGGREGATOR, when=at(9))
    res = w.order("bid", p, iv, "b", 1000, 1500, when=at(9))
    assert res.status == 409 and "trades in market mkt1" in res.message
    misaligned = w.ledger.call("market:OpenInterval", "quarter.20250311T1020Z", "uniform",
                               **AGGREGATOR, when=at(9))
    assert misaligned.status == 400 and "multiple of 900" in misaligned.message
    assert w.ledger.ok("market:MarketConfig", "quarter")["intervalSeconds"] == 900
    # A meter of the 15-minute market keeps 15-minute records.
    q = Participant("c-q")
    w.ledger.ok("RegisterMeter", q.meter.registration("MKT"))
    q.address = w.ledger.ok("wattcoin:OpenAccount", **q.identity)["address"]
    w.ledger.ok("wattcoin:BindCustomer", "c-q", q.address, **q.identity)
    w.ledger.ok("marketlink:RecordPseudonym", q.pseudonym, "c-q", **REGULATOR)
    enrolment = q.consent(q.sign("enrol", marketId="quarter", meterId=q.meter.meter_id,
                                 publicKeyPem=q.pem))
    w.ledger.ok("marketlink:LinkParticipant", enrolment, **REGULATOR)
    w.ledger.ok("market:EnrolParticipant", enrolment, **REGULATOR)
    submit(w.ledger, q.meter.reading(at(10) + HOUR / 2, 100, 0), when=at(12))
    assert w.ledger.private_json(f"mktiv~{q.pseudonym}~quarter.20250311T1015Z") == {
        "importWh": 100, "exportWh": 0, "complete": True}


def test_every_record_the_market_writes_is_of_a_kind_privacy_py_knows() -> None:
    from gridledger.chaincode.common.privacy import (
        PRIVATE_KINDS,
        PUBLIC_KINDS,
        REGULATOR_ONLY_KINDS,
    )

    from .test_refusals import _world

    led = _world().market.ledger
    public = {k.split("~", 1)[0] for k in led.state}
    private = {(c, k.split("~", 1)[0]) for c, k in led.private}
    assert public <= PUBLIC_KINDS, public - PUBLIC_KINDS
    assert {kind for c, kind in private if c == CUSTOMER_DATA} <= PRIVATE_KINDS
    assert {kind for c, kind in private if c == REGULATOR_ONLY} == REGULATOR_ONLY_KINDS.kinds
    assert {"mktbook", "mktsp", "mktdel", "mktvppm"} <= public


def test_a_silent_meter_cannot_pile_its_energy_into_one_interval_of_its_choosing() -> None:
    # Reviewer finding: a meter cut off for hours that reports once would put all its
    # export into the interval of that reading (and sell it there). Its energy is spread
    # over the intervals its span covers, pro rata to time; each it reached the end of is
    # complete (settlement's evidence).
    w = MarketWorld()
    p = w.join("c-1")
    submit(w.ledger, p.meter.reading(at(9) + HOUR / 2, 0, 0), when=at(12))
    submit(w.ledger, p.meter.reading(at(12), 0, 150), when=at(12))
    records = {h: w.ledger.private_json(f"mktiv~{p.pseudonym}~mkt1.20250311T{h:02d}00Z")
               for h in (9, 10, 11)}
    # 09:30-12:00 is 9000 s: 1800 s of it in the 09:00 interval, 3600 in each of the others.
    assert [r["exportWh"] for r in records.values()] == [30, 60, 60]
    assert all(r["complete"] for r in records.values())



def test_no_transaction_touches_both_a_pseudonym_and_a_customers_record() -> None:
    # Issue 17, hole 3: equal key hashes in two transactions say they touched the same
    # record. The energy channel's halves (link, fund, redeem) name no pseudonym in
    # public, and the market channel's halves (enrol, deposit, withdraw) touch no key of
    # the energy channel: what they need of it is read across, into no read set.
    w = MarketWorld()
    p = Participant("c-1")
    w.ledger.ok("RegisterMeter", p.meter.registration("MKT"))
    p.address = w.ledger.ok("wattcoin:OpenAccount", **p.identity)["address"]
    w.ledger.ok("wattcoin:BindCustomer", "c-1", p.address, **p.identity)
    w.ledger.ok("wattcoin:Mint", p.address, "1000", "PAY-c-1")
    w.ledger.ok("marketlink:RecordPseudonym", p.pseudonym, "c-1", **REGULATOR)
    energy_halves = [w.ledger.call("marketlink:LinkParticipant", w.enrolment(p), **REGULATOR)]
    market_halves = [w.ledger.call("market:EnrolParticipant", w.enrolment(p), **REGULATOR)]
    energy_halves.append(w.ledger.call("marketlink:FundMarket", p.sign(
        "deposit", amount=100, requestId="d-1")))
    market_halves.append(w.ledger.call("market:Deposit", p.pseudonym, "d-1"))
    market_halves.append(w.ledger.call("market:Withdraw", p.sign(
        "withdraw", amount=40, requestId="w-1")))
    energy_halves.append(w.ledger.call("marketlink:RedeemPayout", p.pseudonym, "w-1"))
    assert all(r.status == 200 for r in energy_halves + market_halves)
    for res in energy_halves:  # public: nothing; the pseudonym only in the transient map
        assert res.stub.state == {} and res.stub.metadata == {} and res.stub.events == []
        assert not any(p.pseudonym in k for k in res.stub.reads)
        assert p.pseudonym not in json.dumps(res.payload)
    for res in market_halves:  # no key of the energy channel, private or public
        assert res.stub.hashed_reads == [] and res.stub.private == {}
        assert all(k.startswith("mkt") for k in (*res.stub.reads, *res.stub.state))
        named = [k for k in res.stub.reads if p.meter.meter_id in k or "c-1" in k]
        assert named == [] and res.stub.multi_reads == 0, named
