"""Who a client is on the ledger: an X.509 certificate and the MSP that vouches for it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography import x509
from fabric_protos.msp import identities_pb2

from .errors import IdentityError


@dataclass(frozen=True)
class Identity:
    """A client identity: MSP ID and PEM certificate, as Fabric serialises it in creators."""

    msp_id: str
    certificate: bytes  # PEM

    def __post_init__(self) -> None:
        if not self.msp_id:
            raise IdentityError("an identity needs an MSP ID (e.g. UtilityMSP)")
        try:
            x509.load_pem_x509_certificate(self.certificate)
        except ValueError as exc:
            raise IdentityError(f"not a PEM X.509 certificate: {exc}") from None

    @cached_property
    def x509(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate)

    @property
    def name(self) -> str:
        """The certificate's common name (the CA enrollment ID)."""
        cns = self.x509.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(cns[0].value) if cns else self.x509.subject.rfc4514_string()

    def serialize(self) -> bytes:
        """The SerializedIdentity bytes Fabric puts in signature headers."""
        return identities_pb2.SerializedIdentity(
            mspid=self.msp_id, id_bytes=self.certificate
        ).SerializeToString()

    @classmethod
    def from_pem_file(cls, msp_id: str, path: str | Path) -> Identity:
        try:
            return cls(msp_id, Path(path).read_bytes())
        except OSError as exc:
            raise IdentityError(f"cannot read certificate {path}: {exc.strerror}") from None
