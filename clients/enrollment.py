"""An enrolled identity as the CA client returns it, and what the CA says about revocations.

An :class:`Enrollment` is a certificate with its private key and the CA chain; its
``attributes`` are those Fabric CA wrote into the certificate
(:mod:`gridledger.formats.ca_attributes`).  A :data:`Credential` is whatever may sign a
CA call: an Enrollment, or a certificate with a key or a signer (a key in an HSM).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridledger.formats.ca_attributes import read_ca_attributes

from .errors import ArgumentError
from .identity import Identity
from .signing import Signer, private_key_signer


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
        return common_name(self.x509)

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
        return aki_hex(self.x509)

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


def _as_number(hex_text: str) -> str:
    """Hex as Fabric CA writes serials and key ids: lowercase, no leading zeros."""
    return hex_text.lower().lstrip("0") or "0"


@dataclass(frozen=True)
class RevokedCertificate:
    """A certificate the CA revoked, by serial and authority key id, as the CA reports
    them (hex numbers: a key id whose first byte is below 0x10 has lost a leading zero)."""

    serial: str  # hex
    aki: str  # hex

    def matches(self, enrollment: Enrollment) -> bool:
        """True when this is ``enrollment``'s certificate."""
        return ((_as_number(self.serial), _as_number(self.aki))
                == (_as_number(enrollment.serial), _as_number(enrollment.aki)))


@dataclass(frozen=True)
class Revocation:
    """What ``revoke`` did: the certificates now revoked and, if asked for, the new CRL."""

    revoked: tuple[RevokedCertificate, ...]
    crl: bytes | None = None  # PEM


# A caller of an authenticated API: an Enrollment, or (certificate PEM, key or signer).
# A signer (any callable bytes -> DER signature) lets a key in an HSM or wallet register.
Credential = Enrollment | tuple[bytes, ec.EllipticCurvePrivateKey | Signer]


def certificate_attributes(cert: x509.Certificate | bytes) -> dict[str, str]:
    """Fabric CA attributes carried in a certificate (empty if it has none).

    Raises :class:`gridledger.formats.errors.FormatError` (a ValueError) when the
    attribute extension is malformed: such an identity must never pass for one without
    attributes.
    """
    return read_ca_attributes(cert)


def common_name(cert: x509.Certificate) -> str:
    """The certificate's common name ("" if none): the enrollment ID, for the CA's certs."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else ""


def aki_hex(cert: x509.Certificate) -> str:
    """The authority key identifier in lower-case hex ("" if none), as revoke takes it."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return ""
    return (aki.key_identifier or b"").hex()


def split_credential(credential: Credential) -> tuple[bytes, Signer]:
    """A credential as (certificate PEM, signer); :class:`ArgumentError` if it is neither."""
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


