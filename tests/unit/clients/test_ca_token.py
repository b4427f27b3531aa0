"""The Fabric CA client's wire format, without a CA: tokens, CSRs, requests, errors.

A small in-memory CA (``FakeCA``, over ``httpx.MockTransport``) checks what the client
sends the way fabric-ca v1.5 does (lib/serverrequestcontext.go, util.VerifyToken).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from gridledger.clients.ca import (
    AlreadyRegistered,
    AuthenticationError,
    AuthorizationError,
    CAClient,
    CAConnectionError,
    CAError,
    Enrollment,
    RegistrationError,
    _attribute_list,
    generate_key,
)
from gridledger.clients.ca_token import auth_token, build_csr, token_payload
from gridledger.clients.enrollment import certificate_attributes
from gridledger.clients.errors import ArgumentError
from gridledger.clients.signing import P256_ORDER, private_key_signer
from gridledger.formats.ca_attributes import FABRIC_CA_ATTRS_OID as ATTRIBUTE_OID

# -- a tiny CA --------------------------------------------------------------------------


def _name(cn: str, ou: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if ou:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    return x509.Name(attrs)


class FakeCA:
    """Issues certificates for CSRs and checks tokens as fabric-ca does."""

    def __init__(self) -> None:
        self.key = generate_key()
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("fake-ca"))
            .issuer_name(_name("fake-ca"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.requests: list[httpx.Request] = []
        self.secrets = {"admin": "adminpw"}
        self.reply: tuple[int, dict] | None = None  # force an answer

    def issue(self, csr_pem: bytes, attrs: dict[str, str] | None = None) -> bytes:
        csr = x509.load_pem_x509_csr(csr_pem)
        assert csr.is_signature_valid
        now = dt.datetime.now(dt.UTC)
        cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(str(cn), "client"))
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if attrs:
            raw = json.dumps({"attrs": attrs}).encode()
            builder = builder.add_extension(
                x509.UnrecognizedExtension(ATTRIBUTE_OID, raw), critical=False
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def verify_token(self, request: httpx.Request) -> str:
        """The server's check: signature over METHOD.b64(uri).b64(body).b64(cert)."""
        b64cert, b64sig = request.headers["authorization"].split(".")
        cert = x509.load_pem_x509_certificate(base64.b64decode(b64cert))
        signed = ".".join(
            (
                request.method,
                base64.b64encode(request.url.raw_path).decode(),
                base64.b64encode(request.content).decode(),
                b64cert,
            )
        ).encode()
        sig = base64.b64decode(b64sig)
        _, s = decode_dss_signature(sig)
        assert s <= P256_ORDER // 2, "Fabric requires low-S signatures"
        cert.public_key().verify(sig, signed, ec.ECDSA(hashes.SHA256()))
        return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.reply is not None:
            status, payload = self.reply
            return httpx.Response(status, json=payload)
        endpoint = request.url.path.removeprefix("/api/v1/")
        body = json.loads(request.content) if request.content else {}
        info = {"CAName": "ca-test", "CAChain": base64.b64encode(self.pem).decode()}
        if endpoint == "enroll":
            user, _, password = (
                base64.b64decode(request.headers["authorization"].removeprefix("Basic "))
                .decode()
                .partition(":")
            )
            if self.secrets.get(user) != password:
                return _failure(401, 20, "Authentication failure")
            cert = self.issue(body["certificate_request"].encode(), {"hf.EnrollmentID": user})
            return _success({"Cert": base64.b64encode(cert).decode(), "ServerInfo": info})
        if endpoint == "reenroll":
            self.verify_token(request)
            cert = self.issue(body["certificate_request"].encode())
            return _success({"Cert": base64.b64encode(cert).decode(), "ServerInfo": info})
        if endpoint == "register":
            self.verify_token(request)
            if body["id"] in self.secrets:
                return _failure(409, 74, f"Identity '{body['id']}' is already registered")
            self.secrets[body["id"]] = body.get("secret", "made-by-ca")
            return _success({"secret": self.secrets[body["id"]]})
        if endpoint == "revoke":
            self.verify_token(request)
            return _success({"RevokedCerts": [{"Serial": "1a", "AKI": "bc"}], "CRL": ""})
        if endpoint == "cainfo":
            return _success({**info, "Version": "1.5.21"})
        return _failure(404, 0, "no such endpoint")


def _success(result: dict) -> httpx.Response:
    return httpx.Response(
        201, json={"result": result, "errors": [], "messages": [], "success": True}
    )


def _failure(status: int, code: int, message: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "result": "",
            "errors": [{"code": code, "message": message}],
            "messages": [],
            "success": False,
        },
    )


@pytest.fixture
def fake() -> FakeCA:
    return FakeCA()


@pytest.fixture
def client(fake: FakeCA) -> CAClient:
    return CAClient(
        "https://ca.test:7054",
        fake.pem,
        ca_name="ca-test",
        transport=httpx.MockTransport(fake.handler),
    )


# -- token ------------------------------------------------------------------------------


def test_token_payload_is_method_uri_body_cert_in_base64() -> None:
    payload = token_payload("post", "/api/v1/register", b'{"id":"x"}', b"CERT")
    assert payload == (
        b"POST."
        + base64.b64encode(b"/api/v1/register")
        + b"."
        + base64.b64encode(b'{"id":"x"}')
        + b"."
        + base64.b64encode(b"CERT")
    )


def test_token_payload_of_empty_body_has_empty_part() -> None:
    assert token_payload("GET", "/api/v1/x", b"", b"C").split(b".")[2] == b""


def test_token_is_cert_and_low_s_signature_over_payload(fake: FakeCA) -> None:
    key = generate_key()
    cert = fake.issue(build_csr("alice", key))
    body = b'{"id":"bob"}'
    for _ in range(20):  # high-S appears in about half of raw signatures
        token = auth_token(cert, private_key_signer(key), "POST", "/api/v1/register", body)
        b64cert, b64sig = token.split(".")
        assert base64.b64decode(b64cert) == cert
        sig = base64.b64decode(b64sig)
        assert decode_dss_signature(sig)[1] <= P256_ORDER // 2
        key.public_key().verify(
            sig, token_payload("POST", "/api/v1/register", body, cert), ec.ECDSA(hashes.SHA256())
        )


def test_token_does_not_verify_for_another_uri(fake: FakeCA) -> None:
    # The v1.4+ token binds method and URI: a register token cannot be replayed on revoke.
    key = generate_key()
    cert = fake.issue(build_csr("alice", key))
    token = auth_token(cert, private_key_signer(key), "POST", "/api/v1/register", b"{}")
    sig = base64.b64decode(token.split(".")[1])
    with pytest.raises(InvalidSignature):
        key.public_key().verify(
            sig, token_payload("POST", "/api/v1/revoke", b"{}", cert), ec.ECDSA(hashes.SHA256())
        )


# -- CSR --------------------------------------------------------------------------------


def test_csr_has_enrollment_id_as_cn_and_hosts_as_sans() -> None:
    key = generate_key()
    csr = x509.load_pem_x509_csr(build_csr("meter-17", key, ["127.0.0.1", "peer0.utility"]))
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "meter-17"
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(csr.public_key().curve, ec.SECP256R1)
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["peer0.utility"]


def test_csr_without_hosts_has_no_san() -> None:
    csr = x509.load_pem_x509_csr(build_csr("x", generate_key()))
    with pytest.raises(x509.ExtensionNotFound):
        csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_csr_needs_an_enrollment_id() -> None:
    with pytest.raises(ArgumentError):
        build_csr("", generate_key())


# -- attributes -------------------------------------------------------------------------


def test_certificate_attributes_read_fabric_ca_extension(fake: FakeCA) -> None:
    cert = fake.issue(build_csr("c", generate_key()), {"role": "customer", "customerId": "C-1"})
    assert certificate_attributes(cert) == {"role": "customer", "customerId": "C-1"}
    assert certificate_attributes(fake.pem) == {}


def test_attribute_mapping_goes_into_the_certificate() -> None:
    assert _attribute_list({"role": "customer"}) == [
        {"name": "role", "value": "customer", "ecert": True}
    ]


def test_attribute_triples_choose_ecert() -> None:
    assert _attribute_list([("a", "1", False), ("b", "2", True)]) == [
        {"name": "a", "value": "1"},
        {"name": "b", "value": "2", "ecert": True},
    ]


@pytest.mark.parametrize("bad", [{"hf.EnrollmentID": "x"}, {"": "x"}, [("a", "b")]])
def test_reserved_or_malformed_attributes_are_refused(bad) -> None:
    with pytest.raises(ArgumentError):
        _attribute_list(bad)


# -- requests against the fake CA --------------------------------------------------------


def test_enroll_sends_basic_auth_and_csr_and_returns_enrollment(
    client: CAClient, fake: FakeCA
) -> None:
    enr = client.enroll("admin", "adminpw", csr_hosts=["localhost"], profile="tls")
    sent = fake.requests[-1]
    assert sent.method == "POST" and sent.url.path == "/api/v1/enroll"
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"admin:adminpw").decode()
    body = json.loads(sent.content)
    assert body["profile"] == "tls"
    assert body["hosts"] == ["localhost"]
    assert body["caname"] == "ca-test"
    assert enr.enrollment_id == "admin"
    assert enr.ca_chain == fake.pem
    assert enr.attributes == {"hf.EnrollmentID": "admin"}
    assert enr.identity("TestMSP").msp_id == "TestMSP"


def test_enroll_without_hosts_leaves_hosts_out(client: CAClient, fake: FakeCA) -> None:
    # An empty "hosts" list would make the CA strip the CSR's SANs.
    client.enroll("admin", "adminpw")
    assert "hosts" not in json.loads(fake.requests[-1].content)


def test_enroll_with_wrong_secret_is_authentication_error(client: CAClient) -> None:
    with pytest.raises(AuthenticationError) as info:
        client.enroll("admin", "nope")
    assert info.value.status_code == 401
    assert info.value.errors == [{"code": 20, "message": "Authentication failure"}]
    assert "check the enrollment ID and secret" in str(info.value)


def test_register_signs_a_token_the_ca_verifies(client: CAClient, fake: FakeCA) -> None:
    admin = client.enroll("admin", "adminpw")
    secret = client.register(admin, "alice", attributes={"role": "customer"})
    assert secret == "made-by-ca"
    sent = fake.requests[-1]
    assert fake.verify_token(sent) == "admin"
    body = json.loads(sent.content)
    assert body["id"] == "alice" and body["type"] == "client"
    assert body["attrs"] == [{"name": "role", "value": "customer", "ecert": True}]


def test_register_accepts_cert_and_signer_pair(client: CAClient, fake: FakeCA) -> None:
    admin = client.enroll("admin", "adminpw")
    assert client.register((admin.certificate, admin.signer()), "bob", secret="pw") == "pw"


def test_register_twice_is_already_registered(client: CAClient) -> None:
    admin = client.enroll("admin", "adminpw")
    client.register(admin, "alice")
    with pytest.raises(AlreadyRegistered) as info:
        client.register(admin, "alice")
    assert isinstance(info.value, RegistrationError)
    assert info.value.codes == [74]


def test_reenroll_keeps_id_and_changes_key(client: CAClient) -> None:
    admin = client.enroll("admin", "adminpw")
    again = client.reenroll(admin)
    assert again.enrollment_id == "admin"
    assert again.certificate != admin.certificate


def test_revoke_returns_revoked_certificates(client: CAClient) -> None:
    admin = client.enroll("admin", "adminpw")
    result = client.revoke(admin, "alice", reason="keyCompromise")
    assert [(c.serial, c.aki) for c in result.revoked] == [("1a", "bc")]
    assert result.crl is None


def test_revoke_needs_target_and_known_reason(client: CAClient) -> None:
    admin = client.enroll("admin", "adminpw")
    with pytest.raises(ArgumentError):
        client.revoke(admin)
    with pytest.raises(ArgumentError):
        client.revoke(admin, "x", reason="boredom")


def test_cainfo_decodes_chain(client: CAClient, fake: FakeCA) -> None:
    info = client.cainfo()
    assert info["ca_name"] == "ca-test"
    assert info["ca_chain"] == fake.pem
    assert info["version"] == "1.5.21"


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (403, 71, AuthorizationError),
        (401, 20, AuthenticationError),
        (500, 0, CAError),
    ],
)
def test_failures_map_to_types(client: CAClient, fake: FakeCA, status, code, kind) -> None:
    fake.reply = (status, {"errors": [{"code": code, "message": "m"}], "success": False})
    with pytest.raises(kind) as info:
        client.cainfo()
    assert info.value.status_code == status


def test_non_ca_answer_is_ca_error(fake: FakeCA) -> None:
    def html(_: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    ca = CAClient("https://ca.test", fake.pem, transport=httpx.MockTransport(html))
    with pytest.raises(CAError, match="not a Fabric CA answer"):
        ca.cainfo()


def test_refused_connection_is_connection_error(fake: FakeCA) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    ca = CAClient("https://ca.test", fake.pem, transport=httpx.MockTransport(refuse))
    with pytest.raises(CAConnectionError, match="is the CA running"):
        ca.cainfo()


def test_bad_tls_root_and_url_are_argument_errors(tmp_path) -> None:
    with pytest.raises(ArgumentError, match="not a PEM"):
        CAClient("https://ca.test", b"not a certificate")
    with pytest.raises(ArgumentError, match="cannot read"):
        CAClient("https://ca.test", tmp_path / "missing.pem")
    with pytest.raises(ArgumentError, match="https"):
        CAClient("ftp://ca.test", b"")


def test_enrollment_repr_never_shows_the_key(client: CAClient) -> None:
    enr = client.enroll("admin", "adminpw")
    secret_number = str(enr.private_key.private_numbers().private_value)
    key_pem = enr.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for text in (repr(enr), str(enr)):
        assert "admin" in text
        assert secret_number not in text and key_pem not in text and "PRIVATE" not in text


def test_enrollment_exposes_serial_and_aki_for_revoke(client: CAClient, fake: FakeCA) -> None:
    enr = client.enroll("admin", "adminpw")
    assert int(enr.serial, 16) == enr.x509.serial_number
    ski = x509.SubjectKeyIdentifier.from_public_key(fake.key.public_key()).digest
    assert enr.aki == ski.hex()
    assert isinstance(enr, Enrollment)
