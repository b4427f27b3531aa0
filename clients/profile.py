"""Fabric connection profiles (the ``connection-<org>.yaml`` files the network writes).

A profile names, per organisation, its peers (gRPC URL and TLS root) and its CA (URL,
name and TLS root); ``client.organization`` says whose profile it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ArgumentError
from .gateway import Endpoint


class ProfileError(ArgumentError):
    """A connection profile is missing, unreadable or lacks what was asked of it."""


@dataclass(frozen=True)
class CAInfo:
    url: str
    name: str
    tls_root: bytes


@dataclass(frozen=True)
class ConnectionProfile:
    path: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> ConnectionProfile:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ProfileError(
                f"cannot read connection profile {path}: {exc.strerror}; is the network up "
                "(`gridledger network up`) and --state-dir right?"
            ) from None
        except yaml.YAMLError as exc:
            raise ProfileError(f"connection profile {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict) or "organizations" not in data:
            raise ProfileError(f"{path} is not a Fabric connection profile (no organizations)")
        return cls(path, data)

    @property
    def msp_id(self) -> str:
        """The organisation this profile belongs to (``client.organization``)."""
        return str(self.data.get("client", {}).get("organization", ""))

    @property
    def organizations(self) -> list[str]:
        return list(self.data["organizations"])

    @property
    def channels(self) -> list[str]:
        """The channels the profile names (``channels``), in its order; the main one first
        in the profiles ``gridledger network up`` writes."""
        return list(self.data.get("channels") or {})

    def _org(self, msp_id: str | None) -> dict[str, Any]:
        msp_id = msp_id or self.msp_id
        try:
            return self.data["organizations"][msp_id]
        except KeyError:
            raise ProfileError(
                f"{self.path} has no organisation {msp_id!r}; it has "
                f"{', '.join(self.organizations)}"
            ) from None

    def _tls_root(self, entry: dict[str, Any], what: str) -> bytes:
        tls = entry.get("tlsCACerts", {})
        if "pem" in tls:
            pem = tls["pem"]
            return (pem if isinstance(pem, str) else "".join(pem)).encode()
        try:
            return Path(tls["path"]).read_bytes()
        except (KeyError, OSError) as exc:
            raise ProfileError(f"{self.path}: no readable TLS root for {what}: {exc}") from None

    def peer_endpoint(self, msp_id: str | None = None, index: int = 0) -> Endpoint:
        """The Gateway endpoint of an organisation's peer (by default, our own)."""
        org = self._org(msp_id)
        try:
            name = org["peers"][index]
            peer = self.data["peers"][name]
        except (KeyError, IndexError):
            who = msp_id or self.msp_id
            raise ProfileError(f"{self.path}: no peer {index} for {who}") from None
        url = str(peer["url"])
        address = url.split("://", 1)[-1]
        server_name = peer.get("grpcOptions", {}).get("ssl-target-name-override")
        return Endpoint(address, self._tls_root(peer, name), server_name=server_name)

    def ca(self, msp_id: str | None = None) -> CAInfo:
        """The organisation's certificate authority."""
        org = self._org(msp_id)
        try:
            name = org["certificateAuthorities"][0]
            ca = self.data["certificateAuthorities"][name]
        except (KeyError, IndexError):
            raise ProfileError(f"{self.path}: no CA for {msp_id or self.msp_id}") from None
        return CAInfo(str(ca["url"]), str(ca.get("caName", name)), self._tls_root(ca, name))

    def admin_msp_dir(self) -> Path | None:
        """The profile owner's admin MSP directory, when the profile names one."""
        org = self._org(None)
        cert = org.get("signedCert", {}).get("path")
        return Path(cert).parent.parent if cert else None
