"""A portal's configuration: whose portal, where its data lives, and its limits.

Frozen, built from arguments (``gridledger portal run``) or a mapping (tests): nothing is
read at import time. The channels come from the network's connection profile (the
topology's, main first: :func:`.provision.config_for`): ``channel`` (energy: metering,
Wattcoin, access, the market's links) and ``market_channel`` (the market); the mirror
follows both. ``data_dir`` holds the mirror (SQLite by default), the sealing key,
the Flask secret, and the portal's wallet of encrypted identities; all 0600/0700.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ORG_ROLES = {"utility": "utility", "regulator": "regulator", "aggregator": "aggregator"}
ROLES = ("customer", "utility", "regulator", "aggregator")
OPERATOR_ROLES = ("utility", "regulator", "aggregator")


@dataclass(frozen=True)
class KDFCost:
    """Argon2id cost: RFC 9106's second recommended option by default (64 MiB, t=3)."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 2


@dataclass(frozen=True)
class PortalConfig:
    org: str                        # utility | regulator | aggregator
    msp_id: str
    data_dir: Path
    state_dir: Path | None = None   # the network's (identities, profiles); None in tests
    database_url: str | None = None  # default: SQLite in data_dir
    channel: str = "energy"
    market_channel: str = "market"
    chaincode: str = "metering"
    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = False               # served over TLS: cookies get Secure
    listener_identity: str = "Admin"  # an admin-role identity: blocks are for operators
    start_background: bool = True   # listener and integrity scheduler threads
    integrity_interval: float = 60.0
    integrity_rows_per_run: int = 200_000  # per table: a big mirror is covered in runs
    session_idle_minutes: int = 30
    signin_failures_per_user: int = 5
    signin_failures_per_address: int = 20
    signin_window_seconds: int = 300
    max_form_bytes: int = 64 * 1024
    signup_code_days: int = 14
    kdf: KDFCost = field(default_factory=KDFCost)
    live_poll_seconds: float = 3.0
    links: Mapping[str, str] = field(default_factory=dict)  # other portals, service node
    testing: bool = False

    @property
    def role(self) -> str:
        """The operator role of this portal's organisation."""
        return ORG_ROLES[self.org]

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels the mirror follows, the main one first."""
        return tuple(dict.fromkeys((self.channel, self.market_channel)))

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "mirror.sqlite"

    @property
    def url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path.absolute()}"

    @property
    def wallet_dir(self) -> Path:
        return self.data_dir / "wallet"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "mirror.key"

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "flask-secret.key"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PortalConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown portal settings: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "org" in values and values["org"] not in ORG_ROLES:
            raise ValueError(f"org must be one of {', '.join(ORG_ROLES)}")
        for name in ("data_dir", "state_dir"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        if isinstance(values.get("kdf"), Mapping):
            values["kdf"] = KDFCost(**values["kdf"])
        return cls(**values)


def portal_data_dir(state_dir: Path, org: str) -> Path:
    """Where ``gridledger portal run`` keeps an organisation's portal: <state>/portal/<org>."""
    return Path(state_dir) / "portal" / org
