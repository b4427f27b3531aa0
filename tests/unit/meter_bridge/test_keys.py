"""Bridge-held meter keys: created once, mode 0600, signatures the chaincode verifies."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.formats import reading as encoding
from gridledger.meter_bridge.errors import KeyStoreError
from gridledger.meter_bridge.keys import KeyStore, pass_through

READING: dict[str, Any] = {
    "meterId": "sim-meter-1", "seq": 1, "intervalEnd": "2025-03-01T10:15:00Z",
    "importWh": 1_234_567, "exportWh": 0, "voltageDv": 2301, "currentMa": 5120, "powerW": 850,
    "alarms": ["fire"],
}


def test_key_created_on_first_use_with_mode_0600(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    path = store.path("sim-meter-1")
    assert not path.exists()
    store.sign(READING)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["sim-meter-1.pem"]  # no temp left
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"


def test_signature_verifies_with_the_chaincode(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    signed = store.sign(READING)
    assert signed.signed_by_bridge and signed.reading is READING
    message = encoding.encode_reading(READING)
    signature = encoding.decode_signature(signed.signature)
    pem = store.public_key_pem("sim-meter-1")
    assert encoding.verify_signature(pem, "P-256", message, signature)
    tampered = encoding.encode_reading({**READING, "importWh": 1_234_568})
    assert not encoding.verify_signature(pem, "P-256", tampered, signature)
    assert signed.item() == {"reading": READING, "signature": signed.signature}


def test_same_key_after_restart_and_one_key_per_meter(tmp_path: Path) -> None:
    first = KeyStore(tmp_path).public_key_pem("sim-meter-1")
    assert KeyStore(tmp_path).public_key_pem("sim-meter-1") == first
    assert KeyStore(tmp_path).public_key_pem("sim-meter-2") != first


def test_racing_creators_end_with_one_key(tmp_path: Path) -> None:
    stores = [KeyStore(tmp_path) for _ in range(8)]
    pems: list[str] = []
    threads = [threading.Thread(target=lambda s=s: pems.append(s.public_key_pem("m-race")))
               for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(pems)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["m-race.pem"]


def test_invalid_reading_or_meter_id_is_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(KeyStoreError, match="reading is not valid"):
        store.sign({**READING, "importWh": -1})
    with pytest.raises(KeyStoreError, match="not a valid meterId"):
        store.path("../etc/passwd")


def test_corrupt_key_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "m-1.pem").write_text("not a key")
    os.chmod(tmp_path / "m-1.pem", 0o600)
    with pytest.raises(KeyStoreError, match="cannot load"):
        KeyStore(tmp_path).private_key("m-1")


def test_self_signing_meter_is_passed_through() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signature = encoding.sign(key, encoding.encode_reading(READING))
    signed = pass_through(READING, signature)
    assert (signed.reading, signed.signature, signed.signed_by_bridge) == (READING, signature,
                                                                            False)
    with pytest.raises(KeyStoreError, match="base64"):
        pass_through(READING, "***")
