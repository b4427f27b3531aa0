"""Metering and Wattcoin attacked on the real network (issue 17): each test performs one
attack, as a member running modified chaincode, a submitter choosing its proposal's time,
a customer, or an operator editing its peer's database would, and shows it refused with
nothing changed.

- the Regulator alone rewriting a past tariff version (modified chaincode on its peer);
- back-dated or early transaction times: a tariff change repricing a metered hour, a meter
  put on another tariff back in time, a bill issued before its period ends, readings
  that end in the future;
- a customer moving away from an account with arrears;
- the Regulator and the Aggregator installing their own key in a meter's record;
- the Regulator alone forging "exhausted" and "alarm" events for a paying customer, with
  the real bridge following the ledger;
- the Utility's operator editing its peer's private state database (a reading halved, the
  chain and the head recomputed): VerifyMeterChain names the reading.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import plyvel
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.errors import CommitError, EndorseError, GatewayError
from gridledger.clients.events import FileCheckpoint
from gridledger.clients.gateway import Gateway
from gridledger.clients.metering import Metering, SignedReading, Wattcoin, private_call
from gridledger.formats.reading import encode_reading, sign

from .customers import Customer, connect_customer, open_prepaid_account, register_customer
from .rogue import modified_chaincode
from .test_meter_bridge import (  # the bridge as a process, and simulated meters
    BridgeProcess,
    SimThread,
    bridges,  # noqa: F401 - a fixture
    head_seq,
    register,
    sims,  # noqa: F401 - a fixture
    tcp,
    wait_for,
)
from .test_meter_bridge import _peer as peer_of
from .test_meter_bridge import _restart as restart
from .test_metering import TARIFF

pytestmark = pytest.mark.integration

ROGUE = "tests.integration.rogue_metering"
U, R, A = "UtilityMSP", "RegulatorMSP", "AggregatorMSP"


def z(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def hour_start(when: dt.datetime) -> dt.datetime:
    return when.replace(minute=0, second=0, microsecond=0)




class OwnMeter:
    """A meter with its own P-256 key, registered by the Utility for a new customer, on
    the tests' tariff; readings signed with that key (or another), ending in the past."""

    def __init__(self, consortium, utility: Gateway, channel: str) -> None:
        self.id = "ATK-" + uuid.uuid4().hex[:8]
        self.customer: Customer = register_customer(consortium)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.metering = Metering(utility.network(channel))
        self.seq = 0
        self.import_wh = 0
        self.metering.register_meter({
            "meterId": self.id, "publicKeyPem": pem(self.key), "curve": "P-256",
            "customerId": self.customer.customer_id, "tariffId": TARIFF["tariffId"],
            "deviceProfile": "EPM5500P", "location": "attack bench", "installDate": "2026-01-01",
        })  # fmt: skip

    def reading(self, end: dt.datetime, wh: int,
                key: ec.EllipticCurvePrivateKey | None = None) -> SignedReading:
        self.seq += 1
        self.import_wh += wh
        body = {"meterId": self.id, "seq": self.seq, "intervalEnd": z(end),
                "importWh": self.import_wh, "exportWh": 0, "voltageDv": 2301,
                "currentMa": 4800, "powerW": 1100}
        return SignedReading(body, sign(key or self.key, encode_reading(body)))


def pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def endorse_at(gateway: Gateway, channel: str, contract: str, function: str,
               args: tuple[str, ...], at: dt.datetime, endorsers: tuple[str, ...]) -> bytes:
    """Endorse (never order) ``contract:function`` with the proposal's time set to ``at``,
    as the client of a member choosing its transaction time would; the result."""
    args_, transient = private_call(function, args)
    transient = {**(transient or {}), "salt": os.urandom(32)}
    proposal = gateway.network(channel).contract("metering", contract).new_proposal(
        function, *args_, transient=transient, endorsing_organizations=endorsers,
        timestamp=at)
    return gateway.endorse(proposal).result


def refused(call, status: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EndorseError) as info:
        call()
    assert info.value.chaincode_status == status, info.value
    assert reason in str(info.value), info.value


# -- hole: tariffs decided by the Regulator alone -------------------------------------------


def test_regulator_alone_rewriting_a_past_tariff_version_is_refused(
        consortium, regulator, channel):
    """The tariff keys' policy was "a RegulatorMSP peer", and a transaction writing only
    keys with key-level policies is checked against those alone: the Regulator, running
    modified chaincode, could reprice the past or drop versions on its own. Now the keys
    need the Regulator and one other member."""
    tariff_id = "ATK-T-" + uuid.uuid4().hex[:6]
    metering = Metering(regulator.network(channel))
    metering.set_tariff({**TARIFF, "tariffId": tariff_id})  # Regulator and Utility endorse
    later = hour_start(now()) + dt.timedelta(days=1)
    metering.set_tariff({**TARIFF, "tariffId": tariff_id, "effectiveFrom": z(later),
                         "taxes": [{"name": "VAT", "rateBasisPoints": 1000}]})
    before = metering.get_tariff(tariff_id, "")
    assert [v["version"] for v in before["versions"]] == [1, 2]
    with modified_chaincode(consortium, "regulator", ROGUE):
        rogue = regulator.network(channel).contract("metering", "metering")
        commit = rogue.submit_async("RewriteTariff", tariff_id, "1",
                                    endorsing_organizations=[R])
        with pytest.raises(CommitError) as err:
            commit.wait()
        assert err.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    assert metering.get_tariff(tariff_id, "") == before


# -- hole 8: back-dated tariff changes, and every other time a submitter chooses ------------


def test_back_dated_or_early_transaction_times_are_refused(consortium, utility, regulator,
                                                           tariff, channel):
    meter = OwnMeter(consortium, utility, channel)
    metering = Metering(utility.network(channel))
    t0 = now()
    metering.submit_readings([meter.reading(t0 - dt.timedelta(minutes=20), 1500)])
    other = "ATK-T2-" + uuid.uuid4().hex[:6]
    Metering(regulator.network(channel)).set_tariff({**TARIFF, "tariffId": other})
    before = (Metering(regulator.network(channel)).get_tariff(TARIFF["tariffId"], ""),
              metering.get_meter(meter.id), metering.bills_by_customer(
                  meter.customer.customer_id))
    past = t0 - dt.timedelta(minutes=10)  # the peers accept 15 minutes either way
    this_hour = hour_start(t0)
    changed = {**TARIFF, "effectiveFrom": z(this_hour),
               "taxes": [{"name": "VAT", "rateBasisPoints": 5000}]}
    # A tariff version dated back, to reprice the hour a reading was charged in.
    refused(lambda: endorse_at(regulator, channel, "metering", "SetTariff",
                               (json.dumps(changed),), past, (R, U)),
            409, "behind this endorser's clock")
    # On time, the hour already started is refused too.
    refused(lambda: endorse_at(regulator, channel, "metering", "SetTariff",
                               (json.dumps(changed),), now(), (R, U)),
            409, "may not start before hours already metered")
    # A meter moved to another tariff back in time.
    refused(lambda: endorse_at(utility, channel, "metering", "SetMeterTariff",
                               (meter.id, other), past, (U, R)),
            409, "behind this endorser's clock")
    # A bill issued before its period ends: on time, and dated 14 minutes ahead.
    end = this_hour + dt.timedelta(hours=1)
    period = (meter.customer.customer_id, z(end - dt.timedelta(hours=2)), z(end))
    refused(lambda: endorse_at(utility, channel, "metering", "IssueBill", period, now(),
                               (U, R)), 409, "the period's end")
    refused(lambda: endorse_at(utility, channel, "metering", "IssueBill", period,
                               now() + dt.timedelta(minutes=14), (U, R)),
            409, "ahead of this endorser's clock")
    # Readings ending in the future, in a proposal dated ahead to let them in.
    ahead = endorse_at(utility, channel, "metering", "SubmitReadings", (json.dumps(
        [meter.reading(now() + dt.timedelta(minutes=5), 100).to_json()]),),
        now() + dt.timedelta(minutes=10), (U, R))
    verdict = json.loads(ahead)["results"][0]
    assert (verdict["status"], verdict["code"]) == ("refused", "future")
    after = (Metering(regulator.network(channel)).get_tariff(TARIFF["tariffId"], ""),
             metering.get_meter(meter.id), metering.bills_by_customer(
                 meter.customer.customer_id))
    assert after == before


# -- hole 8: re-binding an account leaves arrears behind -------------------------------------


def test_customer_rebinding_away_from_its_arrears_is_refused(consortium, utility, tariff,
                                                             channel):
    meter = OwnMeter(consortium, utility, channel)
    network = utility.network(channel)
    address = open_prepaid_account(consortium, meter.customer)
    Wattcoin(network).mint(address, 1000, "PAY-" + meter.id)
    # 4 kWh: 8 571 VND charged, 1 000 paid, 7 571 in arrears, supply cut.
    result = Metering(network).submit_readings(
        [meter.reading(now() - dt.timedelta(minutes=30), 4000)])
    assert result["accepted"] == 1
    owed = Wattcoin(network).balance(address)
    assert owed["arrears"] > 0 and owed["exhausted"] is True
    # A second account the customer controls (its meter's wallet), empty and unbound.
    wallet_address = Wattcoin(network).open_meter_account(meter.id, address)["address"]
    with connect_customer(consortium, meter.customer) as gw:
        own = Wattcoin(gw.network(channel))
        refused(lambda: own.bind_customer(meter.customer.customer_id, wallet_address),
                409, "has arrears")
    assert Wattcoin(network).account_of_customer(meter.customer.customer_id)[
        "address"] == address
    assert Wattcoin(network).balance(address) == owed
    assert Wattcoin(network).balance(wallet_address)["customerId"] is None


# -- a meter's key installed by two members without the Utility -----------------------------


def test_aggregator_and_regulator_installing_their_own_meter_key_is_refused(
        consortium, utility, regulator, aggregator, tariff, channel):
    meter = OwnMeter(consortium, utility, channel)
    metering = Metering(utility.network(channel))
    device = metering.contract.network.contract("metering", "metering")
    before = json.loads(device.evaluate("GetMeterDevice", meter.id))
    theirs = ec.generate_private_key(ec.SECP256R1())
    with (modified_chaincode(consortium, "aggregator", ROGUE),
          modified_chaincode(consortium, "regulator", ROGUE)):
        rogue = aggregator.network(channel).contract("metering", "metering")
        # Two of three peers: the chaincode's policy holds; meter~'s own does not.
        commit = rogue.submit_async("InstallKey", meter.id, pem(theirs),
                                    endorsing_organizations=[A, R])
        with pytest.raises(CommitError) as err:
            commit.wait()
        assert err.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    assert json.loads(device.evaluate("GetMeterDevice", meter.id)) == before
    # And readings signed with their key are refused: the reading path verifies with the
    # key in the meter's private record, which only the Utility and the Regulator write.
    forged = metering.submit_readings([meter.reading(now() - dt.timedelta(minutes=5),
                                                     1_000_000, key=theirs)])
    assert (forged["accepted"], forged["results"][0]["code"]) == (0, "bad-signature")
    assert metering.get_meter(meter.id)["head"]["seq"] == 0


# -- forged supply and alarm events ----------------------------------------------------------


def _audit(bridge: BridgeProcess) -> list[dict[str, Any]]:
    path = bridge.data / "relay-audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_regulator_alone_forging_exhausted_and_alarm_events_cuts_no_paying_customer(
        consortium, utility, regulator, tariff, channel, sims, bridges):  # noqa: F811
    """Any member's transaction may carry any event: one writing only the Regulator's own
    collection (as market:RecordPseudonym does) is VALID with the Regulator's peer alone.
    The bridge that obeyed "exhausted" events cut whichever meter they named. Now an event
    is a hint: the bridge asks its own peer's state, and a paying customer stays on."""
    sim: SimThread = sims(1, speed=0)
    network = utility.network(channel)
    metering = Metering(network)
    bridge = bridges([tcp(sim, 1)], name="forged-events")
    owner = register_customer(consortium)
    meter_id = register(metering, bridge.keys, sim, 1, owner.customer_id)
    address = open_prepaid_account(consortium, owner)
    Wattcoin(network).mint(address, 1_000_000, "PAY-" + meter_id)
    bridge.start()
    wait_for("readings flowing", lambda: head_seq(metering, meter_id) >= 1, 60)
    wait_for("the bridge's first check of the ledger's state", lambda: any(
        e.get("supply_check") == "start" for e in bridge.log_entries()), 30)
    assert sim.meter(1).relay_closed

    forged = {"accepted": 1, "duplicate": 0, "refused": 0, "alarms": [],
              # the batch index a bridge would map, and the meter named outright
              "exhausted": [0, {"meters": [meter_id]}], "lowBalance": [0]}
    alarm = {"meterId": meter_id, "kind": "fire", "at": z(now()), "source": "RaiseAlarm",
             "txId": "forged"}
    txids: list[str] = []
    blocks: list[int] = []
    with modified_chaincode(consortium, "regulator", ROGUE):
        rogue = regulator.network(channel).contract("metering", "metering")
        for name, payload in (("ReadingsProcessed", forged), ("Alarm", alarm)):
            commit = rogue.submit_async("ForgeEvent", name, json.dumps(payload),
                                        "p-" + uuid.uuid4().hex[:24],
                                        endorsing_organizations=[R])
            commit.wait()  # VALID: the forgery reaches every block, and the bridge
            txids.append(commit.transaction_id)
            blocks.append(commit.status().block_number)

    def checked() -> dict[str, Any] | None:
        return next((e for e in bridge.log_entries()
                     if txids[0] in str(e.get("supply_check", ""))), None)

    wait_for("the bridge checked the forged event against the ledger's state",
             lambda: checked() is not None, 30)
    assert checked()["switched"] == 0
    assert sim.meter(1).relay_closed is True
    assert not any(a["switch"] == "relay" and a["on"] is False for a in _audit(bridge))
    # The ledger says so too; and the forged alarm recorded nothing.
    state = Wattcoin(network).supply_status([meter_id])["meters"][meter_id]
    assert state == {"known": True, "prepaid": True, "supply": True, "powerSaving": False}
    assert metering.alarms_by_meter(meter_id) == []
    assert Wattcoin(network).balance(address)["exhausted"] is False
    # The alarm event is no supply hint at all: handled (checkpointed), never checked for.
    def past_the_alarm() -> bool:
        cp = FileCheckpoint(bridge.data / "events.json")
        return (cp.block_number or 0) > blocks[1] or (
            cp.block_number == blocks[1] and cp.transaction_id == txids[1])

    wait_for("the bridge past the forged alarm event", past_the_alarm, 30)
    assert not any(txids[1] in str(e.get("supply_check", "")) for e in bridge.log_entries())
    assert sim.meter(1).relay_closed is True


# -- an operator editing its peer's private state database ------------------------------------

_PRIVATE = b"dmetering$$pcustomerData\x00"  # stateleveldb: data key, namespace, separator


def _fields(raw: bytes) -> dict[int, bytes]:
    """stateleveldb's DBValue{version=1, value=2, metadata=3}: three length-delimited
    fields (core/ledger/kvledger/txmgmt/statedb/stateleveldb/value_encoding.go)."""
    out = {1: b"", 2: b"", 3: b""}
    i = 0
    while i < len(raw):
        tag, i = _varint(raw, i)
        length, i = _varint(raw, i)
        out[tag >> 3] = raw[i:i + length]
        i += length
    return out


def _varint(raw: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = raw[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7


def _encode(fields: dict[int, bytes]) -> bytes:
    """stateleveldb's DBValue{version=1, value=2, metadata=3}, as proto.Marshal writes it."""
    out = b""
    for number in sorted(fields):
        if not fields[number]:
            continue
        out += _write_varint(number << 3 | 2) + _write_varint(len(fields[number]))
        out += fields[number]
    return out


def _write_varint(value: int) -> bytes:
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def _halve_in_place(db_path: Path, channel: str, meter_id: str, count: int
                    ) -> dict[bytes, bytes]:
    """What the Utility's operator can do with its peer stopped: halve each reading's
    importWh in the private state database, recompute every chain link and the head, and
    put everything back with its version (the key-value pairs are found by the logical
    key each private value names). Returns what it overwrote, to put back."""
    import hashlib

    prefix = channel.encode() + b"\x00" + _PRIVATE
    db = plyvel.DB(str(db_path), create_if_missing=False)
    try:
        found: dict[str, tuple[bytes, dict[int, bytes], dict[str, Any]]] = {}
        for key, raw in db.iterator(prefix=prefix):
            fields = _fields(raw)
            try:
                value = json.loads(fields[2])
            except ValueError:
                continue
            logical = value.get("key") if isinstance(value, dict) else None
            if isinstance(logical, str) and meter_id in logical:
                found[logical] = (key, fields, value)
        originals = {found[k][0]: _encode(found[k][1]) for k in found}
        prev = "00" * 32
        last: dict[str, Any] = {}
        for seq in range(1, count + 1):
            key, fields, record = found[f"reading~{meter_id}~{seq:012d}"]
            reading = json.loads(record["canonical"])
            reading["importWh"] //= 2
            record["canonical"] = json.dumps(reading, sort_keys=True, separators=(",", ":"))
            record["prevHash"] = prev
            prev = hashlib.sha256(bytes.fromhex(prev) + record["canonical"].encode()).hexdigest()
            record["hash"] = prev
            record["importDeltaWh"] //= 2
            fields[2] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
            db.put(key, _encode(fields))
            last = reading
        key, fields, head = found[f"meterhead~{meter_id}"]
        head.update(hash=prev, importWh=last["importWh"], highImportWh=last["importWh"])
        fields[2] = json.dumps(head, sort_keys=True, separators=(",", ":")).encode()
        db.put(key, _encode(fields))
    finally:
        db.close()
    return originals


def _put_back(db_path: Path, originals: dict[bytes, bytes]) -> None:
    db = plyvel.DB(str(db_path), create_if_missing=False)
    try:
        for key, raw in originals.items():
            db.put(key, raw)
    finally:
        db.close()


def test_utility_operator_halving_readings_in_its_peers_database_is_named_by_the_chain_check(
        consortium, utility, regulator, tariff, channel):
    """The chain check compared hashes only: an operator who rewrote its peer's private
    state (every importWh halved, every link and the head recomputed) got {"ok": true}.
    Now every reading's signature is checked with the key in force at its seq."""
    meter = OwnMeter(consortium, utility, channel)
    metering = Metering(utility.network(channel))
    start = now() - dt.timedelta(minutes=40)
    batch = [meter.reading(start + dt.timedelta(minutes=10 * i), 2000) for i in range(3)]
    assert metering.submit_readings(batch)["accepted"] == 3
    wait_for("the readings on the Regulator's peer", lambda: Metering(
        regulator.network(channel)).get_meter(meter.id)["head"]["seq"] == 3, 30)
    assert metering.verify_meter_chain(meter.id) == {"ok": True, "seq": 3}

    peer = peer_of(consortium, "utility")
    db_path = (consortium.layout.node(consortium.topology.org("utility").peer.id)
               / "data" / "ledgersData" / "stateLeveldb")
    consortium.supervisor.stop_process(peer.name)
    originals: dict[bytes, bytes] = {}
    try:
        originals = _halve_in_place(db_path, channel, meter.id, 3)
    finally:
        restart(consortium, peer)
    try:
        _wait_until_the_utility_endorses(utility, channel)
        edited = metering.get_meter(meter.id)["head"]
        assert edited["importWh"] == 3000  # the edit is in the Utility's state ...
        answer = metering.verify_meter_chain(meter.id)  # ... and its own peer names it
        assert answer["ok"] is False and answer["seq"] == 1
        assert answer["reason"].startswith("bad signature")
        # The Regulator's peer, untouched, holds what the meter signed.
        assert Metering(regulator.network(channel)).verify_meter_chain(meter.id) == {
            "ok": True, "seq": 3}
    finally:
        # Put the Utility's state back, so that later modules (the portal's integrity
        # check) meet the ledger every organisation agrees on.
        consortium.supervisor.stop_process(peer.name)
        try:
            _put_back(db_path, originals)
        finally:
            restart(consortium, peer)
        _wait_until_the_utility_endorses(utility, channel)
    assert metering.verify_meter_chain(meter.id) == {"ok": True, "seq": 3}


def _wait_until_the_utility_endorses(utility: Gateway, channel: str) -> None:
    """The restarted peer's Gateway learns the other peers from discovery first: until it
    gathers every organisation's endorsement, later modules' combinations would fail."""
    health = utility.network(channel).contract("health")

    def endorses() -> bool:
        try:
            health.submit("Put", "metering-attacks-peer-back", uuid.uuid4().hex,
                          endorsing_organizations=(U, R, A))
        except GatewayError as exc:
            assert exc.retryable or exc.code.name == "FAILED_PRECONDITION", exc
            return False
        return True

    wait_for("the Utility's peer endorsing with every organisation again", endorses, 120, 1.0)
