"""Passwords, key passphrases, sign-in rate limits and server-side sessions.

- Passwords are hashed with Argon2id (argon2-cffi); the stored hash verifies a password
  and nothing else.
- The passphrase that encrypts a person's Fabric key is derived from the password with
  Argon2id too, under a second, independent salt: the stored password hash does not
  give it, so the database alone does not unlock any key.
- Sessions are server-side: the cookie holds only a random id (HttpOnly, SameSite=Lax,
  Secure over TLS); sign-in starts a new session (a fixed id from before is worthless),
  sign-out and idle expiry end it. The unlocked passphrase lives in that server-side
  session only, in memory.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import hash_secret_raw
from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin

from .config import KDFCost

SALT_BYTES = 16


class Passwords:
    """Argon2id password hashes and key passphrases at one cost."""

    def __init__(self, cost: KDFCost) -> None:
        self.cost = cost
        self._hasher = PasswordHasher(time_cost=cost.time_cost, memory_cost=cost.memory_kib,
                                      parallelism=cost.parallelism, type=Type.ID)
        # A hash to verify against when the user does not exist: same time either way.
        self._dummy = self._hasher.hash(secrets.token_hex(8))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def key_passphrase(self, password: str, salt_hex: str) -> str:
        """The passphrase that encrypts the person's Fabric key (hex, 256 bits)."""
        raw = hash_secret_raw(password.encode("utf-8"), bytes.fromhex(salt_hex),
                              time_cost=self.cost.time_cost, memory_cost=self.cost.memory_kib,
                              parallelism=self.cost.parallelism, hash_len=32, type=Type.ID)
        return raw.hex()


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


# -- sign-in rate limits ------------------------------------------------------------------


class SignInLimiter:
    """Failed sign-ins per username and per client address in a sliding window.

    Beyond the limit, sign-in is refused (429) until the oldest failure leaves the
    window, whatever the password; a success clears the username's failures.
    """

    def __init__(self, per_user: int, per_address: int, window: float,
                 clock=time.monotonic) -> None:
        self.per_user, self.per_address, self.window = per_user, per_address, window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until another try is allowed (0: allowed now)."""
        with self._lock:
            waits = []
            for key, limit in ((f"u:{username.lower()}", self.per_user),
                               (f"a:{address}", self.per_address)):
                q = self._recent(key)
                if len(q) >= limit:
                    waits.append(q[0] + self.window - self._clock())
            return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, username: str, address: str) -> None:
        with self._lock:
            now = self._clock()
            for key in (f"u:{username.lower()}", f"a:{address}"):
                self._recent(key).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{username.lower()}", None)


# -- server-side sessions -----------------------------------------------------------------


class ServerSession(SessionMixin):
    """A session whose data stays on the server; the cookie carries its id only."""

    def __init__(self, sid: str, data: dict[str, Any] | None = None, new: bool = False):
        self.sid = sid
        self._data = dict(data or {})
        self.new = new
        self.modified = False
        self.accessed = False
        self.ended = False

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def regenerate(self) -> None:
        """A new id and no data: call at sign-in and sign-out (no session fixation)."""
        self.ended = True
        self._old_sid = self.sid
        self.sid = secrets.token_urlsafe(32)
        self._data.clear()
        self.modified = True


class SessionStore:
    """In-memory session data with idle expiry (a portal is one process)."""

    def __init__(self, idle_seconds: float, clock=time.monotonic) -> None:
        self.idle = idle_seconds
        self._clock = clock
        self._data: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._data.get(sid)
            if item is None:
                return None
            seen, data = item
            if self._clock() - seen > self.idle:
                del self._data[sid]
                return None
            self._data[sid] = (self._clock(), data)
            return dict(data)

    def put(self, sid: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._data[sid] = (self._clock(), dict(data))
            if len(self._data) > 10_000:  # drop expired ones now and then
                now = self._clock()
                for k in [k for k, (t, _) in self._data.items() if now - t > self.idle]:
                    del self._data[k]

    def delete(self, sid: str) -> None:
        with self._lock:
            self._data.pop(sid, None)

    def __contains__(self, sid: str) -> bool:
        return self.get(sid) is not None

    def end_where(self, key: str, value: Any) -> int:
        """End every session whose ``key`` is ``value`` (an account disabled)."""
        with self._lock:
            gone = [k for k, (_, d) in self._data.items() if d.get(key) == value]
            for k in gone:
                del self._data[k]
            return len(gone)


class ServerSessionInterface(SessionInterface):
    def __init__(self, store: SessionStore) -> None:
        self.store = store

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid:
            data = self.store.get(sid)
            if data is not None:
                return ServerSession(sid, data)
        # An unknown id (a planted one, an expired one) is never adopted: a fresh id.
        return ServerSession(secrets.token_urlsafe(32), new=True)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        old = getattr(session, "_old_sid", None)
        if old:
            self.store.delete(old)
        if not session:
            if not session.new or session.modified:
                self.store.delete(session.sid)
                response.delete_cookie(name, domain=domain, path=path)
            return
        if session.modified or not session.new:
            self.store.put(session.sid, dict(session))
        response.vary.add("Cookie")
        response.set_cookie(name, session.sid, httponly=True,
                            secure=self.get_cookie_secure(app),
                            samesite=self.get_cookie_samesite(app), domain=domain, path=path)
