"""The transaction creator: MSP ID, X.509 certificate, NodeOU role and Fabric CA attributes.

Fabric CA writes an identity's type (``client``, ``peer``, ``admin``, ``orderer``) into
the certificate subject as an OU, next to one OU per affiliation level; with NodeOUs
enabled (every MSP of this network, ``network/layout.py``) the peer's MSP classifies the
creator by exactly those OUs, and it refuses an identity that carries more than one of
them. :attr:`ClientIdentity.node_ou` reads the role the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID
from fabric_protos.msp import identities_pb2

from gridledger.formats.ca_attributes import read_ca_attributes
from gridledger.formats.errors import FormatError

# Fabric's NodeOU roles, spelled as Fabric CA writes them into the OU (identity types).
NODE_OU_ROLES = frozenset({"client", "peer", "admin", "orderer"})


@dataclass(frozen=True)
class ClientIdentity:
    """Who created the transaction, as seen in the proposal's signature header."""

    msp_id: str
    cert_pem: bytes
    subject: str
    issuer: str
    common_name: str
    attributes: dict[str, str] = field(default_factory=dict)
    # Every OU of the certificate subject, in certificate order (NodeOU role and
    # affiliation levels alike).
    ous: tuple[str, ...] = ()

    def get_attribute(self, name: str) -> str | None:
        """Return a Fabric CA attribute of the creator, or None if it has none."""
        return self.attributes.get(name)

    def has_attribute(self, name: str, value: str) -> bool:
        """True when the creator carries attribute ``name`` with exactly ``value``."""
        return self.attributes.get(name) == value

    @property
    def node_ou(self) -> str | None:
        """The creator's NodeOU role (client, peer, admin, orderer), or None.

        None when the subject carries no role OU, or more than one (which Fabric's MSP
        refuses as "a combination of them": such an identity has no role here either).
        """
        roles = {ou for ou in self.ous if ou in NODE_OU_ROLES}
        return roles.pop() if len(roles) == 1 else None


def parse_creator(serialized_identity: bytes) -> ClientIdentity:
    """Decode a marshalled msp.SerializedIdentity holding an X.509 PEM certificate."""
    sid = identities_pb2.SerializedIdentity()
    sid.ParseFromString(serialized_identity)
    if not sid.mspid:
        raise ValueError("creator identity has no MSP ID")
    cert = x509.load_pem_x509_certificate(sid.id_bytes)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ous = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    try:
        attributes = read_ca_attributes(cert)
    except FormatError as exc:
        # The peer's MSP accepted this certificate, so an unreadable attribute extension
        # is the issuing CA's fault, not the caller's input: it must stay an internal
        # error (500), not become the 400 the dispatcher gives every FormatError.
        raise ValueError(f"creator certificate: {exc}") from None
    return ClientIdentity(
        msp_id=sid.mspid,
        cert_pem=bytes(sid.id_bytes),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=str(cns[0].value) if cns else "",
        attributes=attributes,
        ous=tuple(str(ou.value) for ou in ous),
    )
