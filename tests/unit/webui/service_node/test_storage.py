"""DiskStore: content by its hash address, written whole or not at all."""

from __future__ import annotations

import hashlib
import stat

import pytest

from gridledger.webui.service_node import DiskStore


def test_content_is_kept_by_its_hash_with_its_metadata(tmp_path):
    store = DiskStore(tmp_path)
    data = b"profile bytes"
    address = hashlib.sha256(data).hexdigest()
    assert not store.exists(address) and store.get(address) is None
    assert store.put(address, data, {"mediaType": "application/json"}) is True
    assert store.put(address, data, {"mediaType": "other"}) is False  # already there
    assert store.get(address) == data and store.meta(address) == {"mediaType": "application/json"}
    path = tmp_path / address[:2] / address[2:]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.rglob(".tmp-*"))


def test_a_mismatched_address_is_refused_and_nothing_is_written(tmp_path):
    store = DiskStore(tmp_path)
    with pytest.raises(ValueError, match="hashes to"):
        store.put("0" * 64, b"x", {})
    assert not store.exists("0" * 64)


def test_an_address_must_be_a_sha256(tmp_path):
    with pytest.raises(ValueError, match="64 lowercase hex"):
        DiskStore(tmp_path).get("../../etc/passwd")
