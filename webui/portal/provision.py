"""Setting portals up on a network's state directory: where each listens, operators'
and customers' accounts, and the supervisord program that runs it.

A portal of organisation ``org`` keeps its data in ``<state>/portal/<org>/`` and listens
on its organisation's host (its peer's, in the connection profile) at its peer's port plus
:data:`PORT_FROM_PEER` (7180, 7280, 7380 on the main network; shifted with the test
network's ports).
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from gridledger.clients.profile import ConnectionProfile
from gridledger.network.layout import open_layout, write_private
from gridledger.network.nodes import Process

from .accounts import AccountError
from .config import PortalConfig, portal_data_dir
from .services import Services, build_services

PORT_FROM_PEER = 29
MSP_OF = {"utility": "UtilityMSP", "regulator": "RegulatorMSP", "aggregator": "AggregatorMSP"}


def address(state_dir: Path, org: str) -> tuple[str, int]:
    """Host and port of ``org``'s portal, from the network's connection profile."""
    profile = ConnectionProfile.load(open_layout(state_dir).connection_profile(org))
    host, port = profile.peer_endpoint().address.rsplit(":", 1)
    return host, int(port) + PORT_FROM_PEER


def config_for(state_dir: Path, org: str, **settings) -> PortalConfig:
    """``org``'s portal on the network in ``state_dir``: its address, and the channels of
    the topology from the connection profile (the main one first, then the market's)."""
    profile = ConnectionProfile.load(open_layout(state_dir).connection_profile(org))
    host, port = address(state_dir, org)
    values = {"org": org, "msp_id": profile.msp_id, "state_dir": Path(state_dir),
              "data_dir": portal_data_dir(state_dir, org), "host": host, "port": port}
    channels = profile.channels
    if channels:
        # A network of one channel (before the market had its own) keeps the market there.
        values.update(channel=channels[0],
                      market_channel=channels[1] if len(channels) > 1 else channels[0])
    values.update({k: v for k, v in settings.items() if v is not None})
    return PortalConfig.from_mapping(values)


def new_password() -> str:
    return secrets.token_urlsafe(12)


def ensure_operator(services: Services, username: str, password: str) -> bool:
    """An operator account with an identity of its own (``gridledger.operator=true``,
    registered by the CA's bootstrap admin); False when it exists already."""
    if services.accounts.by_username(username) is not None:
        return False
    if services.enroller is None:
        raise AccountError("no CA: the portal needs the network's state directory")
    enrollment_id = f"portal-{username}-{services.config.org}-{secrets.token_hex(3)}"
    services.accounts.create(username, password,
                             enrollment=services.enroller.enroll_operator(enrollment_id))
    return True


def ensure_imported(services: Services, username: str, password: str, msp_dir: Path) -> bool:
    """An account for an identity that exists already (an MSP directory); False when
    the account exists."""
    if services.accounts.by_username(username) is not None:
        return False
    services.accounts.create(username, password, msp_dir=msp_dir)
    return True


def process(state_dir: Path, org: str) -> Process:
    """The supervisord program of ``org``'s portal."""
    _, port = address(state_dir, org)
    return Process(name=f"portal-{org}", kind="portal", org=org,
                   command=[sys.executable, "-m", "gridledger", "portal", "run", "--org", org,
                            "--state-dir", str(state_dir)],
                   cwd=str(portal_data_dir(state_dir, org)), ports=(port,))


@dataclass(frozen=True)
class DemoAccount:
    org: str
    username: str
    password: str
    role: str
    url: str


def ensure_demo_accounts(state_dir: Path, org: str, secrets_dir: Path,
                         customers: list[tuple[str, str]] = ()) -> list[DemoAccount]:
    """An ``operator`` account at ``org``'s portal and, at the Utility's, an account per
    demo customer (``(username, wallet label)``, the demo's own identities imported).
    Passwords are generated once and kept 0600 in ``secrets_dir``."""
    config = config_for(state_dir, org)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    services = build_services(config)
    host, port = address(state_dir, org)
    url = f"http://{host}:{port}/"
    out = []
    try:
        wallet = open_layout(state_dir).wallet
        wanted = [("operator", None, org)] + [(u, label, "customer") for u, label in customers]
        for username, label, role in wanted:
            secret = secrets_dir / f"portal-{org}-{username}.password"
            exists = services.accounts.by_username(username) is not None
            if exists and not secret.exists():
                # Made by hand before the demo: its password is its maker's.
                out.append(DemoAccount(org, username, "(not the demo's)", role, url))
                continue
            if not secret.exists():
                write_private(secret, new_password())
            password = secret.read_text().strip()
            if label is None:
                ensure_operator(services, username, password)
            else:
                ensure_imported(services, username, password, wallet / label / "msp")
            out.append(DemoAccount(org, username, password, role, url))
    finally:
        services.mirror.close()
    return out


def start_demo_portals(state_dir: Path, supervisor, customers: list[tuple[str, str]],
                       secrets_dir: Path, *, orgs: tuple[str, ...] = tuple(MSP_OF),
                       timeout: float = 90.0) -> dict:
    """The demo's portals: accounts made (``operator`` at each, the demo customers at the
    Utility's), programs ``portal-<org>`` added to the network's supervisord (owner
    ``portal``) and started; returns their addresses and the accounts."""
    import socket
    import time

    accounts: list[DemoAccount] = []
    for org in orgs:
        accounts += ensure_demo_accounts(state_dir, org, secrets_dir,
                                         customers if org == "utility" else [])
    supervisor.add_programs("portal", [process(state_dir, org) for org in orgs])
    portals = []
    for org in orgs:
        supervisor.start_process(f"portal-{org}")
        host, port = address(state_dir, org)
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex((host, port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise AccountError(f"the {org} portal did not listen on {host}:{port} within "
                                   f"{timeout:.0f} s; see <state>/logs/portal-{org}.log")
            time.sleep(0.3)
        portals.append({"org": org, "url": f"http://{host}:{port}/",
                        "log": str(open_layout(state_dir).log(f"portal-{org}"))})
    return {"portals": portals, "accounts": [a.__dict__ for a in accounts],
            "passwords": str(secrets_dir)}
