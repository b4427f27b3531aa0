"""Our Fabric CA client against the network's real Fabric CA v1.5 (Utility's CA).

Registration, enrollment with attributes, reenroll, revoke, refusals; then a wallet
identity used by Fabric's own ``peer`` CLI.
"""

from __future__ import annotations

import json
import socket
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridledger.clients.ca import (
    AlreadyRegistered,
    AuthenticationError,
    AuthorizationError,
    CAClient,
    CAConnectionError,
    Enrollment,
)
from gridledger.clients.wallet import Wallet
from gridledger.network.enroll import ca_admin_password
from gridledger.network.fabric_cli import run
from gridledger.network.nodes import admin_env

pytestmark = pytest.mark.integration

ORG = "utility"


def _unique(prefix: str) -> str:
    # The CA keeps identities across tests of one session: never reuse an ID.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def ca(consortium):
    org = consortium.topology.org(ORG)
    with CAClient(org.ca.url, consortium.layout.ca_cert(ORG), ca_name=org.ca.name) as client:
        yield client


@pytest.fixture(scope="module")
def registrar(consortium, ca: CAClient) -> Enrollment:
    """The CA's bootstrap admin, enrolled through our client."""
    return ca.enroll("admin", ca_admin_password(consortium.layout, ORG))


@pytest.fixture(scope="module")
def customer(ca: CAClient, registrar: Enrollment) -> tuple[str, str, Enrollment]:
    """A customer registered with ABAC attributes and enrolled: (id, secret, enrollment)."""
    name = _unique("customer")
    secret = ca.register(
        registrar,
        name,
        attributes=[("role", "customer", True), ("customerId", "C-1001", True)],
        max_enrollments=-1,
    )
    return name, secret, ca.enroll(name, secret)


def _issued_by(cert_pem: bytes, root_pem: bytes) -> None:
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(root_pem))


def _ous(enrollment: Enrollment) -> set[str]:
    oid = NameOID.ORGANIZATIONAL_UNIT_NAME
    return {str(a.value) for a in enrollment.x509.subject.get_attributes_for_oid(oid)}


def test_cainfo_names_the_ca_and_its_root(consortium, ca: CAClient) -> None:
    info = ca.cainfo()
    assert info["ca_name"] == consortium.topology.org(ORG).ca.name
    assert info["version"].startswith("1.5")
    root = consortium.layout.ca_cert(ORG).read_bytes()
    assert x509.load_pem_x509_certificates(info["ca_chain"]) == [
        x509.load_pem_x509_certificate(root)
    ]


def test_bootstrap_admin_enrolls(consortium, registrar: Enrollment) -> None:
    assert registrar.enrollment_id == "admin"
    assert isinstance(registrar.private_key.curve, ec.SECP256R1)
    _issued_by(registrar.certificate, consortium.layout.ca_cert(ORG).read_bytes())
    assert registrar.not_after > registrar.x509.not_valid_before_utc


def test_registered_customer_certificate_carries_its_attributes(customer) -> None:
    name, _, enrollment = customer
    attrs = enrollment.attributes
    assert attrs["role"] == "customer"
    assert attrs["customerId"] == "C-1001"
    assert attrs["hf.EnrollmentID"] == name
    assert attrs["hf.Type"] == "client"
    assert enrollment.enrollment_id == name
    assert "client" in _ous(enrollment)
    assert enrollment.identity("UtilityMSP").name == name


def test_tls_profile_enrollment_has_hosts(ca: CAClient, registrar: Enrollment) -> None:
    name = _unique("server")
    secret = ca.register(registrar, name, type="peer")
    tls = ca.enroll(name, secret, profile="tls", csr_hosts=["127.0.0.1", "meter-gw.utility"])
    sans = tls.x509.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "meter-gw.utility" in sans.get_values_for_type(x509.DNSName)
    usage = tls.x509.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_reenroll_renews_certificate_and_keeps_attributes(ca: CAClient, customer) -> None:
    name, _, enrollment = customer
    renewed = ca.reenroll(enrollment)
    assert renewed.enrollment_id == name
    assert renewed.serial != enrollment.serial
    assert renewed.private_key.public_key() != enrollment.private_key.public_key()
    assert renewed.attributes["customerId"] == "C-1001"


def test_register_twice_is_already_registered(ca: CAClient, registrar: Enrollment, customer):
    with pytest.raises(AlreadyRegistered) as info:
        ca.register(registrar, customer[0])
    assert info.value.status_code == 409
    assert 74 in info.value.codes


def test_customer_cannot_register_others(ca: CAClient, customer) -> None:
    with pytest.raises(AuthorizationError) as info:
        ca.register(customer[2], _unique("mallory"))
    assert info.value.status_code == 403


def test_wrong_secret_is_authentication_error(ca: CAClient, customer) -> None:
    name, secret, _ = customer
    with pytest.raises(AuthenticationError) as info:
        ca.enroll(name, secret + "-wrong")
    assert info.value.status_code == 401
    assert info.value.errors == [{"code": 20, "message": "Authentication failure"}]


def test_revoked_identity_cannot_enroll_or_reenroll(ca: CAClient, registrar: Enrollment) -> None:
    name = _unique("leaver")
    secret = ca.register(registrar, name, max_enrollments=-1)
    enrollment = ca.enroll(name, secret)
    result = ca.revoke(registrar, name, reason="cessationOfOperation", gencrl=True)
    assert any(c.matches(enrollment) for c in result.revoked), result.revoked
    assert result.crl is not None and b"X509 CRL" in result.crl
    with pytest.raises(AuthenticationError):
        ca.enroll(name, secret)
    with pytest.raises(AuthenticationError):
        ca.reenroll(enrollment)


def test_revoking_one_certificate_leaves_the_identity(ca: CAClient, registrar: Enrollment):
    name = _unique("rotating")
    secret = ca.register(registrar, name, max_enrollments=-1)
    lost = ca.enroll(name, secret)
    result = ca.revoke(registrar, serial=lost.serial, aki=lost.aki, reason="keyCompromise")
    assert len(result.revoked) == 1
    with pytest.raises(AuthenticationError):
        ca.reenroll(lost)
    assert ca.enroll(name, secret).enrollment_id == name


def test_wrong_tls_root_is_connection_error(consortium) -> None:
    org = consortium.topology.org(ORG)
    other_root = consortium.layout.ca_cert("regulator")
    with (
        CAClient(org.ca.url, other_root, ca_name=org.ca.name) as wrong,
        pytest.raises(CAConnectionError, match="TLS verification failed"),
    ):
        wrong.cainfo()


def test_nothing_listening_is_connection_error(consortium) -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, then released
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = consortium.layout.ca_cert(ORG)
    with (
        CAClient(f"https://127.0.0.1:{port}", root, timeout=5) as ca,
        pytest.raises(CAConnectionError, match="cannot connect"),
    ):
        ca.cainfo()


def test_wallet_identity_works_with_the_peer_cli(consortium, customer, tmp_path) -> None:
    name, _, enrollment = customer
    wallet = Wallet(tmp_path / "wallet")
    entry = wallet.put(name, "UtilityMSP", enrollment)
    assert (entry.role, entry.enrollment_id) == ("client", name)
    org = consortium.topology.org(ORG)
    env = {
        **admin_env(consortium.bins, consortium.layout, org),
        # Only the MSP changes: the customer signs the proposal; the admin's TLS
        # client certificate is just the transport.
        "CORE_PEER_MSPCONFIGPATH": str(wallet.msp_dir(name)),
        "CORE_PEER_LOCALMSPID": "UtilityMSP",
    }
    args = json.dumps({"Args": ["Ping"]})
    out = run(
        [consortium.bins["peer"], "chaincode", "query", "-C", consortium.topology.channel,
         "-n", "health", "-c", args],
        env,
    )  # fmt: skip
    assert json.loads(out.stdout)["msp"] == "UtilityMSP"


def test_network_admin_msp_loads_from_disk(consortium, ca: CAClient) -> None:
    identity, signer = Wallet.from_msp_dir(consortium.layout.msp(ORG, "Admin"), "UtilityMSP")
    assert identity.name == "Admin"
    # The on-disk Admin can act at the CA through our client with its (cert, signer).
    assert ca.reenroll((identity.certificate, signer)).enrollment_id == "Admin"
