"""Fabric CA attributes inside an X.509 enrollment certificate.

Fabric CA writes them into a private extension (OID 1.2.3.4.5.6.7.8.1) as raw JSON
bytes, ``{"attrs": {"role": "customer", ...}}`` (fabric-ca's ``lib/attrmgr``).
"""

from __future__ import annotations

import json

from cryptography import x509

from .errors import FormatError

FABRIC_CA_ATTRS_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1")


def read_ca_attributes(cert: x509.Certificate | bytes) -> dict[str, str]:
    """The certificate's Fabric CA attributes ({} when it carries none).

    A malformed extension raises :class:`FormatError` rather than reading as "no
    attributes": an identity whose attributes cannot be read must never be mistaken for
    one without them.
    """
    if isinstance(cert, bytes):
        try:
            cert = x509.load_pem_x509_certificate(cert)
        except ValueError as exc:
            raise FormatError(f"not a PEM X.509 certificate: {exc}") from None
    try:
        ext = cert.extensions.get_extension_for_oid(FABRIC_CA_ATTRS_OID)
    except x509.ExtensionNotFound:
        return {}
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FormatError("the Fabric CA attribute extension is not valid JSON") from None
    attrs = doc.get("attrs") if isinstance(doc, dict) else None
    if not isinstance(attrs, dict):
        raise FormatError('the Fabric CA attribute extension lacks an "attrs" object')
    return {str(k): str(v) for k, v in attrs.items()}
