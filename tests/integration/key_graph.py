"""The attacker's view of a channel: which transactions touched which keys.

An organisation outside a private data collection still receives, in every block, the
SHA-256 of each private key a transaction read or wrote (and the version it read). Equal
hashes in two transactions say they touched the same private record, whatever its name.
This module turns envelopes into that graph, as a member reading its own blocks would,
so a test can follow it from a pseudonym to whatever names a person or a meter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2


@dataclass
class Touch:
    """What one VALID endorser transaction shows of itself."""

    tx_id: str
    creator: bytes  # the creator's certificate (PEM)
    public_keys: set[str] = field(default_factory=set)  # read or written, plain text
    private_hashes: set[bytes] = field(default_factory=set)  # read or written, hashed
    arguments: bytes = b""  # the proposal's arguments, as the block carries them


def touches(envelopes: Iterable[tuple[bytes, str]]) -> list[Touch]:
    """(envelope, validation code) pairs into what each valid transaction touched."""
    out = []
    for raw, code in envelopes:
        if code != "VALID":
            continue
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(raw).payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        if header.type != common_pb2.ENDORSER_TRANSACTION:
            continue
        sig = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
        creator = identities_pb2.SerializedIdentity.FromString(sig.creator).id_bytes
        touch = Touch(header.tx_id, bytes(creator))
        for action in transaction_pb2.Transaction.FromString(payload.data).actions:
            cap = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
            touch.arguments += cap.chaincode_proposal_payload
            prp = proposal_response_pb2.ProposalResponsePayload.FromString(
                cap.action.proposal_response_payload)
            results = proposal_pb2.ChaincodeAction.FromString(prp.extension).results
            for ns in rwset_pb2.TxReadWriteSet.FromString(results).ns_rwset:
                kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
                touch.public_keys |= {r.key for r in kv.reads} | {w.key for w in kv.writes}
                for coll in ns.collection_hashed_rwset:
                    hashed = kv_rwset_pb2.HashedRWSet.FromString(coll.hashed_rwset)
                    touch.private_hashes |= {bytes(r.key_hash) for r in hashed.hashed_reads}
                    touch.private_hashes |= {bytes(w.key_hash) for w in hashed.hashed_writes}
        out.append(touch)
    return out


def names(touch: Touch, needle: bytes) -> bool:
    """Whether the transaction shows ``needle`` in plain text: in its creator's
    certificate, a public key it touched or its arguments."""
    return (needle in touch.creator or needle in touch.arguments
            or any(needle in k.encode() for k in touch.public_keys))


def linked(graph: list[Touch], start: bytes, targets: dict[str, bytes],
           crowd: int) -> dict[str, int]:
    """Follow the graph one private record away from every transaction naming ``start``:
    for each target (a customer id, a meter id, a certificate line), how many private
    records a transaction naming ``start`` shares with a transaction naming the target.

    A record touched by transactions naming more than ``crowd`` distinct creators is a
    crowd (the key secret, a tariff, a market's settings) and tells the attacker nothing
    about one person; it is left out, as an attacker would."""
    creators: dict[bytes, set[bytes]] = {}
    for t in graph:
        for h in t.private_hashes:
            creators.setdefault(h, set()).add(t.creator)
    specific = {h for h, who in creators.items() if len(who) <= crowd}
    from_start = set().union(*(t.private_hashes & specific for t in graph
                               if names(t, start))) if graph else set()
    found = {}
    for label, needle in targets.items():
        shared = set().union(*(t.private_hashes & from_start for t in graph
                               if names(t, needle) and not names(t, start)))
        if shared:
            found[label] = len(shared)
    return found
