"""The per-meter hash chain: recomputation finds any single tampered reading."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.chaincode.common.privacy import CUSTOMER_DATA as DETAIL_COLLECTION
from gridledger.chaincode.metering.chain import (
    GENESIS_HASH,
    RecordedLink,
    first_broken_link,
    link_hash,
)

from .helpers import T0, Ledger, Meter, setup, submit


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
    ledger = Ledger(now=T0 + dt.timedelta(days=2))
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
