"""Chaincode events through the Gateway, and blocks through the peer's Deliver service.

Blocks come full, filtered, or with private data (``BlockEvents(..., private_data=True)``:
the peer's ``DeliverWithPrivateData``, which adds to each block the private write sets of
the collections the caller's organisation belongs to; a non-member gets none).

Events can be resumed after a restart from a checkpoint (block number and the last
transaction handled in it): nothing is missed and nothing handled is delivered again,
provided the caller checkpoints each event once it has handled it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import events_pb2, events_pb2_grpc
from google.protobuf import timestamp_pb2

from .blocks import Block, FilteredBlock, decode_block, decode_filtered_block
from .errors import ArgumentError, ChaincodeEventsError, DeliverError
from .proposal import NONCE_LENGTH, SignableRequest, transaction_id

if TYPE_CHECKING:
    from .gateway import Network


@dataclass(frozen=True)
class ChaincodeEvent:
    block_number: int
    transaction_id: str
    chaincode: str
    name: str
    payload: bytes

    def json(self) -> object:
        return json.loads(self.payload)


class Checkpoint:
    """Where to resume: the next block to read, and the last transaction handled in it.

    In memory; ``FileCheckpoint`` keeps it on disk.
    """

    def __init__(self, block_number: int | None = None, transaction_id: str = "") -> None:
        self.block_number = block_number
        self.transaction_id = transaction_id

    def checkpoint_event(self, event: ChaincodeEvent) -> None:
        """Record that ``event`` (and everything before it) has been handled."""
        self._set(event.block_number, event.transaction_id)

    def checkpoint_block(self, block_number: int) -> None:
        """Record that the whole of block ``block_number`` has been handled."""
        self._set(block_number + 1, "")

    def _set(self, block: int, txid: str) -> None:
        self.block_number, self.transaction_id = block, txid


class FileCheckpoint(Checkpoint):
    """A checkpoint kept in a JSON file, replaced atomically and synced at each update."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        block, txid = None, ""
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                block, txid = data.get("blockNumber"), data.get("transactionId", "")
            except (ValueError, AttributeError) as exc:
                raise ArgumentError(
                    f"checkpoint file {self.path} is not valid ({exc}); move it aside to "
                    "start from the newest block"
                ) from None
        super().__init__(block, txid)

    def _set(self, block: int, txid: str) -> None:
        super()._set(block, txid)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump({"blockNumber": block, "transactionId": txid}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def _seek_position(start_block: int | None, deliver: bool = False) -> ab_pb2.SeekPosition:
    if start_block is None:
        # The Gateway's event service takes "next commit" only; Deliver takes "newest".
        if deliver:
            return ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
        return ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
    if start_block < 0:
        raise ArgumentError(f"start block must be >= 0, got {start_block}")
    return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))


class ChaincodeEvents:
    """An iterator over one chaincode's events, from a block or a checkpoint onwards.

    With a ``checkpoint`` that has a position, reading resumes there, after its
    transaction; otherwise from ``start_block``, or from the next block to commit.
    ``close()`` (or leaving a ``with`` block) ends the stream; ``timeout`` bounds its
    whole life (then ChaincodeEventsError with DEADLINE_EXCEEDED).
    """

    def __init__(
        self,
        network: Network,
        chaincode: str,
        *,
        start_block: int | None = None,
        checkpoint: Checkpoint | None = None,
        timeout: float | None = None,
    ) -> None:
        gw = network.gateway
        after_txid = ""
        if checkpoint is not None and checkpoint.block_number is not None:
            start_block, after_txid = checkpoint.block_number, checkpoint.transaction_id
        request = SignableRequest(
            gateway_pb2.ChaincodeEventsRequest(
                channel_id=network.name,
                chaincode_id=chaincode,
                identity=gw.creator,
                start_position=_seek_position(start_block),
                after_transaction_id=after_txid,
            ).SerializeToString()
        )
        signed = request.signed(gw.sign(request.bytes))
        self.chaincode = chaincode
        self._call = gw.stub.ChaincodeEvents(
            gateway_pb2.SignedChaincodeEventsRequest(
                request=signed.bytes, signature=signed.signature
            ),
            timeout=timeout,
        )

    def __iter__(self) -> Iterator[ChaincodeEvent]:
        try:
            for response in self._call:
                for ev in response.events:
                    yield ChaincodeEvent(
                        response.block_number, ev.tx_id, ev.chaincode_id, ev.event_name,
                        ev.payload,
                    )  # fmt: skip
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.CANCELLED:
                return
            raise ChaincodeEventsError.from_rpc_error(err) from None

    def close(self) -> None:
        self._call.cancel()

    def __enter__(self) -> ChaincodeEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class PrivateWrite:
    """One key written to a private data collection by one transaction of a block.

    ``value`` is the bytes as written (for GridLedger's collections, canonical JSON with
    a ``salt`` member); empty when ``is_delete``.
    """

    tx_index: int
    namespace: str
    collection: str
    key: str
    value: bytes
    is_delete: bool = False


@dataclass(frozen=True)
class BlockWithPrivateData:
    """A block and the private writes its transactions made, as far as the caller's
    organisation may hold them (none for a non-member of every collection)."""

    block: Block
    private_writes: tuple[PrivateWrite, ...]

    @property
    def number(self) -> int:
        return self.block.number

    def writes_of(self, tx_index: int) -> tuple[PrivateWrite, ...]:
        """The private writes of the transaction at ``tx_index`` in the block."""
        return tuple(w for w in self.private_writes if w.tx_index == tx_index)


def decode_private_data(
    private_data_map: Mapping[int, rwset_pb2.TxPvtReadWriteSet],
) -> tuple[PrivateWrite, ...]:
    """The private writes of ``BlockAndPrivateData.private_data_map`` (tx index -> set),
    in transaction, namespace, collection and write order."""
    out: list[PrivateWrite] = []
    for tx_index in sorted(private_data_map):
        tx_set = private_data_map[tx_index]
        for ns in tx_set.ns_pvt_rwset:
            for coll in ns.collection_pvt_rwset:
                kv = kv_rwset_pb2.KVRWSet.FromString(coll.rwset)
                out += [PrivateWrite(int(tx_index), ns.namespace, coll.collection_name, w.key,
                                     bytes(w.value), bool(w.is_delete)) for w in kv.writes]
    return tuple(out)


def decode_block_and_private_data(
    message: events_pb2.BlockAndPrivateData,
) -> BlockWithPrivateData:
    return BlockWithPrivateData(decode_block(message.block),
                                decode_private_data(message.private_data_map))


class BlockEvents:
    """Blocks of a channel from the peer's Deliver service: full, filtered, or full with
    private data (``private_data=True``; yields :class:`BlockWithPrivateData`).

    ``start_block`` None means the next block to commit; ``stop_block`` None means
    keep waiting for new blocks. Every form needs an identity the channel's Readers
    policy admits (in GridLedger: an organisation's operators, never its clients).
    """

    def __init__(
        self,
        network: Network,
        *,
        start_block: int | None = None,
        stop_block: int | None = None,
        filtered: bool = False,
        private_data: bool = False,
        timeout: float | None = None,
    ) -> None:
        if filtered and private_data:
            raise ArgumentError("a filtered block carries no private data: pick one")
        gw = network.gateway
        stop = (
            ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=stop_block))
            if stop_block is not None
            else ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=2**63 - 1))
        )
        seek = ab_pb2.SeekInfo(
            start=_seek_position(start_block, deliver=True),
            stop=stop,
            behavior=ab_pb2.SeekInfo.BLOCK_UNTIL_READY,
        )
        nonce = os.urandom(NONCE_LENGTH)
        ts = timestamp_pb2.Timestamp()
        ts.GetCurrentTime()
        header = common_pb2.Header(
            channel_header=common_pb2.ChannelHeader(
                type=common_pb2.DELIVER_SEEK_INFO, channel_id=network.name,
                tx_id=transaction_id(nonce, gw.creator), timestamp=ts,
            ).SerializeToString(),
            signature_header=common_pb2.SignatureHeader(
                creator=gw.creator, nonce=nonce
            ).SerializeToString(),
        )  # fmt: skip
        payload = common_pb2.Payload(
            header=header, data=seek.SerializeToString()
        ).SerializeToString()
        envelope = common_pb2.Envelope(payload=payload, signature=gw.sign(payload))
        stub = events_pb2_grpc.DeliverStub(gw.channel)
        self.filtered = filtered
        self.private_data = private_data
        method = (stub.DeliverFiltered if filtered
                  else stub.DeliverWithPrivateData if private_data else stub.Deliver)
        self._call = method(iter([envelope]), timeout=timeout)

    def __iter__(self) -> Iterator[Block | FilteredBlock | BlockWithPrivateData]:
        try:
            for response in self._call:
                kind = response.WhichOneof("Type")
                if kind == "block":
                    yield decode_block(response.block)
                elif kind == "filtered_block":
                    yield decode_filtered_block(response.filtered_block)
                elif kind == "block_and_private_data":
                    yield decode_block_and_private_data(response.block_and_private_data)
                elif kind == "status":
                    if response.status == common_pb2.SUCCESS:
                        return
                    raise DeliverError(
                        f"the peer refused the block request: "
                        f"{common_pb2.Status.Name(response.status)}"
                    )
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.CANCELLED:
                return
            raise DeliverError(f"block stream failed: {err.code().name}: {err.details()}") from None

    def close(self) -> None:
        self._call.cancel()

    def __enter__(self) -> BlockEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BlockEvents", "BlockWithPrivateData", "ChaincodeEvent", "ChaincodeEvents",
           "Checkpoint", "FileCheckpoint", "PrivateWrite", "decode_private_data"]
