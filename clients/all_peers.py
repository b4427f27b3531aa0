"""Read-your-writes across organisations: wait until every organisation's peer has a block.

A Gateway waits for a commit on its own peer only, and the next step is often endorsed by
another organisation's peer, which may not have that block yet (its answer would then
differ, or miss the write). :class:`AllPeers` holds one gateway per organisation and waits
on each; :meth:`AllPeers.market` is the market binding with every commit waited for on
every peer (a clearing or settlement page builds on the one before).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from fabric_protos.common import ledger_pb2

from .errors import ClientError
from .gateway import Commit, Gateway
from .market import Market


class PeerBehindError(ClientError):
    """A peer stayed behind the others' block height for longer than allowed."""


@dataclasses.dataclass
class AllPeers:
    """One gateway per organisation (the consortium's three), on the energy channel and
    the market channel."""

    utility: Gateway
    regulator: Gateway
    aggregator: Gateway
    channel: str = "energy"
    market_channel: str = "market"

    @property
    def gateways(self) -> tuple[Gateway, Gateway, Gateway]:
        return self.utility, self.regulator, self.aggregator

    def market(self, org: str) -> Market:
        """The market binding through ``org``'s gateway, each commit seen by every peer."""
        return SyncedMarket(getattr(self, org), self)

    def wait_all(self, transaction_id: str, channel: str | None = None) -> None:
        """Until every organisation's peer has committed the transaction."""
        for gw in self.gateways:
            gw.commit_status(channel or self.channel, transaction_id)

    def height(self, gw: Gateway, channel: str | None = None) -> int:
        """The block height of ``gw``'s peer on a channel (qscc GetChainInfo)."""
        channel = channel or self.channel
        info = ledger_pb2.BlockchainInfo()
        info.ParseFromString(gw.network(channel).contract("qscc").evaluate(
            "GetChainInfo", channel))
        return int(info.height)

    def sync(self, timeout: float = 30.0) -> None:
        """Until every peer is at the highest block height any of them reports, on both
        channels."""
        deadline = time.monotonic() + timeout
        for channel in (self.channel, self.market_channel):
            target = max(self.height(gw, channel) for gw in self.gateways)
            for gw in self.gateways:
                while self.height(gw, channel) < target:
                    if time.monotonic() > deadline:
                        raise PeerBehindError(f"a peer stays behind block {target} of "
                                              f"{channel} for {timeout:.0f} s: is every "
                                              "node running?")
                    time.sleep(0.05)


class SyncedMarket(Market):
    """The market binding, each commit waited for on every organisation's peer."""

    def __init__(self, gateway: Gateway, peers: AllPeers) -> None:
        super().__init__(gateway, energy_channel=peers.channel,
                         market_channel=peers.market_channel)
        self.peers = peers

    def _send(self, contract: Any, fn: str, args: tuple[str, ...], **kw: Any) -> Commit:
        commit = super()._send(contract, fn, args, **kw)
        peers, wait, channel = self.peers, commit.wait, contract.network.name

        def wait_everywhere(timeout: float | None = None) -> bytes:
            result = wait(timeout)
            peers.wait_all(commit.transaction_id, channel)
            return result

        commit.wait = wait_everywhere  # type: ignore[method-assign]
        return commit
