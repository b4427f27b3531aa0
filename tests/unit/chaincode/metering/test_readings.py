"""SubmitReadings: acceptance, every refusal with nothing else changed, duplicates, event."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from gridledger.formats.reading import encode_reading, sign

from . import helpers
from .helpers import T0, Ledger, Meter, at, setup, submit, tariff_json

NOW = T0 + dt.timedelta(days=1)


def fresh() -> tuple[Ledger, Meter]:
    return helpers.fresh(NOW)


def test_accepted_readings_extend_chain_and_stay_in_the_private_collection() -> None:
    ledger, meter = fresh()
    res = submit(ledger, meter.reading(at(15), 250), meter.reading(at(30), 300, 20))
    assert res.status == 200
    assert (res.payload["accepted"], res.payload["refused"]) == (2, 0)
    record = ledger.private_json("reading~m-1~000000000002")
    assert set(record) == {"meterId", "seq", "intervalEnd", "prevHash", "hash", "quality",
                           "txId", "importDeltaWh", "exportDeltaWh", "canonical", "signature"}
    assert (record["importDeltaWh"], record["exportDeltaWh"]) == (300, 20)
    assert record["quality"] == "measured"
    assert json.loads(record["canonical"])["voltageDv"] == 2301
    # Nothing of a reading is public: no key, no register, no voltage, no hash.
    public = b"".join(ledger.state.values()) + "".join(ledger.state).encode()
    for secret in (b"reading~", b"usage~", b"meterhead~", b"voltageDv", b'"importWh":550',
                   record["hash"].encode()):
        assert secret not in public, secret
    # Every private value is salted (the channel keeps its hash).
    assert all(b'"salt":' in v for v in ledger.private.values())
    head = ledger.ok("GetMeter", "m-1")["head"]
    assert (head["seq"], head["importWh"], head["hash"]) == (2, 550, record["hash"])
    usage = ledger.private_json("usage~m-1~20250301")
    assert usage["importWh"][0] == 550 and usage["quality"] == {"measured": [2] + [0] * 23}
    assert ledger.events[-1] == ("ReadingsProcessed", {
        "accepted": 2, "duplicate": 0, "refused": 0, "alarms": [], "exhausted": [],
        "lowBalance": []})


def test_the_response_names_verdicts_never_values() -> None:
    ledger, meter = fresh()
    res = submit(ledger, meter.reading(at(15), 250))
    assert res.payload["results"] == [{"index": 0, "meterId": "m-1", "seq": 1,
                                       "status": "accepted"}]


def test_submit_readings_refuses_its_batch_as_a_proposal_argument() -> None:
    # Proposal arguments are in every block on every peer and orderer: the batch travels
    # in the transient map, and a client that forgets is told so, with nothing written.
    ledger, meter = fresh()
    before = ledger.snapshot()
    res = ledger.call("SubmitReadings", json.dumps([meter.reading(at(15), 10)]),
                      public_args=True)
    assert res.status == 400 and "transient map" in res.message
    assert ledger.snapshot() == before


def test_a_write_to_private_data_needs_a_salt() -> None:
    ledger, meter = fresh()
    res = ledger.call("SubmitReadings", json.dumps([meter.reading(at(15), 10)]), salt=False)
    assert res.status == 400 and "salt" in res.message


def test_batch_reads_meters_and_heads_in_one_round_trip() -> None:
    ledger = Ledger(now=NOW)
    meters = [Meter(f"m-{i}", "c-1") for i in range(5)]
    setup(ledger, *meters)
    res = submit(ledger, *[m.reading(at(15), 10) for m in meters])
    assert res.payload["accepted"] == 5
    assert res.stub.reads == []  # every read went through get_state_multiple
    # Public meter records, then private heads/info, tariffs, bindings, accounts.
    assert res.stub.multi_reads <= 5


def _refusal(ledger: Ledger, item: dict, code: str, fragment: str) -> None:
    before = ledger.snapshot()
    res = submit(ledger, item)
    assert res.status == 200
    verdict = res.payload["results"][0]
    assert (verdict["status"], verdict["code"]) == ("refused", code), verdict
    assert fragment in verdict["reason"]
    assert ledger.snapshot() == before  # nothing else changed


def test_forged_signature() -> None:
    ledger, meter = fresh()
    item = meter.reading(at(15), 10)
    item["signature"] = sign(Meter("evil", "x").key, encode_reading(item["reading"]))
    _refusal(ledger, item, "bad-signature", "does not verify")


def test_tampered_reading_under_a_valid_signature() -> None:
    ledger, meter = fresh()
    item = meter.reading(at(15), 10)
    item["reading"]["importWh"] = 5
    _refusal(ledger, item, "bad-signature", "does not verify")


def test_replay_with_different_content_and_skip_and_rollback() -> None:
    ledger, meter = fresh()
    submit(ledger, meter.reading(at(15), 100), meter.reading(at(30), 100))
    meter.seq = 1
    _refusal(ledger, meter.reading(at(45), 100), "replay", "already recorded")
    meter.seq = 3
    _refusal(ledger, meter.reading(at(45), 100), "skip", "skips ahead")
    meter.seq = 2
    meter.import_wh = 150
    _refusal(ledger, meter.reading(at(45), 0), "register-backwards", "importWh below the previous")


def test_future_and_out_of_order_timestamps() -> None:
    ledger, meter = fresh()
    submit(ledger, meter.reading(at(60), 100))
    _refusal(ledger, meter.reading(NOW + dt.timedelta(seconds=1), 1), "future", "after the")
    meter.seq = 1
    _refusal(ledger, meter.reading(at(60), 1), "out-of-order", "not after")


def test_unknown_suspended_and_decommissioned_meters() -> None:
    ledger, meter = fresh()
    _refusal(ledger, Meter("ghost", "c").reading(at(15), 1), "unknown-meter", "not registered")
    ledger.ok("SuspendMeter", "m-1", "inspection")
    _refusal(ledger, meter.reading(at(15), 1), "meter-suspended", "suspended")
    ledger.ok("ResumeMeter", "m-1", "ok")
    ledger.ok("DecommissionMeter", "m-1", "gone")
    meter.seq = 0
    _refusal(ledger, meter.reading(at(15), 1), "meter-decommissioned", "decommissioned")


def test_malformed_item_is_refused_alone() -> None:
    ledger, meter = fresh()
    good = meter.reading(at(15), 10)
    res = submit(ledger, {"reading": {"meterId": "m-1"}, "signature": "x"}, good)
    verdicts = res.payload["results"]
    assert verdicts[0]["code"] == "invalid" and "lacks" in verdicts[0]["reason"]
    assert verdicts[1]["status"] == "accepted"


def test_duplicate_is_a_no_op_in_a_later_batch_and_the_same_batch() -> None:
    ledger, meter = fresh()
    first = meter.reading(at(15), 100)
    submit(ledger, first)
    before = ledger.snapshot()
    res = submit(ledger, first)
    assert res.payload["results"][0]["status"] == "duplicate"
    assert res.payload["results"][0]["reason"] == "duplicate: no-op, already recorded"
    assert ledger.snapshot() == before
    second = meter.reading(at(30), 100)
    res = submit(ledger, second, second).payload
    assert [r["status"] for r in res["results"]] == ["accepted", "duplicate"]


def test_rest_of_batch_counts_and_later_readings_follow_in_batch_head() -> None:
    ledger, meter = fresh()
    a = meter.reading(at(15), 10)
    bad = meter.reading(at(30), 10)
    bad["reading"]["powerW"] = 7  # signature no longer matches
    meter.seq -= 1
    c = meter.reading(at(30), 10)
    d = meter.reading(at(45), 10)
    res = submit(ledger, a, bad, c, d).payload
    assert [r["status"] for r in res["results"]] == ["accepted", "refused", "accepted",
                                                     "accepted"]
    assert ledger.ok("GetMeter", "m-1")["head"]["seq"] == 3
    assert ledger.ok("VerifyMeterChain", "m-1") == {"ok": True, "seq": 3}


def test_quality_flags_and_alarms_in_readings() -> None:
    ledger, meter = fresh()
    res = submit(ledger, meter.reading(at(15), 10, quality="estimated"),
                 meter.reading(at(30), 10, alarms=["fire", "gas"]))
    event = res.payload
    assert event["accepted"] == 2
    name, payload = ledger.events[-1]
    assert name == "ReadingsProcessed"
    assert [(a["kind"], a["meterId"]) for a in payload["alarms"]] == [("fire", "m-1"),
                                                                      ("gas", "m-1")]
    assert [a["kind"] for a in ledger.ok("AlarmsByMeter", "m-1")] == ["fire", "gas"]
    assert ledger.private_json("reading~m-1~000000000001")["quality"] == "estimated"


def test_raise_alarm_signed_event_and_duplicate() -> None:
    ledger, meter = fresh()
    body = {"meterId": "m-1", "kind": "flood", "at": "2025-03-01T08:00:00Z"}
    from gridledger.chaincode.shim import canonical_json

    arg = json.dumps({"alarm": body, "signature": sign(meter.key, canonical_json(body))})
    res = ledger.ok("RaiseAlarm", arg)
    assert res["recorded"] is True
    assert ledger.events[-1][0] == "Alarm" and ledger.events[-1][1]["kind"] == "flood"
    assert ledger.ok("RaiseAlarm", arg)["recorded"] is False
    forged = json.dumps({"alarm": body, "signature": sign(Meter("x", "y").key,
                                                          canonical_json(body))})
    assert ledger.call("RaiseAlarm", forged).status == 403


@pytest.mark.parametrize("batch", ["{}", "[]", "not json", json.dumps([{}] * 1001)])
def test_bad_batches_fail_whole(batch: str) -> None:
    ledger, _ = fresh()
    assert ledger.call("SubmitReadings", batch).status == 400


def test_submit_caller_must_be_a_collection_member_operator() -> None:
    ledger, meter = fresh()
    item = meter.reading(at(15), 10)
    assert submit(ledger, item, msp="AggregatorMSP").status == 403
    assert submit(ledger, item, attrs={"role": "customer", "customerId": "c-1"}).status == 403
    assert submit(ledger, item, msp="RegulatorMSP").status == 200


def test_get_readings_pages_public_records() -> None:
    ledger, meter = fresh()
    submit(ledger, *[meter.reading(at(15 * (i + 1)), 10) for i in range(5)])
    page = ledger.ok("GetReadings", "m-1", "2", "2")
    assert [r["seq"] for r in page] == [2, 3]
    assert ledger.call("GetReadings", "m-1", "x", "2").status == 400
    detail = ledger.ok("GetReadingDetail", "m-1", "2")
    assert detail["reading"]["seq"] == 2
    assert ledger.call("GetReadingDetail", "m-1", "2", msp="AggregatorMSP").status == 403


def test_a_suspect_reading_that_runs_backwards_is_recorded_not_billed_and_chain_goes_on() -> None:
    ledger, meter = fresh()
    submit(ledger, meter.reading(at(15), 100), meter.reading(at(30), 100))  # import at 200
    meter.import_wh = 150  # the register rolled back by 50 Wh
    res = submit(ledger, meter.reading(at(45), 0, quality="suspect"))
    assert (res.payload["accepted"], res.payload["refused"]) == (1, 0)
    record = ledger.private_json("reading~m-1~000000000003")
    assert record["quality"] == "suspect" and record["importDeltaWh"] == 0
    assert record["tamper"] == ["importWh runs backwards: 150 < 200"]
    event = ledger.events[-1][1]
    assert event["tamper"] == [{"meterId": "m-1", "seq": 3}]  # which, never the values
    # The chain still verifies and goes on, billing from the register it never rewound.
    meter.import_wh = 200
    after = submit(ledger, meter.reading(at(60), 40))
    assert after.payload["accepted"] == 1
    assert ledger.private_json("reading~m-1~000000000004")["importDeltaWh"] == 40
    assert ledger.ok("VerifyMeterChain", "m-1")["ok"] is True


def test_a_suspect_reading_never_rewinds_the_register_it_bills_from() -> None:
    # Regression (issue 11, finding 7): a suspect reading whose register runs backwards
    # reset the head's register, and the next normal reading billed the whole jump back
    # up: 500.1 kWh used, 1,000.1 kWh billed.
    ledger, meter = fresh()
    submit(ledger, meter.reading(at(15), 500_000))                       # register 500 kWh
    meter.import_wh = 0                                                  # a spurious zero
    submit(ledger, meter.reading(at(30), 0, quality="suspect"))
    meter.import_wh = 500_000
    res = submit(ledger, meter.reading(at(45), 500_100))                 # 1,000.1 kWh
    assert res.payload["accepted"] == 1
    billed = [ledger.private_json(f"reading~m-1~{seq:012d}")["importDeltaWh"]
              for seq in (1, 2, 3)]
    assert billed == [500_000, 0, 500_100]
    assert sum(billed) == 1_000_100  # exactly what the register advanced
    assert ledger.ok("GetMeter", "m-1")["head"]["importWh"] == 1_000_100


def test_refusal_reasons_name_no_private_value() -> None:
    """Regression (issue 17): reasons are in the transaction's response, in the block on
    every peer: "out-of-order" named the previous interval end, "replay" and "skip" the
    head's seq, "invalid" echoed register values, "no-tariff" the meter's tariff."""
    ledger = Ledger(now=NOW)
    meter, prepaid = Meter("m-1", "c-1"), Meter("m-2", "c-2")
    late_tariff = json.loads(tariff_json("2025-03-05T00:00:00Z"))
    setup(ledger, meter, prepaid, tariff=json.dumps({**late_tariff, "tariffId": "EVN-RES"}))
    bob = {"name": "bob", "attrs": {"role": "customer", "customerId": "c-2"}}
    ledger.ok("wattcoin:BindCustomer", "c-2",
              ledger.ok("wattcoin:OpenAccount", **bob)["address"], **bob)
    submit(ledger, meter.reading(at(600), 777_123), meter.reading(at(615), 1))
    head_end = "2025-03-01T10:15:00Z"
    meter.seq = 1
    replay = meter.reading(at(700), 5)
    meter.seq = 5
    skip = meter.reading(at(700), 5)
    meter.seq = 2
    out_of_order = meter.reading(at(615), 5)
    meter.seq = 2
    invalid = meter.reading(at(700), 5)
    invalid["reading"]["importWh"] = 987_654.5
    no_tariff = prepaid.reading(at(60), 10)  # before the tariff's first version
    res = submit(ledger, replay, skip, out_of_order, invalid, no_tariff).payload
    codes = [r["code"] for r in res["results"]]
    assert codes == ["replay", "skip", "out-of-order", "invalid", "no-tariff"]
    text = json.dumps(res)
    for private in (head_end, "10:15", "777", "987654", "EVN-RES", '"expected', "at 2",
                    "2025-03-01T01:00:00Z"):
        assert private not in text, private
    assert all(r["reason"] for r in res["results"])
    assert "importWh must be an integer" in res["results"][3]["reason"]
