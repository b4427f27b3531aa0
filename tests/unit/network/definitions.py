"""Organisation definitions with real certificates (a CA and its orderer's TLS certificate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gridledger.network.definition import Endpoint, OrgDefinition
from gridledger.network.layout import NODE_OUS


def certificate(subject: str, key, issuer_name: x509.Name, issuer_key, ca: bool,
                days: float = 365) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make(name: str, host: str = "127.0.1.1", base: int = 7150) -> OrgDefinition:
    """A well-formed definition of organisation ``name`` (``<Name>MSP``)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(f"ca-{name}", ca_key, x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, f"ca-{name}")]), ca_key, ca=True)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    tls = certificate(f"orderer0.{name}", tls_key, ca.subject, ca_key, ca=False)
    return OrgDefinition(
        name=name, msp_id=f"{name.capitalize()}MSP", ca_cert=pem(ca), node_ous=NODE_OUS,
        anchor_peer=Endpoint(host, base + 1), peer_name="peer0",
        orderer=Endpoint(host, base), orderer_name="orderer0", orderer_tls_cert=pem(tls),
        ca_url=f"https://{host}:{base + 4}",
    )


def install_members(net) -> None:
    """Give each member of ``net`` (a Consortium) its own certificates and the others'
    definitions, as `org init` and the exchange of definitions would, without a CA."""
    made = {o.name: make(o.name, o.host, o.orderer.port) for o in net.topology.organisations}
    for member in net.members:
        layout, org = member.layout, member.org
        own = made[org.name]
        layout.ca_cert(org.name).parent.mkdir(parents=True, exist_ok=True)
        layout.ca_cert(org.name).write_text(own.ca_cert)
        tls = layout.tls(org.name, org.orderer.name)
        tls.mkdir(parents=True, exist_ok=True)
        (tls / "server.crt").write_text(own.orderer_tls_cert)
        for name, d in made.items():
            if name != org.name:
                d.install(layout)
