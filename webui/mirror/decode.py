"""Blocks into rows: a block's header, each envelope, and the keys VALID transactions wrote.

Pure functions of a decoded block (:class:`gridledger.clients.blocks.Block`) and the
private writes the peer delivered with it, so the listener, the ledger check and repair
derive exactly the same rows from the same block.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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

from gridledger.clients.blocks import Block, BlockTransaction, iso
from gridledger.clients.events import PrivateWrite

SALT = "salt"  # the member every private value carries to protect its hash
# The member naming a private value's logical key: the chaincode stores private keys under
# keyed names nobody outside the collection can compute (chaincode/common/overlay.py).
KEY = "key"
MAX_TEXT = 64 * 1024  # longer public arguments and payloads are cut, and say so


@dataclass
class DecodedBlock:
    """The rows one block gives, before indexing and sealing."""

    block: dict[str, Any]
    transactions: list[dict[str, Any]] = field(default_factory=list)
    writes: list[dict[str, Any]] = field(default_factory=list)


def text_of(raw: bytes, limit: int = MAX_TEXT) -> str:
    """Bytes as text: UTF-8 when they are, else ``base64:...``; cut beyond ``limit``."""
    try:
        out = raw.decode("utf-8")
    except UnicodeDecodeError:
        out = "base64:" + base64.b64encode(raw).decode("ascii")
    if len(out) > limit:
        out = out[:limit] + f"... [{len(out) - limit} more characters]"
    return out


def value_text(raw: bytes, private: bool) -> str:
    """A written value as the mirror keeps it: a private JSON object without its salt."""
    if private:
        try:
            obj = json.loads(raw)
        except ValueError:
            return text_of(raw, limit=10**9)
        if isinstance(obj, dict):
            obj.pop(SALT, None)
            obj.pop(KEY, None)
        return json.dumps(obj, separators=(",", ":"), sort_keys=True)
    return text_of(raw, limit=10**9)


def logical_key(stored: str, raw: bytes | None) -> str:
    """The key a private write is known by: the logical key its value names (the stored
    name is keyed), or the stored name when the value names none."""
    try:
        obj = json.loads(raw) if raw else None
    except ValueError:
        return stored
    named = obj.get(KEY) if isinstance(obj, dict) else None
    return named if isinstance(named, str) else stored


def kind_of(key: str) -> str:
    """A key's record kind: the part before the first ``~`` (the chaincode key layout)."""
    return key.split("~", 1)[0][:40]


def _creator(signature_header: bytes) -> tuple[str, str]:
    try:
        sh = common_pb2.SignatureHeader.FromString(signature_header)
        ident = identities_pb2.SerializedIdentity.FromString(sh.creator)
    except Exception:
        return "", ""
    return ident.mspid, _common_name(ident.id_bytes)


def _common_name(pem: bytes) -> str:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return ""
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else ""


@dataclass
class _Action:
    chaincode: str = ""
    function: str = ""
    args: list[str] = field(default_factory=list)
    endorsers: list[str] = field(default_factory=list)
    status: int = 0
    message: str = ""
    payload: str = ""
    event_name: str = ""
    event_payload: str = ""
    public_writes: list[tuple[str, str, bytes, bool]] = field(default_factory=list)


def _endorser_msp(endorsement: Any) -> str:
    try:
        return identities_pb2.SerializedIdentity.FromString(endorsement.endorser).mspid
    except Exception:
        return ""


def _action(payload: common_pb2.Payload) -> _Action:
    """The first chaincode action of an endorser transaction."""
    out = _Action()
    tx = transaction_pb2.Transaction.FromString(payload.data)
    if not tx.actions:
        return out
    cap = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    ccpp = proposal_pb2.ChaincodeProposalPayload.FromString(cap.chaincode_proposal_payload)
    cis = chaincode_pb2.ChaincodeInvocationSpec.FromString(ccpp.input)
    args = list(cis.chaincode_spec.input.args)
    out.chaincode = cis.chaincode_spec.chaincode_id.name
    if args:
        out.function = text_of(args[0], 150)
        out.args = [text_of(a) for a in args[1:]]
    out.endorsers = sorted({_endorser_msp(e) for e in cap.action.endorsements} - {""})
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(
        cap.action.proposal_response_payload)
    cca = proposal_pb2.ChaincodeAction.FromString(prp.extension)
    out.chaincode = cca.chaincode_id.name or out.chaincode
    out.status = cca.response.status
    out.message = text_of(cca.response.message.encode("utf-8"))
    out.payload = text_of(cca.response.payload)
    if cca.events:
        ev = chaincode_event_pb2.ChaincodeEvent.FromString(cca.events)
        out.event_name, out.event_payload = ev.event_name, text_of(ev.payload)
    if cca.results:
        txrw = rwset_pb2.TxReadWriteSet.FromString(cca.results)
        for ns in txrw.ns_rwset:
            kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
            out.public_writes += [(ns.namespace, w.key, bytes(w.value), bool(w.is_delete))
                                  for w in kv.writes]
    return out


def _refused(function: str, payload: str) -> int:
    if not function.endswith("SubmitReadings"):
        return 0
    try:
        return int(json.loads(payload).get("refused", 0))
    except (ValueError, AttributeError, TypeError):
        return 0


def mirrored(namespace: str, namespaces: Sequence[str] | None) -> bool:
    """Whether writes of ``namespace`` are mirrored: the chaincodes asked for (any
    application chaincode when none were named), never Fabric's system namespaces."""
    if namespace.startswith("_") or namespace in ("lscc", "qscc", "cscc"):
        return False
    return namespaces is None or namespace in namespaces


def channel_of(block: Block) -> str:
    """The channel a block is of, from its first envelope's channel header."""
    return block.transactions[0].channel if block.transactions else ""


def decode(block: Block, private_writes: Iterable[PrivateWrite] = (),
           namespaces: Sequence[str] | None = None, channel: str | None = None
           ) -> DecodedBlock:
    """The rows of ``block``: its header, every transaction, the writes of VALID ones,
    each under ``channel`` (default: the channel the block names), the channel the
    listener that fetched it follows."""
    private = list(private_writes)
    channel = channel or channel_of(block)
    txs: list[dict[str, Any]] = []
    writes: list[dict[str, Any]] = []
    raw_data = block.raw.data.data
    for tx in block.transactions:
        action = _Action()
        if tx.type == "ENDORSER_TRANSACTION":
            try:
                env = common_pb2.Envelope.FromString(raw_data[tx.index])
                payload = common_pb2.Payload.FromString(env.payload)
                action = _action(payload)
                msp, name = _creator(payload.header.signature_header)
            except Exception:
                msp, name = tx.creator_msp_id, ""
        else:
            msp, name = tx.creator_msp_id, _config_creator(raw_data, tx)
        txs.append(_tx_row(channel, block.number, tx, action, msp, name))
        if tx.validation_code != "VALID":
            continue
        seq = 0
        for ns, key, value, deleted in action.public_writes:
            if mirrored(ns, namespaces):
                writes.append(_write(channel, block.number, tx.index, seq, ns, "", key, value,
                                     deleted))
                seq += 1
        for w in private:
            if w.tx_index == tx.index and mirrored(w.namespace, namespaces):
                writes.append(_write(channel, block.number, tx.index, seq, w.namespace,
                                     w.collection, logical_key(w.key, w.value), w.value,
                                     w.is_delete))
                seq += 1
    first = next((t["timestamp"] for t in txs if t["timestamp"]), "")
    head = {"channel": channel, "number": block.number,
            "data_hash": block.data_hash.hex(), "previous_hash": block.previous_hash.hex(),
            "header_hash": block.header_hash.hex(), "tx_count": len(txs),
            "write_count": len(writes), "timestamp": first}
    return DecodedBlock(head, txs, writes)


def _config_creator(raw_data: Sequence[bytes], tx: BlockTransaction) -> str:
    try:
        env = common_pb2.Envelope.FromString(raw_data[tx.index])
        payload = common_pb2.Payload.FromString(env.payload)
        return _creator(payload.header.signature_header)[1]
    except Exception:
        return ""


def _tx_row(channel: str, number: int, tx: BlockTransaction, action: _Action, msp: str,
            name: str) -> dict[str, Any]:
    return {"channel": channel, "block_number": number, "tx_index": tx.index,
            "tx_id": tx.transaction_id,
            "type": tx.type, "timestamp": iso(tx.timestamp), "creator_msp": msp,
            "creator_name": name, "validation_code": tx.validation_code,
            "chaincode": action.chaincode, "function": action.function,
            "args": json.dumps(action.args), "endorsers": json.dumps(action.endorsers),
            "response_status": action.status, "response_message": action.message,
            "response_payload": action.payload, "event_name": action.event_name,
            "event_payload": action.event_payload,
            "refused": _refused(action.function, action.payload)}


def _write(channel: str, number: int, index: int, seq: int, ns: str, collection: str,
           key: str, value: bytes, deleted: bool) -> dict[str, Any]:
    return {"channel": channel, "block_number": number, "tx_index": index, "seq": seq,
            "namespace": ns,
            "collection": collection, "key": key, "kind": kind_of(key),
            "value": None if deleted else value_text(value, bool(collection))}
