"""The per-meter hash chain: recomputation finds any single tampered reading."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.chaincode.common.privacy import CUSTOMER_DATA as DETAIL_COLLECTION
from gridledger.chaincode.metering.chain import (
    GENESIS_HASH,
    RecordedLink,
    first_broken_link,
    link_hash,
)
from gridledger.chaincode.metering.meters import key_fingerprint
from gridledger.chaincode.metering.verify import CHUNK

from .helpers import T0, Ledger, Meter, TxStub, setup, submit


def _chain(bodies: list[bytes]) -> list[RecordedLink]:
    links, prev = [], GENESIS_HASH
    for seq, body in enumerate(bodies, 1):
        h = link_hash(prev, body)
        links.append(RecordedLink(seq, prev, h, body))
        prev = h
    return links


def test_genesis_and_link_definition() -> None:
    import hashlib

    assert link_hash(GENESIS_HASH, b"abc") == hashlib.sha256(bytes(32) + b"abc").hexdigest()


@settings(max_examples=60)
@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=20), st.data())
def test_any_single_tampered_reading_is_found_at_its_sequence(bodies, data) -> None:
    links = _chain(bodies)
    assert first_broken_link(links) is None
    i = data.draw(st.integers(min_value=0, max_value=len(links) - 1))
    what = data.draw(st.sampled_from(["body", "hash", "prev"]))
    link = links[i]
    if what == "body":
        tampered = RecordedLink(link.seq, link.prev_hash, link.hash, link.canonical + b"x")
    elif what == "hash":
        tampered = RecordedLink(link.seq, link.prev_hash, "ab" * 32, link.canonical)
    else:
        tampered = RecordedLink(link.seq, "cd" * 32, link.hash, link.canonical)
    links[i] = tampered
    broken = first_broken_link(links)
    assert broken is not None and broken["seq"] == i + 1


def test_missing_link_is_named() -> None:
    links = _chain([b"a", b"b", b"c"])
    assert first_broken_link([links[0], links[2]]) == {
        "seq": 2, "reason": "missing reading", "expected": 2, "found": 3}


def _ledger_with_chain(n: int) -> tuple[Ledger, Meter]:
    ledger = Ledger(now=T0 + dt.timedelta(minutes=15 * n + 60))
    meter = Meter("m-1", "c-1")
    setup(ledger, meter)
    items = [meter.reading(T0 + dt.timedelta(minutes=15 * (i + 1)), 100) for i in range(n)]
    assert submit(ledger, *items).payload["accepted"] == n
    return ledger, meter


def test_verify_meter_chain_ok_and_tampered_private_detail() -> None:
    ledger, _ = _ledger_with_chain(5)
    assert ledger.ok("VerifyMeterChain", "m-1") == {"ok": True, "seq": 5}
    pkey = (DETAIL_COLLECTION, ledger.stored("reading~m-1~000000000003"))
    detail = json.loads(ledger.private[pkey])
    detail["canonical"] = detail["canonical"].replace('"importWh":300', '"importWh":301')
    ledger.private[pkey] = json.dumps(detail).encode()
    answer = ledger.ok("VerifyMeterChain", "m-1")
    assert answer["ok"] is False and answer["seq"] == 3 and answer["reason"] == "hash differs"


def test_verify_meter_chain_finds_a_tampered_chain_link() -> None:
    ledger, _ = _ledger_with_chain(4)
    key = (DETAIL_COLLECTION, ledger.stored("reading~m-1~000000000002"))
    record = json.loads(ledger.private[key])
    record["hash"] = "00" * 32
    ledger.private[key] = json.dumps(record).encode()
    answer = ledger.ok("VerifyMeterChain", "m-1")
    assert (answer["ok"], answer["seq"]) == (False, 2)


def test_verify_meter_chain_is_for_collection_members_only() -> None:
    ledger, _ = _ledger_with_chain(1)
    assert ledger.call("VerifyMeterChain", "m-1", msp="AggregatorMSP").status == 403
    assert ledger.ok("VerifyMeterChain", "m-1", msp="RegulatorMSP")["ok"] is True


# -- an operator who edits its peer's private state database (issue 17) ---------------------


def _rewrite_chain(ledger: Ledger, meter_id: str, n: int, edit) -> None:  # type: ignore[no-untyped-def]
    """What an operator with write access to its peer's state database can do: change
    each reading's canonical bytes with ``edit`` and recompute every link and the head,
    so that the hash chain is consistent again."""
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        key = (DETAIL_COLLECTION, ledger.stored(f"reading~{meter_id}~{seq:012d}"))
        record = json.loads(ledger.private[key])
        reading = edit(json.loads(record["canonical"]))
        record["canonical"] = json.dumps(reading, sort_keys=True, separators=(",", ":"))
        record["prevHash"] = prev
        record["hash"] = prev = link_hash(prev, record["canonical"].encode())
        ledger.private[key] = json.dumps(record).encode()
    head_key = (DETAIL_COLLECTION, ledger.stored(f"meterhead~{meter_id}"))
    head = json.loads(ledger.private[head_key])
    head["hash"] = prev
    head["importWh"] = reading["importWh"]
    head["highImportWh"] = reading["importWh"]
    ledger.private[head_key] = json.dumps(head).encode()


def test_halved_readings_with_a_recomputed_chain_fail_their_signatures() -> None:
    ledger, _ = _ledger_with_chain(4)

    def halve(reading: dict) -> dict:  # type: ignore[type-arg]
        return {**reading, "importWh": reading["importWh"] // 2}

    _rewrite_chain(ledger, "m-1", 4, halve)
    # Before issue 17 the walk checked hashes only and answered {"ok": true}.
    answer = ledger.ok("VerifyMeterChain", "m-1")
    assert answer["ok"] is False and answer["seq"] == 1
    assert answer["reason"].startswith("bad signature")
    assert answer["expected"] == key_fingerprint(ledger.private_json("meterinfo~m-1")
                                                 ["publicKeyPem"])


def test_a_genuine_reading_moved_to_another_place_is_named() -> None:
    ledger, _ = _ledger_with_chain(2)
    # A reading the meter did sign (seq 1), recorded again as seq 2: hashes recomputed.
    first = json.loads(ledger.private_json("reading~m-1~000000000001")["canonical"])
    first_sig = ledger.private_json("reading~m-1~000000000001")["signature"]
    key = (DETAIL_COLLECTION, ledger.stored("reading~m-1~000000000002"))
    record = json.loads(ledger.private[key])
    record["canonical"] = json.dumps(first, sort_keys=True, separators=(",", ":"))
    record["signature"] = first_sig
    record["hash"] = link_hash(record["prevHash"], record["canonical"].encode())
    ledger.private[key] = json.dumps(record).encode()
    answer = ledger.ok("VerifyMeterChain", "m-1")
    assert (answer["ok"], answer["seq"], answer["reason"]) == (
        False, 2, "signed reading out of place")


def test_each_reading_is_checked_with_the_key_in_force_at_its_seq() -> None:
    ledger, meter = _ledger_with_chain(2)
    meter.key = Meter("m-1", "c-1").key  # the meter's new key, from seq 3 on
    ledger.ok("ReplaceMeterKey", "m-1", json.dumps({"publicKeyPem": meter.pem}))
    assert submit(ledger, meter.reading(T0 + dt.timedelta(hours=1), 100)).payload[
        "accepted"] == 1
    assert ledger.ok("VerifyMeterChain", "m-1") == {"ok": True, "seq": 3}
    # The key history keeps each PEM and the seq it took effect from, in both records.
    keys = ledger.private_json("meterinfo~m-1")["keys"]
    assert [k["fromSeq"] for k in keys] == [1, 3] and keys[1]["publicKeyPem"] == meter.pem
    device = json.loads(ledger.state["meter~m-1"])
    assert [(h["fromSeq"], h["publicKeyPem"]) for h in device["keyHistory"]] == [
        (k["fromSeq"], k["publicKeyPem"]) for k in keys]


def test_a_public_key_history_that_differs_from_the_private_one_is_named() -> None:
    ledger, _ = _ledger_with_chain(1)
    device = json.loads(ledger.state["meter~m-1"])
    device["keyHistory"][0]["publicKeyPem"] = Meter("x", "y").pem
    ledger.state["meter~m-1"] = json.dumps(device).encode()
    answer = ledger.ok("VerifyMeterChain", "m-1")
    assert answer["ok"] is False and "key history differs" in answer["reason"]


def test_a_long_chain_is_walked_by_key_in_chunks_never_by_a_range(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A range query stops silently at the peer's totalQueryLimit: the walk reads records
    # by key, CHUNK at a time, up to the head's seq.
    ledger, _ = _ledger_with_chain(CHUNK + 3)
    calls: list[int] = []
    original = TxStub.get_private_data_multiple

    def counted(self, collection, keys):  # type: ignore[no-untyped-def]
        calls.append(len(keys))
        return original(self, collection, keys)

    def no_range(*_: object) -> None:
        raise AssertionError("VerifyMeterChain ran a range query")

    monkeypatch.setattr(TxStub, "get_private_data_multiple", counted)
    monkeypatch.setattr(TxStub, "get_private_data_by_range", no_range)
    assert ledger.ok("VerifyMeterChain", "m-1") == {"ok": True, "seq": CHUNK + 3}
    assert CHUNK in calls and 3 in calls


def test_garbage_in_the_store_is_named_never_a_500() -> None:
    ledger, _ = _ledger_with_chain(2)
    key = (DETAIL_COLLECTION, ledger.stored("reading~m-1~000000000002"))
    record = json.loads(ledger.private[key])
    record["canonical"] = "not json"
    record["hash"] = link_hash(record["prevHash"], b"not json")
    ledger.private[key] = json.dumps(record).encode()
    answer = ledger.ok("VerifyMeterChain", "m-1")
    assert (answer["ok"], answer["seq"], answer["reason"]) == (
        False, 2, "signed reading out of place")
    ledger.private[key] = b"\x00garbage"
    answer = ledger.ok("VerifyMeterChain", "m-1")
    assert (answer["ok"], answer["seq"], answer["reason"]) == (False, 2, "record unreadable")
