"""Decoding blocks: header hashes, transactions and their validation codes.

Also the two hash checks that expose tampering with a stored block: the data hash over
the block's transactions, and the header hash the next block names as its previous.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import events_pb2, transaction_pb2

from .errors import validation_code_name


@dataclass(frozen=True)
class BlockTransaction:
    """One envelope of a block."""

    index: int
    transaction_id: str
    type: str  # ENDORSER_TRANSACTION, CONFIG, ...
    channel: str
    timestamp: datetime | None
    creator_msp_id: str
    validation_code: str


@dataclass(frozen=True)
class Block:
    number: int
    previous_hash: bytes
    data_hash: bytes
    transactions: tuple[BlockTransaction, ...]
    raw: common_pb2.Block

    @property
    def header_hash(self) -> bytes:
        """The hash the next block must carry as its previous hash."""
        return header_hash(self.number, self.previous_hash, self.data_hash)

    @property
    def data_hash_matches(self) -> bool:
        """Whether the transactions stored in this block are the ones its header names."""
        return data_hash(self.raw.data.data) == self.data_hash


@dataclass(frozen=True)
class FilteredTransaction:
    transaction_id: str
    type: str
    validation_code: str


@dataclass(frozen=True)
class FilteredBlock:
    number: int
    channel: str
    transactions: tuple[FilteredTransaction, ...]


def data_hash(data: list[bytes] | tuple[bytes, ...]) -> bytes:
    """SHA-256 over the concatenated envelopes, as Fabric computes BlockHeader.data_hash."""
    h = hashlib.sha256()
    for item in data:
        h.update(item)
    return h.digest()


def _der_int(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=False)
    return b"\x02" + _der_len(len(body)) + body


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_octets(b: bytes) -> bytes:
    return b"\x04" + _der_len(len(b)) + b


def header_hash(number: int, previous_hash: bytes, data_hash_: bytes) -> bytes:
    """SHA-256 of the ASN.1 DER SEQUENCE {number, previous_hash, data_hash}, as Fabric does."""
    body = _der_int(number) + _der_octets(previous_hash) + _der_octets(data_hash_)
    return hashlib.sha256(b"\x30" + _der_len(len(body)) + body).digest()


def _creator_msp(signature_header: bytes) -> str:
    try:
        sh = common_pb2.SignatureHeader.FromString(signature_header)
        return identities_pb2.SerializedIdentity.FromString(sh.creator).mspid
    except Exception:
        return ""


def _header_type(value: int) -> str:
    try:
        return common_pb2.HeaderType.Name(value)
    except ValueError:
        return str(value)


def decode_block(block: common_pb2.Block) -> Block:
    """Decode a block's header and each transaction with its validation code."""
    flags = b""
    if len(block.metadata.metadata) > common_pb2.TRANSACTIONS_FILTER:
        flags = block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
    txs = []
    for i, raw in enumerate(block.data.data):
        txid, kind, channel, ts, msp = "", "UNKNOWN", "", None, ""
        try:
            env = common_pb2.Envelope.FromString(raw)
            payload = common_pb2.Payload.FromString(env.payload)
            ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
            txid, channel = ch.tx_id, ch.channel_id
            kind = _header_type(ch.type)
            if ch.HasField("timestamp"):
                ts = ch.timestamp.ToDatetime(tzinfo=UTC)
            msp = _creator_msp(payload.header.signature_header)
        except Exception:
            kind = "UNDECODABLE"
        code = validation_code_name(flags[i]) if i < len(flags) else "NOT_VALIDATED"
        txs.append(BlockTransaction(i, txid, kind, channel, ts, msp, code))
    return Block(
        block.header.number, block.header.previous_hash, block.header.data_hash, tuple(txs), block
    )


def decode_filtered_block(block: events_pb2.FilteredBlock) -> FilteredBlock:
    return FilteredBlock(
        block.number,
        block.channel_id,
        tuple(
            FilteredTransaction(
                t.txid,
                _header_type(t.type),
                transaction_pb2.TxValidationCode.Name(t.tx_validation_code),
            )
            for t in block.filtered_transactions
        ),
    )


def iso(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else ""


__all__ = ["Block", "BlockTransaction", "FilteredBlock", "data_hash", "decode_block",
           "header_hash", "iso"]
