"""How far a transaction's time may be trusted: the consortium's clock tolerance.

Fabric takes a transaction's time from the proposal, that is from the client, and each
peer accepts a proposal within ``peer.authentication.timewindow`` (15 minutes by default)
of its own clock. A time check against that time alone (gate closure, the end of a
delivery interval, a token's expiry, a tariff's start) therefore means "within 15 minutes,
as the submitter chose". So a function whose outcome depends on *when* asks, on each
endorser, that the transaction time lie within a tolerance of that endorser's own clock
(:func:`require_timely`). The endorser's clock decides only whether it endorses, never
what it writes, so endorsers that do endorse still compute identical results.

So a deadline checked against a timely transaction time holds in real time to within
the tolerance, and no closer: an order may reach the book at most ``T`` after gate
closure, a clearing start at most ``T`` before it. The tolerance is what the consortium
accepts of its members' clocks (kept in sync by NTP) and of a proposal's time in flight:
30 s unless a function's own configuration says otherwise (a market's
``clockToleranceSeconds``), never more than the peers' own window.
"""

from __future__ import annotations

import datetime as dt

from gridledger.formats.utc import format_utc

from ..shim import ChaincodeError, Stub

# What the consortium accepts unless a function's own configuration says otherwise
# (a market's clockToleranceSeconds): generous for clock drift, small beside any deadline.
DEFAULT_TOLERANCE = dt.timedelta(seconds=30)
# The most any configuration may accept: the peers' own time window.
MAX_TOLERANCE = dt.timedelta(minutes=15)


def require_timely(stub: Stub, action: str,
                   tolerance: dt.timedelta = DEFAULT_TOLERANCE) -> dt.datetime:
    """The transaction time, if it is within ``tolerance`` of this endorser's clock;
    409 otherwise (an honest client resends with its current time)."""
    when = stub.tx_timestamp
    skew = (when - stub.endorser_time()).total_seconds()
    if abs(skew) > tolerance.total_seconds():
        direction = "ahead of" if skew > 0 else "behind"
        raise ChaincodeError(
            f"{action}: the transaction time {format_utc(when)} is {abs(skew):.0f} s {direction}"
            f" this endorser's clock; the consortium accepts {tolerance.total_seconds():.0f} s"
            " (send the proposal with the current time)", status=409)
    return when


def not_before(stub: Stub, instant: dt.datetime, action: str, what: str,
               tolerance: dt.timedelta = DEFAULT_TOLERANCE) -> dt.datetime:
    """Refuse (409, "too early: <what> <instant>") unless the transaction is timely and at
    or after ``instant``; the transaction time."""
    when = require_timely(stub, action, tolerance)
    if when < instant:
        raise ChaincodeError(f"{action}: too early: {what} {format_utc(instant)}", status=409)
    return when


def before(stub: Stub, instant: dt.datetime, action: str, what: str,
           tolerance: dt.timedelta = DEFAULT_TOLERANCE) -> dt.datetime:
    """Refuse (409, "too late: <what> <instant>") unless the transaction is timely and
    before ``instant``; the transaction time."""
    when = require_timely(stub, action, tolerance)
    if when >= instant:
        raise ChaincodeError(f"{action}: too late: {what} {format_utc(instant)}", status=409)
    return when
