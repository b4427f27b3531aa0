"""Identities on disk, in Fabric's MSP layout, so the official ``peer`` CLI can use them.

::

    <wallet>/<label>/
      identity.json             {"version", "label", "mspId", "type": "X.509", "role", ...}
      msp/signcerts/cert.pem    the enrollment certificate
      msp/keystore/priv_sk      its private key, PKCS#8 PEM, mode 0600
      msp/cacerts/ca.pem        the root CA certificate
      msp/intermediatecerts/ca.pem   the issuing CA, when it is not the root
      msp/tlscacerts/ca.pem     the same root (this network's CAs sign TLS certificates too)
      msp/config.yaml           NodeOUs, so the certificate's OU gives its role

``CORE_PEER_MSPCONFIGPATH=<wallet>/<label>/msp CORE_PEER_LOCALMSPID=<mspId> peer ...``
works with any label saved without a passphrase.

A passphrase encrypts the key (PKCS#8 with the best encryption ``cryptography`` offers).
The ``peer`` CLI cannot read encrypted keys: keep such identities for this library's own
clients, or save a second, unencrypted copy where the CLI must run.

Errors::

    ClientError
     └── WalletError             unreadable or inconsistent wallet entry
          ├── IdentityNotFound   no entry with this label
          └── PassphraseError    missing or wrong passphrase for an encrypted key
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridledger.network.layout import NODE_OUS, write_private

from .enrollment import Enrollment
from .errors import ClientError
from .identity import Identity, IdentityError
from .signing import Signer, private_key_signer

KEY_FILE = "priv_sk"
CERT_FILE = "cert.pem"
CA_FILE = "ca.pem"
METADATA_FILE = "identity.json"

# Labels become directory names; keep them to one safe path component.
_LABEL = re.compile(r"^[A-Za-z0-9_@][A-Za-z0-9_.@+-]{0,127}$")


class WalletError(ClientError):
    """A wallet entry cannot be written or read, or its parts do not belong together."""


class IdentityNotFound(WalletError):
    """No identity with this label in the wallet."""


class PassphraseError(WalletError):
    """The identity's key is encrypted and the passphrase is missing or wrong."""


@dataclass(frozen=True)
class WalletEntry:
    """What ``Wallet.list`` tells about one identity (never its key)."""

    label: str
    msp_id: str
    enrollment_id: str
    role: str  # the NodeOU in the certificate: client, admin, peer, orderer, or ""
    not_after: datetime
    encrypted: bool
    msp_dir: Path


# A credential to store: an Enrollment, or (certificate PEM, private key object or PEM).
StoredCredential = Enrollment | tuple[bytes, ec.EllipticCurvePrivateKey | bytes]


class Wallet:
    """A directory of identities, one MSP directory per label."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().absolute()

    def __repr__(self) -> str:
        return f"Wallet({str(self.path)!r})"

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and (self._dir(label) / METADATA_FILE).is_file()

    def __iter__(self) -> Iterator[WalletEntry]:
        return iter(self.list())

    def msp_dir(self, label: str) -> Path:
        """The MSP directory of ``label``, for ``CORE_PEER_MSPCONFIGPATH``."""
        return self._dir(label) / "msp"

    # -- writing ------------------------------------------------------------------------

    def put(
        self,
        label: str,
        msp_id: str,
        credential: StoredCredential,
        ca_chain: bytes | None = None,
        passphrase: str | bytes | None = None,
    ) -> WalletEntry:
        """Save an identity under ``label``, replacing any identity already there.

        ``ca_chain`` (PEM) defaults to the Enrollment's; the MSP needs at least the root.
        The entry is written in a temporary directory and renamed into place, so a
        reader never sees half of it.
        """
        final = self._dir(label)
        if not msp_id:
            raise WalletError("an identity needs an MSP ID (e.g. UtilityMSP)")
        cert_pem, key = _split(credential)
        if ca_chain is None and isinstance(credential, Enrollment):
            ca_chain = credential.ca_chain
        cert = _load_cert(cert_pem, f"certificate for {label!r}")
        _check_pair(cert, key, label)
        roots, intermediates = _split_chain(ca_chain or b"")
        if not roots:
            raise WalletError(
                f"{label!r}: the CA chain has no root certificate; pass ca_chain "
                "(the CA's certificate, e.g. CAClient.cainfo()['ca_chain'])"
            )

        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = Path(tempfile.mkdtemp(prefix=f".{label}.", dir=self.path))
        try:
            msp = work / "msp"
            for sub in ("signcerts", "keystore", "cacerts", "tlscacerts"):
                (msp / sub).mkdir(parents=True)
            (msp / "keystore").chmod(0o700)
            (msp / "signcerts" / CERT_FILE).write_bytes(cert.public_bytes(_PEM))
            write_private(msp / "keystore" / KEY_FILE, _key_pem(key, passphrase))
            root_pem = roots[0].public_bytes(_PEM)
            (msp / "cacerts" / CA_FILE).write_bytes(root_pem)
            (msp / "tlscacerts" / CA_FILE).write_bytes(root_pem)
            node_ous = NODE_OUS
            if intermediates:
                # The issuing CA identifies the OUs when it is not the root itself.
                (msp / "intermediatecerts").mkdir()
                (msp / "intermediatecerts" / CA_FILE).write_bytes(
                    b"".join(c.public_bytes(_PEM) for c in intermediates)
                )
                node_ous = NODE_OUS.replace("cacerts/ca.pem", "intermediatecerts/ca.pem")
            (msp / "config.yaml").write_text(node_ous)
            meta = {
                "version": 1,
                "label": label,
                "mspId": msp_id,
                "type": "X.509",
                "enrollmentId": _cn(cert),
                "role": _role(cert),
                "encrypted": passphrase is not None,
            }
            (work / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            self._swap_in(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return self._entry(label)

    def import_msp_dir(
        self,
        label: str,
        msp_dir: str | Path,
        msp_id: str,
        passphrase: str | bytes | None = None,
    ) -> WalletEntry:
        """Copy an existing MSP directory (e.g. ``<state>/orgs/utility/Admin/msp``) in."""
        cert_pem, key, ca_pem = _read_msp(Path(msp_dir), None)
        return self.put(label, msp_id, (cert_pem, key), ca_pem, passphrase)

    def remove(self, label: str) -> None:
        """Delete the identity ``label`` (its key file included)."""
        final = self._dir(label)
        if not final.exists():
            raise IdentityNotFound(f"no identity {label!r} in wallet {self.path}")
        shutil.rmtree(final)

    # -- reading ------------------------------------------------------------------------

    def get(self, label: str, passphrase: str | bytes | None = None) -> tuple[Identity, Signer]:
        """The identity ``label`` and a signer over its key.

        ``passphrase`` is needed only for a key saved with one (and ignored otherwise).
        """
        meta = self._metadata(label)
        msp = self.msp_dir(label)
        cert_pem, key, _ = _read_msp(msp, passphrase, key_file=msp / "keystore" / KEY_FILE)
        try:
            identity = Identity(meta["mspId"], cert_pem)
        except (KeyError, IdentityError) as exc:
            raise WalletError(
                f"{label!r}: {METADATA_FILE} or certificate unusable: {exc}"
            ) from None
        return identity, private_key_signer(key)

    def list(self) -> list[WalletEntry]:
        """Every identity in the wallet, sorted by label (entries that cannot be read are
        left out; ``get`` on them says why)."""
        if not self.path.is_dir():
            return []
        entries = []
        for child in sorted(self.path.iterdir()):
            if child.name.startswith(".") or not (child / METADATA_FILE).is_file():
                continue
            try:
                entries.append(self._entry(child.name))
            except WalletError:
                continue
        return entries

    @staticmethod
    def from_msp_dir(
        msp_dir: str | Path, msp_id: str, passphrase: str | bytes | None = None
    ) -> tuple[Identity, Signer]:
        """Load an identity from any MSP directory: signcerts/ and keystore/ (any file
        name; with several keys, the one matching the certificate)."""
        cert_pem, key, _ = _read_msp(Path(msp_dir), passphrase)
        try:
            return Identity(msp_id, cert_pem), private_key_signer(key)
        except IdentityError as exc:
            raise WalletError(f"{msp_dir}: {exc}") from None

    # -- plumbing -----------------------------------------------------------------------

    def _dir(self, label: str) -> Path:
        if not isinstance(label, str) or not _LABEL.match(label):
            raise WalletError(
                f"label {label!r}: use letters, digits and _ . @ + - (not starting with . or -)"
            )
        return self.path / label

    def _metadata(self, label: str) -> dict:
        path = self._dir(label) / METADATA_FILE
        try:
            meta = json.loads(path.read_text())
        except FileNotFoundError:
            known = ", ".join(e.label for e in self.list()) or "none"
            raise IdentityNotFound(
                f"no identity {label!r} in wallet {self.path} (labels: {known})"
            ) from None
        except (OSError, ValueError) as exc:
            raise WalletError(f"{path}: unreadable ({exc})") from None
        if not isinstance(meta, dict) or not meta.get("mspId"):
            raise WalletError(f"{path}: no mspId")
        return meta

    def _entry(self, label: str) -> WalletEntry:
        meta = self._metadata(label)
        msp = self.msp_dir(label)
        cert = _load_cert(_read(msp / "signcerts" / CERT_FILE), f"certificate of {label!r}")
        key_pem = _read(msp / "keystore" / KEY_FILE)
        return WalletEntry(
            label=label,
            msp_id=str(meta["mspId"]),
            enrollment_id=_cn(cert),
            role=_role(cert),
            not_after=cert.not_valid_after_utc,
            encrypted=b"ENCRYPTED" in key_pem.split(b"\n", 1)[0],
            msp_dir=msp,
        )

    def _swap_in(self, work: Path, final: Path) -> None:
        # rename() cannot replace a non-empty directory: move the old one aside first,
        # so the label always points at a complete entry or, briefly, at nothing.
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=self.path))
            os.replace(final, old / "entry")
        os.replace(work, final)
        final.chmod(0o700)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


_PEM = serialization.Encoding.PEM


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise WalletError(f"{path} is missing; the entry is incomplete") from None
    except OSError as exc:
        raise WalletError(f"cannot read {path}: {exc.strerror}") from None


def _load_cert(pem: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise WalletError(f"{what} is not a PEM X.509 certificate: {exc}") from None


def _split(credential: StoredCredential) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    if isinstance(credential, Enrollment):
        return credential.certificate, credential.private_key
    try:
        cert_pem, key = credential
    except (TypeError, ValueError):
        raise WalletError("store an Enrollment or a (certificate PEM, private key) pair") from None
    if isinstance(key, bytes):
        key = _load_key(key, None, "the given key")
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise WalletError("Fabric identities need an ECDSA P-256 private key")
    return bytes(cert_pem), key


def _check_pair(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, where: str) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise WalletError(f"{where}: the private key does not belong to the certificate")


def _key_pem(key: ec.EllipticCurvePrivateKey, passphrase: str | bytes | None) -> bytes:
    if passphrase is None:
        encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    else:
        secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
        if not secret:
            raise WalletError("an empty passphrase would not protect the key; pass None instead")
        encryption = serialization.BestAvailableEncryption(secret)
    # PKCS#8 ("PRIVATE KEY"), the form Fabric's file keystore reads.
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, encryption)


def _load_key(pem: bytes, passphrase: str | bytes | None, where: str) -> ec.EllipticCurvePrivateKey:
    encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if encrypted and not secret:
        raise PassphraseError(f"{where} is encrypted: pass its passphrase")
    try:
        key = serialization.load_pem_private_key(pem, password=secret if encrypted else None)
    except ValueError:
        if encrypted:
            raise PassphraseError(f"{where}: wrong passphrase") from None
        raise WalletError(f"{where} is not a PEM private key") from None
    except TypeError as exc:
        raise WalletError(f"{where}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise WalletError(f"{where} is not an ECDSA key")
    return key


def _read_msp(
    msp: Path, passphrase: str | bytes | None, key_file: Path | None = None
) -> tuple[bytes, ec.EllipticCurvePrivateKey, bytes]:
    """Certificate PEM, key and root CA PEM of an MSP directory."""
    if not msp.is_dir():
        raise WalletError(f"{msp} is not a directory (expected an MSP with signcerts/, keystore/)")
    certs = sorted((msp / "signcerts").glob("*")) if (msp / "signcerts").is_dir() else []
    if not certs:
        raise WalletError(f"{msp}/signcerts holds no certificate")
    cert_pem = _read(certs[0])
    cert = _load_cert(cert_pem, str(certs[0]))
    if key_file is not None:
        candidates = [key_file]
    else:
        keystore = msp / "keystore"
        candidates = sorted(p for p in keystore.glob("*") if p.is_file())
        if not candidates:
            raise WalletError(f"{msp}/keystore holds no private key")
    key = None
    for path in candidates:
        candidate = _load_key(_read(path), passphrase, str(path))
        try:
            _check_pair(cert, candidate, str(msp))
        except WalletError:
            continue
        key = candidate
        break
    if key is None:
        raise WalletError(f"{msp}: no key in keystore/ belongs to the certificate in signcerts/")
    ca_files = sorted((msp / "cacerts").glob("*")) if (msp / "cacerts").is_dir() else []
    ca_pem = _read(ca_files[0]) if ca_files else b""
    return cert_pem, key, ca_pem


def _split_chain(pem: bytes) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """Root (self-signed) and intermediate certificates of a PEM bundle."""
    if not pem.strip():
        return [], []
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise WalletError(f"the CA chain is not PEM certificates: {exc}") from None
    roots = [c for c in certs if c.issuer == c.subject]
    return roots, [c for c in certs if c.issuer != c.subject]


def _cn(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else ""


def _role(cert: x509.Certificate) -> str:
    ous = {
        str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    }
    for role in ("admin", "client", "peer", "orderer"):
        if role in ous:
            return role
    return ""
