"""What a Fabric CA client makes and signs: keys, CSRs, and the authentication token.

Pure functions, unit-tested without a CA.  Two ways to authenticate, as the CA expects:

* ``enroll`` sends the enrollment ID and secret as HTTP basic auth;
* every other call carries a *token* made from an enrolled identity::

      base64(cert PEM) "." base64(signature)

  where the low-S ECDSA-SHA256 signature covers
  ``METHOD "." base64(request URI) "." base64(body) "." base64(cert PEM)``.
  This is what v1.4+ requires (fabric-ca util.GenECDSAToken / VerifyToken).  Fabric CA
  1.3 signed only ``base64(body) "." base64(cert PEM)``; a v1.5 server accepts that older
  form only when started with ``FABRIC_CA_SERVER_COMPATIBILITY_MODE_V1_3=true`` (default
  false), and accepts the form above either way, so this client sends only the new one.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .errors import ArgumentError
from .signing import Signer


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


def b64(data: bytes) -> str:
    """Go's ``base64.StdEncoding`` (standard alphabet, with padding), as the CA reads it."""
    return base64.b64encode(data).decode("ascii")


def token_payload(method: str, uri: str, body: bytes, certificate: bytes) -> bytes:
    """The bytes an authentication token signs (fabric-ca util.GenECDSAToken, v1.4+).

    ``uri`` is the request URI as the server sees it: path plus query, e.g.
    ``/api/v1/register``.
    """
    return ".".join((method.upper(), b64(uri.encode()), b64(body), b64(certificate))).encode()


def auth_token(certificate: bytes, signer: Signer, method: str, uri: str, body: bytes) -> str:
    """The ``Authorization`` header value for an authenticated CA call."""
    signature = signer(token_payload(method, uri, body, certificate))
    return f"{b64(certificate)}.{b64(signature)}"


def basic_auth_header(enrollment_id: str, secret: str) -> str:
    """The ``Authorization`` header value for ``enroll`` (HTTP basic auth)."""
    return "Basic " + b64(f"{enrollment_id}:{secret}".encode())
