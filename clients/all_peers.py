"""Read-your-writes across organisations: wait until every organisation's peer has a block.

A Gateway waits for a commit on its own peer only, and the next step is often endorsed by
another organisation's peer, which may not have that block yet (its answer would then
differ, or miss the write). :class:`AllPeers` holds one gateway per organisation and waits
on each; :meth:`AllPeers.market` is the market binding with every commit waited for on
every peer (a clearing or settlement page builds on the one before).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

from fabric_protos.common import ledger_pb2

from .errors import ClientError
from .gateway import Commit, Gateway, Network
from .market import Market


class PeerBehindError(ClientError):
    """A peer stayed behind the others' block height for longer than allowed."""


@dataclasses.dataclass
class AllPeers:
    """One gateway per organisation (the consortium's three) on one channel."""

    utility: Gateway
    regulator: Gateway
    aggregator: Gateway
    channel: str = "energy"

    @property
    def gateways(self) -> tuple[Gateway, Gateway, Gateway]:
        return self.utility, self.regulator, self.aggregator

    def market(self, org: str) -> Market:
        """The market binding through ``org``'s gateway, each commit seen by every peer."""
        return SyncedMarket(getattr(self, org).network(self.channel), self)

    def wait_all(self, transaction_id: str) -> None:
        """Until every organisation's peer has committed the transaction."""
        for gw in self.gateways:
            gw.commit_status(self.channel, transaction_id)

    def height(self, gw: Gateway) -> int:
        """The block height of ``gw``'s peer (qscc GetChainInfo)."""
        info = ledger_pb2.BlockchainInfo()
        info.ParseFromString(gw.network(self.channel).contract("qscc").evaluate(
            "GetChainInfo", self.channel))
        return int(info.height)

    def sync(self, timeout: float = 30.0) -> None:
        """Until every peer is at the highest block height any of them reports."""
        target = max(self.height(gw) for gw in self.gateways)
        deadline = time.monotonic() + timeout
        for gw in self.gateways:
            while self.height(gw) < target:
                if time.monotonic() > deadline:
                    raise PeerBehindError(f"a peer stays behind block {target} for "
                                          f"{timeout:.0f} s: is every node running?")
                time.sleep(0.05)


class SyncedMarket(Market):
    """The market binding, each commit waited for on every organisation's peer."""

    def __init__(self, network: Network, peers: AllPeers) -> None:
        super().__init__(network)
        self.peers = peers

    def submit_async(self, fn: str, *args: str, at: dt.datetime | None = None,
                     endorsers: Any = None) -> Commit:
        commit = super().submit_async(fn, *args, at=at, endorsers=endorsers)
        peers, wait = self.peers, commit.wait

        def wait_everywhere(timeout: float | None = None) -> bytes:
            result = wait(timeout)
            peers.wait_all(commit.transaction_id)
            return result

        commit.wait = wait_everywhere  # type: ignore[method-assign]
        return commit
