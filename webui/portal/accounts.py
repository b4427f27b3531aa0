"""Portal accounts: a username and password bound to the person's own Fabric identity.

The identity (certificate and private key) lives in the portal's wallet (Fabric MSP
layout, :class:`gridledger.clients.wallet.Wallet`), its key encrypted with a passphrase
derived from the password (:meth:`.security.Passwords.key_passphrase`). The role is read
from the certificate, never chosen: an operator of the portal's organisation (NodeOU
``admin`` or ``gridledger.operator=true``) or, at the Utility's portal, a customer
(``role=customer|prosumer`` and ``customerId``, from the Utility's CA).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from gridledger.clients.enrollment import Enrollment
from gridledger.clients.identity import Identity
from gridledger.clients.signing import Signer
from gridledger.clients.wallet import Wallet
from gridledger.formats.ca_attributes import read_ca_attributes
from gridledger.formats.errors import FormatError
from gridledger.formats.ids import is_id

from ..mirror.schema import AccountRow, SignupCodeRow
from .security import Passwords, new_salt

USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,31}")
CUSTOMER_ROLES = ("customer", "prosumer")
UTILITY_MSP = "UtilityMSP"  # the organisation whose CA registers customers


class AccountError(Exception):
    """An account cannot be made or used; the message says why, for the person."""


@dataclass(frozen=True)
class Proven:
    """What a certificate proves: a role of this portal, and the customer id if any."""

    role: str | None
    customer_id: str | None = None
    reason: str = ""


def role_of(msp_id: str, cert_pem: bytes, portal_msp: str, portal_role: str) -> Proven:
    """The role ``cert_pem`` of ``msp_id`` proves at the portal of ``portal_msp``."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        attrs = read_ca_attributes(cert)
    except FormatError:
        return Proven(None, reason="its certificate's attributes cannot be read")
    ous = {str(a.value) for a in
           cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)}
    operator = "admin" in ous or attrs.get("gridledger.operator") == "true"
    if msp_id != portal_msp:
        return Proven(None, reason=f"it is an identity of {msp_id}, not of {portal_msp}")
    if operator:
        return Proven(portal_role)
    customer = attrs.get("customerId")
    if (msp_id == UTILITY_MSP and attrs.get("role") in CUSTOMER_ROLES and is_id(customer)):
        return Proven("customer", customer)
    return Proven(None, reason="its certificate proves neither an operator nor a customer")


def check_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not USERNAME_RE.fullmatch(name):
        raise AccountError("a username is 3 to 32 characters: a-z, 0-9, and . _ - "
                           "(starting with a letter or digit)")
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not 10 <= len(password) <= 256:
        raise AccountError("a password needs 10 to 256 characters")
    return password


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


class Accounts:
    """Accounts in the portal's database, identities in its wallet."""

    def __init__(self, sessions: sessionmaker, wallet_dir: Path, passwords: Passwords,
                 msp_id: str, role: str) -> None:
        self.sessions = sessions
        self.wallet = Wallet(wallet_dir)
        self.passwords = passwords
        self.msp_id = msp_id
        self.role = role

    @staticmethod
    def label(username: str) -> str:
        return f"web-{username}"

    # -- making accounts --------------------------------------------------------------

    def create(self, username: str, password: str, *, enrollment: Enrollment | None = None,
               msp_dir: Path | None = None) -> AccountRow:
        """An account for an identity: a fresh enrollment, or an MSP directory to import
        (the demo's identities). Its key is stored encrypted under the password."""
        username, password = check_username(username), check_password(password)
        with self.sessions() as s:
            if s.scalar(select(AccountRow.id).where(AccountRow.username == username)):
                raise AccountError(f"the username {username!r} is taken")
        if enrollment is not None:
            cert_pem = enrollment.certificate
        elif msp_dir is not None:
            cert_pem = Wallet.from_msp_dir(msp_dir, self.msp_id)[0].certificate
        else:
            raise AccountError("an account needs an enrollment or an MSP directory")
        proven = role_of(self.msp_id, cert_pem, self.msp_id, self.role)
        if proven.role is None:
            raise AccountError(f"this identity has no role in this portal: {proven.reason}")
        salt = new_salt()
        passphrase = self.passwords.key_passphrase(password, salt)
        label = self.label(username)
        if enrollment is not None:
            self.wallet.put(label, self.msp_id, enrollment, passphrase=passphrase)
        else:
            self.wallet.import_msp_dir(label, msp_dir, self.msp_id, passphrase=passphrase)
        cert = x509.load_pem_x509_certificate(cert_pem)
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        row = AccountRow(username=username, role=proven.role, msp_id=self.msp_id,
                         customer_id=proven.customer_id, wallet_label=label,
                         enrollment_id=str(cn[0].value) if cn else "",
                         password_hash=self.passwords.hash(password), key_salt=salt,
                         created_at=_now(), disabled=False)
        try:
            with self.sessions.begin() as s:
                s.add(row)
        except IntegrityError:
            raise AccountError(f"the username {username!r} is taken") from None
        return row

    # -- signing in ---------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> tuple[AccountRow, str] | None:
        """The account and its key passphrase, or None (same work either way)."""
        name = (username or "").strip().lower()
        with self.sessions() as s:
            row = s.scalar(select(AccountRow).where(AccountRow.username == name))
        ok = self.passwords.verify(row.password_hash if row else None, password or "")
        if not ok or row is None or row.disabled:
            return None
        return row, self.passwords.key_passphrase(password, row.key_salt)

    def get(self, account_id: int) -> AccountRow | None:
        with self.sessions() as s:
            return s.get(AccountRow, account_id)

    def by_username(self, username: str) -> AccountRow | None:
        with self.sessions() as s:
            return s.scalar(select(AccountRow).where(AccountRow.username == username))

    def of_customer(self, customer_id: str) -> list[AccountRow]:
        with self.sessions() as s:
            return list(s.scalars(select(AccountRow).where(
                AccountRow.customer_id == customer_id)))

    def credentials(self, account: AccountRow, passphrase: str) -> tuple[Identity, Signer]:
        """The account's identity and a signer over its decrypted key."""
        return self.wallet.get(account.wallet_label, passphrase)

    def certificate(self, account: AccountRow) -> bytes:
        return (self.wallet.msp_dir(account.wallet_label) / "signcerts" / "cert.pem") \
            .read_bytes()

    # -- sign-up codes ------------------------------------------------------------------

    def issue_signup_code(self, customer_id: str, by: str, days: int) -> str:
        """A single-use code for ``customer_id`` to open an account (shown once)."""
        if not is_id(customer_id):
            raise AccountError("a customer code is 1-64 characters: A-Z a-z 0-9 . _ -")
        code = "-".join(secrets.token_hex(2).upper() for _ in range(4))
        with self.sessions.begin() as s:
            s.add(SignupCodeRow(code_hash=_code_hash(code), customer_id=customer_id,
                                created_by=by, created_at=_now(),
                                expires_at=_now() + dt.timedelta(days=days)))
        return code

    def take_signup_code(self, customer_id: str, code: str) -> None:
        """Use a code (refused unless it is this customer's, unused and unexpired)."""
        with self.sessions.begin() as s:
            row = s.scalar(select(SignupCodeRow).where(
                SignupCodeRow.code_hash == _code_hash(code)))
            if (row is None or row.customer_id != customer_id or row.used_at is not None
                    or _aware(row.expires_at) < _now()):
                raise AccountError("this sign-up code is not valid for this customer code "
                                   "(ask the Utility for a new one)")
            row.used_at = _now()

    def release_signup_code(self, code: str) -> None:
        """Give a code back when sign-up failed after taking it."""
        with self.sessions.begin() as s:
            row = s.scalar(select(SignupCodeRow).where(
                SignupCodeRow.code_hash == _code_hash(code)))
            if row is not None:
                row.used_at = None


def _code_hash(code: str) -> str:
    return hashlib.sha256((code or "").strip().upper().encode()).hexdigest()
