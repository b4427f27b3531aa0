"""DACT/IDoT data access (seed 001, Fig. 8): the bytes the chaincode, clients and the
service node must agree on.

- **DACT table**: what a data owner grants, as a JSON object (members below). The
  channel keeps only its *commitment*, the SHA-256 of its canonical JSON; the table's
  random ``salt`` makes that hash impossible to confirm by guessing the other members.
  Whoever presents the table later (the requester, at certification) proves it is the
  registered one by its commitment.

      dactId     id                      the DACT's name (a pseudonym: never a person)
      version    integer >= 1            1 at registration, +1 at each amendment
      devices    [id, ...], 1..16        IDoTs the grant is exercised through (the
                                         requester proves possession of one's key)
      resources  [id, ...], 1..64        data resources (hash addresses) granted
      requester  {"kind": "identity", "mspId", "fingerprint"} one certificate, or
                 {"kind": "organisation", "mspId"} any identity of that MSP, or
                 {"kind": "operator", "mspId"} its operators (NodeOU admin / attribute)
      purpose    text, 1..128            e.g. "vpp-forecasting"
      notAfter   YYYY-MM-DDTHH:MM:SSZ    the grant ends then
      ownerInfo  "if-several" (default, seed 001 step 7: the owner's identifying fields
                 are shared only when more than one hash address is granted),
                 "always" or "never"
      terms      optional text, <= 1024  conditions of use (only the parties read them)
      salt       64 lowercase hex        32 random bytes, drawn by the owner's client

- **Certification challenge**: what a device signs to prove possession of its key for
  one certification; bound to the requester's certificate and its transaction id, so it
  is good for exactly one transaction (Fabric refuses a transaction id seen before).
- **Holder proof** (``formats/access_proof.py``): what a requester's Fabric identity
  signs for the service node, a proposal of ``access:ProveHolder``; the node's peer
  evaluates it and every endorser of Serve checks it before the serving is logged.

Signatures are ECDSA with SHA-256, DER, standard base64 (as meters sign readings).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .canonical import canonical_json
from .errors import FormatError
from .ids import check_id
from .numbers import check_int, check_object
from .reading import decode_signature
from .utc import parse_utc

CERTIFY_CONTEXT = "gridledger/access/certify/v1"
UPLOAD_CONTEXT = "gridledger/service-node/upload/v1"
PROFILE_CONTEXT = "gridledger/service-node/profile/v1"

REQUESTER_KINDS = ("identity", "organisation", "operator")
OWNER_INFO_RULES = ("if-several", "always", "never")
DEFAULT_OWNER_INFO = "if-several"
MAX_DEVICES, MAX_RESOURCES = 16, 64

# Chaincode events of contract `access` (ids only: they are in the block).
TOKEN_ISSUED = "AccessTokenIssued"
ACCESS_REVOKED = "AccessRevoked"
RESOURCES_ACCESSED = "ResourcesAccessed"
CONTENT_SERVED = "ContentServed"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TABLE_MEMBERS = {"dactId", "version", "devices", "resources", "requester", "purpose",
                  "notAfter", "ownerInfo", "terms", "salt"}
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def check_hex64(value: Any, what: str) -> str:
    """A SHA-256 in lowercase hex (a hash address, a fingerprint, a salt)."""
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise FormatError(f"{what} must be 64 lowercase hex characters, got {value!r}")
    return value


def hash_address(content: bytes) -> str:
    """The hash address of content: SHA-256 of its bytes, lowercase hex."""
    return hashlib.sha256(content).hexdigest()


def certificate_fingerprint(cert_pem: bytes | str) -> str:
    """SHA-256 of a certificate's DER bytes, hex: how a token names its holder."""
    pem = cert_pem.encode("ascii") if isinstance(cert_pem, str) else cert_pem
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise FormatError("not a PEM X.509 certificate") from None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _text(value: Any, what: str, max_len: int) -> str:
    if (not isinstance(value, str) or not value or len(value) > max_len
            or not value.isprintable()):
        raise FormatError(f"{what} must be printable text of 1-{max_len} characters")
    return value


def _ids(value: Any, what: str, most: int) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= most:
        raise FormatError(f"{what} must be a list of 1-{most} ids")
    for item in value:
        check_id(item, what[:-1] if what.endswith("s") else what)
    if len(set(value)) != len(value):
        raise FormatError(f"{what} lists an id twice")
    return value


def check_requester(value: Any) -> dict[str, str]:
    """A DACT's requester: one identity, an organisation, or its operators."""
    check_object(value, "requester", {"kind", "mspId", "fingerprint"})
    kind = value.get("kind")
    if kind not in REQUESTER_KINDS:
        raise FormatError(f"requester kind must be one of {', '.join(REQUESTER_KINDS)}")
    check_id(value.get("mspId"), "requester mspId")
    if kind == "identity":
        check_hex64(value.get("fingerprint"), "requester fingerprint")
    elif "fingerprint" in value:
        raise FormatError(f"a requester of kind {kind} names no fingerprint")
    return value


def validate_dact(table: Any) -> dict[str, Any]:
    """Check a DACT table's members and types (not what they refer to); return it."""
    check_object(table, "DACT", _TABLE_MEMBERS)
    missing = sorted(_TABLE_MEMBERS - {"terms"} - set(table))
    if missing:
        raise FormatError(f"DACT lacks {', '.join(missing)}")
    check_id(table["dactId"], "dactId")
    check_int(table["version"], "version", minimum=1)
    _ids(table["devices"], "devices", MAX_DEVICES)
    _ids(table["resources"], "resources", MAX_RESOURCES)
    check_requester(table["requester"])
    _text(table["purpose"], "purpose", 128)
    parse_utc(table["notAfter"], "notAfter")
    if table["ownerInfo"] not in OWNER_INFO_RULES:
        raise FormatError(f"ownerInfo must be one of {', '.join(OWNER_INFO_RULES)}")
    if "terms" in table:
        _text(table["terms"], "terms", 1024)
    check_hex64(table["salt"], "salt")
    return table


def dact_commitment(table: dict[str, Any]) -> str:
    """The commitment the channel keeps of a DACT table: SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(validate_dact(table))).hexdigest()


def owner_info_granted(rule: str, hash_addresses: int) -> bool:
    """Whether a grant of ``hash_addresses`` addresses shares the owner's identifying
    fields under ``rule`` (seed 001, step 7, is the default: only when more than one)."""
    return rule == "always" or (rule == "if-several" and hash_addresses > 1)


def certify_challenge(*, dact_id: str, dact_version: int, device_id: str, holder: str,
                      tx_id: str, signed_at: str) -> dict[str, Any]:
    """The challenge a device signs for one certification (see the module docstring)."""
    return {"context": CERTIFY_CONTEXT, "dactId": dact_id, "dactVersion": dact_version,
            "deviceId": device_id, "holder": holder, "signedAt": signed_at, "txId": tx_id}


def sign_message(private_key: ec.EllipticCurvePrivateKey, message: dict[str, Any]) -> str:
    """Sign the canonical JSON of ``message``: base64 DER."""
    der = private_key.sign(canonical_json(message), _ECDSA_SHA256)
    return base64.b64encode(der).decode("ascii")


def verify_with_certificate(cert_pem: bytes | str, message: dict[str, Any],
                            signature: Any) -> bool:
    """True when ``signature`` (base64 DER) is the certificate key's over ``message``."""
    pem = cert_pem.encode("ascii") if isinstance(cert_pem, str) else cert_pem
    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError:
        raise FormatError("not a PEM X.509 certificate") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise FormatError("the certificate's key is not an EC key")
    try:
        key.verify(decode_signature(signature), canonical_json(message), _ECDSA_SHA256)
    except (InvalidSignature, ValueError):
        return False
    return True
