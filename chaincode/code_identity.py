"""The identity of the code a chaincode server runs: a digest of its source files.

A ccaas package carries no code, so the package id a member approves says nothing of what
its server runs.  GridLedger puts this digest into the package (``code-identity.json``),
so the package id (a hash of the package) pins it, and the server, told the digest its
package pins, refuses to start when the code it would run differs: a member whose host
runs other code than it approved finds out before its peer endorses anything with it.

The digest covers every Python file of this package (the shim, the common code, every
contract) and of each contract module named by a dotted path outside it, by relative
path and content, in a fixed order.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _files(contracts: Sequence[str]) -> list[tuple[str, Path]]:
    files = [(f"gridledger.chaincode/{p.relative_to(PACKAGE_DIR).as_posix()}", p)
             for p in PACKAGE_DIR.rglob("*.py")]
    for name in contracts:
        if "." not in name:
            continue  # one of ours: covered above
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # its parent package is missing
            spec = None
        if spec is None or spec.origin is None:
            raise ValueError(f"contract module {name!r} is not importable")
        origin = Path(spec.origin)
        if spec.submodule_search_locations:  # a package: every file below it
            root = origin.parent
            files += [(f"{name}/{p.relative_to(root).as_posix()}", p) for p in root.rglob("*.py")]
        else:
            files.append((f"{name}.py", origin))
    return sorted(files)


def code_digest(contracts: Sequence[str]) -> str:
    """SHA-256 (hex) of the source a server serving ``contracts`` runs."""
    digest = hashlib.sha256()
    for rel, path in _files(contracts):
        data = path.read_bytes()
        digest.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()
