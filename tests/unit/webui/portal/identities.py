"""Certificates as Fabric CA makes them (NodeOU in the subject, attributes in the
extension), from a CA made here, for accounts in the portal's unit tests."""

from __future__ import annotations

import datetime as dt
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridledger.clients.enrollment import Enrollment
from gridledger.formats.ca_attributes import FABRIC_CA_ATTRS_OID

PEM = serialization.Encoding.PEM


class TestCA:
    __test__ = False

    def __init__(self, org: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ca-{org}")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1))
                     .not_valid_after(now + dt.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))

    def enroll(self, cn: str, ou: str = "client", attrs: dict[str, str] | None = None
               ) -> Enrollment:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                             x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1))
             .not_valid_after(now + dt.timedelta(days=30)))
        if attrs:
            b = b.add_extension(x509.UnrecognizedExtension(
                FABRIC_CA_ATTRS_OID, json.dumps({"attrs": attrs}).encode()), False)
        cert = b.sign(self.key, hashes.SHA256())
        return Enrollment(cert.public_bytes(PEM), key, self.cert.public_bytes(PEM))
