"""Where the mirror reads the ledger: the organisation's own peer, as an operator.

Block access needs an identity the channel's Readers admit (an organisation's admin,
never a client), so a portal's listener runs as its organisation's ``Admin`` (or another
admin-role identity). Blocks come from ``DeliverWithPrivateData``: each block with the
private writes of the collections the organisation belongs to (the Aggregator's peer
delivers none: it holds none).

:class:`LedgerSource` is the protocol the listener, the integrity check and repair use;
:class:`PeerSource` implements it on a Gateway connection; tests feed their own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from fabric_protos.common import ledger_pb2

from gridledger.clients.events import BlockEvents, BlockWithPrivateData
from gridledger.clients.gateway import Gateway


class LedgerSource(Protocol):
    """What the mirror needs of one channel of the ledger."""

    channel: str  # the channel whose blocks :meth:`blocks` delivers

    def blocks(self, start: int, stop: int | None = None) -> Iterator[BlockWithPrivateData]:
        """Blocks ``start``..``stop`` (None: follow new blocks until closed)."""
        ...

    def height(self) -> int:
        """The ledger's height: the number of the next block to commit."""
        ...

    def verify_meter_chain(self, meter_id: str) -> dict[str, Any]:
        """metering's VerifyMeterChain for one meter (members of customerData only)."""
        ...

    def close(self) -> None: ...


class PeerSource:
    """A :class:`LedgerSource` over one peer's Gateway and Deliver services, for one
    channel (a portal makes one per channel it mirrors)."""

    def __init__(self, connect: Callable[[], Gateway], channel: str,
                 chaincode: str = "metering") -> None:
        self._connect = connect
        self.channel = channel
        self.chaincode = chaincode
        self._gateway: Gateway | None = None
        self._streams: set[BlockEvents] = set()
        self._lock = threading.Lock()

    @property
    def gateway(self) -> Gateway:
        with self._lock:
            if self._gateway is None:
                self._gateway = self._connect()
            return self._gateway

    def blocks(self, start: int, stop: int | None = None) -> Iterator[BlockWithPrivateData]:
        network = self.gateway.network(self.channel)
        stream = network.block_events(start_block=start, stop_block=stop, private_data=True,
                                      timeout=None if stop is None else 120)
        with self._lock:
            self._streams.add(stream)
        try:
            for item in stream:
                assert isinstance(item, BlockWithPrivateData)
                yield item
        finally:
            stream.close()
            with self._lock:
                self._streams.discard(stream)

    def height(self) -> int:
        raw = self.gateway.network(self.channel).contract("qscc").evaluate(
            "GetChainInfo", self.channel)
        return int(ledger_pb2.BlockchainInfo.FromString(raw).height)

    def verify_meter_chain(self, meter_id: str) -> dict[str, Any]:
        raw = self.gateway.network(self.channel).contract(self.chaincode, "metering") \
            .evaluate("VerifyMeterChain", meter_id)
        return json.loads(raw)

    def close(self) -> None:
        """End every open stream and the connection (a new call reconnects)."""
        with self._lock:
            streams, self._streams = list(self._streams), set()
            gateway, self._gateway = self._gateway, None
        for stream in streams:
            stream.close()
        if gateway is not None:
            gateway.close()
