"""Real Fabric protobuf blocks for mirror tests, built in memory.

A :class:`ChainBuilder` makes a chain of blocks whose header hashes link and whose data
hashes are right, with endorser transactions that carry a chaincode function, public
writes, a response and an event, and private writes delivered beside the block (as
``DeliverWithPrivateData`` does), so the mirror's decoding runs on the same bytes a peer
sends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import timestamp_pb2

from gridledger.clients.blocks import data_hash, decode_block, header_hash
from gridledger.clients.events import BlockWithPrivateData, PrivateWrite

COLLECTION = "customerData"


def _cert(cn: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


_CERTS: dict[str, bytes] = {}


def creator(msp: str, cn: str) -> bytes:
    if cn not in _CERTS:
        _CERTS[cn] = _cert(cn)
    return identities_pb2.SerializedIdentity(mspid=msp, id_bytes=_CERTS[cn]).SerializeToString()


@dataclass
class Tx:
    """One endorser transaction to put in a block."""

    function: str
    args: list[str] = field(default_factory=list)
    writes: dict[str, Any] = field(default_factory=dict)          # public key -> value
    private: dict[str, Any] = field(default_factory=dict)         # private key -> value
    response: Any = None
    event: tuple[str, Any] | None = None
    valid: bool = True
    chaincode: str = "metering"
    msp: str = "UtilityMSP"
    cn: str = "Admin"
    when: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC))


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def salted(value: dict[str, Any]) -> bytes:
    return _bytes({**value, "salt": os.urandom(8).hex()})


def envelope(tx: Tx, channel: str = "energy") -> tuple[bytes, str]:
    nonce = os.urandom(24)
    who = creator(tx.msp, tx.cn)
    txid = hashlib.sha256(nonce + who).hexdigest()
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(tx.when)
    ch = common_pb2.ChannelHeader(type=common_pb2.ENDORSER_TRANSACTION, channel_id=channel,
                                  tx_id=txid, timestamp=ts)
    sh = common_pb2.SignatureHeader(creator=who, nonce=nonce)
    header = common_pb2.Header(channel_header=ch.SerializeToString(),
                               signature_header=sh.SerializeToString())
    spec = chaincode_pb2.ChaincodeInvocationSpec(chaincode_spec=chaincode_pb2.ChaincodeSpec(
        chaincode_id=chaincode_pb2.ChaincodeID(name=tx.chaincode),
        input=chaincode_pb2.ChaincodeInput(args=[a.encode() for a in [tx.function, *tx.args]])))
    ccpp = proposal_pb2.ChaincodeProposalPayload(input=spec.SerializeToString())
    kv = kv_rwset_pb2.KVRWSet(writes=[kv_rwset_pb2.KVWrite(key=k, value=_bytes(v))
                                      for k, v in tx.writes.items()])
    results = rwset_pb2.TxReadWriteSet(ns_rwset=[rwset_pb2.NsReadWriteSet(
        namespace=tx.chaincode, rwset=kv.SerializeToString())])
    action = proposal_pb2.ChaincodeAction(
        results=results.SerializeToString(),
        response=proposal_response_pb2.Response(
            status=200, payload=b"" if tx.response is None else _bytes(tx.response)),
        chaincode_id=chaincode_pb2.ChaincodeID(name=tx.chaincode))
    if tx.event:
        action.events = chaincode_event_pb2.ChaincodeEvent(
            chaincode_id=tx.chaincode, tx_id=txid, event_name=tx.event[0],
            payload=_bytes(tx.event[1])).SerializeToString()
    prp = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    cap = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=ccpp.SerializeToString(),
        action=transaction_pb2.ChaincodeEndorsedAction(
            proposal_response_payload=prp.SerializeToString(),
            endorsements=[proposal_response_pb2.Endorsement(endorser=creator(m, "peer0"))
                          for m in ("UtilityMSP", "RegulatorMSP")]))
    transaction = transaction_pb2.Transaction(actions=[transaction_pb2.TransactionAction(
        header=sh.SerializeToString(), payload=cap.SerializeToString())])
    payload = common_pb2.Payload(header=header, data=transaction.SerializeToString())
    return common_pb2.Envelope(payload=payload.SerializeToString(),
                               signature=b"sig").SerializeToString(), txid


class ChainBuilder:
    """Makes consecutive blocks of one channel, each linked to the one before."""

    def __init__(self, channel: str = "energy") -> None:
        self.channel = channel
        self.blocks: list[BlockWithPrivateData] = []
        self._prev = b""
        self.txids: list[list[str]] = []

    def add(self, *txs: Tx) -> BlockWithPrivateData:
        number = len(self.blocks)
        data, ids, private = [], [], []
        for i, tx in enumerate(txs):
            raw, txid = envelope(tx, self.channel)
            data.append(raw)
            ids.append(txid)
            if tx.valid:
                private += [PrivateWrite(i, tx.chaincode, COLLECTION, k, salted(v))
                            for k, v in tx.private.items()]
        block = common_pb2.Block(
            header=common_pb2.BlockHeader(number=number, previous_hash=self._prev,
                                          data_hash=data_hash(data)),
            data=common_pb2.BlockData(data=data))
        flags = bytes(0 if tx.valid else 11 for tx in txs)  # 11: MVCC_READ_CONFLICT
        metadata = [b""] * 5
        metadata[common_pb2.TRANSACTIONS_FILTER] = flags
        block.metadata.metadata.extend(metadata)
        self._prev = header_hash(number, self._prev, block.header.data_hash)
        item = BlockWithPrivateData(decode_block(block), tuple(private))
        self.blocks.append(item)
        self.txids.append(ids)
        return item


class FakeSource:
    """A LedgerSource over a ChainBuilder's blocks (the "ledger" of unit tests): one
    channel, the chain's."""

    def __init__(self, chain: ChainBuilder, meter_chains: dict[str, Any] | None = None):
        self.chain = chain
        self.channel = chain.channel
        self.meter_chains = meter_chains or {}
        self.closed = 0
        self.down = False

    def blocks(self, start: int, stop: int | None = None) -> Iterator[BlockWithPrivateData]:
        if self.down:
            raise OSError("peer unreachable")
        last = len(self.chain.blocks) - 1 if stop is None else min(stop,
                                                                    len(self.chain.blocks) - 1)
        yield from self.chain.blocks[start:last + 1]

    def height(self) -> int:
        if self.down:
            raise OSError("peer unreachable")
        return len(self.chain.blocks)

    def verify_meter_chain(self, meter_id: str) -> dict[str, Any]:
        return self.meter_chains.get(meter_id, {"ok": True, "seq": 0})

    def close(self) -> None:
        self.closed += 1
