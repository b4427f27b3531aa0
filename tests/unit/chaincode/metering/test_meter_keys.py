"""A meter's key (issue 17): the public record needs both customerData members for every
write after registration, the reading path verifies with the private copy, a key signs
for one meter only, and a suspended or decommissioned meter raises no alarm."""

from __future__ import annotations

import datetime as dt
import json

from gridledger.chaincode.metering.meters import DEVICE_POLICY, key_fingerprint
from gridledger.chaincode.shim.policy import satisfied_by
from gridledger.formats.canonical import canonical_json
from gridledger.formats.reading import sign

from . import helpers
from .helpers import T0, Ledger, Meter, at, submit

NOW = T0 + dt.timedelta(days=2)


def fresh() -> tuple[Ledger, Meter]:
    return helpers.fresh(NOW)


def test_register_meter_puts_both_members_policy_on_the_public_record() -> None:
    ledger, meter = fresh()
    policy = ledger.metadata["meter~m-1"]
    assert policy == DEVICE_POLICY
    # Every later write of meter~ (status, key) needs the Utility's and the Regulator's
    # peers: the Regulator and the Aggregator together (2 of 3, the chaincode's policy)
    # no longer meet it.
    assert satisfied_by(policy, ["UtilityMSP", "RegulatorMSP"])
    assert not satisfied_by(policy, ["RegulatorMSP", "AggregatorMSP"])
    assert not satisfied_by(policy, ["UtilityMSP", "AggregatorMSP"])
    info = ledger.private_json("meterinfo~m-1")
    assert (info["publicKeyPem"], info["curve"]) == (meter.pem, "P-256")
    assert info["keys"] == [{"fromSeq": 1, "publicKeyPem": meter.pem, "curve": "P-256"}]
    fingerprint = key_fingerprint(meter.pem)
    assert json.loads(ledger.state[f"meterkey~{fingerprint}"])["meterId"] == "m-1"
    assert ledger.metadata[f"meterkey~{fingerprint}"] == DEVICE_POLICY


def test_a_key_installed_in_the_public_record_alone_signs_nothing() -> None:
    # What a Regulator and an Aggregator running modified chaincode could do to a meter
    # record without a key-level policy: install a key of their own in meter~ (written
    # here straight into committed state). The reading path verifies with the private
    # record, which only both customerData members write.
    ledger, meter = fresh()
    attacker = Meter("m-1", "c-1")
    device = json.loads(ledger.state["meter~m-1"])
    device["publicKeyPem"] = attacker.pem
    ledger.state["meter~m-1"] = json.dumps(device).encode()
    before = ledger.snapshot()
    forged = submit(ledger, attacker.reading(at(15), 1_000_000)).payload
    assert (forged["accepted"], forged["results"][0]["code"]) == (0, "bad-signature")
    assert ledger.snapshot() == before
    assert submit(ledger, meter.reading(at(15), 100)).payload["accepted"] == 1


def test_replace_meter_key_keeps_the_public_and_private_records_in_step() -> None:
    ledger, meter = fresh()
    submit(ledger, meter.reading(at(15), 100))
    new = Meter("m-1", "c-1")
    answer = ledger.ok("ReplaceMeterKey", "m-1", json.dumps({"publicKeyPem": new.pem}))
    assert answer["publicKeyPem"] == new.pem
    info = ledger.private_json("meterinfo~m-1")
    assert info["publicKeyPem"] == new.pem
    assert [k["fromSeq"] for k in info["keys"]] == [1, 2]
    device = json.loads(ledger.state["meter~m-1"])
    assert device["keyHistory"][-1]["publicKeyPem"] == new.pem
    meter.key = new.key
    assert submit(ledger, meter.reading(at(30), 100)).payload["accepted"] == 1


def test_a_key_already_registered_for_another_meter_is_refused() -> None:
    ledger, meter = fresh()
    twin = Meter("m-2", "c-2")
    twin.key = meter.key  # the same device key
    before = ledger.snapshot()
    res = ledger.call("RegisterMeter", twin.registration())
    assert res.status == 409 and "registered for another meter (m-1)" in res.message
    assert ledger.snapshot() == before
    other = Meter("m-3", "c-3")
    ledger.ok("RegisterMeter", other.registration())
    res = ledger.call("ReplaceMeterKey", "m-3", json.dumps({"publicKeyPem": meter.pem}))
    assert res.status == 409 and "registered for another meter (m-1)" in res.message
    # A key the meter itself retired cannot go to another meter either.
    old_pem = meter.pem
    meter.key = Meter("x", "y").key
    ledger.ok("ReplaceMeterKey", "m-1", json.dumps({"publicKeyPem": meter.pem}))
    res = ledger.call("ReplaceMeterKey", "m-3", json.dumps({"publicKeyPem": old_pem}))
    assert res.status == 409


def _alarm(meter: Meter, at_text: str) -> str:
    body = {"at": at_text, "kind": "fire", "meterId": meter.meter_id}
    return json.dumps({"alarm": body, "signature": sign(meter.key, canonical_json(body))})


def test_a_suspended_or_decommissioned_meter_raises_no_alarm() -> None:
    ledger, meter = fresh()
    ledger.ok("SuspendMeter", "m-1", "seal broken")
    before, events = ledger.snapshot(), list(ledger.events)
    res = ledger.call("RaiseAlarm", _alarm(meter, "2025-03-01T10:00:00Z"))
    assert res.status == 409 and "suspended" in res.message
    assert ledger.snapshot() == before and ledger.events == events
    ledger.ok("ResumeMeter", "m-1", "inspected")
    assert ledger.ok("RaiseAlarm", _alarm(meter, "2025-03-01T10:00:00Z"))["recorded"] is True
    ledger.ok("DecommissionMeter", "m-1", "removed")
    res = ledger.call("RaiseAlarm", _alarm(meter, "2025-03-01T11:00:00Z"))
    assert res.status == 409 and "decommissioned" in res.message


def test_an_alarm_signed_with_a_key_only_the_public_record_holds_is_refused() -> None:
    ledger, _ = fresh()
    attacker = Meter("m-1", "c-1")
    device = json.loads(ledger.state["meter~m-1"])
    device["publicKeyPem"] = attacker.pem
    ledger.state["meter~m-1"] = json.dumps(device).encode()
    before = ledger.snapshot()
    res = ledger.call("RaiseAlarm", _alarm(attacker, "2025-03-01T10:00:00Z"))
    assert res.status == 403 and "does not verify" in res.message
    assert ledger.snapshot() == before
