"""Every node, admin and TLS identity, enrolled from its organisation's Fabric CA.

Each organisation has one CA (SQLite); its root signs both enrollment certificates and
TLS certificates (the CA's ``tls`` signing profile), so one trust anchor per
organisation serves the MSP and TLS.  Identities carry Fabric's NodeOU roles
(``peer``, ``orderer``, ``admin``, ``client``) in their OU, which the channel policies
in ``configtx.yaml`` name.

Enrollment goes into a temporary directory that is renamed into place only when
complete, so an interrupted ``up`` never leaves an identity half-written.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .binaries import FabricBinaries
from .errors import NetworkError
from .layout import NODE_OUS, Layout, write_private
from .topology import Organisation


class EnrollError(NetworkError):
    """The CA refused a registration or enrollment."""


@dataclass(frozen=True)
class NodeIdentity:
    """One identity to register and enroll: ``name`` is its directory and enrollment id."""

    name: str
    type: str  # peer | orderer | admin | client
    tls: bool  # also enroll a TLS certificate (servers, and admins for mutual TLS)


def identities(org: Organisation) -> list[NodeIdentity]:
    return [
        NodeIdentity(org.peer.name, "peer", tls=True),
        NodeIdentity(org.orderer.name, "orderer", tls=True),
        NodeIdentity("Admin", "admin", tls=True),
        NodeIdentity("chaincode", "client", tls=True),
    ]


def ca_admin_password(layout: Layout, org: str) -> str:
    """The CA bootstrap admin's password: made once, kept 0600 beside the CA."""
    path = layout.ca_secret(org)
    if not path.exists():
        write_private(path, secrets.token_urlsafe(18))
    return path.read_text().strip()


class CAClient:
    """Thin wrapper over ``fabric-ca-client`` for one organisation's CA."""

    def __init__(self, binaries: FabricBinaries, layout: Layout, org: Organisation):
        self.bin = binaries["fabric-ca-client"]
        self.layout = layout
        self.org = org
        self.home = layout.org(org.name) / "ca-client"

    def run(self, *args: str, secrets_env: dict[str, str] | None = None) -> str:
        # Secrets (enrollment URLs with passwords, registration secrets) go through the
        # environment, which only this user can read, never through the command line.
        cmd = [self.bin, *args, "--tls.certfiles", str(self.layout.ca_cert(self.org.name))]
        cmd += ["-H", str(self.home)]
        env = {**os.environ, **(secrets_env or {})}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        if proc.returncode != 0:
            # fabric-ca-client logs to stderr; its last line holds the reason.
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            raise EnrollError(f"{args[0]} at {self.org.ca.name}: {lines[-1] if lines else '?'}")
        return proc.stdout

    def _url(self, user: str, password: str) -> str:
        return f"https://{user}:{password}@{self.org.ca.host}:{self.org.ca.port}"

    def enroll_bootstrap_admin(self) -> None:
        """Enroll the CA's registrar (needed to register every other identity)."""
        if (self.home / "msp" / "signcerts" / "cert.pem").exists():
            return
        password = ca_admin_password(self.layout, self.org.name)
        self.run("enroll", "-M", str(self.home / "msp"),
                  secrets_env={"FABRIC_CA_CLIENT_URL": self._url("admin", password)})

    def register(self, ident: NodeIdentity, password: str) -> None:
        try:
            self.run(
                "register",
                "--id.name", ident.name,
                "--id.type", ident.type,
                "-u", f"https://{self.org.ca.host}:{self.org.ca.port}",
                "-M", str(self.home / "msp"),
                secrets_env={"FABRIC_CA_CLIENT_ID_SECRET": password},
            )  # fmt: skip
        except EnrollError as exc:
            if "already registered" not in str(exc):
                raise

    def enroll(self, ident: NodeIdentity) -> None:
        """Register (if needed) and enroll ``ident``, writing msp/ and tls/ atomically."""
        final = self.layout.identity(self.org.name, ident.name)
        if (final / "msp" / "signcerts" / "cert.pem").exists():
            return
        secret_file = final.with_name(f".{ident.name}.secret")
        if not secret_file.exists():
            write_private(secret_file, secrets.token_urlsafe(18))
        password = secret_file.read_text().strip()
        self.register(ident, password)
        work = final.with_name(final.name + ".partial")
        shutil.rmtree(work, ignore_errors=True)
        url = {"FABRIC_CA_CLIENT_URL": self._url(ident.name, password)}
        hosts = f"{self.org.host},localhost,127.0.0.1,{ident.name}.{self.org.name}"
        self.run("enroll", "-M", str(work / "msp"), "--csr.hosts", hosts, secrets_env=url)
        tidy_msp(work / "msp")
        if ident.tls:
            tls_msp = work / "tls-msp"
            self.run(
                "enroll", "-M", str(tls_msp),
                "--enrollment.profile", "tls", "--csr.hosts", hosts, secrets_env=url,
            )  # fmt: skip
            tls = work / "tls"
            tls.mkdir()
            shutil.copy(tls_msp / "signcerts" / "cert.pem", tls / "server.crt")
            key = next((tls_msp / "keystore").iterdir())
            write_private(tls / "server.key", key.read_bytes())
            shutil.copy(next((tls_msp / "tlscacerts").iterdir()), tls / "ca.crt")
            shutil.rmtree(tls_msp)
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)


def tidy_msp(msp: Path) -> None:
    """Give an enrolled MSP the fixed names our configs use, and NodeOU roles."""
    cacerts = list((msp / "cacerts").iterdir())
    ca_pem = cacerts[0].read_bytes()
    for f in cacerts:
        f.unlink()
    (msp / "cacerts" / "ca.pem").write_bytes(ca_pem)
    (msp / "tlscacerts").mkdir(exist_ok=True)
    (msp / "tlscacerts" / "ca.pem").write_bytes(ca_pem)
    key = next((msp / "keystore").iterdir())
    if key.name != "key.pem":
        key.rename(msp / "keystore" / "key.pem")
    (msp / "keystore" / "key.pem").chmod(0o600)
    (msp / "config.yaml").write_text(NODE_OUS)
    shutil.rmtree(msp / "user", ignore_errors=True)
    shutil.rmtree(msp / "IssuerPublicKey", ignore_errors=True)


def write_org_msp(layout: Layout, org: Organisation) -> None:
    """The organisation's verifying MSP, as the channel configuration carries it."""
    msp = layout.org_msp(org.name)
    ca_pem = layout.ca_cert(org.name).read_bytes()
    for sub in ("cacerts", "tlscacerts"):
        (msp / sub).mkdir(parents=True, exist_ok=True)
        (msp / sub / "ca.pem").write_bytes(ca_pem)
    (msp / "config.yaml").write_text(NODE_OUS)


def enroll_org(binaries: FabricBinaries, layout: Layout, org: Organisation) -> None:
    """Enroll every identity an organisation's nodes need (idempotent)."""
    client = CAClient(binaries, layout, org)
    client.enroll_bootstrap_admin()
    for ident in identities(org):
        client.enroll(ident)
    write_org_msp(layout, org)
