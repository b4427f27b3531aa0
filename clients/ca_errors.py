"""The Fabric CA client's errors, and how the CA's answers become them.

Errors::

    ClientError                     gridledger.clients.errors
     └── CAError                    the CA answered with a failure (status_code, errors)
          ├── AuthenticationError   wrong ID/secret, revoked identity, bad/expired token
          ├── AuthorizationError    the caller lacks a right (registrar, revoker, affiliation)
          ├── RegistrationError     register refused (e.g. AlreadyRegistered)
          │    └── AlreadyRegistered
          └── CAConnectionError     no answer: connection refused, TLS failure, timeout
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .errors import ClientError

# Remote error codes of fabric-ca (lib/caerrors) that we turn into specific types.
_CODE_AUTHENTICATION = 20
_CODE_AUTHORIZATION = 71
_CODE_PASSWORD_ATTEMPTS = 73
_CODE_DUPLICATE_IDENTITY = 74


class CAError(ClientError):
    """The CA refused a request.

    ``status_code`` is the HTTP status (0 if there was no answer), ``errors`` the CA's
    list of ``{"code": int, "message": str}``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 0,
        errors: Sequence[Mapping[str, Any]] = (),
        url: str = "",
    ) -> None:
        self.status_code = status_code
        self.errors = [dict(e) for e in errors]
        self.url = url
        super().__init__(message)

    @property
    def codes(self) -> list[int]:
        """The CA's error codes (see fabric-ca lib/caerrors), e.g. ``[74]``."""
        return [int(e.get("code", 0)) for e in self.errors]


class CAConnectionError(CAError):
    """No answer from the CA: refused connection, TLS failure (wrong root?) or timeout."""

    retryable = True


class AuthenticationError(CAError):
    """The CA did not accept the caller's credentials.

    For security the CA gives the same answer for a wrong secret, an unknown or revoked
    identity, exhausted ``max_enrollments`` and a bad or expired token; its own log holds
    the exact reason.
    """


class AuthorizationError(CAError):
    """The caller is known but not allowed to do this (registrar rights, hf.Revoker,
    affiliation, or its enrollment ID was revoked)."""


class RegistrationError(CAError):
    """The CA refused to register an identity."""


class AlreadyRegistered(RegistrationError):
    """An identity with this enrollment ID is already registered at the CA."""


# -- from the CA's answer to a type ------------------------------------------------------


def connection_message(where: str, exc: httpx.TransportError) -> str:
    """Why no answer came from the CA at ``where``, and what to check."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"{where}: TLS verification failed ({cause.verify_message}); the TLS root "
                "given is not the one that signed this CA's TLS certificate, or the URL's "
                "host is not in it"
            )
        if isinstance(cause, ssl.SSLError):
            return f"{where}: TLS handshake failed ({cause}); is this an https Fabric CA?"
        cause = cause.__cause__ or cause.__context__
    return f"{where}: cannot connect ({exc}); is the CA running (`gridledger network status`)?"


def error_for(
    endpoint: str, where: str, status: int, errors: list[dict[str, Any]], url: str
) -> CAError:
    """The error for the CA's failed answer to ``endpoint``, with a hint of what to do."""
    codes = {int(e.get("code", 0)) for e in errors}
    said = "; ".join(f"{e.get('message', '')} (code {e.get('code', '?')})" for e in errors)
    said = said or "no reason given"
    kw: dict[str, Any] = {"status_code": status, "errors": errors, "url": url}
    if _CODE_PASSWORD_ATTEMPTS in codes:
        return AuthenticationError(
            f"{where}: {said}; the identity is locked after too many wrong secrets: "
            "a registrar must reset it (modify the identity's secret)",
            **kw,
        )
    if status == 401 or _CODE_AUTHENTICATION in codes:
        if endpoint == "enroll":
            hint = (
                "check the enrollment ID and secret; the identity may also be revoked or "
                "have used up its max_enrollments (the CA's log names the reason)"
            )
        else:
            hint = (
                "the caller's certificate was not accepted: expired, revoked, or not issued "
                "by this CA (enroll again, or use this CA's registrar)"
            )
        return AuthenticationError(f"{where}: {said}; {hint}", **kw)
    if status == 403 or _CODE_AUTHORIZATION in codes:
        hint = {
            "register": "the registrar needs hf.Registrar.Roles for this type, "
            "hf.Registrar.Attributes for these attributes, and the affiliation",
            "revoke": "the caller needs hf.Revoker and authority over the identity's "
            "affiliation and type",
        }.get(endpoint, "the caller's identity may be revoked, or lacks the right for this")
        return AuthorizationError(f"{where}: {said}; {hint}", **kw)
    if endpoint == "register":
        if _CODE_DUPLICATE_IDENTITY in codes or status == 409:
            return AlreadyRegistered(
                f"{where}: {said}; enroll it with its secret, or register another ID", **kw
            )
        return RegistrationError(f"{where}: {said}", **kw)
    return CAError(f"{where}: HTTP {status}: {said}", **kw)
