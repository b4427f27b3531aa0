"""A Fabric CA client over the CA's REST API (Fabric CA v1.5).

What ``fabric-ca-client`` does, without the binary: enroll, reenroll, register, revoke
and ``cainfo``.  Keys are made here (ECDSA P-256) and never leave the process; the CA
only sees a certificate signing request.

Two ways to authenticate, as the CA expects them:

* ``enroll`` sends the enrollment ID and secret as HTTP basic auth;
* every other call carries a *token* made from an enrolled identity::

      base64(cert PEM) "." base64(signature)

  where the low-S ECDSA-SHA256 signature covers
  ``METHOD "." base64(request URI) "." base64(body) "." base64(cert PEM)``.
  This is what v1.4+ requires (fabric-ca util.GenECDSAToken / VerifyToken).  Fabric CA
  1.3 signed only ``base64(body) "." base64(cert PEM)``; a v1.5 server accepts that older
  form only when started with ``FABRIC_CA_SERVER_COMPATIBILITY_MODE_V1_3=true`` (default
  false), and accepts the form above either way, so this client sends only the new one.

Errors::

    GridLedgerError
     └── CAError                    the CA answered with a failure (status_code, errors)
          ├── AuthenticationError   wrong ID/secret, revoked identity, bad/expired token
          ├── AuthorizationError    the caller lacks a right (registrar, revoker, affiliation)
          ├── RegistrationError     register refused (e.g. AlreadyRegistered)
          │    └── AlreadyRegistered
          └── CAConnectionError     no answer: connection refused, TLS failure, timeout
"""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .errors import ArgumentError, GridLedgerError
from .identity import Identity
from .signing import Signer, private_key_signer

API_PREFIX = "/api/v1/"

# Fabric CA writes attributes into certificates under this (unregistered) OID, as the
# raw JSON ``{"attrs": {name: value}}`` (lib/attrmgr in fabric-ca).
ATTRIBUTE_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1")

# Revocation reasons the CA understands (RFC 5280 names, as fabric-ca spells them).
REVOCATION_REASONS = frozenset(
    {
        "unspecified",
        "keycompromise",
        "cacompromise",
        "affiliationchange",
        "superseded",
        "cessationofoperation",
        "certificatehold",
        "removefromcrl",
        "privilegewithdrawn",
        "aacompromise",
    }
)

# Remote error codes of fabric-ca (lib/caerrors) that we turn into specific types.
_CODE_AUTHENTICATION = 20
_CODE_AUTHORIZATION = 71
_CODE_PASSWORD_ATTEMPTS = 73
_CODE_DUPLICATE_IDENTITY = 74


# -- errors ---------------------------------------------------------------------------


class CAError(GridLedgerError):
    """The CA refused a request.

    ``status_code`` is the HTTP status (0 if there was no answer), ``errors`` the CA's
    list of ``{"code": int, "message": str}``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 0,
        errors: Sequence[Mapping[str, Any]] = (),
        url: str = "",
    ) -> None:
        self.status_code = status_code
        self.errors = [dict(e) for e in errors]
        self.url = url
        super().__init__(message)

    @property
    def codes(self) -> list[int]:
        """The CA's error codes (see fabric-ca lib/caerrors), e.g. ``[74]``."""
        return [int(e.get("code", 0)) for e in self.errors]


class CAConnectionError(CAError):
    """No answer from the CA: refused connection, TLS failure (wrong root?) or timeout."""

    retryable = True


class AuthenticationError(CAError):
    """The CA did not accept the caller's credentials.

    For security the CA gives the same answer for a wrong secret, an unknown or revoked
    identity, exhausted ``max_enrollments`` and a bad or expired token; its own log holds
    the exact reason.
    """


class AuthorizationError(CAError):
    """The caller is known but not allowed to do this (registrar rights, hf.Revoker,
    affiliation, or its enrollment ID was revoked)."""


class RegistrationError(CAError):
    """The CA refused to register an identity."""


class AlreadyRegistered(RegistrationError):
    """An identity with this enrollment ID is already registered at the CA."""


# -- data -----------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Enrollment:
    """An enrolled X.509 identity: certificate, its private key, and the CA chain.

    ``repr`` and ``str`` show who it is, never the key.
    """

    certificate: bytes  # PEM
    private_key: ec.EllipticCurvePrivateKey = field(compare=False)
    ca_chain: bytes = b""  # PEM, root first as the CA sends it

    @property
    def x509(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate)

    @property
    def enrollment_id(self) -> str:
        """The certificate's common name, which the CA sets to the enrollment ID."""
        return _common_name(self.x509)

    @property
    def not_after(self) -> datetime:
        return self.x509.not_valid_after_utc

    @property
    def serial(self) -> str:
        """Serial number in lower-case hex, as the CA's revoke call takes it."""
        return format(self.x509.serial_number, "x")

    @property
    def aki(self) -> str:
        """Authority key identifier in lower-case hex, as the CA's revoke call takes it."""
        return _aki_hex(self.x509)

    @property
    def attributes(self) -> dict[str, str]:
        """Attributes the CA put in the certificate (``hf.*`` and registered ``ecert`` ones)."""
        return certificate_attributes(self.x509)

    def identity(self, msp_id: str) -> Identity:
        """This enrollment as the Identity of member ``msp_id`` (e.g. ``UtilityMSP``)."""
        return Identity(msp_id, self.certificate)

    def signer(self) -> Signer:
        return private_key_signer(self.private_key)

    def __repr__(self) -> str:
        return (
            f"Enrollment(enrollment_id={self.enrollment_id!r}, not_after={self.not_after:%Y-%m-%d})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class RevokedCertificate:
    serial: str  # hex
    aki: str  # hex


@dataclass(frozen=True)
class Revocation:
    """What ``revoke`` did: the certificates now revoked and, if asked for, the new CRL."""

    revoked: tuple[RevokedCertificate, ...]
    crl: bytes | None = None  # PEM


# A caller of an authenticated API: an Enrollment, or (certificate PEM, key or signer).
# A signer (any callable bytes -> DER signature) lets a key in an HSM or wallet register.
Credential = Enrollment | tuple[bytes, ec.EllipticCurvePrivateKey | Signer]
# Attributes for register: {name: value} (put in the certificate), or
# (name, value, ecert) triples where ``ecert`` says whether the certificate carries it.
Attributes = Mapping[str, str] | Iterable[tuple[str, str, bool]]


# -- pure helpers (unit-tested without a CA) ---------------------------------------------


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 key, the only curve Fabric's default MSP accepts."""
    return ec.generate_private_key(ec.SECP256R1())


def build_csr(
    enrollment_id: str, key: ec.EllipticCurvePrivateKey, hosts: Iterable[str] = ()
) -> bytes:
    """A PEM CSR with CN = ``enrollment_id`` (the CA refuses any other CN) and SANs ``hosts``.

    The CA replaces the OU with the identity's type and affiliation, so none is set here.
    """
    if not enrollment_id:
        raise ArgumentError("an enrollment ID is needed for the CSR's common name")
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, enrollment_id)])
    )
    sans = _subject_alt_names(hosts)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def _subject_alt_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _b64(data: bytes) -> str:
    # Go's base64.StdEncoding: standard alphabet, with padding.
    return base64.b64encode(data).decode("ascii")


def token_payload(method: str, uri: str, body: bytes, certificate: bytes) -> bytes:
    """The bytes an authentication token signs (fabric-ca util.GenECDSAToken, v1.4+).

    ``uri`` is the request URI as the server sees it: path plus query, e.g.
    ``/api/v1/register``.
    """
    return ".".join((method.upper(), _b64(uri.encode()), _b64(body), _b64(certificate))).encode()


def auth_token(certificate: bytes, signer: Signer, method: str, uri: str, body: bytes) -> str:
    """The ``Authorization`` header value for an authenticated CA call."""
    signature = signer(token_payload(method, uri, body, certificate))
    return f"{_b64(certificate)}.{_b64(signature)}"


def certificate_attributes(cert: x509.Certificate | bytes) -> dict[str, str]:
    """Fabric CA attributes carried in a certificate (empty if it has none)."""
    if isinstance(cert, bytes):
        cert = x509.load_pem_x509_certificate(cert)
    try:
        ext = cert.extensions.get_extension_for_oid(ATTRIBUTE_OID)
    except x509.ExtensionNotFound:
        return {}
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    try:
        attrs = json.loads(raw).get("attrs", {})
    except (ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in attrs.items()}


def _attribute_list(attributes: Attributes | None) -> list[dict[str, Any]]:
    if attributes is None:
        return []
    if isinstance(attributes, Mapping):
        # The plain mapping form is for attributes chaincode reads from the certificate
        # (ABAC), so they go into the enrollment certificate.
        triples: Iterable[tuple[str, str, bool]] = ((k, v, True) for k, v in attributes.items())
    else:
        triples = attributes
    out = []
    for item in triples:
        try:
            name, value, ecert = item
        except (TypeError, ValueError):
            raise ArgumentError(
                f"attribute {item!r}: give a {{name: value}} mapping "
                "or (name, value, ecert) triples"
            ) from None
        if not name or (name.startswith("hf.") and name not in _SETTABLE_HF):
            raise ArgumentError(f"attribute name {name!r} is empty or reserved by Fabric CA")
        entry: dict[str, Any] = {"name": str(name), "value": str(value)}
        if ecert:
            entry["ecert"] = True
        out.append(entry)
    return out


# hf.* attributes a registrar may set on others (fabric-ca docs, "Registering a new
# identity"); the rest of the hf. namespace is the CA's own.
_SETTABLE_HF = frozenset(
    {
        "hf.Registrar.Roles",
        "hf.Registrar.DelegateRoles",
        "hf.Registrar.Attributes",
        "hf.Revoker",
        "hf.GenCRL",
        "hf.IntermediateCA",
        "hf.AffiliationMgr",
    }
)


def _common_name(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else ""


def _aki_hex(cert: x509.Certificate) -> str:
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return ""
    return (aki.key_identifier or b"").hex()


def _split_credential(credential: Credential) -> tuple[bytes, Signer]:
    if isinstance(credential, Enrollment):
        return credential.certificate, credential.signer()
    try:
        cert, key = credential
    except (TypeError, ValueError):
        raise ArgumentError(
            "a CA caller is an Enrollment or a (certificate PEM, private key or signer) pair"
        ) from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return bytes(cert), private_key_signer(key)
    if callable(key):
        return bytes(cert), key
    raise ArgumentError("the second item of a CA caller must be a P-256 private key or a signer")


def _ssl_context(tls_root: bytes | str | Path) -> ssl.SSLContext:
    if isinstance(tls_root, bytes):
        pem = tls_root
    else:
        try:
            pem = Path(tls_root).read_bytes()
        except OSError as exc:
            raise ArgumentError(
                f"cannot read the CA's TLS root {tls_root}: {exc.strerror}"
            ) from None
    try:
        return ssl.create_default_context(cadata=pem.decode("ascii"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
        raise ArgumentError(f"the CA's TLS root is not a PEM certificate: {exc}") from None


# -- the client -------------------------------------------------------------------------


class CAClient:
    """A client of one Fabric CA (one ``ca_name`` on a server that may host several).

    ``tls_root`` is the PEM (bytes) or a path of the certificate that signed the CA
    server's TLS certificate; for this network that is ``layout.ca_cert(org)``.
    ``timeout`` (seconds) bounds each request.
    Use it as a context manager, or call :meth:`close`, to release the connection.
    """

    def __init__(
        self,
        url: str,
        tls_root: bytes | str | Path | None,
        ca_name: str | None = None,
        timeout: float = 30,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.ca_name = ca_name
        parsed = httpx.URL(self.url)
        if parsed.scheme == "https":
            if tls_root is None:
                raise ArgumentError(f"{self.url}: an https CA needs its TLS root certificate")
            verify: ssl.SSLContext | bool = _ssl_context(tls_root)
        elif parsed.scheme == "http":
            verify = False
        else:
            raise ArgumentError(f"CA URL {url!r} must start with https:// (or http://)")
        # ``transport`` lets tests answer in memory (httpx.MockTransport) instead of a CA.
        self._http = httpx.Client(
            base_url=self.url, verify=verify, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"CAClient({self.url!r}, ca_name={self.ca_name!r})"

    def __enter__(self) -> CAClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- API ----------------------------------------------------------------------------

    def cainfo(self) -> dict[str, Any]:
        """The CA's name, version and certificate chain (``ca_chain``, PEM bytes)."""
        result = self._call("cainfo", self._with_caname({}))
        return {
            "ca_name": result.get("CAName", ""),
            "version": result.get("Version", ""),
            "ca_chain": base64.b64decode(result.get("CAChain", "")),
            "issuer_public_key": base64.b64decode(result.get("IssuerPublicKey", "")),
            "issuer_revocation_public_key": base64.b64decode(
                result.get("IssuerRevocationPublicKey", "")
            ),
        }

    def enroll(
        self,
        enrollment_id: str,
        secret: str,
        *,
        csr_hosts: Iterable[str] = (),
        profile: str | None = None,
        attr_reqs: Iterable[str | tuple[str, bool]] | None = None,
    ) -> Enrollment:
        """Get a certificate for a registered identity, for a key made here.

        ``profile="tls"`` asks for a TLS certificate (then ``csr_hosts`` should name the
        server).  ``attr_reqs`` lists attributes to put in the certificate: names
        (required) or ``(name, optional)`` pairs; by default the CA adds those
        registered with ``ecert``.
        """
        key = generate_key()
        body = self._sign_request(enrollment_id, key, csr_hosts, profile, attr_reqs)
        result = self._call("enroll", body, basic_auth=(enrollment_id, secret))
        return self._enrollment(result, key)

    def reenroll(
        self,
        enrollment: Credential,
        *,
        csr_hosts: Iterable[str] = (),
        profile: str | None = None,
        attr_reqs: Iterable[str | tuple[str, bool]] | None = None,
    ) -> Enrollment:
        """A fresh certificate (and new key) for an enrolled identity, before it expires."""
        cert, _ = _split_credential(enrollment)
        enrollment_id = _common_name(x509.load_pem_x509_certificate(cert))
        key = generate_key()
        body = self._sign_request(enrollment_id, key, csr_hosts, profile, attr_reqs)
        result = self._call("reenroll", body, credential=enrollment)
        return self._enrollment(result, key)

    def register(
        self,
        registrar: Credential,
        enrollment_id: str,
        *,
        secret: str | None = None,
        type: str = "client",
        affiliation: str = "",
        attributes: Attributes | None = None,
        max_enrollments: int | None = None,
    ) -> str:
        """Register a new identity; returns its enrollment secret (made by the CA if None).

        ``type`` becomes the certificate's NodeOU role (client, peer, orderer, admin).
        ``affiliation`` "" registers under the registrar's own affiliation.
        ``max_enrollments``: None for the CA's default, -1 unlimited.
        """
        if not enrollment_id:
            raise ArgumentError("register needs an enrollment ID")
        body: dict[str, Any] = {"id": enrollment_id, "type": type, "affiliation": affiliation}
        if secret is not None:
            body["secret"] = secret
        if max_enrollments is not None:
            body["max_enrollments"] = max_enrollments
        attrs = _attribute_list(attributes)
        if attrs:
            body["attrs"] = attrs
        result = self._call("register", self._with_caname(body), credential=registrar)
        return str(result.get("secret", secret or ""))

    def revoke(
        self,
        registrar: Credential,
        enrollment_id: str | None = None,
        *,
        serial: str | None = None,
        aki: str | None = None,
        reason: str = "unspecified",
        gencrl: bool = False,
    ) -> Revocation:
        """Revoke an identity (all its certificates, and no more enrollments) or one
        certificate (``serial`` and ``aki``, hex)."""
        if not enrollment_id and not (serial and aki):
            raise ArgumentError("revoke needs an enrollment ID, or both serial and aki")
        if reason.lower() not in REVOCATION_REASONS:
            raise ArgumentError(
                f"revocation reason {reason!r} is not one of "
                + ", ".join(sorted(REVOCATION_REASONS))
            )
        body: dict[str, Any] = {"reason": reason.lower()}
        if enrollment_id:
            body["id"] = enrollment_id
        if serial and aki:
            body["serial"], body["aki"] = serial, aki
        if gencrl:
            body["gencrl"] = True
        result = self._call("revoke", self._with_caname(body), credential=registrar)
        revoked = tuple(
            RevokedCertificate(str(c.get("Serial", "")), str(c.get("AKI", "")))
            for c in result.get("RevokedCerts") or ()
        )
        crl = base64.b64decode(result["CRL"]) if result.get("CRL") else None
        return Revocation(revoked, crl)

    # -- plumbing -----------------------------------------------------------------------

    def _with_caname(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.ca_name:
            body["caname"] = self.ca_name
        return body

    def _sign_request(
        self,
        enrollment_id: str,
        key: ec.EllipticCurvePrivateKey,
        hosts: Iterable[str],
        profile: str | None,
        attr_reqs: Iterable[str | tuple[str, bool]] | None,
    ) -> dict[str, Any]:
        hosts = list(hosts)
        body: dict[str, Any] = {
            "certificate_request": build_csr(enrollment_id, key, hosts).decode("ascii"),
            "profile": profile or "",
        }
        # Left out rather than [] when empty: an empty list would make the CA drop the
        # CSR's SANs (cfssl overrides hosts whenever the field is present).
        if hosts:
            body["hosts"] = hosts
        if attr_reqs is not None:
            reqs = []
            for req in attr_reqs:
                name, optional = (req, False) if isinstance(req, str) else req
                reqs.append({"name": name, "optional": bool(optional)})
            body["attr_reqs"] = reqs
        return self._with_caname(body)

    def _enrollment(self, result: Mapping[str, Any], key: ec.EllipticCurvePrivateKey) -> Enrollment:
        try:
            cert_pem = base64.b64decode(result["Cert"])
            cert = x509.load_pem_x509_certificate(cert_pem)
            chain = base64.b64decode(result.get("ServerInfo", {}).get("CAChain", ""))
        except (KeyError, ValueError, TypeError) as exc:
            raise CAError(
                f"{self.url}: the CA's enrollment answer has no usable certificate ({exc})"
            ) from None
        ours = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        theirs = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if ours != theirs:
            raise CAError(f"{self.url}: the CA returned a certificate for a different key")
        return Enrollment(cert_pem, key, chain)

    def _call(
        self,
        endpoint: str,
        body: dict[str, Any],
        *,
        basic_auth: tuple[str, str] | None = None,
        credential: Credential | None = None,
    ) -> dict[str, Any]:
        content = json.dumps(body).encode()
        request = self._http.build_request(
            "POST",
            API_PREFIX + endpoint,
            content=content,
            headers={"Content-Type": "application/json"},
        )
        if basic_auth is not None:
            user, password = basic_auth
            request.headers["Authorization"] = "Basic " + _b64(f"{user}:{password}".encode())
        if credential is not None:
            cert, signer = _split_credential(credential)
            # Sign the URI exactly as sent (path and query); the server checks the token
            # against its own view of the request, so any difference fails the call.
            uri = request.url.raw_path.decode("ascii")
            request.headers["Authorization"] = auth_token(cert, signer, "POST", uri, content)
        where = f"{endpoint} at {self.url}"
        try:
            response = self._http.send(request)
        except httpx.TimeoutException as exc:
            raise CAConnectionError(
                f"{where}: no answer within the timeout ({type(exc).__name__}); "
                "is the CA running (`gridledger network status`)?",
                url=self.url,
            ) from exc
        except httpx.TransportError as exc:
            raise CAConnectionError(_connection_message(where, exc), url=self.url) from exc
        return self._result(endpoint, where, response)

    def _result(self, endpoint: str, where: str, response: httpx.Response) -> dict[str, Any]:
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            raise CAError(
                f"{where}: HTTP {response.status_code}, not a Fabric CA answer: "
                f"{response.text[:200]!r}",
                status_code=response.status_code,
                url=self.url,
            )
        errors = [e for e in envelope.get("errors") or () if isinstance(e, dict)]
        if response.is_success and envelope.get("success") and not errors:
            result = envelope.get("result")
            return result if isinstance(result, dict) else {}
        raise _error_for(endpoint, where, response.status_code, errors, self.url)


def _connection_message(where: str, exc: httpx.TransportError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"{where}: TLS verification failed ({cause.verify_message}); the TLS root "
                "given is not the one that signed this CA's TLS certificate, or the URL's "
                "host is not in it"
            )
        if isinstance(cause, ssl.SSLError):
            return f"{where}: TLS handshake failed ({cause}); is this an https Fabric CA?"
        cause = cause.__cause__ or cause.__context__
    return f"{where}: cannot connect ({exc}); is the CA running (`gridledger network status`)?"


def _error_for(
    endpoint: str, where: str, status: int, errors: list[dict[str, Any]], url: str
) -> CAError:
    codes = {int(e.get("code", 0)) for e in errors}
    said = "; ".join(f"{e.get('message', '')} (code {e.get('code', '?')})" for e in errors)
    said = said or "no reason given"
    kw: dict[str, Any] = {"status_code": status, "errors": errors, "url": url}
    if _CODE_PASSWORD_ATTEMPTS in codes:
        return AuthenticationError(
            f"{where}: {said}; the identity is locked after too many wrong secrets: "
            "a registrar must reset it (modify the identity's secret)",
            **kw,
        )
    if status == 401 or _CODE_AUTHENTICATION in codes:
        if endpoint == "enroll":
            hint = (
                "check the enrollment ID and secret; the identity may also be revoked or "
                "have used up its max_enrollments (the CA's log names the reason)"
            )
        else:
            hint = (
                "the caller's certificate was not accepted: expired, revoked, or not issued "
                "by this CA (enroll again, or use this CA's registrar)"
            )
        return AuthenticationError(f"{where}: {said}; {hint}", **kw)
    if status == 403 or _CODE_AUTHORIZATION in codes:
        hint = {
            "register": "the registrar needs hf.Registrar.Roles for this type, "
            "hf.Registrar.Attributes for these attributes, and the affiliation",
            "revoke": "the caller needs hf.Revoker and authority over the identity's "
            "affiliation and type",
        }.get(endpoint, "the caller's identity may be revoked, or lacks the right for this")
        return AuthorizationError(f"{where}: {said}; {hint}", **kw)
    if endpoint == "register":
        if _CODE_DUPLICATE_IDENTITY in codes or status == 409:
            return AlreadyRegistered(
                f"{where}: {said}; enroll it with its secret, or register another ID", **kw
            )
        return RegistrationError(f"{where}: {said}", **kw)
    return CAError(f"{where}: HTTP {status}: {said}", **kw)
