"""The transaction creator: MSP ID, X.509 certificate and Fabric CA attributes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID
from fabric_protos.msp import identities_pb2

# Fabric CA writes enrollment attributes into this private extension as raw JSON
# bytes: {"attrs": {"role": "prosumer", ...}} (fabric-ca lib/attrmgr).
FABRIC_CA_ATTRS_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1")


@dataclass(frozen=True)
class ClientIdentity:
    """Who created the transaction, as seen in the proposal's signature header."""

    msp_id: str
    cert_pem: bytes
    subject: str
    issuer: str
    common_name: str
    attributes: dict[str, str] = field(default_factory=dict)

    def get_attribute(self, name: str) -> str | None:
        """Return a Fabric CA attribute of the creator, or None if it has none."""
        return self.attributes.get(name)

    def has_attribute(self, name: str, value: str) -> bool:
        """True when the creator carries attribute ``name`` with exactly ``value``."""
        return self.attributes.get(name) == value


def parse_creator(serialized_identity: bytes) -> ClientIdentity:
    """Decode a marshalled msp.SerializedIdentity holding an X.509 PEM certificate."""
    sid = identities_pb2.SerializedIdentity()
    sid.ParseFromString(serialized_identity)
    if not sid.mspid:
        raise ValueError("creator identity has no MSP ID")
    cert = x509.load_pem_x509_certificate(sid.id_bytes)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return ClientIdentity(
        msp_id=sid.mspid,
        cert_pem=bytes(sid.id_bytes),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=str(cns[0].value) if cns else "",
        attributes=read_ca_attributes(cert),
    )


def read_ca_attributes(cert: x509.Certificate) -> dict[str, str]:
    """Return the Fabric CA attributes of ``cert`` ({} when it carries none).

    A malformed extension raises ValueError rather than passing silently: an identity
    whose attributes cannot be read must not be mistaken for one without attributes.
    """
    try:
        ext = cert.extensions.get_extension_for_oid(FABRIC_CA_ATTRS_OID)
    except x509.ExtensionNotFound:
        return {}
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("Fabric CA attribute extension is not valid JSON") from exc
    attrs = doc.get("attrs") if isinstance(doc, dict) else None
    if not isinstance(attrs, dict):
        raise ValueError('Fabric CA attribute extension lacks an "attrs" object')
    return {str(k): str(v) for k, v in attrs.items()}
