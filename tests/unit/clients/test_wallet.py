"""The wallet: MSP layout on disk, key file modes, passphrases, and refusals."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridledger.clients.ca import Enrollment, generate_key
from gridledger.clients.wallet import (
    IdentityNotFound,
    PassphraseError,
    Wallet,
    WalletEntry,
    WalletError,
)

PEM = serialization.Encoding.PEM


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
    ou: str | None = None,
    ca: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, subject)]
    if ou:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def ca() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = generate_key()
    return key, _cert("ca-utility", key, ca=True).public_bytes(PEM)


@pytest.fixture
def enrollment(ca) -> Enrollment:
    ca_key, ca_pem = ca
    key = generate_key()
    cert = _cert("customer-1001", key, issuer=("ca-utility", ca_key), ou="client")
    return Enrollment(cert.public_bytes(PEM), key, ca_pem)


@pytest.fixture
def wallet(tmp_path: Path) -> Wallet:
    return Wallet(tmp_path / "wallet")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _verifies(identity, signer, message: bytes = b"reading 42 kWh") -> bool:
    identity.x509.public_key().verify(signer(message), message, ec.ECDSA(hashes.SHA256()))
    return True


def test_put_writes_fabric_msp_layout(wallet: Wallet, enrollment: Enrollment) -> None:
    entry = wallet.put("alice", "UtilityMSP", enrollment)
    msp = wallet.path / "alice" / "msp"
    assert entry.msp_dir == msp == wallet.msp_dir("alice")
    assert (msp / "signcerts" / "cert.pem").read_bytes() == enrollment.certificate
    assert (msp / "cacerts" / "ca.pem").read_bytes() == enrollment.ca_chain
    assert (msp / "tlscacerts" / "ca.pem").read_bytes() == enrollment.ca_chain
    assert (msp / "keystore" / "priv_sk").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    ous = yaml.safe_load((msp / "config.yaml").read_text())["NodeOUs"]
    assert ous["Enable"] is True
    assert ous["ClientOUIdentifier"] == {
        "Certificate": "cacerts/ca.pem",
        "OrganizationalUnitIdentifier": "client",
    }
    meta = json.loads((wallet.path / "alice" / "identity.json").read_text())
    assert meta["mspId"] == "UtilityMSP"
    assert meta["label"] == "alice"
    assert meta["type"] == "X.509"
    assert meta["enrollmentId"] == "customer-1001"
    assert meta["encrypted"] is False


def test_key_file_is_0600_and_keystore_0700(wallet: Wallet, enrollment: Enrollment) -> None:
    wallet.put("alice", "UtilityMSP", enrollment)
    msp = wallet.msp_dir("alice")
    assert stat.S_IMODE((msp / "keystore" / "priv_sk").stat().st_mode) == 0o600
    assert stat.S_IMODE((msp / "keystore").stat().st_mode) == 0o700
    assert stat.S_IMODE((wallet.path / "alice").stat().st_mode) == 0o700


def test_get_round_trip_signs_for_the_certificate(wallet: Wallet, enrollment: Enrollment) -> None:
    wallet.put("alice", "UtilityMSP", enrollment)
    identity, signer = wallet.get("alice")
    assert identity.msp_id == "UtilityMSP"
    assert identity.certificate == enrollment.certificate
    assert _verifies(identity, signer)


def test_passphrase_round_trip(wallet: Wallet, enrollment: Enrollment) -> None:
    wallet.put("alice", "UtilityMSP", enrollment, passphrase="correct horse")
    raw = (wallet.msp_dir("alice") / "keystore" / "priv_sk").read_bytes()
    assert raw.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert _key_pem(enrollment.private_key).encode() not in raw
    identity, signer = wallet.get("alice", passphrase="correct horse")
    assert _verifies(identity, signer)
    assert wallet.list()[0].encrypted is True


def test_wrong_passphrase_is_refused(wallet: Wallet, enrollment: Enrollment) -> None:
    wallet.put("alice", "UtilityMSP", enrollment, passphrase=b"correct horse")
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        wallet.get("alice", passphrase="battery staple")


def test_missing_passphrase_is_refused(wallet: Wallet, enrollment: Enrollment) -> None:
    wallet.put("alice", "UtilityMSP", enrollment, passphrase="correct horse")
    with pytest.raises(PassphraseError, match="encrypted: pass its passphrase"):
        wallet.get("alice")


def test_empty_passphrase_is_refused(wallet: Wallet, enrollment: Enrollment) -> None:
    with pytest.raises(WalletError, match="empty passphrase"):
        wallet.put("alice", "UtilityMSP", enrollment, passphrase="")


def test_missing_label_is_identity_not_found(wallet: Wallet, enrollment: Enrollment) -> None:
    wallet.put("alice", "UtilityMSP", enrollment)
    with pytest.raises(IdentityNotFound, match=r"no identity 'bob'.*labels: alice"):
        wallet.get("bob")
    with pytest.raises(IdentityNotFound):
        wallet.remove("bob")
    assert "bob" not in wallet and "alice" in wallet


@pytest.mark.parametrize("label", ["../evil", "a/b", ".hidden", "", "-x"])
def test_unsafe_labels_are_refused(wallet: Wallet, enrollment: Enrollment, label: str) -> None:
    with pytest.raises(WalletError, match="label"):
        wallet.put(label, "UtilityMSP", enrollment)


def test_key_of_another_certificate_is_refused(wallet: Wallet, enrollment: Enrollment) -> None:
    with pytest.raises(WalletError, match="does not belong"):
        wallet.put("alice", "UtilityMSP", (enrollment.certificate, generate_key()), b"")


def test_chain_is_required(wallet: Wallet, enrollment: Enrollment) -> None:
    pair = (enrollment.certificate, enrollment.private_key)
    with pytest.raises(WalletError, match="no root certificate"):
        wallet.put("alice", "UtilityMSP", pair)


def test_cert_and_key_pem_pair_is_accepted(wallet: Wallet, enrollment: Enrollment) -> None:
    pair = (enrollment.certificate, _key_pem(enrollment.private_key).encode())
    wallet.put("alice", "UtilityMSP", pair, enrollment.ca_chain)
    assert _verifies(*wallet.get("alice"))


def test_list_and_remove(wallet: Wallet, enrollment: Enrollment, ca) -> None:
    assert wallet.list() == []
    wallet.put("bob", "RegulatorMSP", enrollment)
    wallet.put("alice", "UtilityMSP", enrollment)
    entries = wallet.list()
    assert [e.label for e in entries] == ["alice", "bob"]
    alice = entries[0]
    assert isinstance(alice, WalletEntry)
    assert (alice.msp_id, alice.enrollment_id, alice.role) == (
        "UtilityMSP",
        "customer-1001",
        "client",
    )
    assert alice.not_after == enrollment.not_after
    assert alice.encrypted is False
    wallet.remove("bob")
    assert [e.label for e in wallet.list()] == ["alice"]
    assert not (wallet.path / "bob").exists()


def test_put_replaces_and_leaves_no_temporary_directories(
    wallet: Wallet, enrollment: Enrollment, ca
) -> None:
    ca_key, ca_pem = ca
    wallet.put("alice", "UtilityMSP", enrollment)
    key = generate_key()
    newer = Enrollment(
        _cert("alice-2", key, issuer=("ca-utility", ca_key), ou="admin").public_bytes(PEM),
        key,
        ca_pem,
    )
    wallet.put("alice", "UtilityMSP", newer)
    identity, _ = wallet.get("alice")
    assert identity.name == "alice-2"
    assert wallet.list()[0].role == "admin"
    assert sorted(p.name for p in wallet.path.iterdir()) == ["alice"]


def test_intermediate_ca_identifies_node_ous(wallet: Wallet, ca) -> None:
    root_key, root_pem = ca
    inter_key = generate_key()
    inter = _cert("ca-inter", inter_key, issuer=("ca-utility", root_key), ca=True)
    key = generate_key()
    leaf = _cert("m", key, issuer=("ca-inter", inter_key), ou="client")
    wallet.put("m", "UtilityMSP", (leaf.public_bytes(PEM), key), root_pem + inter.public_bytes(PEM))
    msp = wallet.msp_dir("m")
    assert (msp / "cacerts" / "ca.pem").read_bytes() == root_pem
    assert (msp / "intermediatecerts" / "ca.pem").read_bytes() == inter.public_bytes(PEM)
    assert "intermediatecerts/ca.pem" in (msp / "config.yaml").read_text()


def _network_msp(tmp_path: Path, enrollment: Enrollment) -> Path:
    """An MSP as network/enroll.py writes it (keystore/key.pem, cacerts/ca.pem)."""
    msp = tmp_path / "orgs" / "utility" / "Admin" / "msp"
    for sub in ("signcerts", "keystore", "cacerts"):
        (msp / sub).mkdir(parents=True)
    (msp / "signcerts" / "cert.pem").write_bytes(enrollment.certificate)
    (msp / "keystore" / "key.pem").write_text(_key_pem(enrollment.private_key))
    # A stray key of someone else must not be picked.
    (msp / "keystore" / "0-other_sk").write_text(_key_pem(generate_key()))
    (msp / "cacerts" / "ca.pem").write_bytes(enrollment.ca_chain)
    return msp


def test_from_msp_dir_loads_network_identity(tmp_path: Path, enrollment: Enrollment) -> None:
    identity, signer = Wallet.from_msp_dir(_network_msp(tmp_path, enrollment), "UtilityMSP")
    assert identity.certificate == enrollment.certificate
    assert _verifies(identity, signer)


def test_import_msp_dir(tmp_path: Path, wallet: Wallet, enrollment: Enrollment) -> None:
    msp = _network_msp(tmp_path, enrollment)
    entry = wallet.import_msp_dir("utility-admin", msp, "UtilityMSP")
    assert entry.enrollment_id == "customer-1001"
    assert _verifies(*wallet.get("utility-admin"))


def test_from_msp_dir_refusals(tmp_path: Path) -> None:
    with pytest.raises(WalletError, match="not a directory"):
        Wallet.from_msp_dir(tmp_path / "nope", "UtilityMSP")
    (tmp_path / "msp" / "signcerts").mkdir(parents=True)
    with pytest.raises(WalletError, match="no certificate"):
        Wallet.from_msp_dir(tmp_path / "msp", "UtilityMSP")


def test_key_never_in_repr_or_str(wallet: Wallet, enrollment: Enrollment) -> None:
    entry = wallet.put("alice", "UtilityMSP", enrollment)
    identity, signer = wallet.get("alice")
    key_pem = _key_pem(enrollment.private_key)
    key_body = "".join(key_pem.splitlines()[1:-1])
    secret_number = str(enrollment.private_key.private_numbers().private_value)
    stored = (wallet.msp_dir("alice") / "keystore" / "priv_sk").read_text()
    stored_body = "".join(stored.splitlines()[1:-1])
    for obj in (wallet, entry, identity, signer, enrollment, wallet.list()):
        for text in (repr(obj), str(obj)):
            assert "PRIVATE KEY" not in text
            assert key_body not in text and stored_body not in text
            assert secret_number not in text
