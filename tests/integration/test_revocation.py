"""Revoking a customer at the Utility's CA, and the peers refusing it once the CRL is published.

Revocation at the CA alone changes nothing on the ledger side: peers learn of revoked
certificates only from the CRLs in the channel configuration.  These tests revoke a
customer who has transacted, show the peers still accept it, publish the CRL with
``publish_crl``, and then show every peer refusing it, on every channel (``energy`` and
``market``: each channel's configuration holds its own copy of the Utility's MSP), while
other Utility identities keep working.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from cryptography import x509

from gridledger.clients.ca import CAClient, Enrollment, Revocation
from gridledger.clients.errors import EndorseError, EvaluateError
from gridledger.clients.gateway import Contract, Gateway
from gridledger.clients.profile import ConnectionProfile
from gridledger.network import channel as ch
from gridledger.network.consortium import Consortium
from gridledger.network.crl import CRLError
from gridledger.network.crl_config import MSP_VALUE, build_update, crls
from gridledger.network.crl_publish import fetch_config, publish_crl
from gridledger.network.enroll import ca_admin_password

from .gateways import connect, endpoint

pytestmark = pytest.mark.integration

ORG = "utility"
MSP_ID = "UtilityMSP"
CHANNEL = "energy"
MARKET = "market"
# What a peer's endorser answers for a creator whose certificate fails MSP validation.  It
# does not say why; the peer's own log does (see _peer_logged_revocation).
ACCESS_DENIED = f"access denied: channel [{CHANNEL}] creator org [{MSP_ID}]"


def _unique(prefix: str) -> str:
    # The CA keeps identities for the whole session: never reuse an enrollment ID.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _ca_client(net: Consortium, org: str) -> CAClient:
    info = ConnectionProfile.load(net.layout.connection_profile(org)).ca()
    return CAClient(info.url, info.tls_root, ca_name=info.name)


def _new_customer(ca: CAClient, registrar: Enrollment) -> Enrollment:
    name = _unique("customer")
    # A customer as chaincode/common/callers.py knows one (a client without these
    # attributes is a plain member, which may not write even a health probe).
    attributes = [("role", "customer", True), ("customerId", "C-" + name, True)]
    return ca.enroll(name, ca.register(registrar, name, attributes=attributes))


def _probe(enrollment: Enrollment, name: str = "probe") -> str:
    """A health key the customer may write: under its own prefix (customer/<id>/)."""
    return f"customer/C-{enrollment.enrollment_id}/{name}"


def _gateway(net: Consortium, enrollment: Enrollment, peer_org: str = ORG) -> Gateway:
    """A Gateway to ``peer_org``'s peer as a Utility customer enrolled through our CA client."""
    return Gateway.connect(
        endpoint(net, peer_org), enrollment.identity(MSP_ID), enrollment.signer()
    )


def _health(gateway: Gateway, channel: str = CHANNEL) -> Contract:
    return gateway.network(channel).contract("health")


def _serials(crl_pem: bytes) -> set[int]:
    return {r.serial_number for r in x509.load_pem_x509_crl(crl_pem)}


def _peer_logged_revocation(net: Consortium, org: str, enrollment: Enrollment) -> bool:
    """Whether ``org``'s peer logged that it refused this certificate as revoked."""
    log = net.layout.log(net.topology.org(org).peer.id).read_text(errors="replace")
    serial = f"serialnumber={enrollment.x509.serial_number}"
    return any(
        "The certificate has been revoked" in line and serial in line for line in log.splitlines()
    )


@pytest.fixture(scope="module")
def ca(consortium: Consortium) -> Iterator[CAClient]:
    with _ca_client(consortium, ORG) as client:
        yield client


@pytest.fixture(scope="module")
def registrar(consortium: Consortium, ca: CAClient) -> Enrollment:
    """The Utility CA's bootstrap admin: it registers and revokes."""
    return ca.enroll("admin", ca_admin_password(consortium.layout, ORG))


@dataclass(frozen=True)
class Published:
    revoked: Enrollment  # the customer whose certificate was revoked
    kept: Enrollment  # another Utility customer, never revoked
    revocation: Revocation  # what the CA answered, with its CRL
    blocks: dict[str, int]  # the config block of each channel publish_crl returned
    read_before_publish: bytes  # what the revoked customer read between revoke and publish
    market_ping_before_publish: dict  # the revoked customer's Ping on `market`, likewise

    @property
    def block(self) -> int:
        """The config block of the main channel (``energy``) that holds the CRL."""
        return self.blocks[CHANNEL]


@pytest.fixture(scope="module")
def published(consortium: Consortium, ca: CAClient, registrar: Enrollment) -> Published:
    """A customer who transacted, was revoked at the CA, and whose CRL is on the channel."""
    revoked, kept = _new_customer(ca, registrar), _new_customer(ca, registrar)
    key = _probe(revoked)
    with _gateway(consortium, revoked) as gw:
        assert _health(gw).submit("Put", key, "before revocation")
        assert _health(gw).evaluate("Get", key) == b"before revocation"

        revocation = ca.revoke(registrar, revoked.enrollment_id, gencrl=True)
        assert revocation.crl, "the CA returns a CRL when asked for one"
        # The CA has revoked it, but no peer knows yet, on either channel.
        read_before_publish = _health(gw).evaluate("Get", key)
        market_ping = json.loads(_health(gw, MARKET).evaluate("Ping"))

    blocks = publish_crl(consortium, ORG, revocation.crl)
    return Published(revoked, kept, revocation, blocks, read_before_publish, market_ping)


def test_revoking_at_the_ca_alone_does_not_stop_the_peers(published: Published) -> None:
    assert published.read_before_publish == b"before revocation"
    assert {int(r.serial, 16) for r in published.revocation.revoked} == {
        published.revoked.x509.serial_number
    }


def test_revoked_customer_cannot_evaluate(consortium: Consortium, published: Published) -> None:
    with _gateway(consortium, published.revoked) as gw, pytest.raises(EvaluateError) as err:
        _health(gw).evaluate("Get", _probe(published.revoked))
    assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.access_denied and not err.value.retryable
    assert "revoked" in str(err.value)  # the hint says where to look
    assert [(d.msp_id, d.message) for d in err.value.details] == [
        (MSP_ID, f"error validating proposal: {ACCESS_DENIED}")
    ]
    assert ACCESS_DENIED in str(err.value)
    # The refusal's reason is only in the peer's log: the certificate is revoked.
    assert _peer_logged_revocation(consortium, ORG, published.revoked)


def test_revoked_customer_is_refused_on_the_market_channel_too(
    consortium: Consortium, published: Published
) -> None:
    assert set(published.blocks) == {CHANNEL, MARKET}
    # Before the CRL reached `market`, the certificate worked there.
    assert published.market_ping_before_publish["channel"] == MARKET
    denied = f"access denied: channel [{MARKET}] creator org [{MSP_ID}]"
    for org in ("utility", "regulator", "aggregator"):
        with (
            _gateway(consortium, published.revoked, peer_org=org) as gw,
            pytest.raises(EvaluateError) as err,
        ):
            _health(gw, MARKET).evaluate("Ping")
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert err.value.access_denied and not err.value.retryable
        assert denied in str(err.value)
    with _gateway(consortium, published.revoked) as gw, pytest.raises(EndorseError) as err:
        _health(gw, MARKET).submit("Put", _probe(published.revoked), "after revocation")
    assert all(denied in d.message for d in err.value.details)
    # The CRL is in `market`'s own configuration, and every peer has that block.
    number, config = fetch_config(consortium.admin(ORG), MARKET)
    assert number == published.blocks[MARKET]
    assert published.revoked.x509.serial_number in _serials(crls(config, MSP_ID)[0])
    for admin in consortium.admins:
        assert ch.peer_height(admin, MARKET) > published.blocks[MARKET]
    # Another Utility customer still works there.
    with _gateway(consortium, published.kept) as gw:
        assert json.loads(_health(gw, MARKET).evaluate("Ping"))["channel"] == MARKET


def test_revoked_customer_cannot_submit(consortium: Consortium, published: Published) -> None:
    with _gateway(consortium, published.revoked) as gw, pytest.raises(EndorseError) as err:
        _health(gw).submit("Put", _probe(published.revoked), "after revocation")
    assert err.value.code is grpc.StatusCode.ABORTED
    assert err.value.chaincode_status is None, "refused before the chaincode ran"
    assert err.value.details
    assert all(ACCESS_DENIED in d.message for d in err.value.details)
    assert _peer_logged_revocation(consortium, ORG, published.revoked)


def test_a_refused_revoked_submit_is_not_retryable(
    consortium: Consortium, published: Published
) -> None:
    with _gateway(consortium, published.revoked) as gw, pytest.raises(EndorseError) as err:
        _health(gw).submit("Put", _probe(published.revoked), "after revocation")
    assert err.value.access_denied and not err.value.retryable


def test_every_organisations_peer_refuses_the_revoked_customer(
    consortium: Consortium, published: Published
) -> None:
    for org in ("regulator", "aggregator"):
        with (
            _gateway(consortium, published.revoked, peer_org=org) as gw,
            pytest.raises(EvaluateError) as err,
        ):
            _health(gw).evaluate("Get", _probe(published.revoked))
        assert err.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert ACCESS_DENIED in str(err.value)
        assert _peer_logged_revocation(consortium, org, published.revoked)


def test_other_utility_identities_still_transact(
    consortium: Consortium, published: Published
) -> None:
    key = _probe(published.kept, _unique("kept"))
    with _gateway(consortium, published.kept) as gw:
        assert _health(gw).submit("Put", key, "still a customer")
        assert _health(gw).evaluate("Get", key) == b"still a customer"
        # What the revoked customer wrote stays on the ledger; only the certificate is refused.
        assert _health(gw).evaluate("Get", _probe(published.revoked)) == b"before revocation"
    with connect(consortium, ORG) as admin_gw:
        assert _health(admin_gw).evaluate("Get", key) == b"still a customer"


def test_the_crl_is_in_the_utilitys_msp_for_peers_and_orderers(
    consortium: Consortium, published: Published
) -> None:
    number, config = fetch_config(consortium.admin(ORG), CHANNEL)
    assert number == published.block
    serial = published.revoked.x509.serial_number
    for section in ("Application", "Orderer"):
        (held,) = crls(config, MSP_ID, section)
        assert serial in _serials(held)
    for org in ("regulator", "aggregator"):
        assert crls(config, consortium.topology.org(org).msp_id) == []
    # publish_crl returned only once every peer had committed the config block.
    for admin in consortium.admins:
        assert ch.peer_height(admin, CHANNEL) > published.block


def test_publishing_the_same_crl_again_submits_nothing(
    consortium: Consortium, published: Published
) -> None:
    heights = [ch.peer_height(a, CHANNEL) for a in consortium.admins]
    assert publish_crl(consortium, ORG, published.revocation.crl) == published.blocks
    assert fetch_config(consortium.admin(ORG), CHANNEL)[0] == published.block
    assert [ch.peer_height(a, CHANNEL) for a in consortium.admins] == heights


def test_config_update_changes_only_the_msp_value(consortium: Consortium) -> None:
    # The shape Fabric's configtxlator computes: groups on the path at their versions in
    # both sets, the value at version + 1 in the write set only.
    _, config = fetch_config(consortium.admin(ORG), CHANNEL)
    update = build_update(config, CHANNEL, {("Application", MSP_ID): b"new msp"})
    current = config.channel_group.groups["Application"].groups[MSP_ID]
    for target in (update.read_set, update.write_set):
        assert target.version == config.channel_group.version
        assert list(target.groups) == ["Application"]
        org = target.groups["Application"].groups[MSP_ID]
        assert org.version == current.version
        assert not org.policies and not org.mod_policy
    assert not update.read_set.groups["Application"].groups[MSP_ID].values
    value = update.write_set.groups["Application"].groups[MSP_ID].values[MSP_VALUE]
    assert value.version == current.values[MSP_VALUE].version + 1
    assert value.mod_policy == current.values[MSP_VALUE].mod_policy == "Admins"
    assert value.value == b"new msp"


def test_a_newer_crl_replaces_the_older_one_which_is_then_refused(
    consortium: Consortium, ca: CAClient, registrar: Enrollment, published: Published
) -> None:
    second = _new_customer(ca, registrar)
    newer = ca.revoke(registrar, second.enrollment_id, gencrl=True)
    assert newer.crl
    block = publish_crl(consortium, ORG, newer.crl)[CHANNEL]
    assert block > published.block

    _, config = fetch_config(consortium.admin(ORG), CHANNEL)
    for section in ("Application", "Orderer"):
        (held,) = crls(config, MSP_ID, section)  # replaced, not added
        assert {published.revoked.x509.serial_number, second.x509.serial_number} <= _serials(held)
    with _gateway(consortium, second) as gw, pytest.raises(EvaluateError):
        _health(gw).evaluate("Get", "anything")
    with _gateway(consortium, published.revoked) as gw, pytest.raises(EvaluateError):
        _health(gw).evaluate("Get", "anything")

    # The first CRL lacks the second revocation: publishing it would undo that.
    with pytest.raises(CRLError, match="newer CRL"):
        publish_crl(consortium, ORG, published.revocation.crl)
    assert fetch_config(consortium.admin(ORG), CHANNEL)[0] == block


def test_a_crl_from_another_organisations_ca_is_refused(
    consortium: Consortium, published: Published
) -> None:
    with _ca_client(consortium, "regulator") as regulator_ca:
        admin = regulator_ca.enroll("admin", ca_admin_password(consortium.layout, "regulator"))
        auditor = _new_customer(regulator_ca, admin)
        foreign = regulator_ca.revoke(admin, auditor.enrollment_id, gencrl=True)
    assert foreign.crl
    before = fetch_config(consortium.admin(ORG), CHANNEL)[0]
    with pytest.raises(CRLError, match=f"not signed by any CA of {MSP_ID}"):
        publish_crl(consortium, ORG, foreign.crl)
    assert fetch_config(consortium.admin(ORG), CHANNEL)[0] == before


def test_bytes_that_are_not_a_crl_are_refused(consortium: Consortium) -> None:
    with pytest.raises(CRLError, match="not a CRL"):
        publish_crl(
            consortium, ORG, b"-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n"
        )
