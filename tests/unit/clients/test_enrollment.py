"""What an enrolled certificate says: attributes, names, and credentials for CA calls."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from gridledger.clients.ca_token import generate_key
from gridledger.clients.enrollment import (
    Enrollment,
    aki_hex,
    certificate_attributes,
    common_name,
    split_credential,
)
from gridledger.clients.errors import ArgumentError
from gridledger.formats.ca_attributes import FABRIC_CA_ATTRS_OID
from gridledger.formats.errors import FormatError


def _cert(extension: bytes | None, cn: str = "alice") -> tuple[bytes, object]:
    key = generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1F2E)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    if extension is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(FABRIC_CA_ATTRS_OID, extension), critical=False
        )
    pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return pem, key


def test_attributes_come_from_the_fabric_ca_extension() -> None:
    pem, key = _cert(b'{"attrs": {"role": "customer", "hf.EnrollmentID": "alice"}}')
    assert certificate_attributes(pem) == {"role": "customer", "hf.EnrollmentID": "alice"}
    assert Enrollment(pem, key).attributes == {"role": "customer", "hf.EnrollmentID": "alice"}
    assert certificate_attributes(_cert(None)[0]) == {}


@pytest.mark.parametrize("raw", [b"not json", b'["attrs"]', b'{"attrs": "role=customer"}'])
def test_a_malformed_attribute_extension_is_an_error_not_no_attributes(raw: bytes) -> None:
    pem, key = _cert(raw)
    with pytest.raises(FormatError, match="Fabric CA attribute extension"):
        certificate_attributes(pem)
    with pytest.raises(FormatError):
        _ = Enrollment(pem, key).attributes


def test_an_enrollment_names_itself_and_never_shows_its_key() -> None:
    pem, key = _cert(None, cn="meter-7")
    enrollment = Enrollment(pem, key)
    assert enrollment.enrollment_id == common_name(enrollment.x509) == "meter-7"
    assert enrollment.serial == "1f2e"
    assert enrollment.aki == aki_hex(enrollment.x509) != ""
    assert "meter-7" in repr(enrollment) and "PRIVATE" not in repr(enrollment)


def test_a_credential_is_an_enrollment_or_a_certificate_with_key_or_signer() -> None:
    pem, key = _cert(None)
    cert, signer = split_credential(Enrollment(pem, key))
    assert cert == pem and callable(signer)
    assert split_credential((pem, key))[0] == pem
    assert split_credential((pem, signer))[1] is signer
    with pytest.raises(ArgumentError, match="a CA caller is an Enrollment"):
        split_credential("admin")  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="P-256 private key or a signer"):
        split_credential((pem, "secret"))  # type: ignore[arg-type]


def test_a_revoked_certificate_matches_whatever_leading_zeros_the_ca_dropped() -> None:
    # Fabric CA reports the key id as a hex number: an AKI starting 0x05 comes back as
    # "5...", which once made a revoked certificate look not revoked.
    from gridledger.clients.enrollment import RevokedCertificate

    class Cert:  # the two facts `matches` reads
        serial, aki = "7ed6", "050ce572"

    assert RevokedCertificate("7ED6", "50ce572").matches(Cert())  # type: ignore[arg-type]
    assert not RevokedCertificate("7ed6", "50ce573").matches(Cert())  # type: ignore[arg-type]
