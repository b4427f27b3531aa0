"""Renewing a member's certificates before they expire, with the consortium running.

Fabric's certificates expire (a year by default), and an expired peer, orderer or admin
certificate stops that node or that operator.  ``renew`` re-enrolls, at the member's own
CA, every certificate of its nodes and admin that expires within a window, then restarts
the nodes that use them one at a time: while one is down, writes go on through the other
members' peers (the policies need two of three).

TLS certificates are renewed with the same key (``--csr.keyrequest.reusekey``): a Raft
orderer is named in the channel configuration by its TLS certificate, and Fabric compares
consenters by public key, so a renewed orderer needs no config update.  Enrollment
certificates get a new key.  Each identity's new files are written beside the old ones
and swapped in with a rename, so an interrupted renewal leaves the old or the new
certificate in place, never half of each.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from cryptography import x509

from .enroll import CAClient, identities, tidy_msp
from .errors import NetworkError
from .layout import write_private

if TYPE_CHECKING:
    from .member import Member

RENEW_WITHIN = timedelta(days=30)
CA_CONFIG = "fabric-ca-server-config.yaml"


class RenewalError(NetworkError):
    """A certificate could not be renewed, or a node did not come back with it."""


@dataclass(frozen=True)
class Renewed:
    identity: str
    kind: str  # msp | tls
    not_after_before: datetime
    not_after: datetime


def not_after(path: Path) -> datetime:
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc


def set_lifetime(member: Member, expiry: str, tls_expiry: str | None = None) -> bool:
    """How long the member's CA makes the certificates it issues from now on: its default
    profile (enrollment certificates) and its ``tls`` profile (``tls_expiry``, default
    the same), as Go durations (``8760h``, ``3m``).  Restarts the CA when it changed;
    whether it did.  (A renewal drill shortens them, then sets them back.)"""
    path = member.layout.ca_home(member.name) / CA_CONFIG
    doc = yaml.safe_load(path.read_text())
    signing = doc["signing"]
    wanted = (expiry, tls_expiry or expiry)
    if (signing["default"]["expiry"], signing["profiles"]["tls"]["expiry"]) == wanted:
        return False
    signing["default"]["expiry"], signing["profiles"]["tls"]["expiry"] = wanted
    write_private(path, yaml.safe_dump(doc, sort_keys=False))
    ca = next(p for p in member.processes() if p.kind == "ca")
    member.supervisor.stop_process(ca.name)
    member.start_process(ca)
    return True


def due(member: Member, within: timedelta = RENEW_WITHIN,
        now: datetime | None = None) -> list[tuple[str, str]]:
    """(identity, kind) of every certificate of ours that expires within ``within``."""
    now = now or datetime.now(UTC)
    out = []
    for ident in identities(member.org):
        for kind, path in _cert_paths(member, ident.name).items():
            if path.exists() and not_after(path) - now <= within:
                out.append((ident.name, kind))
    return out


def _cert_paths(member: Member, name: str) -> dict[str, Path]:
    layout, org = member.layout, member.name
    return {"msp": layout.msp(org, name) / "signcerts" / "cert.pem",
            "tls": layout.tls(org, name) / "server.crt"}


def renew(member: Member, within: timedelta = RENEW_WITHIN,
          every: bool = False) -> list[Renewed]:
    """Re-enroll our certificates that expire within ``within`` (``every``: all of them),
    then restart the nodes that use them, one at a time.  What was renewed, in order."""
    targets = ([(i.name, k) for i in identities(member.org) for k in ("msp", "tls")]
               if every else due(member, within))
    client = CAClient(member.bins, member.layout, member.org)
    renewed = []
    for name, kind in targets:
        path = _cert_paths(member, name)[kind]
        if not path.exists():
            continue
        before = not_after(path)
        _reenroll(member, client, name, kind)
        renewed.append(Renewed(name, kind, before, not_after(path)))
    _restart_users(member, {name for name, _ in targets})
    return renewed


def _reenroll(member: Member, client: CAClient, name: str, kind: str) -> None:
    layout, org = member.layout, member.org
    ident_dir = layout.identity(org.name, name)
    work = ident_dir.with_name(f".renew-{name}-{kind}")
    shutil.rmtree(work, ignore_errors=True)
    auth = work / "auth"
    for sub in ("signcerts", "keystore", "cacerts"):
        (auth / sub).mkdir(parents=True)
    (auth / "cacerts" / "ca.pem").write_bytes(layout.ca_cert(org.name).read_bytes())
    if kind == "msp":
        msp = layout.msp(org.name, name)
        shutil.copy(msp / "signcerts" / "cert.pem", auth / "signcerts" / "cert.pem")
        write_private(auth / "keystore" / "key.pem", (msp / "keystore" / "key.pem").read_bytes())
    else:
        tls = layout.tls(org.name, name)
        shutil.copy(tls / "server.crt", auth / "signcerts" / "cert.pem")
        write_private(auth / "keystore" / "key.pem", (tls / "server.key").read_bytes())
    hosts = f"{org.host},localhost,127.0.0.1,{name}.{org.name}"
    args = ["reenroll", "-M", str(auth), "--csr.hosts", hosts]
    if kind == "tls":
        args += ["--enrollment.profile", "tls", "--csr.keyrequest.reusekey"]
    client.run(*args)
    if kind == "msp":
        # A new key: the keystore holds the old one (key.pem) and the new one; keep the new.
        (auth / "keystore" / "key.pem").unlink()
        tidy_msp(auth)
        new = ident_dir / "msp.new"
        shutil.rmtree(new, ignore_errors=True)
        shutil.copytree(layout.msp(org.name, name), new)
        shutil.copy(auth / "signcerts" / "cert.pem", new / "signcerts" / "cert.pem")
        write_private(new / "keystore" / "key.pem", (auth / "keystore" / "key.pem").read_bytes())
        _swap(new, layout.msp(org.name, name))
    else:
        new = ident_dir / "tls.new"
        shutil.rmtree(new, ignore_errors=True)
        shutil.copytree(layout.tls(org.name, name), new)
        shutil.copy(auth / "signcerts" / "cert.pem", new / "server.crt")
        _swap(new, layout.tls(org.name, name))
    shutil.rmtree(work, ignore_errors=True)


def _swap(new: Path, live: Path) -> None:
    """Put ``new`` in place of ``live`` by renames (the old one goes last)."""
    old = live.with_name(live.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    live.rename(old)
    new.rename(live)
    shutil.rmtree(old)


def _restart_users(member: Member, names: set[str]) -> None:
    """Restart, one at a time, each running node that uses a renewed certificate."""
    org = member.org
    uses = {org.peer.name: "peer", org.orderer.name: "orderer", "chaincode": "chaincode"}
    kinds = {uses[n] for n in names if n in uses}
    info = {p["name"]: p["statename"] for p in member.supervisor.all_info()}
    for proc in member.processes():
        if proc.kind in kinds and info.get(proc.name) == "RUNNING":
            member.supervisor.stop_process(proc.name)
            try:
                member.start_process(proc)
            except NetworkError as exc:
                raise RenewalError(f"{proc.name} did not come back with its renewed "
                                   f"certificate: {exc}") from None
