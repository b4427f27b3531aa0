"""``gridledger demo up``, continued: the market's demo day.

On the demo's network, after its meters report through the bridge, with the public
client APIs only and each step checked first (a chaincode's 409 "exists already" is
taken as done), so that running it again changes nothing. Market ``demo`` (one-minute
intervals, gate closure 20 s before each, the demo tariff): per trading demo customer the
Regulator records its pseudonym (secret where ``gridledger market issue`` keeps it), its
wallet's market key is kept in ``<state>/demo/market/keys/`` (0600), the customer consents
to its enrolment with its own identity's key (in the wallet, where the demo keeps it), the
Regulator relays the enrolment and the Utility a first deposit of each buyer; the
Aggregator opens one interval, relays a signed offer of the prosumer (every third
simulated meter has solar panels) and a bid of each of one or two other customers, and
clears it once its gate has closed; the Utility settles it after delivery, once the
bridge's readings reach the interval's end (settlement waits for them). The interval
traded is recorded in ``<state>/demo/market/state.json``: a later run advances it (clears,
settles) and reports it rather than trading again.

Time: each endorser accepts a transaction time only within the market's clock tolerance
of its own clock (30 s), so the demo trades in real time: the next minute whose gate
closure is at least 20 s away, ordered now, cleared at gate closure, settled after the
minute's end and its readings: ``demo up`` waits two minutes and a half at most.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gridledger.clients.all_peers import AllPeers
from gridledger.clients.errors import CommitError, GatewayError
from gridledger.clients.market import CustomerConsent, MarketKey
from gridledger.clients.market_cli import SECRET_FILE
from gridledger.clients.metering import Metering
from gridledger.clients.session import Session
from gridledger.demo import DEMO_TARIFF, _chaincode_status, customer_id, meter_id
from gridledger.errors import GridLedgerError
from gridledger.formats.market import interval_id, pseudonym_for
from gridledger.formats.utc import parse_utc
from gridledger.network.layout import write_private

MARKET_ID = "demo"
INTERVAL_SECONDS, GATE_SECONDS = 60, 20
OFFER_WH, BID_WH = (600, (400, 300))   # the seller's offer; the buyers' bids, in turn
DEPOSIT = 2_000                         # tokens a buyer moves into the market, once
SECOND = dt.timedelta(seconds=1)


class MarketDemoError(GridLedgerError):
    """The market demo cannot go on (keys lost, a peer behind, ...)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def exists(exc: GatewayError) -> bool:
    """The chaincode said the thing is there already: the step is done."""
    return _chaincode_status(exc) == 409


def retrying(call: Callable[[], Any], attempts: int = 4) -> Any:
    """``call()``, again on a conflict with a concurrent transaction (the bridge writes
    the same accounts and meter records all the time): nothing was written then."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except CommitError as exc:
            if not exc.retryable or attempt == attempts:
                raise
        except GatewayError as exc:
            if not exc.retryable or attempt == attempts:
                raise
        time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


# The demo's operators: the three organisations' Admin gateways, every step seen by every
# peer before the next (another organisation's peer often endorses it).
Operators = AllPeers


@contextlib.contextmanager
def operators(root: Path, channel: str) -> Iterator[Operators]:
    """The three organisations' Admin gateways, closed afterwards."""
    with Session(root, "utility").gateway("Admin") as u, \
            Session(root, "regulator").gateway("Admin") as r, \
            Session(root, "aggregator").gateway("Admin") as a:
        yield Operators(u, r, a, channel)


@dataclasses.dataclass(frozen=True)
class Trader:
    """A demo customer in the market."""

    unit: int
    side: str  # "sell" or "buy"
    key: MarketKey

    @property
    def meter_id(self) -> str:
        return meter_id(self.unit)

    @property
    def customer_id(self) -> str:
        return customer_id(self.unit)

    @property
    def pseudonym(self) -> str:
        return self.key.pseudonym


def trading_units(meters: int) -> tuple[int, list[int]]:
    """(the seller, the buyers) among demo meters 1..``meters``: the seller is the last
    prosumer (every third simulated meter has solar panels), else the last meter; the
    buyers are the first one or two others."""
    if meters < 2:
        raise MarketDemoError("the market demo needs two meters at least (--meters 2)")
    prosumers = [u for u in range(1, meters + 1) if u % 3 == 0]
    seller = prosumers[-1] if prosumers else meters
    buyers = [u for u in range(1, meters + 1) if u != seller][:len(BID_WH)]
    return seller, buyers


class MarketDemo:
    """The market demo on one network's demo directory."""

    def __init__(self, root: Path, channel: str, demo_dir: Path, meters: int, *,
                 reading_interval: float, say: Callable[[str], None]) -> None:
        self.root = root
        self.channel = channel
        self.dir = demo_dir / "market"
        self.state_path = self.dir / "state.json"
        self.meters = meters
        self.reading_interval = reading_interval
        self.say = say

    # -- what an earlier run did ------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        write_private(self.state_path, json.dumps(state, indent=2, sort_keys=True))

    # -- participants ----------------------------------------------------------------------

    def _secret(self) -> bytes:
        """The Regulator's pseudonym secret, where ``gridledger market issue`` keeps it."""
        path = self.root / SECRET_FILE
        if not path.exists():
            write_private(path, os.urandom(32))
        return path.read_bytes()

    def _key(self, unit: int, pseudonym: str) -> MarketKey:
        path = self.dir / "keys" / f"demo-{customer_id(unit)}.json"
        if path.exists():
            key = MarketKey.load(path)
            if key.pseudonym != pseudonym:
                raise MarketDemoError(f"{path} holds pseudonym {key.pseudonym}, not "
                                      f"{pseudonym}: the Regulator's secret changed")
            return key
        key = MarketKey.generate(pseudonym)
        path.parent.mkdir(parents=True, exist_ok=True)
        key.save(path)
        return key

    def ensure_traders(self, ops: Operators, units: dict[int, str]) -> list[Trader]:
        """Pseudonym (Regulator), market key, the customer's consent and its enrolment
        (relayed by the Regulator), a buyer's deposit (relayed by the Utility)."""
        secret = self._secret()
        regulator, utility = ops.market("regulator"), ops.market("utility")
        session = Session(self.root, "utility")
        msp = session.msp_id
        traders = []
        for unit, side in units.items():
            pseudonym = pseudonym_for(secret, msp, customer_id(unit))
            key = self._key(unit, pseudonym)
            trader = Trader(unit, side, key)
            with contextlib.suppress(Done):
                once(lambda c=trader.customer_id, p=pseudonym:
                      regulator.record_pseudonym(p, c))
            identity, signer = session.credentials(f"demo-{trader.customer_id}")
            consent = CustomerConsent.of_identity(identity.certificate, signer)
            # Linked on the energy channel, then published on the market channel; each
            # half a run again finds done.
            steps = retrying(lambda k=key, t=trader, c=consent: regulator.enrol(
                k.enrolment(MARKET_ID, t.meter_id, c)))
            enrolled = not steps["EnrolParticipant"].get("doneAlready")
            # A deposit is signed with a fresh request id each time: only the first run
            # makes one, so a run again moves no more tokens.
            if side == "buy" and utility.wallet(pseudonym)["deposited"] == 0:
                retrying(lambda k=key: utility.deposit(k.deposit(DEPOSIT)))
            self.say(f"  {trader.customer_id} ({trader.meter_id}): {pseudonym}, "
                     f"{'enrolled' if enrolled else 'enrolled already'}, {side}s")
            traders.append(trader)
        return traders

    # -- one interval -----------------------------------------------------------------------

    def _open_and_order(self, ops: Operators, iv: str, traders: list[Trader]) -> None:
        """Open ``iv`` and place the orders, now (before its gate closure)."""
        agg = ops.market("aggregator")
        with contextlib.suppress(Done):
            once(lambda: agg.open_interval(iv, "uniform"))
        record = agg.interval(iv)
        low, high = record["feedInPricePerKwh"], record["retailPricePerKwh"]
        buyers = [t for t in traders if t.side == "buy"]
        for t in traders:
            if t.side == "sell":
                signed = t.key.order("offer", iv, "demo-offer", OFFER_WH,
                                     low + (high - low) * 55 // 100)
                place = agg.place_offer
            else:
                n = buyers.index(t)
                signed = t.key.order("bid", iv, f"demo-bid-{t.unit}", BID_WH[n],
                                     low + (high - low) * (80 - 5 * n) // 100)
                place = agg.place_bid
            try:
                retrying(lambda s=signed, p=place: p(s))
            except GatewayError as exc:
                if not exists(exc):
                    raise
                # The order id is used (an earlier run's), or the interval is clearing.

    def _opened(self, ops: Operators, iv: str) -> bool:
        try:
            ops.market("aggregator").interval(iv)
            return True
        except GatewayError as exc:
            if _chaincode_status(exc) != 404:
                raise
            return False

    def _readings_cover(self, ops: Operators, traders: list[Trader], end: str) -> bool:
        metering = Metering(ops.utility.network(self.channel))
        for t in traders:
            head = metering.get_meter(t.meter_id).get("head") or {}
            if (head.get("intervalEnd") or "") < end:
                return False
        return True

    def _advance(self, ops: Operators, iv: str, traders: list[Trader]) -> dict[str, Any]:
        """Clear ``iv`` once its gate closed and settle it once it ended (waiting for the
        end, and a little for readings reaching it); its public record and trades."""
        agg, util = ops.market("aggregator"), ops.market("utility")
        record = agg.interval(iv)
        note = ""
        if record["status"] == "open":
            gate = parse_utc(record["gateClosure"], "gateClosure")
            if _now() < gate + SECOND:
                wait = (gate - _now()).total_seconds() + 1
                if wait > 2 * INTERVAL_SECONDS:
                    return self._report(ops, iv, traders, "gate closure not reached yet")
                self.say(f"  gate of {iv} closes at {record['gateClosure']}: waiting "
                         f"{wait:.0f} s to clear")
                time.sleep(max(0.0, wait))
            with contextlib.suppress(Done):
                once(lambda: agg.clear(iv))
            record = agg.interval(iv)
        if record["status"] in ("cleared", "settling"):
            end = parse_utc(record["end"], "end")
            if _now() < end + SECOND:
                self.say(f"  delivery in {iv} ends at {record['end']}: waiting "
                         f"{(end - _now()).total_seconds() + 1:.0f} s to settle")
                time.sleep(max(0.0, (end - _now()).total_seconds() + 1))
            if _now() < end + SECOND:
                return self._report(ops, iv, traders, "delivery not over yet: run `demo up` "
                                    "again, or `gridledger market settle`, to settle it")
            # Settlement waits for the readings that reach the interval's end: give the
            # bridge a few polls to submit them.
            deadline = time.monotonic() + 3 * self.reading_interval + 15
            while not self._readings_cover(ops, traders, record["end"]):
                if time.monotonic() > deadline:
                    return self._report(ops, iv, traders, "the meters' readings have not "
                                        "reached the interval's end yet: run `demo up` "
                                        "again, or `gridledger market settle`, to settle it")
                time.sleep(min(2.0, self.reading_interval))
            with contextlib.suppress(Done):
                once(lambda: util.settle(iv))
        return self._report(ops, iv, traders, note)

    def _report(self, ops: Operators, iv: str, traders: list[Trader], note: str
                ) -> dict[str, Any]:
        agg = ops.market("aggregator")
        record = agg.interval(iv)
        seller = next(t for t in traders if t.side == "sell")
        trades = [{"n": t["n"], "seller": t["seller"], "buyer": t["buyer"], "wh": t["wh"],
                   "price": _trade_price(t, record),
                   "deliveredWh": (t["settlement"] or {}).get("deliveredWh")}
                  for t in agg.trades_of(seller.pseudonym, iv)]
        out = {"intervalId": iv, "status": record["status"], "start": record["start"],
               "end": record["end"], "clearingPrice": record.get("clearingPrice"),
               "volumeWh": record.get("volumeWh", 0), "deliveredWh": record.get("deliveredWh"),
               "paid": record.get("paid"), "trades": trades}
        if note:
            out["note"] = note
        return out

    # -- the whole market demo ---------------------------------------------------------------

    def market(self) -> dict[str, Any]:
        """Set up the market and its traders, trade one interval (once), advance it."""
        state = self._state()
        if state.get("marketId") not in (None, MARKET_ID):
            state = {}
        units = {int(u): side for u, side in state.get("traders", {}).items()}
        if not units:
            seller, buyers = trading_units(self.meters)
            units = {seller: "sell", **{b: "buy" for b in buyers}}
        self.say(f"market {MARKET_ID} (Aggregator; {INTERVAL_SECONDS} s intervals, gate "
                 f"closure {GATE_SECONDS} s before each)")
        with operators(self.root, self.channel) as ops:
            ops.sync()  # the meters, accounts and bindings of this run on every peer
            agg = ops.market("aggregator")
            with contextlib.suppress(Done):
                once(lambda: agg.configure(MARKET_ID, INTERVAL_SECONDS, GATE_SECONDS,
                                            DEMO_TARIFF["tariffId"]))
            traders = self.ensure_traders(ops, units)
            state = {"marketId": MARKET_ID, "traders": {str(u): s for u, s in units.items()},
                     "intervals": state.get("intervals", [])}
            self._save_state(state)
            for iv in list(state["intervals"]):
                if not self._opened(ops, iv):
                    # An earlier run stopped before opening it: trade a fresh one instead.
                    state["intervals"].remove(iv)
            if not state["intervals"]:
                # The next minute whose gate closure leaves time to open and order.
                start = (_now() + (GATE_SECONDS + 20) * SECOND + INTERVAL_SECONDS * SECOND
                         ).replace(second=0, microsecond=0)
                iv = interval_id(MARKET_ID, start)
                state["intervals"].append(iv)
                self._save_state(state)  # before trading: a later run finishes it
                self.say(f"  interval {iv}: offer and bids placed before its gate closure")
                self._open_and_order(ops, iv, traders)
            reports = []
            for iv in state["intervals"]:
                report = self._advance(ops, iv, traders)
                self.say(f"  interval {iv}: {report['status']}, {len(report['trades'])} "
                         f"trade(s), {report['volumeWh']} Wh at {report['clearingPrice']}"
                         + (f", delivered {report['deliveredWh']} Wh"
                            if report["deliveredWh"] is not None else "")
                         + (f" ({report['note']})" if report.get("note") else ""))
                reports.append(report)
        return {"marketId": MARKET_ID, "intervalSeconds": INTERVAL_SECONDS,
                "traders": [{"customerId": t.customer_id, "pseudonym": t.pseudonym,
                             "side": t.side} for t in traders],
                "intervals": reports,
                "trades": sum(len(r["trades"]) for r in reports)}


class Done(Exception):
    """A step found done already (the chaincode's 409)."""


def once(call: Callable[[], Any]) -> Any:
    """``call()``; :class:`Done` when the chaincode answers that it is done already."""
    try:
        return call()
    except GatewayError as exc:
        if exists(exc):
            raise Done from None
        raise


def show(market: dict[str, Any]) -> list[str]:
    """Lines on the market demo for ``demo up``'s summary."""
    if "skipped" in market:
        return [f"market: skipped ({market['skipped']})"]
    lines = [f"market {market['marketId']}: {market['trades']} trade(s)"]
    for iv in market["intervals"]:
        lines.append(f"  {iv['intervalId']:22} {iv['status']:9} {len(iv['trades'])} trade(s),"
                     f" {iv['volumeWh']} Wh at {iv['clearingPrice']} VND/kWh"
                     + (f", delivered {iv['deliveredWh']} Wh"
                        if iv.get("deliveredWh") is not None else "")
                     + (f" ({iv['note']})" if iv.get("note") else ""))
        lines += [f"    {t['seller']} -> {t['buyer']}: {t['wh']} Wh at {t['price']}"
                  for t in iv["trades"]]
    return lines


def _trade_price(trade: dict[str, Any], record: dict[str, Any]) -> int:
    """What a trade costs per kWh: a bilateral trade's own price, else the auction's
    (uniform: the interval's clearing price; pay-as-bid: the bid's)."""
    if "price" in trade:
        return int(trade["price"])
    if record["marketType"] == "uniform":
        return int(record["clearingPrice"])
    return int(trade["bidPrice"])
