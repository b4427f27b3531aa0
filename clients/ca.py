"""A Fabric CA client over the CA's REST API (Fabric CA v1.5): :class:`CAClient`.

What ``fabric-ca-client`` does, without the binary: enroll, reenroll, register, revoke
and ``cainfo``.  Keys are made here (ECDSA P-256) and never leave the process; the CA
only sees a certificate signing request.

This module is the CA client's public face; the parts live beside it:

- :mod:`.ca_token`    keys, CSRs, and the token that authenticates each call
- :mod:`.enrollment`  :class:`Enrollment`, :class:`Revocation`, :data:`Credential`
- :mod:`.ca_errors`   :class:`CAError` and its kinds, from the CA's answers
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .ca_errors import (
    AlreadyRegistered,
    AuthenticationError,
    AuthorizationError,
    CAConnectionError,
    CAError,
    RegistrationError,
    connection_message,
    error_for,
)
from .ca_token import auth_token, basic_auth_header, build_csr, generate_key
from .enrollment import (
    Credential,
    Enrollment,
    Revocation,
    RevokedCertificate,
    common_name,
    split_credential,
)
from .errors import ArgumentError

__all__ = [
    "AlreadyRegistered", "Attributes", "AuthenticationError", "AuthorizationError", "CAClient",
    "CAConnectionError", "CAError", "Credential", "Enrollment", "RegistrationError",
    "Revocation", "RevokedCertificate", "generate_key",
]

API_PREFIX = "/api/v1/"

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

# Attributes for register: {name: value} (put in the certificate), or
# (name, value, ecert) triples where ``ecert`` says whether the certificate carries it.
Attributes = Mapping[str, str] | Iterable[tuple[str, str, bool]]


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
        cert, _ = split_credential(enrollment)
        enrollment_id = common_name(x509.load_pem_x509_certificate(cert))
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
            request.headers["Authorization"] = basic_auth_header(user, password)
        if credential is not None:
            cert, signer = split_credential(credential)
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
            raise CAConnectionError(connection_message(where, exc), url=self.url) from exc
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
        raise error_for(endpoint, where, response.status_code, errors, self.url)
