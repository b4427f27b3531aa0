"""Acting as the Aggregator: none of a customer's energy or money reaches its nodes.

Threat model (chaincode/README.md): an organisation reads all its own peer and orderer
store. So after a day of a customer's readings, a prepaid top-up, the drains and a bill,
this test searches everything the Aggregator holds - every block through Deliver as its
admin, its peer's and orderer's block files, its peer's world state, private data store,
history and transient store (opened as LevelDB) - for the customer's known values, and
finds none. The same search over the Utility's private state finds them, which shows
the search itself works.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from pathlib import Path

import plyvel
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.metering import Metering, SignedReading, Wattcoin
from gridledger.clients.wallet import Wallet
from gridledger.formats.canonical import canonical_json
from gridledger.formats.reading import encode_reading, sign

from .customers import connect_customer, open_prepaid_account, register_customer
from .gateways import connect

READINGS_PER_DAY = 96
FIRST_REGISTER = 48_213_907  # Wh: eight digits, nothing else on the ledger looks like it
TOP_UP = 777_431


@pytest.fixture(scope="module")
def customer_day(consortium, utility, tariff):
    """A customer's day on the ledger; returns what an outsider must not learn."""
    channel = consortium.topology.channel
    metering, wattcoin = Metering(utility.network(channel)), Wattcoin(utility.network(channel))
    customer = register_customer(consortium, "C-PRIV-" + uuid.uuid4().hex[:6])
    location = "PRIVLOC-" + uuid.uuid4().hex[:10]
    meter_id = "PRIV-" + uuid.uuid4().hex[:8]
    key = ec.generate_private_key(ec.SECP256R1())
    metering.register_meter({
        "meterId": meter_id, "curve": "P-256", "customerId": customer.customer_id,
        "publicKeyPem": key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        "tariffId": tariff["tariffId"], "deviceProfile": "SDM630", "location": location,
        "installDate": "2026-01-01", "initialImportWh": FIRST_REGISTER,
    })  # fmt: skip
    address = open_prepaid_account(consortium, customer)
    wattcoin.mint(address, TOP_UP, "PAY-" + meter_id)

    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    registers, readings = [], []
    register = FIRST_REGISTER
    for seq in range(1, READINGS_PER_DAY + 1):
        register += 97 + (seq * 37) % 211  # 97..307 Wh per quarter hour
        registers.append(register)
        body = {
            "meterId": meter_id, "seq": seq,
            "intervalEnd": (day + dt.timedelta(minutes=15 * seq)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "importWh": register, "exportWh": 0, "voltageDv": 2377,
            "currentMa": 6421 + seq, "powerW": 1523 + seq,
        }  # fmt: skip
        readings.append(SignedReading(body, sign(key, encode_reading(body))))
    for i in range(0, len(readings), 24):
        result = metering.submit_readings(readings[i : i + 24])
        assert result["accepted"] == 24, result
    start = day.strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (day + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    metering.issue_bill(customer.customer_id, start, end)
    bill = metering.get_bill(customer.customer_id, start)
    with connect_customer(consortium, customer) as gw:
        balance = Wattcoin(gw.network(channel)).balance(address)["balance"]
    assert bill["total"] > 10_000 and TOP_UP > balance > 0
    # Each value with the forms it may take: as JSON, or as JSON inside a JSON string
    # (the signed canonical reading is kept as text inside its record).
    return {
        "location": (location.encode(),),
        "top-up": (str(TOP_UP).encode(),),
        "balance": (f'"balance":{balance}'.encode(),),
        "bill total": (f'"total":{bill["total"]}'.encode(),),
        "bill energy": (f'"importWh":{bill["importWh"]}'.encode(),),
        "a voltage": (b'"voltageDv":2377', b'voltageDv\\":2377'),
        "the voltage member": (b"voltageDv",),
        "the current member": (b"currentMa",),
        "the register member": (b'"importWh"', b'importWh\\"'),
        **{f"register {i}": (str(r).encode(),) for i, r in enumerate(registers)},
    }


def _leveldb_values(directory: Path, scratch: Path) -> bytes:
    """Every key and value of a LevelDB (a peer's state, private or history store).

    The peer holds the database open, so a copy is read (without its lock file); LevelDB
    replays the copied log, so nothing written before the copy is missed.
    """
    copy = scratch / directory.name
    shutil.copytree(directory, copy)
    (copy / "LOCK").unlink(missing_ok=True)
    db = plyvel.DB(str(copy), create_if_missing=False)
    try:
        return b"\n".join(k + b"=" + v for k, v in db)
    finally:
        db.close()


def _peer_data(consortium, org: str) -> Path:
    return consortium.layout.node(consortium.topology.org(org).peer.id) / "data" / "ledgersData"


def _found(haystack: bytes, needles: dict[str, tuple[bytes, ...]]) -> list[str]:
    return [name for name, forms in needles.items() if any(f in haystack for f in forms)]


def test_no_block_the_aggregator_receives_holds_the_customers_data(consortium, customer_day):
    with connect(consortium, "aggregator") as gw:
        network = gw.network(consortium.topology.channel)
        height = max(n.get("height", 0) for n in consortium.status()["nodes"]
                     if n["kind"] == "peer")
        blocks = [b.raw.SerializeToString()
                  for b in network.block_events(start_block=0, stop_block=height - 1)]
    assert len(blocks) == height
    assert _found(b"".join(blocks), customer_day) == []


def test_the_aggregators_block_files_hold_none_of_it(consortium, customer_day):
    peer_files = list((_peer_data(consortium, "aggregator") / "chains" / "chains").rglob(
        "blockfile_*"))
    orderer = consortium.layout.node(consortium.topology.org("aggregator").orderer.id)
    orderer_files = list(orderer.rglob("blockfile_*"))
    assert peer_files and orderer_files
    for path in peer_files + orderer_files:
        assert _found(path.read_bytes(), customer_day) == [], path


@pytest.mark.parametrize("store", ["stateLeveldb", "pvtdataStore", "historyLeveldb"])
def test_the_aggregators_peer_databases_hold_none_of_it(consortium, customer_day, store,
                                                        tmp_path):
    values = _leveldb_values(_peer_data(consortium, "aggregator") / store, tmp_path)
    assert values  # the database was read, and is not empty
    assert _found(values, customer_day) == []


def test_nor_its_transient_store(consortium, customer_day, tmp_path):
    transient = _peer_data(consortium, "aggregator").parent / "transientstore"
    assert _found(_leveldb_values(transient, tmp_path), customer_day) == []


def test_the_utilitys_private_state_holds_it_all(consortium, customer_day, tmp_path):
    # The control: the same search, on a member of the collection, finds every value.
    values = _leveldb_values(_peer_data(consortium, "utility") / "stateLeveldb", tmp_path)
    missing = [name for name in customer_day if name not in _found(values, customer_day)]
    assert missing == []


# -- the grant (issue 13): a consumption profile reaches the Aggregator only through the
# -- Utility's service node, and only after its owner's grant ------------------------------


@pytest.fixture(scope="module")
def profile_grant(consortium, utility, tariff, tmp_path_factory):
    """A customer's profile produced and stored by the Utility's service node (a real
    process), its hash address registered by the customer; no DACT yet."""
    from .access_world import aggregator_device, household, produce_and_register, service_node

    channel = consortium.topology.channel
    store = tmp_path_factory.mktemp("privacy-service-node") / "store"
    with service_node(consortium, store) as node, connect(consortium, "aggregator") as agg:
        home = household(consortium, utility, tariff, readings=12)
        device = aggregator_device(agg, channel)
        resource_id, address = produce_and_register(consortium, home, node)
        content = (store / address[:2] / address[2:]).read_bytes()
        profile = json.loads(content)
        needles = {"the profile": (content,), "its nonce": (profile["nonce"].encode(),),
                   **{f"interval {i}": (canonical_json(x),)
                      for i, x in enumerate(profile["intervals"])}}
        yield {"node": node, "aggregator": agg, "home": home, "device": device,
               "resource": resource_id, "address": address, "content": content,
               "needles": needles}


def _aggregator_holds(consortium, needles, scratch: Path) -> list[str]:
    """What of ``needles`` the Aggregator's nodes hold (_aggregator_haystack)."""
    return _found(_aggregator_haystack(consortium, scratch), needles)


def test_before_the_grant_the_aggregator_finds_no_profile(consortium, profile_grant, tmp_path):
    from gridledger.clients.access_service import ServiceNodeClient, ServiceNodeError

    g = profile_grant
    assert _aggregator_holds(consortium, g["needles"], tmp_path) == []
    identity, signer = Wallet.from_msp_dir(consortium.layout.msp("aggregator", "Admin"),
                                           "AggregatorMSP")
    with (ServiceNodeClient(g["node"].url, identity, signer) as client,
          pytest.raises(ServiceNodeError) as err):
        client.fetch(g["address"], "")  # no token: the proof names none (400)
    assert err.value.status == 400 and g["content"].decode() not in str(err.value)


def test_after_the_grant_exactly_the_profile_and_only_through_the_service_node(
        consortium, profile_grant, tmp_path):
    from gridledger.clients.access import Access
    from gridledger.clients.access_service import ServiceNodeClient

    from .access_world import owner_grant

    g = profile_grant
    agg, device = g["aggregator"], g["device"]
    access = Access(agg.network(consortium.topology.channel))
    dact = owner_grant(consortium, g["home"], agg, device, [g["resource"]])
    token_id = access.certify(dact, device.device_id, device.signer)["tokenId"]
    assert [r["hashAddress"] for r in access.access(token_id)["resources"]] == [g["address"]]
    identity, signer = Wallet.from_msp_dir(consortium.layout.msp("aggregator", "Admin"),
                                           "AggregatorMSP")
    with ServiceNodeClient(g["node"].url, identity, signer) as client:
        fetched = client.fetch(g["address"], token_id)
    assert fetched.content == g["content"]  # exactly the granted profile
    # ... and none of it reached the Aggregator's nodes: it came through the service node.
    assert _aggregator_holds(consortium, g["needles"], tmp_path) == []
    assert [e["kind"] for e in access.access_log(token_id)] == ["contract", "service"]


# -- the market (issue 12): pseudonyms only; nothing on the Aggregator's nodes links a
# -- pseudonym to a customer ------------------------------------------------------------------


def _leveldb_entries(directory: Path, scratch: Path) -> list[bytes]:
    """Each key with its value, one item per LevelDB entry (read from a copy, as
    _leveldb_values does)."""
    copy = scratch / ("entries-" + directory.name)
    shutil.copytree(directory, copy)
    (copy / "LOCK").unlink(missing_ok=True)
    db = plyvel.DB(str(copy), create_if_missing=False)
    try:
        return [k + b"=" + v for k, v in db]
    finally:
        db.close()


@pytest.fixture(scope="module")
def market_trade(consortium, utility, regulator):
    """A customer who trades: pseudonym issued, meter enrolled, tokens deposited, a bid
    against another participant's offer, cleared, delivered and settled. Returns its
    pseudonym and what would identify it."""
    from gridledger.formats.market import interval_id

    from .market_world import MINUTE, Orgs, join, minute_start, new_market, now, submit_readings

    with connect(consortium, "aggregator") as agg:
        orgs = Orgs(utility, regulator, agg, consortium.topology.channel)
        market_id = new_market(orgs, "priv")
        buyer, seller = (join(consortium, orgs, market_id, prefix="PRIV") for _ in range(2))
        start = minute_start(now()) - 3 * MINUTE
        iv = interval_id(market_id, start)
        market = orgs.market("aggregator")
        market.open_interval(iv, "uniform", at=start - MINUTE)
        market.place_offer(seller.key.order("offer", iv, "o", 2000, 1000), at=start - MINUTE / 2)
        market.place_bid(buyer.key.order("bid", iv, "b", 2000, 1600), at=start - MINUTE / 2)
        market.clear(iv)
        submit_readings(orgs, [buyer.reading(start + MINUTE, 2000, 0),
                               seller.reading(start + MINUTE, 0, 2500)])
        orgs.market("utility").settle(iv)
        trades = market.trades_of(buyer.pseudonym, iv)
        assert trades[0]["settlement"]["deliveredWh"] == 2000
    cert = buyer.customer.enrollment.certificate
    ended = start + MINUTE
    return {"pseudonym": buyer.pseudonym.encode(), "guessable": _guessable_keys(
        buyer.customer.customer_id, buyer.meter_id, buyer.address, buyer.pseudonym, iv,
        ended), "identifiers": {
        "customer id": buyer.customer.customer_id.encode(),
        "enrollment id": buyer.customer.enrollment_id.encode(),
        "meter id": buyer.meter_id.encode(),
        "account": buyer.address.encode(),
        # A line of the CA's signature at the end of its PEM: this certificate's alone.
        "certificate": cert.strip().split(b"\n")[-2],
    }}


def _guessable_keys(customer: str, meter: str, address: str, pseudonym: str, iv: str,
                    when: dt.datetime) -> list[str]:
    """The private keys of a trader that an organisation could write down from what it
    knows or can guess: a meter id (public), a customer id and an account address (they
    follow from the certificate of the customer's own transactions), its pseudonym
    (public), the interval (public) and the day."""
    first = [f"{n:012d}" for n in range(1, 4)]
    return [
        f"meterinfo~{meter}", f"meterhead~{meter}", f"mktmeter~{meter}",
        *(f"reading~{meter}~{seq}" for seq in first), f"usage~{meter}~{when:%Y%m%d}",
        f"wcptd~{meter}~{when:%Y%m}", f"custmeter~{customer}", f"custbills~{customer}",
        f"wccust~{customer}", f"wcacct~{address}", *(f"wchist~{address}~{n}" for n in first),
        f"mktlink~{pseudonym}", f"mktiv~{pseudonym}~{iv}",
    ]


def _aggregator_haystack(consortium, scratch: Path) -> bytes:
    """Everything the Aggregator's nodes hold: blocks through Deliver, the block files of
    its peer and orderer, its peer's state, private data, history and transient stores."""
    with connect(consortium, "aggregator") as gw:
        height = max(n.get("height", 0) for n in consortium.status()["nodes"]
                     if n["kind"] == "peer")
        blocks = b"".join(b.raw.SerializeToString() for b in gw.network(
            consortium.topology.channel).block_events(start_block=0, stop_block=height - 1))
    data = _peer_data(consortium, "aggregator")
    orderer = consortium.layout.node(consortium.topology.org("aggregator").orderer.id)
    files = [*(data / "chains" / "chains").rglob("blockfile_*"), *orderer.rglob("blockfile_*")]
    stores = [data / s for s in ("stateLeveldb", "pvtdataStore", "historyLeveldb")]
    stores.append(data.parent / "transientstore")
    return blocks + b"".join(p.read_bytes() for p in files) + b"".join(
        _leveldb_values(store, scratch / str(i)) for i, store in enumerate(stores))


def test_the_aggregator_hashing_the_keys_it_can_guess_finds_none_of_them(
        consortium, market_trade, tmp_path):
    # Issue 17, hole 3: the channel keeps an unsalted SHA-256 of every private key, so an
    # organisation that hashes the key names it can write down (meterhead~<meter>,
    # wccust~<customer>, wcacct~<address>, mktlink~<pseudonym>) would find them in its
    # blocks and stores, and link the pseudonym to the meter and the customer. customerData
    # stores such keys under names derived with a secret only its members hold.
    import hashlib

    haystack = _aggregator_haystack(consortium, tmp_path / "aggregator")
    guessed = {k: hashlib.sha256(k.encode()).digest() for k in market_trade["guessable"]}
    assert [k for k, h in guessed.items() if h in haystack] == []
    # The control: the very same search finds the keys under their stored names. Those
    # are on the Utility's peer (a member of the collection), whose values name their
    # logical keys; the Aggregator's blocks carry the stored names' hashes.
    stored = _stored_names(consortium, tmp_path / "utility", set(market_trade["guessable"]))
    assert {"meterhead", "wcacct", "mktlink", "mktiv"} <= {k.split("~")[0] for k in stored}
    missing = [k for k, name in stored.items()
               if hashlib.sha256(name.encode()).digest() not in haystack]
    assert missing == []
    assert all(stored[k] != k for k in stored)  # the stored name is not the logical one


def _stored_names(consortium, scratch: Path, logical: set[str]) -> dict[str, str]:
    """Logical key -> the name customerData stores it under, read from the Utility's
    private state (each value names its logical key; the LevelDB key ends with the
    stored name)."""
    found = {}
    for entry in _leveldb_entries(_peer_data(consortium, "utility") / "stateLeveldb", scratch):
        raw_key, _, value = entry.partition(b"=")
        for name in logical:
            if f'"key":"{name}"'.encode() in value:
                found[name] = raw_key.split(b"\x00")[-1].decode("utf-8", "replace")
    return found


def _linking(items: list[bytes], trade: dict) -> list[str]:
    """Which identifiers of the trader appear in an item that also names its pseudonym."""
    return sorted({name for item in items if trade["pseudonym"] in item
                   for name, needle in trade["identifiers"].items() if needle in item})


def test_no_transaction_the_aggregator_receives_links_the_pseudonym_to_the_customer(
        consortium, market_trade):
    by_channel = {}
    with connect(consortium, "aggregator") as gw:
        for channel in consortium.topology.channels:
            by_channel[channel] = [bytes(e) for b in gw.network(channel).block_events(
                start_block=0, stop_block=_height(gw, channel) - 1) for e in b.raw.data.data]
    envelopes = [e for found in by_channel.values() for e in found]
    naming = [e for e in envelopes if market_trade["pseudonym"] in e]
    assert len(naming) >= 5  # enrolment, deposit, bid, clearing, settlement: pseudonyms
    assert _linking(envelopes, market_trade) == []
    # Not one transaction of the energy channel, where the customers' records are, names
    # the pseudonym: it travels there in transient maps only.
    assert not any(market_trade["pseudonym"] in e
                   for e in by_channel[consortium.topology.channel])


@pytest.mark.parametrize("store", ["stateLeveldb", "pvtdataStore", "historyLeveldb"])
def test_no_record_on_the_aggregators_peer_links_the_pseudonym_to_the_customer(
        consortium, market_trade, store, tmp_path):
    entries = _leveldb_entries(_peer_data(consortium, "aggregator") / store, tmp_path)
    if store == "stateLeveldb":
        assert any(market_trade["pseudonym"] in e for e in entries)  # the public book
    assert _linking(entries, market_trade) == []


def test_the_link_is_where_it_belongs_the_utilitys_private_data(consortium, market_trade,
                                                                  tmp_path):
    # The control: on a member of customerData the same search finds the link (mktlink).
    entries = _leveldb_entries(_peer_data(consortium, "utility") / "stateLeveldb", tmp_path)
    assert "customer id" in _linking(entries, market_trade)


def test_the_aggregator_following_key_hashes_from_the_pseudonym_reaches_no_customer_or_meter(
        consortium, market_trade):
    # Hashing guessable names is one way to link; following equal key hashes is another.
    # The Aggregator takes every private record a transaction naming the pseudonym touched
    # (enrolment, deposit, orders, settlement) and looks for the same record in a
    # transaction that names a customer (its certificate, its id) or a meter (meter~<id>),
    # on both channels. The market's transactions are on a channel of their own and read
    # the customers' records across channels, which leaves nothing in their read sets.
    from .key_graph import linked, touches

    envelopes = []
    with connect(consortium, "aggregator") as gw:
        for channel in consortium.topology.channels:
            height = _height(gw, channel)
            envelopes += [(bytes(raw), tx.validation_code) for b in gw.network(
                channel).block_events(start_block=0, stop_block=height - 1)
                for tx, raw in zip(b.transactions, b.raw.data.data, strict=True)]
    graph = touches(envelopes)
    naming = [t for t in graph if market_trade["pseudonym"] in t.arguments or any(
        market_trade["pseudonym"].decode() in k for k in t.public_keys)]
    assert len(naming) >= 4  # enrolment, deposit, bid, settlement: the attack has a start
    assert linked(graph, market_trade["pseudonym"], market_trade["identifiers"], crowd=5) == {}
    # The control: from the customer's own identity the same walk reaches its meter (the
    # energy channel links them, as it must: the Utility bills the customer for it).
    identity = market_trade["identifiers"]
    assert "meter id" in linked(graph, identity["certificate"], {
        "meter id": identity["meter id"]}, crowd=5)


def _height(gw, channel: str) -> int:
    from fabric_protos.common import ledger_pb2

    info = ledger_pb2.BlockchainInfo()
    info.ParseFromString(gw.network(channel).contract("qscc").evaluate("GetChainInfo",
                                                                        channel))
    return int(info.height)
