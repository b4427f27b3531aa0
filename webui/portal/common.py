"""Helpers the role blueprints share: the services, the mirror session, acting on the
ledger as the signed-in person, and the checks that keep a customer to its own records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import abort, current_app, flash, g, request
from sqlalchemy.orm import Session

from gridledger.clients.errors import ClientError
from gridledger.errors import GridLedgerError

from ..mirror import queries
from .access import passphrase
from .ledger import LedgerWriteError, PersonLedger, explain
from .services import Services

T = TypeVar("T")


def services() -> Services:
    return current_app.extensions["portal"]


@contextmanager
def mirror() -> Iterator[Session]:
    with services().mirror.sessions() as s:
        yield s


@contextmanager
def _person(identity_and_signer) -> Iterator[PersonLedger]:
    actions = services().actions
    if actions is None:
        raise LedgerWriteError("this portal is not connected to a ledger: nothing was sent",
                               503)
    with actions.as_person(*identity_and_signer) as person:
        yield person


def as_me(what: str, fn: Callable[[PersonLedger], T]) -> T:
    """Run ``fn`` on the ledger as the signed-in person; LedgerWriteError explains a
    failure (``what`` names the action for the message)."""
    svc = services()
    account = svc.accounts.get(g.user.account_id)
    try:
        creds = svc.accounts.credentials(account, passphrase())
    except (GridLedgerError, OSError) as exc:
        raise LedgerWriteError(f"{what}: your signing key could not be unlocked ({exc})",
                               500) from None
    return _run(what, creds, fn)


def as_service(what: str, credentials, fn: Callable[[PersonLedger], T]) -> T:
    return _run(what, credentials, fn)


def _run(what: str, creds, fn: Callable[[PersonLedger], T]) -> T:
    try:
        with _person(creds) as person:
            return fn(person)
    except LedgerWriteError:
        raise
    except (ClientError, GridLedgerError, OSError) as exc:
        raise explain(exc, what) from None


def mirror_counts(s: Session) -> dict[str, int]:
    """The mirror's record counts, computed once per block heights of its channels (a
    GROUP BY over the whole state table is the dearest read a page makes)."""
    heights = tuple(sorted(queries.heights(s).items()))
    cache = services().cache
    if cache.get("counts", (None,))[0] != heights:
        cache["counts"] = (heights, queries.counts(s))
    return cache["counts"][1]


def flash_write(exc: LedgerWriteError) -> None:
    flash(str(exc), "error")


def _owned(row: dict[str, Any] | None, what: str, ident: str) -> dict[str, Any]:
    """``row`` if the signed-in customer may see it: 404 unknown, 403 another's."""
    if row is None:
        abort(404, description=f"no {what} {ident!r}")
    if g.user.role == "customer" and row.get("customerId") != g.user.customer_id:
        abort(403, description=f"this {what} is not yours")
    return row


def own_meter(s: Session, meter_id: str) -> dict[str, Any]:
    """The meter, if it is the signed-in customer's: 404 unknown, 403 another's."""
    return _owned(queries.meter(s, meter_id), "meter", meter_id)


def own_account(s: Session, address: str) -> dict[str, Any]:
    """The Wattcoin account, if it is the signed-in customer's: 404 unknown, 403 another's."""
    return _owned(queries.account(s, address), "account", address)


def parse_day(text: str | None, default: dt.date) -> dt.date:
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        abort(400, description=f"date {text!r}: use YYYY-MM-DD")
    raise AssertionError


def parse_month(text: str | None, default: dt.date) -> tuple[int, int]:
    if not text:
        return default.year, default.month
    try:
        when = dt.datetime.strptime(text, "%Y-%m")
    except ValueError:
        abort(400, description=f"month {text!r}: use YYYY-MM")
    return when.year, when.month


def channel_arg() -> str:
    """The channel a request asks for (``?channel=``, the main one by default): one the
    mirror follows, else 404."""
    channels = services().config.channels
    channel = request.args.get("channel") or channels[0]
    if channel not in channels:
        abort(404, description=f"the mirror follows no channel {channel[:100]!r} (it "
                               f"follows {', '.join(channels)})")
    return channel


def int_arg(value: str | None, name: str, default: int | None = None, *, low: int = 0,
            high: int = 10**12) -> int | None:
    if value in (None, ""):
        return default
    try:
        n = int(value)
    except ValueError:
        abort(400, description=f"{name} must be a whole number")
    if not low <= n <= high:
        abort(400, description=f"{name} must be between {low} and {high}")
    return n
