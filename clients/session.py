"""Connecting as someone: a network state directory, an organisation and a wallet label.

The network writes ``connection-<org>.yaml`` into its state directory; identities live in
``<state>/wallet`` (Fabric MSP layout). The organisation's ``Admin`` and the CA's
bootstrap registrar come from the network's own crypto material, for operators who run
the node.  Every path comes from the network's :class:`~gridledger.network.layout.Layout`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from gridledger.network.layout import Layout, open_layout

from .ca import CAClient, Credential
from .errors import ArgumentError
from .gateway import Deadlines, Gateway
from .identity import Identity
from .profile import ConnectionProfile
from .signing import Signer
from .wallet import IdentityNotFound, Wallet

PASSPHRASE_ENV = "GRIDLEDGER_WALLET_PASSPHRASE"


@dataclass(frozen=True)
class Session:
    """Everything needed to act as one identity of one organisation."""

    state_dir: Path
    org: str  # organisation name in the topology, e.g. "utility"

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_dir", Path(self.state_dir).expanduser())
        object.__setattr__(self, "org", self.org.lower().removesuffix("msp"))

    @functools.cached_property
    def layout(self) -> Layout:
        """Where the network keeps this organisation's files."""
        return open_layout(self.state_dir)

    @functools.cached_property
    def profile(self) -> ConnectionProfile:
        """Read once per Session: every credential and gateway lookup needs it."""
        return ConnectionProfile.load(self.layout.connection_profile(self.org))

    @property
    def msp_id(self) -> str:
        return self.profile.msp_id

    @property
    def wallet(self) -> Wallet:
        return Wallet(self.layout.wallet)

    def credentials(self, label: str = "Admin") -> tuple[Identity, Signer]:
        """The identity under ``label`` in the wallet, else the network's own of that name."""
        passphrase = os.environ.get(PASSPHRASE_ENV)
        try:
            return self.wallet.get(label, passphrase)
        except IdentityNotFound:
            msp_dir = self.layout.msp(self.org, label)
            if msp_dir.is_dir():
                return Wallet.from_msp_dir(msp_dir, self.msp_id)
            raise

    def gateway(
        self, label: str = "Admin", *, peer_org: str | None = None,
        deadlines: Deadlines | None = None,
    ) -> Gateway:
        """Connect to our peer (or ``peer_org``'s) as ``label``."""
        identity, signer = self.credentials(label)
        peer_msp = None
        if peer_org:
            peer_msp = Session(self.state_dir, peer_org).msp_id
        endpoint = self.profile.peer_endpoint(peer_msp)
        return Gateway.connect(endpoint, identity, signer, deadlines=deadlines)

    def ca(self) -> CAClient:
        info = self.profile.ca()
        return CAClient(info.url, info.tls_root, ca_name=info.name)

    def registrar(self) -> Credential:
        """The CA's bootstrap admin, enrolled on first use into the wallet."""
        label = f"ca-registrar-{self.org}"
        if label not in self.wallet:
            secret_file = self.layout.ca_secret(self.org)
            try:
                secret = secret_file.read_text().strip()
            except OSError:
                raise ArgumentError(
                    f"no registrar for {self.org}: {secret_file} is unreadable; run this "
                    "where the organisation's CA state is, or enroll a registrar into the "
                    f"wallet as {label!r}"
                ) from None
            with self.ca() as ca:
                self.wallet.put(label, self.msp_id, ca.enroll("admin", secret))
        identity, signer = self.wallet.get(label)
        return identity.certificate, signer
