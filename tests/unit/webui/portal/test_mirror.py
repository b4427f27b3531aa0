"""The mirror: blocks decoded into rows, state and who it concerns, on SQLite and on a real
PostgreSQL server; both channels (energy, market) in one mirror; integrity checks, tamper
alerts and repair from the ledger, per channel."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, func, select, text, update

from gridledger.webui.mirror import Listener, Mirror
from gridledger.webui.mirror.database import current_revision, migrate
from gridledger.webui.mirror.decode import decode
from gridledger.webui.mirror.integrity import Integrity
from gridledger.webui.mirror.schema import (
    AlertRow,
    BlockRow,
    StateRow,
    TransactionRow,
    WriteRow,
)

from . import world
from .conftest import fill, sources
from .fabric_blocks import ChainBuilder, FakeSource, Tx


def _state(m: Mirror, key: str, channel: str = "energy") -> StateRow | None:
    with m.sessions() as s:
        return s.scalar(select(StateRow).where(StateRow.channel == channel,
                                               StateRow.key == key))


# -- decoding and storing --------------------------------------------------------------


def test_a_block_becomes_its_header_transactions_and_the_writes_of_valid_ones(chain):
    item = chain.blocks[4]
    rows = decode(item.block, item.private_writes)
    assert (rows.block["channel"], rows.block["number"]) == ("energy", 4)
    assert {r["channel"] for r in rows.transactions + rows.writes} == {"energy"}
    assert rows.block["data_hash"] == item.block.data_hash.hex()
    assert rows.block["previous_hash"] == chain.blocks[3].block.header_hash.hex()
    first, second = rows.transactions
    assert (first["function"], first["validation_code"]) == ("metering:SubmitReadings", "VALID")
    assert first["refused"] == 1 and first["event_name"] == "ReadingsProcessed"
    assert json.loads(first["endorsers"]) == ["RegulatorMSP", "UtilityMSP"]
    assert second["validation_code"] == "MVCC_READ_CONFLICT"
    assert {w["tx_index"] for w in rows.writes} == {0}  # nothing of the invalid one
    reading = next(w for w in rows.writes if w["key"] == f"reading~{world.M1}~000000000001")
    assert reading["collection"] == "customerData" and reading["kind"] == "reading"
    assert "salt" not in json.loads(reading["value"])  # the salt is nobody's data


def test_the_mirror_holds_the_latest_write_of_each_key_and_whose_it_is(any_mirror, chain):
    fill(any_mirror, chain)
    assert any_mirror.store.height("energy") == len(chain.blocks)
    assert any_mirror.store.height("market") == 0
    acct = _state(any_mirror, f"wcacct~{world.A2}")
    assert json.loads(acct.value)["balance"] == 0 and acct.block_number == 4
    assert acct.customer_id == world.C2 and acct.ref == world.A2
    r = _state(any_mirror, f"reading~{world.M1}~000000000002")
    assert (r.customer_id, r.meter_id) == (world.C1, world.M1)
    assert r.ref == json.loads(r.value)["hash"]
    alarm = _state(any_mirror, f"alarm~{world.M2}~2026-03-01T10:00:00Z~fire")
    assert alarm.customer_id == world.C2
    with any_mirror.sessions() as s:
        assert s.scalar(select(func.count()).select_from(TransactionRow)) == sum(
            len(b.block.transactions) for b in chain.blocks)
        hist = s.scalar(select(WriteRow).where(WriteRow.kind == "wchist"))
        assert hist.customer_id == world.C1  # via the account it belongs to


def test_a_block_delivered_twice_is_written_once(mirror, chain):
    fill(mirror, chain)
    assert mirror.store.apply(decode(chain.blocks[2].block, chain.blocks[2].private_writes)) \
        is None
    with mirror.sessions() as s:
        assert s.scalar(select(func.count()).select_from(BlockRow)) == len(chain.blocks)


# -- two channels --------------------------------------------------------------------------


def test_both_channels_share_block_numbers_in_one_mirror(any_mirror, chain, market_chain):
    """Block 0 and 1 exist on both channels: each is its own row, chain and state."""
    fill(any_mirror, chain, market_chain)
    store = any_mirror.store
    assert (store.height("energy"), store.height("market")) == (len(chain.blocks), 2)
    assert store.has_block("market", 1) and not store.has_block("market", 2)
    with any_mirror.sessions() as s:
        rows = {(b.channel, b.number): b for b in s.scalars(select(BlockRow))}
        assert rows[("energy", 0)].header_hash == chain.blocks[0].block.header_hash.hex()
        assert rows[("market", 0)].header_hash == \
            market_chain.blocks[0].block.header_hash.hex()
        assert rows[("energy", 0)].header_hash != rows[("market", 0)].header_hash
        assert s.scalar(select(func.count()).select_from(TransactionRow)
                        .where(TransactionRow.channel == "market")) == 3
        market_kinds = set(s.scalars(select(StateRow.kind).where(StateRow.channel == "market")))
        assert market_kinds == {"health", "mktvpp", "mktvppm", "mktmember", "mktint", "mkttr",
                                "mktpay", "mktaudit"}
        energy_kinds = set(s.scalars(select(StateRow.kind).where(StateRow.channel == "energy")))
        assert "mktlink" in energy_kinds and not energy_kinds & market_kinds
    # The market's write of block 1 is its own, not the energy block 1's.
    pay = _state(any_mirror, f"mktpay~{world.VPP}~{world.IV}~{world.P1}", "market")
    assert (pay.block_number, pay.tx_index) == (1, 0)
    assert _state(any_mirror, f"mktpay~{world.VPP}~{world.IV}~{world.P1}") is None


def test_the_same_key_on_two_channels_is_two_states():
    """The health chaincode is defined on both channels: its keys repeat."""
    energy, market = ChainBuilder("energy"), ChainBuilder("market")
    energy.add(Tx("Put", chaincode="health", writes={"health~probe": "on energy"}))
    market.add(Tx("Put", chaincode="health", writes={"health~probe": "on market"}))
    energy.add(Tx("Put", chaincode="health", writes={"health~probe": "energy again"}))
    m = Mirror.open("sqlite://", key=b"k" * 32)
    try:
        fill(m, energy, market)
        assert json.loads(_state(m, "health~probe", "energy").value) == "energy again"
        assert json.loads(_state(m, "health~probe", "market").value) == "on market"
        assert _state(m, "health~probe", "market").block_number == 0
    finally:
        m.close()


def test_a_listener_per_channel_follows_its_own_channel(mirror, chain, market_chain):
    energy = Listener(mirror.store, FakeSource(chain))
    market = Listener(mirror.store, FakeSource(market_chain))
    assert (energy.channel, market.channel) == ("energy", "market")
    assert market.catch_up(10) == 2 and mirror.store.height("energy") == 0
    assert energy.catch_up(10) == len(chain.blocks)
    assert market.catch_up(10) == 0  # from its own height, not the energy channel's
    assert market.status.as_dict()["channel"] == "market"
    with mirror.sessions() as s:
        assert s.scalar(select(func.count()).select_from(BlockRow)) == len(chain.blocks) + 2


def test_without_private_data_the_mirror_has_no_customer_data(mirror, chain):
    """The Aggregator's peer delivers no private writes: its mirror has public records only,
    and nothing names a customer."""
    for item in chain.blocks:
        mirror.store.apply(decode(item.block, ()))
    with mirror.sessions() as s:
        kinds = set(s.scalars(select(StateRow.kind).distinct()))
        assert kinds == {"tariff", "tariffreg", "meter", "idot", "resource", "dact", "token",
                         "accesslog"}
        assert s.scalar(select(func.count()).select_from(StateRow)
                        .where(StateRow.customer_id.is_not(None))) == 0


def test_migrations_run_at_open_and_again_change_nothing(db_url):
    m = Mirror.open(db_url, key=b"k" * 32)
    try:
        assert current_revision(m.engine) == "0002"
        migrate(m.engine)
        assert current_revision(m.engine) == "0002"
    finally:
        m.close()


def test_the_channels_migration_empties_the_ledger_rows_for_a_rebuild(db_url, chain):
    """0001 -> 0002: a one-channel mirror's rows cannot be re-sealed with their channel
    (the key is not the migration's), so they go and the listeners mirror every channel
    again from block 0; open alerts about them are resolved; the portal's own rows stay."""
    import datetime as dt

    from sqlalchemy import create_engine

    engine = create_engine(db_url)
    try:
        migrate(engine, "0001")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO blocks (number, channel, data_hash, previous_hash, header_hash, "
                "tx_count, write_count, timestamp, mac) VALUES (0, 'energy', 'aa', '', 'bb', "
                "0, 0, '', 'mac')"))
            conn.execute(AlertRow.__table__.insert(), [{
                "kind": "seal", "fingerprint": "f", "block_number": 0, "detail": "x",
                "detected_at": dt.datetime.now(dt.UTC)}])
            conn.execute(text(
                "INSERT INTO signup_codes (code_hash, customer_id, created_by, created_at, "
                "expires_at) VALUES ('h', 'C-1', 'op', '2026-01-01', '2026-02-01')"))
    finally:
        engine.dispose()
    m = Mirror.open(db_url, key=b"k" * 32)
    try:
        assert current_revision(m.engine) == "0002"
        assert m.store.height("energy") == 0
        (alert,) = _alerts(m)
        assert alert.resolved_at is not None and "rebuilt" in alert.resolution
        with m.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM signup_codes")).scalar() == 1
        fill(m, chain)  # the listener's work: the channel's blocks again
        assert m.store.height("energy") == len(chain.blocks)
    finally:
        m.close()


def test_the_migrations_make_exactly_the_tables_the_code_declares(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gridledger.webui.mirror.schema import Base

    m = Mirror.open(db_url, key=b"k" * 32)
    try:
        with m.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        m.close()


# -- the listener ----------------------------------------------------------------------


def test_the_listener_resumes_from_the_mirror_and_survives_a_peer_that_is_down(mirror, chain):
    first = FakeSource(ChainBuilder())
    first.chain.blocks = chain.blocks[:3]
    listener = Listener(mirror.store, first, retry=(0.01, 0.02))
    assert listener.catch_up(10) == 3
    rest = FakeSource(chain)
    rest.down = True
    listener = Listener(mirror.store, rest, retry=(0.01, 0.02))
    listener.start()
    try:
        _wait(lambda: listener.status.error is not None)
        assert not listener.status.connected and "peer unreachable" in listener.status.error
        rest.down = False
        _wait(lambda: mirror.store.height("energy") == len(chain.blocks))
        _wait(lambda: listener.status.connected)
        assert listener.status.error is None
    finally:
        listener.stop()
    with mirror.sessions() as s:
        assert list(s.scalars(select(BlockRow.number).order_by(BlockRow.number))) == \
            list(range(len(chain.blocks)))


def _wait(cond, timeout=5.0):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


# -- integrity ---------------------------------------------------------------------------


def _integrity(m: Mirror, *chains: ChainBuilder, **kw) -> Integrity:
    meters = kw.pop("meters", None)
    return Integrity(m.store, sources(*chains, meters=meters),
                     channels=[c.channel for c in chains], **kw)


def _alerts(m: Mirror) -> list[AlertRow]:
    with m.sessions() as s:
        return list(s.scalars(select(AlertRow)))


def _open_alerts(m: Mirror) -> list[AlertRow]:
    with m.sessions() as s:
        return list(s.scalars(select(AlertRow).where(AlertRow.resolved_at.is_(None))))


def test_an_untouched_mirror_passes_every_check(filled, chain, market_chain):
    results = _integrity(filled, chain, market_chain).run(full=True)
    assert [r.problems for r in results] == [[], [], []]
    assert all(r.complete for r in results)
    assert results[1].blocks == len(chain.blocks) + len(market_chain.blocks)
    assert _open_alerts(filled) == []


def test_an_edit_behind_the_portals_back_names_block_transaction_and_customer(
        any_mirror, chain):
    fill(any_mirror, chain)
    key = f"reading~{world.M1}~000000000002"
    with any_mirror.engine.begin() as conn:  # as someone with the database, not the portal
        conn.execute(text("UPDATE state SET value = replace(value, :old, :new) WHERE key = :k"),
                     {"old": '"importDeltaWh":100', "new": '"importDeltaWh":9', "k": key})
    integrity = _integrity(any_mirror, chain)
    integrity.run()
    (alert,) = _open_alerts(any_mirror)
    assert (alert.kind, alert.channel, alert.block_number, alert.tx_index) == (
        "seal", "energy", 4, 0)
    assert "energy block 4" in alert.detail
    assert alert.tx_id == chain.txids[4][0]
    assert (alert.customer_id, alert.meter_id, alert.key) == (world.C1, world.M1, key)
    out = integrity.repair(by="op")
    assert out["blocks"] == {"energy": [4]} and out["problemsLeft"] == 0
    assert json.loads(_state(any_mirror, key).value)["importDeltaWh"] == 100
    assert _open_alerts(any_mirror) == []
    with any_mirror.sessions() as s:
        alert = s.get(AlertRow, alert.id)
        assert alert.resolution.startswith("repaired from the ledger by op")


def test_an_editor_with_the_sealing_key_is_caught_by_the_ledger_check(filled, chain,
                                                                     market_chain):
    key = f"wcacct~{world.A1}"
    store = filled.store
    with store.sessions.begin() as s:  # re-sealed: the local check cannot see it
        for model in (StateRow, WriteRow):
            for row in s.scalars(select(model).where(model.key == key)):
                row.value = row.value.replace('"balance":49500', '"balance":9949500')
                row.mac = store.sealer.seal_row(row)
    integrity = _integrity(filled, chain, market_chain)
    local, ledger, _ = integrity.run(full=True)
    assert local.problems == []
    assert {(p.kind, p.channel, p.block_number, p.customer_id) for p in ledger.problems} == {
        ("ledger", "energy", 4, world.C1)}
    integrity.repair(by="op")
    assert json.loads(_state(filled, key).value)["balance"] == 49_500
    assert _open_alerts(filled) == []


def test_a_changed_block_hash_breaks_the_chain_walk(filled, chain, market_chain):
    with filled.engine.begin() as conn:
        conn.execute(update(BlockRow).where(BlockRow.channel == "energy", BlockRow.number == 2)
                     .values(data_hash="ab" * 32))
    integrity = _integrity(filled, chain, market_chain)
    local = integrity.check_local()
    kinds = {(p.kind, p.channel, p.block_number) for p in local.problems}
    assert ("chain", "energy", 2) in kinds and ("seal", "energy", 2) in kinds
    assert not [p for p in local.problems if p.channel == "market"]
    integrity.record([local])
    integrity.repair(by="op")
    assert integrity.check_local().problems == []


def test_deleted_rows_are_found_and_rebuilt(filled, chain, market_chain):
    with filled.engine.begin() as conn:
        conn.execute(delete(WriteRow).where(WriteRow.key == f"bill~{world.C1}~"
                                            "2026-03-01T00:00:00Z"))
        conn.execute(delete(StateRow).where(StateRow.key == f"bill~{world.C1}~"
                                            "2026-03-01T00:00:00Z"))
        conn.execute(delete(BlockRow).where(BlockRow.channel == "energy", BlockRow.number == 1))
    integrity = _integrity(filled, chain, market_chain)
    integrity.run()
    kinds = {(a.kind, a.block_number) for a in _open_alerts(filled)}
    assert ("count", 5) in kinds and ("missing-block", 1) in kinds
    assert any(a.customer_id == world.C1 for a in _open_alerts(filled) if a.kind == "count")
    integrity.repair(by="op")
    assert _state(filled, f"bill~{world.C1}~2026-03-01T00:00:00Z") is not None
    assert integrity.check_local().problems == []


def test_a_broken_meter_chain_on_the_ledger_is_an_alert_for_its_customer(filled, chain,
                                                                        market_chain):
    broken = {world.M1: {"ok": False, "seq": 2, "reason": "hash differs", "expected": "aa",
                         "found": "bb"}}
    integrity = _integrity(filled, chain, market_chain, meters=broken)
    integrity.run()
    (alert,) = _open_alerts(filled)
    assert (alert.kind, alert.channel, alert.customer_id, alert.meter_id) == (
        "meter-chain", "energy", world.C1, world.M1)
    assert alert.block_number == 4 and "hash differs" in alert.detail


def test_alerts_resolve_when_a_complete_check_no_longer_finds_them(filled, chain,
                                                                   market_chain):
    with filled.engine.begin() as conn:
        conn.execute(update(TransactionRow).where(TransactionRow.channel == "energy",
                                                  TransactionRow.block_number == 0)
                     .values(function="metering:Forged"))
    integrity = _integrity(filled, chain, market_chain)
    integrity.run()
    assert [a.kind for a in _open_alerts(filled)] == ["seal"]
    integrity.run()  # the same problem again: still one alert
    assert len(_open_alerts(filled)) == 1
    integrity.repair(by="op")
    assert _open_alerts(filled) == []


def test_a_budgeted_seal_check_covers_the_table_over_several_runs(filled, chain,
                                                                  market_chain):
    key = f"usage~{world.M2}~20260301"
    with filled.engine.begin() as conn:
        conn.execute(update(StateRow).where(StateRow.key == key).values(customer_id="C-X"))
    integrity = _integrity(filled, chain, market_chain, rows_per_run=3)
    found = []
    for _ in range(20):
        found += [p for p in integrity.check_local().problems if p.kind == "seal"]
        if found:
            break
    assert found and found[0].key == key


@pytest.mark.parametrize("down", [True])
def test_with_the_peer_down_the_local_check_still_runs(filled, chain, market_chain, down):
    source = FakeSource(chain)
    source.down = down
    integrity = Integrity(filled.store, lambda channel: source)
    results = integrity.run()
    assert results[0].problems == [] and results[0].complete
    assert not results[1].complete and "unreachable" in results[1].detail


def test_a_valid_transaction_without_writes_and_a_tx_of_other_chaincode():
    chain = ChainBuilder()
    chain.add(Tx("Put", ["k", "v"], chaincode="health", writes={"health~k": "v"}))
    item = chain.blocks[0]
    rows = decode(item.block, (), namespaces=["metering"])
    assert rows.writes == [] and rows.transactions[0]["function"] == "Put"
    rows = decode(item.block, ())
    assert rows.writes[0]["value"] == '"v"'


# -- integrity per channel -------------------------------------------------------------------


def test_an_edit_of_a_market_row_names_the_market_channel_and_is_repaired_from_it(
        filled, chain, market_chain):
    key = f"mktpay~{world.VPP}~{world.IV}~{world.P1}"
    with filled.engine.begin() as conn:  # behind the portal's back
        conn.execute(text("UPDATE state SET value = replace(value, '4845', '9999') "
                          "WHERE channel = 'market' AND key = :k"), {"k": key})
    opened: list[str] = []
    factory = sources(chain, market_chain)

    def source(channel: str) -> FakeSource:
        opened.append(channel)
        return factory(channel)

    integrity = Integrity(filled.store, source, channels=["energy", "market"])
    integrity.run()
    (alert,) = _open_alerts(filled)
    assert (alert.kind, alert.channel, alert.block_number, alert.key) == (
        "seal", "market", 1, key)
    assert alert.tx_id == market_chain.txids[1][0]  # the market block's, not energy's
    assert "market block 1" in alert.detail
    energy_before = _rows(filled, "energy")
    opened.clear()
    out = integrity.repair(by="op")
    assert out["blocks"] == {"market": [1]} and out["problemsLeft"] == 0
    assert opened[0] == "market"
    assert json.loads(_state(filled, key, "market").value)["amount"] == 4845
    # The energy channel's rows (its block 1 too) were not touched.
    assert _rows(filled, "energy") == energy_before
    assert _open_alerts(filled) == []


def _rows(m: Mirror, channel: str) -> dict[str, list[tuple]]:
    """Every ledger row of a channel, seals included."""
    with m.engine.connect() as conn:
        return {t: sorted(tuple(r) for r in conn.execute(
            text(f"SELECT * FROM {t} WHERE channel = :c"), {"c": channel}))
            for t in ("blocks", "transactions", "writes", "state")}


def test_a_market_block_missing_breaks_the_market_chain_only(filled, chain, market_chain):
    with filled.engine.begin() as conn:
        conn.execute(delete(BlockRow).where(BlockRow.channel == "market", BlockRow.number == 0))
    integrity = _integrity(filled, chain, market_chain)
    local = integrity.check_local()
    assert {(p.kind, p.channel, p.block_number) for p in local.problems} >= {
        ("missing-block", "market", 0), ("count", "market", 0)}
    assert not [p for p in local.problems if p.channel == "energy"]
    integrity.record([local])
    out = integrity.repair(by="op")
    assert out["blocks"] == {"market": [0]}
    assert integrity.check_local().problems == []


def test_with_the_market_peer_down_the_energy_ledger_is_still_compared(filled, chain,
                                                                     market_chain):
    key = f"wcacct~{world.A1}"
    store = filled.store
    with store.sessions.begin() as s:  # re-sealed: only the ledger check can see it
        for model in (StateRow, WriteRow):
            for row in s.scalars(select(model).where(model.key == key)):
                row.value = row.value.replace('"balance":49500', '"balance":9949500')
                row.mac = store.sealer.seal_row(row)
    market = FakeSource(market_chain)
    market.down = True
    factory = sources(chain)

    def source(channel: str) -> FakeSource:
        return market if channel == "market" else factory(channel)

    ledger = Integrity(store, source, channels=["energy", "market"]).check_ledger(full=True)
    assert not ledger.complete and "market: ledger unreachable" in ledger.detail
    assert {(p.channel, p.block_number) for p in ledger.problems} == {("energy", 4)}
