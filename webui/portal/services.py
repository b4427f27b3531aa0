"""What a portal runs on: its mirror, accounts, ledger writes, CA, integrity checks, and
the background threads (a block listener per channel, the integrity scheduler).

:func:`build_services` wires the real ones from a :class:`~.config.PortalConfig` with a
network state directory; tests pass their own ledger, CA and block source (a factory of
one channel's source).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gridledger.network.layout import write_private

from ..mirror import Listener, Mirror
from ..mirror.integrity import Integrity
from ..mirror.source import LedgerSource, PeerSource
from .accounts import Accounts
from .config import PortalConfig
from .identities import CAEnroller, Enroller
from .ledger import GatewayActions, LedgerActions
from .security import Passwords, SessionStore, SignInLimiter

log = logging.getLogger(__name__)


class Scheduler:
    """Runs the integrity checks every ``interval`` seconds, or at once when asked."""

    def __init__(self, integrity: Integrity, interval: float) -> None:
        self.integrity = integrity
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="integrity", daemon=True)
        self._thread.start()

    def trigger(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.integrity.run()
                self.last_error = None
            except Exception as exc:  # keep checking on the next round
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("integrity check failed")
            self._wake.wait(self.interval)
            self._wake.clear()


@dataclass
class Services:
    config: PortalConfig
    mirror: Mirror
    accounts: Accounts
    actions: LedgerActions | None
    enroller: Enroller | None
    integrity: Integrity
    listeners: dict[str, Listener]  # channel -> its listener (none without a ledger)
    scheduler: Scheduler | None
    limiter: SignInLimiter
    sessions: SessionStore
    secret: bytes
    cache: dict = field(default_factory=dict)  # figures per mirror height (common.counts)

    @property
    def listener(self) -> Listener | None:
        """The main channel's listener."""
        return self.listeners.get(self.config.channel)

    def mirror_status(self) -> dict[str, dict[str, object]] | None:
        """Each channel's listener status (None without a ledger connection)."""
        if not self.listeners:
            return None
        return {ch: lst.status.as_dict() for ch, lst in self.listeners.items()}

    def start(self) -> None:
        for listener in self.listeners.values():
            listener.start()
        if self.scheduler is not None:
            self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        for listener in self.listeners.values():
            listener.stop()
        self.mirror.close()


def _secret(path: Path) -> bytes:
    if not path.exists():
        write_private(path, secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def build_services(config: PortalConfig, *, actions: LedgerActions | None = None,
                   enroller: Enroller | None = None,
                   source: Callable[[str], LedgerSource] | None = None) -> Services:
    """The portal's services; with a ``state_dir``, those not given come from the network
    (the organisation's peer as its ``listener_identity`` for blocks, its CA).
    ``source(channel)`` opens one channel's :class:`LedgerSource`: a listener follows
    each channel of ``config.channels``, all into the one mirror."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(config.data_dir, 0o700)
    secret = _secret(config.secret_file)
    mirror = Mirror.open(config.url, key_file=config.key_file)
    passwords = Passwords(config.kdf)
    accounts = Accounts(mirror.sessions, config.wallet_dir, passwords, config.msp_id,
                        config.role)
    if config.state_dir is not None:
        from gridledger.clients.gateway import Gateway
        from gridledger.clients.session import Session

        session = Session(config.state_dir, config.org)
        if actions is None:
            actions = GatewayActions(
                lambda identity, signer: Gateway.connect(session.profile.peer_endpoint(),
                                                         identity, signer),
                config.channel, config.chaincode, market_channel=config.market_channel)
        if enroller is None:
            enroller = CAEnroller(session, config.wallet_dir, secret)
        if source is None:
            def source(channel: str) -> LedgerSource:
                return PeerSource(lambda: session.gateway(config.listener_identity),
                                  channel, config.chaincode)
    integrity = Integrity(mirror.store, source, channels=config.channels,
                          rows_per_run=config.integrity_rows_per_run,
                          meter_chains=config.org in ("utility", "regulator"))
    listeners = {ch: Listener(mirror.store, source(ch)) for ch in config.channels} \
        if source is not None else {}
    scheduler = Scheduler(integrity, config.integrity_interval) if source else None
    return Services(config=config, mirror=mirror, accounts=accounts, actions=actions,
                    enroller=enroller, integrity=integrity, listeners=listeners,
                    scheduler=scheduler,
                    limiter=SignInLimiter(config.signin_failures_per_user,
                                          config.signin_failures_per_address,
                                          config.signin_window_seconds),
                    sessions=SessionStore(config.session_idle_minutes * 60), secret=secret)
