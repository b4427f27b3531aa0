"""Fixtures of the portal's unit tests: a mirror on SQLite (and PostgreSQL where asked),
filled from the small world of :mod:`.world`: its energy channel (``chain``) and its
market channel (``market_chain``)."""

from __future__ import annotations

import pytest

from gridledger.webui.mirror import Mirror
from gridledger.webui.mirror.decode import decode

from . import world
from .fabric_blocks import ChainBuilder, FakeSource


@pytest.fixture
def chain() -> ChainBuilder:
    return world.build()


@pytest.fixture
def market_chain() -> ChainBuilder:
    return world.build_market()


@pytest.fixture
def source(chain) -> FakeSource:
    return FakeSource(chain)


def sources(*chains: ChainBuilder, meters=None):
    """A source factory over ``chains`` (one per channel), as the portal opens them."""
    by_channel = {c.channel: c for c in chains}

    def open_source(channel: str) -> FakeSource:
        return FakeSource(by_channel[channel], meters)
    return open_source


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'mirror.sqlite'}"


@pytest.fixture
def mirror(sqlite_url) -> Mirror:
    m = Mirror.open(sqlite_url, key=b"k" * 32)
    yield m
    m.close()


def fill(mirror: Mirror, *chains: ChainBuilder) -> None:
    for chain in chains:
        for item in chain.blocks:
            mirror.store.apply(decode(item.block, item.private_writes, channel=chain.channel))


@pytest.fixture
def filled(mirror, chain, market_chain) -> Mirror:
    """The mirror of both channels."""
    fill(mirror, chain, market_chain)
    return mirror


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL server started for this test session (Debian's postgresql)."""
    from .postgres import throwaway_cluster

    with throwaway_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """The mirror's database URL, once on SQLite and once on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mirror.sqlite'}"
    from .postgres import fresh_database

    cluster = request.getfixturevalue("pg_cluster")
    return fresh_database(cluster, f"mirror_{abs(hash(request.node.nodeid)) % 10**9}")


@pytest.fixture
def any_mirror(db_url) -> Mirror:
    m = Mirror.open(db_url, key=b"k" * 32)
    yield m
    m.close()
