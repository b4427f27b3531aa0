"""Markets' configurations and their delivery intervals, with gate closure.

    mktconfig~<marketId>  {"marketId", "intervalSeconds", "gateClosureSeconds", "tariffId",
                           "clockToleranceSeconds", "openHorizonSeconds",
                           "evidenceGraceSeconds", "setAt"}
    mktint~<intervalId>   {"intervalId", "marketId", "start", "end", "gateClosure",
                           "marketType", "retailPricePerKwh", "feedInPricePerKwh",
                           "clockToleranceSeconds", "evidenceGraceSeconds", "status", ...}

A ledger may run several markets (local grid areas), each configured once. Its intervals
are ``intervalSeconds`` long (whole minutes dividing an hour: 5, 15, 30 or 60 minutes, so
that an interval lies within one hour of the tariff's time-of-use bands), aligned to
midnight UTC, ids ``<marketId>.<start>``, opened one by one by the Aggregator before their
gate closure (``gateClosureSeconds`` before the start) and at most
``openHorizonSeconds`` ahead.

**Time.** Each check of a deadline (gate closure for orders, cancels, acceptances and the
start of clearing; the interval's end for settlement) is made against a transaction time
that every endorser first finds within the market's ``clockToleranceSeconds`` of its own
clock (common/clock.py): the submitter chooses the time, but only within that tolerance
(30 s unless configured; at most the peers' 15-minute window). Once clearing has begun,
the interval's status refuses orders too: the first clearing page marks it, so an order
endorsed before gate closure but held back and submitted after clearing began fails its
read check. A trader trades only in the market it was enrolled in.

Status: ``open`` -> ``clearing`` -> ``cleared`` -> ``settling`` -> ``settled``.

Reference prices, fixed when the interval opens, from the market's tariff (the
Regulator's, trusted only with its key-level policy) in force at the interval's start:
``retailPricePerKwh`` = (first tier + the hour's time-of-use adjustment) x (1 + taxes),
rounded half up; ``feedInPricePerKwh`` = the tariff's feed-in price. Prices of orders lie
within [feed-in, retail]: outside it the utility is the better counterparty. Settlement
nets delivered energy at these prices against the retail path (chaincode/README.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.market import MARKET_TYPES, check_market_id, parse_interval_id
from gridledger.formats.numbers import check_int, check_object
from gridledger.formats.utc import format_utc, parse_utc

from ..common import clock, crosschannel
from ..common.amounts import div_round
from ..common.keys import key
from ..metering import api as metering
from ..shim import ChaincodeError
from .ledger import Market
from .signed import party_key

DAY = 86_400
HOUR = 3_600
# Configuration defaults and bounds (seconds).
DEFAULT_TOLERANCE = int(clock.DEFAULT_TOLERANCE.total_seconds())
MAX_TOLERANCE = int(clock.MAX_TOLERANCE.total_seconds())
DEFAULT_HORIZON, MAX_HORIZON = DAY, 7 * DAY
DEFAULT_GRACE, MAX_GRACE = 2 * DAY, 31 * DAY
OPEN, CLEARING, CLEARED, SETTLING, SETTLED = "open", "clearing", "cleared", "settling", "settled"


def interval_key(iv: str) -> str:
    """Key of a delivery interval."""
    return key("mktint", iv)


def config_key(market_id: str) -> str:
    """Key of a market's configuration."""
    return key("mktconfig", market_id)


def configure(m: Market, body: Any) -> dict[str, Any]:
    """Set a market's configuration, once (409 after)."""
    check_object(body, "config", {"marketId", "intervalSeconds", "gateClosureSeconds",
                                  "tariffId", "clockToleranceSeconds", "openHorizonSeconds",
                                  "evidenceGraceSeconds"})
    market_id = check_market_id(body.get("marketId"))
    seconds = check_int(body.get("intervalSeconds"), "intervalSeconds", minimum=60,
                        maximum=HOUR)
    if seconds % 60 or HOUR % seconds:
        # Reference prices are those of the interval's hour (time-of-use bands are hours).
        raise ChaincodeError("intervalSeconds must be whole minutes dividing an hour "
                             "(300, 900, 1800, 3600)", status=400)
    gate = check_int(body.get("gateClosureSeconds"), "gateClosureSeconds", minimum=0,
                     maximum=7 * DAY)
    tariff_id = check_id(body.get("tariffId"), "tariffId")
    tolerance = check_int(body.get("clockToleranceSeconds", DEFAULT_TOLERANCE),
                          "clockToleranceSeconds", minimum=1, maximum=MAX_TOLERANCE)
    horizon = check_int(body.get("openHorizonSeconds", DEFAULT_HORIZON), "openHorizonSeconds",
                        minimum=seconds, maximum=MAX_HORIZON)
    grace = check_int(body.get("evidenceGraceSeconds", DEFAULT_GRACE), "evidenceGraceSeconds",
                      minimum=HOUR, maximum=MAX_GRACE)
    if m.get(config_key(market_id)) is not None:
        raise ChaincodeError(f"market {market_id} is configured already", status=409)
    tariff_version(m, tariff_id, m.stub.tx_timestamp)  # 404 / 409
    config = {"marketId": market_id, "intervalSeconds": seconds, "gateClosureSeconds": gate,
              "tariffId": tariff_id, "clockToleranceSeconds": tolerance,
              "openHorizonSeconds": horizon, "evidenceGraceSeconds": grace, "setAt": m.now}
    m.create(config_key(market_id), config)
    return config


def config(m: Market, market_id: str) -> dict[str, Any]:
    """A market's configuration, or 404."""
    check_market_id(market_id)
    return m.need(config_key(market_id), f"market {market_id} (ConfigureMarket first)")


def tolerance(record: dict[str, Any]) -> dt.timedelta:
    """The clock tolerance a market's configuration (or an interval of it) accepts."""
    return dt.timedelta(seconds=record.get("clockToleranceSeconds", DEFAULT_TOLERANCE))


def tariff_version(m: Market, tariff_id: str, at: dt.datetime) -> dict[str, Any]:
    """The trusted version of ``tariff_id`` in force at ``at``: public records of the
    energy channel, read across (404 unknown, 409 not the Regulator's)."""
    return crosschannel.energy(m.stub, "marketlink:TariffVersion", tariff_id, format_utc(at))


def reference_prices(version: dict[str, Any], start: dt.datetime) -> tuple[int, int]:
    """(retail, feed-in) tokens per kWh of a tariff version at an interval's start."""
    _, adjust = metering.band_of(version, start.hour)
    tax = metering.tax_basis_points(version)
    retail = div_round((version["tiers"][0]["pricePerKwh"] + adjust) * (10_000 + tax), 10_000)
    return retail, version.get("feedInPricePerKwh", 0)


def open_interval(m: Market, iv: str, market_type: str) -> dict[str, Any]:
    """Open the delivery interval starting at ``iv`` (409 if open or past gate closure)."""
    market_id, start = parse_interval_id(iv)
    if market_type not in MARKET_TYPES:
        raise ChaincodeError(f"marketType must be one of {', '.join(MARKET_TYPES)}", status=400)
    cfg = config(m, market_id)
    seconds = cfg["intervalSeconds"]
    if int(start.timestamp()) % seconds:
        raise ChaincodeError(f"an interval starts on a multiple of {seconds} s since "
                             f"midnight UTC; {iv} does not", status=400)
    gate = start - dt.timedelta(seconds=cfg["gateClosureSeconds"])
    now = clock.before(m.stub, gate, "OpenInterval", f"interval {iv}'s gate closed at",
                       tolerance(cfg))
    horizon = cfg.get("openHorizonSeconds", DEFAULT_HORIZON)
    if (start - now).total_seconds() > horizon:
        # Reference prices are fixed now; a far-off interval would lock in prices the
        # Regulator may still change.
        raise ChaincodeError(f"interval {iv} starts more than {horizon} s ahead: open it "
                             f"at most {horizon} s before its start", status=409)
    if m.get(interval_key(iv)) is not None:
        raise ChaincodeError(f"interval {iv} is open already", status=409)
    retail, feed_in = reference_prices(tariff_version(m, cfg["tariffId"], start), start)
    if retail < feed_in:
        raise ChaincodeError(f"the tariff's feed-in price {feed_in} exceeds its retail price "
                             f"{retail} at {iv}: no price suits both sides", status=409)
    record = {
        "intervalId": iv, "marketId": market_id, "start": format_utc(start),
        "end": format_utc(start + dt.timedelta(seconds=seconds)),
        "gateClosure": format_utc(gate), "marketType": market_type,
        "retailPricePerKwh": retail, "feedInPricePerKwh": feed_in, "tariffId": cfg["tariffId"],
        "clockToleranceSeconds": cfg.get("clockToleranceSeconds", DEFAULT_TOLERANCE),
        "evidenceGraceSeconds": cfg.get("evidenceGraceSeconds", DEFAULT_GRACE),
        "status": OPEN, "openedAt": m.now, "clearingPrice": None, "volumeWh": 0,
        "trades": 0, "tradePages": 0,
    }
    m.create(interval_key(iv), record)
    return record


def get(m: Market, iv: str) -> dict[str, Any]:
    """An interval, or 404 (400 for a malformed id)."""
    parse_interval_id(iv)
    return m.need(interval_key(iv), f"delivery interval {iv}")


def require_open(m: Market, iv: str, action: str = "order") -> dict[str, Any]:
    """The interval, while orders are accepted: before gate closure (a timely transaction,
    common/clock.py), not yet clearing."""
    record = get(m, iv)
    if record["status"] != OPEN:
        raise ChaincodeError(f"interval {iv} is {record['status']}: no more orders", status=409)
    clock.before(m.stub, gate_of(record), action, f"interval {iv}'s gate closed at",
                 tolerance(record))
    return record


def gate_of(record: dict[str, Any]) -> dt.datetime:
    """An interval's gate closure."""
    return parse_utc(record["gateClosure"], "gateClosure")


def end_of(record: dict[str, Any]) -> dt.datetime:
    """An interval's end."""
    return parse_utc(record["end"], "end")


def require_price(record: dict[str, Any], price: int) -> None:
    """A price within the interval's [feed-in, retail] band (409 otherwise)."""
    low, high = record["feedInPricePerKwh"], record["retailPricePerKwh"]
    if not low <= price <= high:
        raise ChaincodeError(f"price {price} is outside interval {record['intervalId']}'s "
                             f"band [{low}, {high}] (feed-in, retail): the utility buys "
                             "and sells there", status=409)


def save(m: Market, record: dict[str, Any]) -> None:
    """Write an interval back."""
    m.put(interval_key(record["intervalId"]), record)


def ids_between(first: str, last: str) -> tuple[str, str]:
    """Key range of one market's intervals from ``first`` to ``last`` (both included)."""
    market_id, _ = parse_interval_id(first, "from")
    if parse_interval_id(last, "to")[0] != market_id:
        raise ChaincodeError("from and to must be intervals of the same market", status=400)
    return interval_key(first), interval_key(last) + "\x00"


def require_trader_in(m: Market, trader: str, record: dict[str, Any]) -> None:
    """A trader trades only in the market it was enrolled in (409 otherwise)."""
    party = m.need(party_key(trader), f"market participant {trader}")
    if party["marketId"] != record["marketId"]:
        raise ChaincodeError(f"{trader} trades in market {party['marketId']}, not "
                             f"{record['marketId']}", status=409)
