"""Content by hash address, behind an interface an object store could replace.

``ContentStore`` is all the service node asks of its storage: put bytes under their
hash address (with a small metadata record: the media type and the owner's identifying
fields), get them back, tell whether they are there. ``DiskStore`` keeps them in a
directory (``ab/cdef...`` by address, written to a temporary file and renamed, so a
reader never sees half a file; metadata beside, 0600). An S3-style store implements the
same four methods over a bucket.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from gridledger.formats.access import check_hex64, hash_address


class ContentStore(Protocol):
    """Where a service node keeps content."""

    def put(self, address: str, content: bytes, meta: dict[str, Any]) -> bool:
        """Store ``content`` at ``address`` (its hash); False if it was there already."""

    def get(self, address: str) -> bytes | None:
        """The content at ``address``, or None."""

    def meta(self, address: str) -> dict[str, Any] | None:
        """The metadata stored with ``address``, or None."""

    def exists(self, address: str) -> bool:
        """Whether content is stored at ``address``."""


class DiskStore:
    """A ContentStore in a local directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, address: str) -> Path:
        check_hex64(address, "hash address")
        return self.root / address[:2] / address[2:]

    def put(self, address: str, content: bytes, meta: dict[str, Any]) -> bool:
        if hash_address(content) != address:
            raise ValueError(f"content hashes to {hash_address(content)}, not {address}")
        path = self._path(address)
        if path.exists():
            return False
        path.parent.mkdir(exist_ok=True, mode=0o700)
        _write_atomic(path.with_suffix(".meta"), json.dumps(meta, sort_keys=True).encode())
        _write_atomic(path, content)
        return True

    def get(self, address: str) -> bytes | None:
        try:
            return self._path(address).read_bytes()
        except FileNotFoundError:
            return None

    def meta(self, address: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(address).with_suffix(".meta").read_bytes())
        except FileNotFoundError:
            return None

    def exists(self, address: str) -> bool:
        return self._path(address).is_file()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
