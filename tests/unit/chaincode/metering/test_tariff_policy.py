"""Tariff keys and the Regulator's key-level policy (issue 11, finding 8; issue 17).

A key without a key-level policy can be written by any two members (Fabric checks its
write against the chaincode policy), and one with "a RegulatorMSP peer" by the Regulator
alone (a transaction writing only keys with key-level policies is checked against those
only), so the chaincode trusts a tariff only when both its key and ``tariffreg`` carry
exactly ``AND(Regulator, OR(Utility, Aggregator))`` and hold what SetTariff writes;
SetTariff replaces any other instead of appending to it. Forgeries are written here
straight into committed state, as a modified chaincode on the peers concerned would
write them.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from gridledger.chaincode.metering.tariff import regulator_policy
from gridledger.chaincode.shim import all_of_policy

from .helpers import Ledger, Meter, TxStub, setup, submit, tariff_json

NOW = dt.datetime(2025, 4, 2, tzinfo=dt.UTC)
ALICE = {"name": "alice", "attrs": {"role": "customer", "customerId": "c-1"}}


def forged_doc(tariff_id: str) -> bytes:
    version = {**json.loads(tariff_json(tariffId=tariff_id,
                                        tiers=[{"upToKwh": None, "pricePerKwh": 1}])),
               "version": 1, "setAt": "2025-01-01T00:00:00Z", "txId": "forged"}
    return json.dumps({"tariffId": tariff_id, "versions": [version]}).encode()


def prepaid(ledger: Ledger, meter: Meter) -> str:
    address = ledger.ok("wattcoin:OpenAccount", **ALICE)["address"]
    ledger.ok("wattcoin:BindCustomer", meter.customer_id, address, **ALICE)
    ledger.ok("wattcoin:Mint", address, "100000", "PAY-1")
    return address


def test_a_registry_written_without_the_policy_gets_it_from_the_next_set_tariff() -> None:
    # Regression (issue 11, finding 8): a tariffreg that existed without a key-level policy
    # never got one, so any two members could go on listing tariffs in it.
    ledger = Ledger(now=NOW)
    ledger.state["tariffreg"] = json.dumps({"tariffIds": ["ROGUE"]}).encode()
    ledger.state["tariff~ROGUE"] = forged_doc("ROGUE")
    res = ledger.call("GetTariff", "ROGUE", "")
    assert res.status == 409 and "tariffreg does not carry the Regulator's" in res.message
    ledger.ok("SetTariff", tariff_json(), msp="RegulatorMSP")
    assert ledger.metadata["tariffreg"] == regulator_policy()
    assert json.loads(ledger.state["tariffreg"]) == {"tariffIds": ["EVN-RES"]}  # ROGUE gone
    assert ledger.call("GetTariff", "ROGUE", "").status == 404
    assert ledger.ok("GetTariff", "EVN-RES", "")["versions"][0]["version"] == 1


def test_a_forged_registry_keeps_only_the_ids_whose_keys_carry_the_policy() -> None:
    ledger = Ledger(now=NOW)
    setup(ledger)
    ledger.state["tariff~ROGUE"] = forged_doc("ROGUE")
    ledger.state["tariffreg"] = json.dumps({"tariffIds": ["EVN-RES", "ROGUE"]}).encode()
    del ledger.metadata["tariffreg"]  # as if written around the policy
    ledger.ok("SetTariff", tariff_json(tariffId="OTHER"), msp="RegulatorMSP")
    assert json.loads(ledger.state["tariffreg"]) == {"tariffIds": ["EVN-RES", "OTHER"]}
    assert ledger.metadata["tariffreg"] == regulator_policy()


def test_a_forged_tariff_key_is_replaced_not_appended_to() -> None:
    # Regression (issue 11, finding 8): a tariff~X written by two non-Regulator members was
    # appended to by the Regulator's SetTariff (the forged version 1 kept, no policy set).
    ledger = Ledger(now=NOW)
    setup(ledger)
    ledger.state["tariff~X"] = forged_doc("X")
    version = ledger.ok("SetTariff", tariff_json("2025-06-01T00:00:00Z", tariffId="X"),
                        msp="RegulatorMSP")
    assert version["version"] == 1
    doc = json.loads(ledger.state["tariff~X"])
    assert [v["txId"] for v in doc["versions"]] == [version["txId"]]
    assert doc["replaced"]["txId"] == version["txId"]
    assert ledger.metadata["tariff~X"] == regulator_policy()
    assert "X" in json.loads(ledger.state["tariffreg"])["tariffIds"]
    # From now on it is the Regulator's: the next version is appended.
    ledger.ok("SetTariff", tariff_json("2025-07-01T00:00:00Z", tariffId="X"),
              msp="RegulatorMSP")
    assert len(json.loads(ledger.state["tariff~X"])["versions"]) == 2


@pytest.mark.parametrize("policy", [None, all_of_policy(["UtilityMSP", "AggregatorMSP"]),
                                    all_of_policy(["RegulatorMSP"], role="MEMBER"),
                                    all_of_policy(["RegulatorMSP"])],
                         ids=["no-policy", "two-other-members", "regulator-member-role",
                              "regulator-alone"])
@pytest.mark.parametrize("key", ["tariff~EVN-RES", "tariffreg"])
def test_pricing_refuses_a_tariff_key_without_exactly_the_regulator_policy(
        key: str, policy: bytes | None) -> None:
    ledger = Ledger(now=NOW)
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    prepaid(ledger, meter)
    if policy is None:
        del ledger.metadata[key]
    else:
        ledger.metadata[key] = policy
    res = ledger.call("GetTariff", "EVN-RES", "")
    assert res.status == 409 and "does not carry the Regulator's key-level" in res.message
    verdict = submit(ledger, meter.reading(NOW - dt.timedelta(days=5), 1000)).payload
    assert verdict["results"][0]["code"] == "no-tariff"
    assert "Regulator's key-level endorsement policy" in verdict["results"][0]["reason"]
    assert "EVN-RES" not in verdict["results"][0]["reason"]  # which tariff is private
    assert ledger.call("ComputeBill", "c-1", "2025-03-01T00:00:00Z",
                       "2025-04-01T00:00:00Z").status == 409
    assert ledger.call("RegisterMeter", Meter("m-2", "c-2").registration()).status == 409


def test_each_tariff_policy_is_read_once_per_transaction(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    # On a peer every GET_STATE_METADATA is a round trip; a batch prices many readings.
    ledger = Ledger(now=NOW)
    meters = [Meter(f"m-{i}", "c-1") for i in range(3)]
    setup(ledger, *meters)
    prepaid(ledger, meters[0])
    reads: list[str] = []
    original = TxStub.get_state_validation_parameter

    def counted(self: TxStub, key: str) -> bytes | None:
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(TxStub, "get_state_validation_parameter", counted)
    start = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    batch = [m.reading(start + dt.timedelta(minutes=15 * (i + 1)), 100)
             for i in range(20) for m in meters]
    assert submit(ledger, *batch).payload["accepted"] == 60
    assert sorted(reads) == ["tariffreg", "tariff~EVN-RES"]
    reads.clear()
    ledger.ok("ComputeBill", "c-1", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")
    assert sorted(reads) == ["tariffreg", "tariff~EVN-RES"]


def _malformed_docs() -> dict[str, bytes]:
    good = json.loads(forged_doc("EVN-RES"))
    version = good["versions"][0]
    return {
        "not-json": b"{not json",
        "no-versions": json.dumps({"tariffId": "EVN-RES", "versions": []}).encode(),
        "tiers-missing": json.dumps({**good, "versions": [
            {k: v for k, v in version.items() if k != "tiers"}]}).encode(),
        "price-not-a-number": json.dumps({**good, "versions": [{**version, "tiers": [
            {"upToKwh": None, "pricePerKwh": "cheap"}]}]}).encode(),
        "tax-as-text": json.dumps({**good, "versions": [
            {**version, "taxes": "VAT"}]}).encode(),
        "other-tariff": json.dumps({**good, "tariffId": "OTHER"}).encode(),
        "unordered": json.dumps({**good, "versions": [
            {**version, "version": 1, "effectiveFrom": "2025-02-01T00:00:00Z"},
            {**version, "version": 2, "effectiveFrom": "2025-01-01T00:00:00Z"}]}).encode(),
    }


@pytest.mark.parametrize("name", sorted(_malformed_docs()))
def test_a_malformed_tariff_record_refuses_the_reading_never_a_500(name: str) -> None:
    # Regression (issue 17): a tariff record of the wrong shape under the right policy
    # (the Regulator and one other member running modified chaincode) made every prepaid
    # reading batch fail with 500 (a KeyError in pricing): nothing was recorded at all.
    ledger = Ledger(now=NOW)
    meter, postpaid = Meter("m-1", "c-1"), Meter("m-2", "c-2")
    setup(ledger, meter, postpaid)
    prepaid(ledger, meter)
    ledger.state["tariff~EVN-RES"] = _malformed_docs()[name]
    res = ledger.call("GetTariff", "EVN-RES", "")
    assert res.status == 409 and "not a record SetTariff writes" in res.message
    before = ledger.snapshot()
    batch = submit(ledger, meter.reading(NOW - dt.timedelta(days=5), 1000),
                   postpaid.reading(NOW - dt.timedelta(days=5), 1000))
    assert batch.status == 200, batch.message
    verdicts = batch.payload["results"]
    assert [v.get("code") for v in verdicts] == ["no-tariff", None]
    assert "not what SetTariff writes" in verdicts[0]["reason"]
    assert "EVN-RES" not in verdicts[0]["reason"]
    assert batch.payload["accepted"] == 1  # the postpaid meter's reading counts
    assert ledger.private != before[1]  # ... and was recorded
    assert ledger.call("ComputeBill", "c-1", "2025-03-01T00:00:00Z",
                       "2025-04-01T00:00:00Z").status == 409
    # The Regulator's next SetTariff replaces it (a fresh version 1), never appends to it.
    version = ledger.ok("SetTariff", tariff_json("2025-06-01T00:00:00Z"), msp="RegulatorMSP")
    assert version["version"] == 1
    assert json.loads(ledger.state["tariff~EVN-RES"])["replaced"]["txId"] == version["txId"]


def test_a_malformed_registry_under_the_policy_is_rebuilt() -> None:
    ledger = Ledger(now=NOW)
    setup(ledger)
    ledger.state["tariffreg"] = json.dumps({"tariffIds": "EVN-RES"}).encode()
    res = ledger.call("GetTariff", "EVN-RES", "")
    assert res.status == 409 and "tariffreg" in res.message
    ledger.ok("SetTariff", tariff_json(tariffId="OTHER"), msp="RegulatorMSP")
    # Rebuilt from the ids it lists (none readable): the Regulator sets EVN-RES again.
    assert json.loads(ledger.state["tariffreg"]) == {"tariffIds": ["OTHER"]}
    assert ledger.call("GetTariff", "EVN-RES", "").status == 404
    ledger.ok("SetTariff", tariff_json(), msp="RegulatorMSP")
    assert ledger.ok("GetTariff", "EVN-RES", "")["versions"][0]["version"] == 1


def test_a_tariff_under_the_old_regulator_only_policy_is_replaced_not_appended_to() -> None:
    # A ledger whose tariff keys carry "a RegulatorMSP peer" (before issue 17): the
    # Regulator alone could have rewritten them, so they are not trusted; SetTariff
    # starts each afresh with the policy that needs a witness.
    ledger = Ledger(now=NOW)
    setup(ledger)
    for k in ("tariff~EVN-RES", "tariffreg"):
        ledger.metadata[k] = all_of_policy(["RegulatorMSP"])
    version = ledger.ok("SetTariff", tariff_json("2025-06-01T00:00:00Z"), msp="RegulatorMSP")
    assert version["version"] == 1
    assert ledger.metadata["tariff~EVN-RES"] == regulator_policy()
    assert ledger.metadata["tariffreg"] == regulator_policy()
