"""Identities the portal itself needs at its organisation's CA.

- the **sign-up registrar** (Utility only): a client identity registered by the CA's
  bootstrap admin with ``hf.Registrar.Roles=client`` and ``hf.Registrar.Attributes=
  role,customerId``: it can register customers and nothing else (the CA refuses it the
  operator attribute and the admin type; tests/integration/test_authorization.py);
- the **payment service** (Utility only): an identity with ``gridledger.operator=true``
  that mints the tokens a customer paid for (Mint is the Utility's act, not the
  customer's);
- **operators' identities** for portal accounts (``gridledger portal add-operator``).

Each is made on first use and kept in the portal's wallet, its key encrypted with a
passphrase derived from the portal's secret.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Protocol

from gridledger.clients.enrollment import Enrollment
from gridledger.clients.identity import Identity
from gridledger.clients.session import Session
from gridledger.clients.signing import Signer
from gridledger.clients.wallet import Wallet

SIGNUP_LABEL = "portal-signup"
PAYMENTS_LABEL = "portal-payments"


class Enroller(Protocol):
    def enroll_customer(self, enrollment_id: str, customer_id: str) -> Enrollment: ...
    def enroll_operator(self, enrollment_id: str) -> Enrollment: ...
    def payments(self) -> tuple[Identity, Signer]: ...


class CAEnroller:
    """The organisation's CA, through the network state directory's CA client."""

    def __init__(self, session: Session, wallet_dir: Path, secret: bytes) -> None:
        self.session = session
        self.wallet = Wallet(wallet_dir)
        self._passphrase = hashlib.sha256(b"portal-wallet:" + secret).hexdigest()

    def _ensure(self, label: str, attributes: list[tuple[str, str, bool]]) -> None:
        if label in self.wallet:
            return
        secret = secrets.token_urlsafe(24)
        name = f"{label}-{self.session.org}-{secrets.token_hex(3)}"
        with self.session.ca() as ca:
            ca.register(self.session.registrar(), name, secret=secret, attributes=attributes)
            self.wallet.put(label, self.session.msp_id, ca.enroll(name, secret),
                            passphrase=self._passphrase)

    def _registrar(self) -> tuple[bytes, Signer]:
        self._ensure(SIGNUP_LABEL, [("hf.Registrar.Roles", "client", False),
                                    ("hf.Registrar.Attributes", "role,customerId", False)])
        identity, signer = self.wallet.get(SIGNUP_LABEL, self._passphrase)
        return identity.certificate, signer

    def enroll_customer(self, enrollment_id: str, customer_id: str) -> Enrollment:
        secret = secrets.token_urlsafe(24)
        with self.session.ca() as ca:
            ca.register(self._registrar(), enrollment_id, secret=secret, max_enrollments=1,
                        attributes=[("role", "customer", True),
                                    ("customerId", customer_id, True)])
            return ca.enroll(enrollment_id, secret)

    def enroll_operator(self, enrollment_id: str) -> Enrollment:
        secret = secrets.token_urlsafe(24)
        with self.session.ca() as ca:
            ca.register(self.session.registrar(), enrollment_id, secret=secret,
                        max_enrollments=1, attributes=[("gridledger.operator", "true", True)])
            return ca.enroll(enrollment_id, secret)

    def payments(self) -> tuple[Identity, Signer]:
        self._ensure(PAYMENTS_LABEL, [("gridledger.operator", "true", True)])
        return self.wallet.get(PAYMENTS_LABEL, self._passphrase)
