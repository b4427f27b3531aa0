import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    # A test that purges the session's network (new CAs, new ledger) runs after every
    # other, so session fixtures (gateways, the tariff) hold for the rest.
    # Tests that restart nodes (a restored peer, renewed certificates) run after the others
    # too: gossip and discovery take seconds to see a restarted peer again.
    items.sort(key=lambda item: (item.get_closest_marker("purges_network") is not None,
                                 item.get_closest_marker("restarts_nodes") is not None))


@pytest.fixture(scope="session")
def utility(consortium):
    """Our Gateway client connected to the Utility peer as the Utility admin."""
    from .gateways import connect

    with connect(consortium, "utility") as gw:
        yield gw


@pytest.fixture(scope="session")
def regulator(consortium):
    """Our Gateway client connected to the Regulator peer as the Regulator admin."""
    from .gateways import connect

    with connect(consortium, "regulator") as gw:
        yield gw


@pytest.fixture(scope="session")
def aggregator(consortium):
    """Our Gateway client connected to the Aggregator peer as the Aggregator admin."""
    from .gateways import connect

    with connect(consortium, "aggregator") as gw:
        yield gw


@pytest.fixture(scope="session")
def channel(consortium) -> str:
    """The consortium's channel."""
    return consortium.topology.channel


@pytest.fixture(scope="session")
def admin_of(consortium):
    """(identity, signer) of an organisation's Admin, by organisation name."""
    from gridledger.clients.wallet import Wallet

    def of(org: str):
        o = consortium.topology.org(org)
        return Wallet.from_msp_dir(consortium.layout.msp(o.name, "Admin"), o.msp_id)
    return of


@pytest.fixture(scope="session")
def tariff(regulator):
    """The tests' tariff, set by the Regulator through our client (once per ledger)."""
    from gridledger.clients.errors import EndorseError
    from gridledger.clients.metering import Metering

    from .test_metering import TARIFF

    try:
        Metering(regulator.network("energy")).set_tariff(TARIFF)
    except EndorseError as exc:  # already set on this ledger
        assert exc.chaincode_status == 409, exc
    return TARIFF
