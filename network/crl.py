"""Certificate revocation lists as Fabric peers use them: parsed, checked, merged.

A Fabric peer never asks a CA whether a certificate is still good.  It knows revocations
only from the channel configuration: each organisation's MSP definition carries a list
of PEM CRLs, and the MSP refuses any certificate whose serial is on a CRL signed by the
CA that issued it.  This module holds what is true of the CRLs themselves (pure: no
processes, no network); :mod:`.crl_config` puts them into a channel configuration and
:mod:`.crl_publish` sends that to the orderers.

Errors::

    NetworkError
     └── CRLError   what is wrong with the CRL or its publication, and what to do
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from fabric_protos.msp import msp_config_pb2

from .errors import NetworkError


class CRLError(NetworkError):
    """A CRL could not be published to the channel; the message says what to do."""


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """Parse a CRL given as PEM (what Fabric CA returns) or DER."""
    try:
        if b"-----BEGIN X509 CRL-----" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CRLError(
            f"not a CRL ({exc}); pass the PEM the CA returned (revoke with gencrl=True, "
            "or `fabric-ca-client gencrl`)"
        ) from None


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    """The CRL as PEM: the form configtxgen puts into an MSP's revocation list."""
    return crl.public_bytes(serialization.Encoding.PEM)


def authority_key_id(crl: x509.CertificateRevocationList) -> bytes:
    """The CRL's authority key identifier.

    The peer picks the CRL that applies to a certificate by comparing this with the
    issuing CA's subject key identifier, and fails *every* validation if any CRL in the
    MSP lacks it, so a CRL without one must never reach the channel.
    """
    try:
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        aki = None
    if aki is None or not aki.key_identifier:
        raise CRLError(
            "the CRL has no authority key identifier; Fabric peers would then refuse every "
            "certificate of the organisation. Generate it with Fabric CA, whose CRLs carry one."
        )
    return aki.key_identifier


def merge_crl(existing: Iterable[bytes], new: x509.CertificateRevocationList) -> list[bytes] | None:
    """The revocation list with ``new`` in place of any CRL of the same CA.

    Returns None when ``new`` is already there, so there is nothing to update.  A CA's CRL
    lists every certificate it has revoked, so only its newest is worth keeping; keeping
    them all would grow every config block for nothing.  A CRL older than the one already
    published is refused: publishing it could take revocations back.  Issue times have a
    one-second grain, so for two CRLs of the same second the one that lists more wins.
    """
    new_der = new.public_bytes(serialization.Encoding.DER)
    new_aki = authority_key_id(new)
    new_serials = {r.serial_number for r in new}
    kept: list[bytes] = []
    for raw in existing:
        old = load_crl(raw)
        if old.public_bytes(serialization.Encoding.DER) == new_der:
            return None
        if _aki_or_none(old) != new_aki:
            kept.append(raw)
            continue
        old_serials = {r.serial_number for r in old}
        if old.last_update_utc > new.last_update_utc or (
            old.last_update_utc == new.last_update_utc and not old_serials <= new_serials
        ):
            raise CRLError(
                f"the channel already has a newer CRL from this CA (issued "
                f"{old.last_update_utc:%Y-%m-%d %H:%M:%S}Z with {len(old_serials)} revoked, this "
                f"one {new.last_update_utc:%Y-%m-%d %H:%M:%S}Z with {len(new_serials)}); "
                "generate a fresh CRL at the CA and publish that"
            )
    return [*kept, crl_pem(new)]


def _aki_or_none(crl: x509.CertificateRevocationList) -> bytes | None:
    try:
        return authority_key_id(crl)
    except CRLError:
        return None


def check_issuer(crl: x509.CertificateRevocationList, msp: msp_config_pb2.FabricMSPConfig) -> None:
    """Refuse a CRL that no CA of this MSP signed: the peer would silently ignore it."""
    cas = [*msp.root_certs, *msp.intermediate_certs]
    for pem in cas:
        cert = x509.load_pem_x509_certificate(pem)
        try:
            if crl.is_signature_valid(cert.public_key()):  # type: ignore[arg-type]
                return
        except TypeError:
            continue  # a key type CRLs cannot be checked with; not this CA
    raise CRLError(
        f"the CRL (issuer {crl.issuer.rfc4514_string()}) is not signed by any CA of "
        f"{msp.name}; peers would ignore it. Publish the CRL of {msp.name}'s own CA."
    )
