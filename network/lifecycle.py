"""Chaincode as a service through Fabric's lifecycle: package, install, approve, commit.

A ccaas package holds no code, only where the chaincode server listens
(``connection.json``) and, ours, the digest of the code that server is to run
(``code-identity.json``, :mod:`gridledger.chaincode.code_identity`): the package id is a
hash of the package, so approving it pins the code, and the server refuses to run other
code.  Each organisation runs its own server, so each has its own package (same label,
different address, hence a different package id); the chaincode definition the
organisations approve (name, version, sequence, endorsement policy) is the same, and
that is what Fabric compares.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .errors import NetworkError
from .fabric_cli import FabricCommandError, OrgAdmin
from .layout import Layout
from .nodes import chaincode_address
from .polling import poll
from .topology import ChaincodeDefinition, Organisation


class LifecycleError(NetworkError):
    """A chaincode could not be installed, approved or committed."""


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    # Same inputs, same bytes, same package id: gzip's header holds a time too.
    return gzip.compress(buf.getvalue(), mtime=0)


def label(cc: ChaincodeDefinition) -> str:
    return f"{cc.name}_{cc.version}"


CODE_IDENTITY = "code-identity.json"


def code_digest(cc: ChaincodeDefinition) -> str:
    """The digest of the code a server of ``cc`` runs, as the server computes it."""
    return _code_digest(cc.contracts)


@functools.lru_cache(maxsize=32)
def _code_digest(contracts: tuple[str, ...]) -> str:
    # Computed by the chaincode package itself, in a process of its own: the network
    # layer imports nothing of the chaincode's.
    proc = subprocess.run(
        [sys.executable, "-m", "gridledger.chaincode", "--print-code-sha256",
         "--contracts", ",".join(contracts)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if proc.returncode != 0:
        raise LifecycleError(f"cannot compute the code digest of {contracts}: {proc.stderr}")
    return proc.stdout.strip()


def pinned_code(pkg: Path) -> str:
    """The code digest a package pins."""
    with tarfile.open(pkg, "r:gz") as outer:
        code = outer.extractfile("code.tar.gz")
        if code is None:
            raise LifecycleError(f"{pkg} has no code.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(code.read()), mode="r:gz") as inner:
            member = inner.extractfile(CODE_IDENTITY)
            if member is None:
                raise LifecycleError(f"{pkg} pins no code ({CODE_IDENTITY})")
            return json.loads(member.read())["sha256"]


def package_id(cc: ChaincodeDefinition, pkg: Path) -> str:
    """The id the peer gives a package: its label and the SHA-256 of its bytes."""
    return f"{label(cc)}:{hashlib.sha256(pkg.read_bytes()).hexdigest()}"


def package(layout: Layout, org: Organisation, cc: ChaincodeDefinition, index: int) -> Path:
    """Write the organisation's ccaas package for ``cc`` and return its path."""
    connection = {
        "address": chaincode_address(org, index),
        "dial_timeout": "10s",
        "tls_required": True,
        "client_auth_required": False,
        "root_cert": layout.ca_cert(org.name).read_text(),
    }
    identity = {"contracts": list(cc.contracts), "sha256": code_digest(cc)}
    code = _tar({"connection.json": json.dumps(connection, indent=2).encode(),
                 CODE_IDENTITY: json.dumps(identity, indent=2).encode()})
    metadata = json.dumps({"type": "ccaas", "label": label(cc)}).encode()
    out = layout.chaincode_dir / f"{cc.name}-{org.name}.tar.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_tar({"metadata.json": metadata, "code.tar.gz": code}))
    return out


def installed_package_ids(admin: OrgAdmin) -> set[str]:
    body = json.loads(admin.peer("lifecycle", "chaincode", "queryinstalled", "-O", "json") or "{}")
    return {item["package_id"] for item in body.get("installed_chaincodes") or []}


def install(admin: OrgAdmin, pkg: Path, cc: ChaincodeDefinition) -> str:
    """Install the package on the organisation's peer (idempotent) and return its id."""
    pid = package_id(cc, pkg)
    if pid in installed_package_ids(admin):
        return pid
    admin.peer("lifecycle", "chaincode", "install", str(pkg), timeout=300)
    if pid not in installed_package_ids(admin):
        raise LifecycleError(f"{cc.name} installed on {admin.org.peer.id} but not listed")
    return pid


@dataclass(frozen=True)
class Committed:
    name: str
    version: str
    sequence: int
    approvals: dict[str, bool]
    validation_parameter: str


def query_committed(admin: OrgAdmin, channel: str, name: str) -> Committed | None:
    try:
        out = admin.peer(
            "lifecycle", "chaincode", "querycommitted", "-C", channel, "-n", name, "-O", "json"
        )
    except FabricCommandError as exc:
        if "not found" in exc.stderr or "is not defined" in exc.stderr:
            return None
        raise
    body = json.loads(out)
    return Committed(
        name=name,
        version=body["version"],
        sequence=int(body["sequence"]),
        approvals=body.get("approvals", {}),
        validation_parameter=body.get("validation_parameter", ""),
    )


def _definition_args(layout: Layout, channel: str, cc: ChaincodeDefinition) -> list[str]:
    args = [
        "-C", channel, "-n", cc.name, "--version", cc.version,
        "--sequence", str(cc.sequence), "--signature-policy", cc.endorsement_policy,
    ]  # fmt: skip
    if cc.collections:
        path = layout.chaincode_dir / f"{cc.name}-collections.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(list(cc.collections), indent=2))
        args += ["--collections-config", str(path)]
    return args


def approve(admin: OrgAdmin, channel: str, cc: ChaincodeDefinition, package_id: str) -> None:
    try:
        definition = _definition_args(admin.layout, channel, cc)
        admin.peer(
            "lifecycle", "chaincode", "approveformyorg", *definition,
            "--package-id", package_id, *admin.orderer_tls_args(), "--waitForEvent",
        )  # fmt: skip
    except FabricCommandError as exc:
        # Approving the same definition again is refused as "unchanged": that is success.
        if "attempted to redefine uncommitted sequence" in exc.stderr and "unchanged" in (
            exc.stderr
        ):
            return
        if re.search(r"requested sequence is \d+, but new definition must be", exc.stderr):
            return
        raise


class NotEnoughApprovals(LifecycleError):
    """A commit was refused because too few organisations approved the definition."""


def commit(
    admin: OrgAdmin, channel: str, cc: ChaincodeDefinition, peers: list[tuple[str, Path]]
) -> None:
    """Commit the definition as ``admin``, collecting endorsements from ``peers``
    (address, TLS root certificate file): each peer checks the approvals it has seen
    against the channel's LifecycleEndorsement policy before it endorses."""
    flags: list[str] = []
    for address, tls_root in peers:
        flags += ["--peerAddresses", address, "--tlsRootCertFiles", str(tls_root)]
    try:
        admin.peer(
            "lifecycle", "chaincode", "commit", *_definition_args(admin.layout, channel, cc),
            *admin.orderer_tls_args(), *flags, "--waitForEvent",
        )  # fmt: skip
    except FabricCommandError as exc:
        if "ENDORSEMENT_POLICY_FAILURE" in exc.stderr or (
            "chaincode definition not agreed to by this org" in exc.stderr
        ):
            said = next((ln for ln in reversed(exc.stderr.splitlines()) if ln.strip()), "")
            raise NotEnoughApprovals(
                f"{cc.name} sequence {cc.sequence} on {channel} cannot be committed yet: "
                f"{said.strip()}\nEach member approves on its own host "
                "(`gridledger lifecycle approve`); `gridledger lifecycle status` shows who has."
            ) from None
        raise


def commit_readiness(admin: OrgAdmin, channel: str, cc: ChaincodeDefinition) -> dict[str, bool]:
    """Which organisations have approved ``cc``'s definition as given (by MSP ID)."""
    out = admin.peer(
        "lifecycle", "chaincode", "checkcommitreadiness",
        *_definition_args(admin.layout, channel, cc), "-O", "json",
    )  # fmt: skip
    return {k: bool(v) for k, v in json.loads(out).get("approvals", {}).items()}


def wait_ready(
    admin: OrgAdmin, channel: str, cc: ChaincodeDefinition, timeout: float = 30
) -> Committed:
    """Wait until the peer reports the definition committed at the expected sequence."""
    polled = poll(
        lambda: query_committed(admin, channel, cc.name),
        lambda committed: committed is not None and committed.sequence >= cc.sequence,
        timeout=timeout,
        interval=0.5,
    )
    if not polled.done or polled.last is None:
        raise LifecycleError(f"{cc.name} not committed on {admin.org.peer.id} in {timeout}s")
    return polled.last
