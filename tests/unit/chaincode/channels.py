"""The consortium's two channels in memory: ``energy`` (chaincode metering: metering,
wattcoin, access, marketlink) and ``market`` (chaincode market), each its own
:class:`Ledger`, joined by a support.Network so that each side's chaincode reads the other
across channels as Fabric runs it (nothing of the call enters the caller's read/write set).

:class:`Channels` routes a call as the real clients address it: ``market:*`` to the market
channel, everything else to the energy channel; what a test inspects (state, private data,
metadata, events, snapshots) is both channels' together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from gridledger.chaincode.access import CONTRACTS as ACCESS
from gridledger.chaincode.health import CONTRACTS as HEALTH
from gridledger.chaincode.market import CONTRACTS as MARKET
from gridledger.chaincode.marketlink import CONTRACTS as MARKETLINK
from gridledger.chaincode.metering import CONTRACTS as METERING
from gridledger.chaincode.shim import ContractRouter
from gridledger.chaincode.wattcoin import CONTRACTS as WATTCOIN
from tests.unit.chaincode.metering.helpers import T0, Ledger, Result
from tests.unit.chaincode.support import Network

ENERGY, MARKET_CHANNEL = "energy", "market"
ENERGY_ROUTER = ContractRouter([c() for c in (*METERING, *WATTCOIN, *ACCESS, *MARKETLINK)])
MARKET_ROUTER = ContractRouter([c() for c in MARKET])
HEALTH_ROUTER = ContractRouter([c() for c in HEALTH])


def _on_market(function: str) -> bool:
    return function.startswith("market:")


class Channels:
    """Both channels' committed state; ``call``/``ok`` as a Ledger's, routed by contract."""

    def __init__(self, energy: Ledger, market: Ledger) -> None:
        self.energy, self.market = energy, market
        self.network = Network()
        for ledger, chaincode in ((energy, "metering"), (market, "market")):
            ledger.network = self.network
            self.network.add(ledger.channel, chaincode, ledger.router, ledger)

    @classmethod
    def make(cls, now: dt.datetime = T0, energy_router: ContractRouter = ENERGY_ROUTER,
             **kw: Any) -> Channels:
        """Fresh channels at ``now`` (the energy channel's key secret set, as bring-up
        does; ``kw``: more Ledger fields for both)."""
        energy = Ledger(now=now, router=energy_router, channel=ENERGY, **kw)
        market = Ledger(now=now, router=MARKET_ROUTER, channel=MARKET_CHANNEL,
                        key_secret=None, **kw)
        return cls(energy, market)

    def fork(self) -> Channels:
        """Independent copies of both channels' committed state."""
        def copy(led: Ledger, secret: bytes | None) -> Ledger:
            return Ledger(state=dict(led.state), private=dict(led.private),
                          metadata=dict(led.metadata), events=list(led.events), now=led.now,
                          count=led.count, router=led.router, key_secret=secret,
                          clock=led.clock, channel=led.channel)
        return Channels(copy(self.energy, self.energy.key_secret), copy(self.market, None))

    def of(self, function: str) -> Ledger:
        """The ledger (channel) a function runs on."""
        return self.market if _on_market(function) else self.energy

    def call(self, function: str, *args: str, **kw: Any) -> Result:
        return self.of(function).call(function, *args, **kw)

    def ok(self, function: str, *args: str, **kw: Any) -> Any:
        return self.of(function).ok(function, *args, **kw)

    # -- what tests inspect: both channels ------------------------------------------------

    @property
    def now(self) -> dt.datetime:
        return self.energy.now

    @now.setter
    def now(self, when: dt.datetime) -> None:
        self.energy.now = self.market.now = when

    @property
    def clock(self) -> dt.datetime | None:
        return self.energy.clock

    @clock.setter
    def clock(self, when: dt.datetime | None) -> None:
        self.energy.clock = self.market.clock = when

    @property
    def state(self) -> dict[str, bytes]:
        """Public state of both channels (a copy: write through a channel's ledger)."""
        return {**self.energy.state, **self.market.state}

    @property
    def private(self) -> dict[tuple[str, str], bytes]:
        return self.energy.private

    @property
    def metadata(self) -> dict[str, bytes]:
        return {**self.energy.metadata, **self.market.metadata}

    @property
    def events(self) -> list[tuple[str, Any]]:
        return [*self.energy.events, *self.market.events]

    @property
    def count(self) -> int:
        """The energy channel's transaction count (its next tx id is ``tx<count+1>``)."""
        return self.energy.count

    @property
    def key_secret(self) -> bytes | None:
        return self.energy.key_secret

    def snapshot(self) -> tuple[Any, Any]:
        return self.energy.snapshot(), self.market.snapshot()

    def stored(self, key: str) -> str:
        return self.energy.stored(key)

    def private_raw(self, key: str) -> bytes | None:
        return self.energy.private_raw(key)

    def private_json(self, key: str) -> Any:
        return self.energy.private_json(key)


def public_writes(result: Result) -> Sequence[str]:
    """The public keys a transaction wrote."""
    return sorted(result.stub.state)


__all__ = ["ENERGY", "ENERGY_ROUTER", "HEALTH_ROUTER", "MARKET_CHANNEL", "MARKET_ROUTER",
           "Channels", "public_writes"]
