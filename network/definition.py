"""A member's public organisation definition: the file one member hands the others.

It holds what the others need to put the organisation into a channel and to talk to its
nodes, and nothing secret: the CA's root certificate (the trust anchor of its MSP and of
its TLS), the NodeOU roles, its anchor peer, its orderer's endpoint and TLS certificate
(Raft consenters are named by it), and its CA's URL for clients.  :func:`load` refuses
a file that carries a private key or whose certificates do not hang together, before
anything of it is written into a state directory.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from .errors import NetworkError
from .layout import Layout

FORMAT = "gridledger.organisation/1"
_PRIVATE = re.compile(r"PRIVATE KEY", re.IGNORECASE)


class DefinitionError(NetworkError, ValueError):
    """An organisation definition is malformed, inconsistent or carries a secret."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class OrgDefinition:
    """One organisation, as the channel configuration and the other members see it."""

    name: str
    msp_id: str
    ca_cert: str  # PEM: root of the MSP and of TLS (one CA per organisation)
    node_ous: str  # the MSP's config.yaml
    anchor_peer: Endpoint
    peer_name: str
    orderer: Endpoint
    orderer_name: str
    orderer_tls_cert: str  # PEM: how the Raft cluster knows this consenter
    ca_url: str

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2) + "\n"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)

    # -- where it goes in a member's state directory ---------------------------------------

    def install(self, layout: Layout) -> None:
        """Write its public certificates where our configs look for an organisation's."""
        msp = layout.org_msp(self.name)
        for sub in ("cacerts", "tlscacerts"):
            (msp / sub).mkdir(parents=True, exist_ok=True)
            (msp / sub / "ca.pem").write_text(self.ca_cert)
        (msp / "config.yaml").write_text(self.node_ous)
        layout.ca_cert(self.name).parent.mkdir(parents=True, exist_ok=True)
        layout.ca_cert(self.name).write_text(self.ca_cert)
        tls = layout.tls(self.name, self.orderer_name)
        tls.mkdir(parents=True, exist_ok=True)
        (tls / "server.crt").write_text(self.orderer_tls_cert)
        self.save(layout.definitions_dir / f"{self.name}.json")


def parse(data: object, source: str = "definition") -> OrgDefinition:
    """An :class:`OrgDefinition` from decoded JSON, checked."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DefinitionError(f"{source}: not a GridLedger organisation definition ({FORMAT})")
    try:
        definition = OrgDefinition(
            name=str(data["name"]), msp_id=str(data["msp_id"]), ca_cert=str(data["ca_cert"]),
            node_ous=str(data["node_ous"]),
            anchor_peer=Endpoint(str(data["anchor_peer"]["host"]),
                                 int(data["anchor_peer"]["port"])),
            peer_name=str(data["peer_name"]),
            orderer=Endpoint(str(data["orderer"]["host"]), int(data["orderer"]["port"])),
            orderer_name=str(data["orderer_name"]),
            orderer_tls_cert=str(data["orderer_tls_cert"]), ca_url=str(data["ca_url"]),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise DefinitionError(f"{source}: missing or malformed field {exc}") from None
    check(definition, source)
    return definition


def load(path: Path) -> OrgDefinition:
    """Read and check a definition file another member handed us."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot be read ({exc.strerror})") from None
    if _PRIVATE.search(text):
        # Never write a key we were handed anywhere: the file was made wrongly, or on purpose.
        raise DefinitionError(
            f"{path} holds a private key: a definition carries certificates only. Ask its "
            "organisation for the file `gridledger org definition` writes, and treat that key "
            "as compromised."
        )
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DefinitionError(f"{path}: not JSON ({exc})") from None
    return parse(data, str(path))


def check(d: OrgDefinition, source: str) -> None:
    """Refuse a definition whose certificates are not what they claim to be."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,30}", d.name):
        raise DefinitionError(f"{source}: organisation name {d.name!r} is not lower-case "
                              "letters and digits")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9.-]{0,63}", d.msp_id):
        raise DefinitionError(f"{source}: MSP ID {d.msp_id!r} is not valid")
    try:
        ca = x509.load_pem_x509_certificate(d.ca_cert.encode())
        tls = x509.load_pem_x509_certificate(d.orderer_tls_cert.encode())
    except ValueError as exc:
        raise DefinitionError(f"{source}: a certificate does not parse ({exc})") from None
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise DefinitionError(f"{source}: ca_cert is not a CA certificate")
    try:
        tls.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise DefinitionError(
            f"{source}: the orderer's TLS certificate is not issued by the organisation's CA"
        ) from None
    try:
        usage = tls.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and ExtendedKeyUsageOID.SERVER_AUTH not in usage:
        raise DefinitionError(f"{source}: the orderer's TLS certificate is not for servers")
