"""The per-transaction stub that contracts use to reach the ledger.

``Stub`` is the protocol contracts are written against (unit tests supply their own
in-memory implementation); ``PeerStub`` implements it over the peer stream.

Every request of one transaction goes to the peer one at a time: the peer refuses a
second request for a (channel, txid) while one is pending (core/chaincode/handler.go,
registerTxid), so ``PeerStub`` serialises its calls with a lock.

``invoke_chaincode`` calls another chaincode through the peer (INVOKE_CHAINCODE,
core/chaincode/handler.go HandleInvokeChaincode). The called chaincode gets the same
SignedProposal (creator, transient map, timestamp) and txid. On ANOTHER channel it runs
in a throw-away simulator of that channel's ledger: its reads and writes enter no
read/write set, its writes are discarded, its event is dropped; only its Response comes
back. On the SAME channel it shares the caller's simulator: its reads and writes, in its
own namespace, are part of this transaction's read/write set (and its namespace's
endorsement policy applies at validation).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol, runtime_checkable

from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    chaincode_shim_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import message

from .errors import PeerError
from .identity import ClientIdentity, parse_creator
from .proposal import ProposalFacts

Msg = chaincode_shim_pb2.ChaincodeMessage
WriteRecord = chaincode_shim_pb2.WriteRecord

# Metadata key the peer's validator reads for key-level endorsement.
VALIDATION_PARAMETER = transaction_pb2.MetaDataKeys.Name(transaction_pb2.VALIDATION_PARAMETER)

# Used only when the peer announces a feature with a zero maximum.
DEFAULT_MAX_BATCH = 100

# ask(message type, payload) -> RESPONSE payload; raises PeerError on ERROR.
AskFn = Callable[[int, bytes], bytes]

# Names the peer accepts (Fabric's lifecycle and configtx rules): checked here because
# "name/channel" and "name:version" are how INVOKE_CHAINCODE spells its target.
_CHAINCODE_NAME = re.compile(r"^[a-zA-Z0-9]+([-_][a-zA-Z0-9]+)*$")
_CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9.-]{0,248}$")

# Fabric's shim.ERRORTHRESHOLD: a Response status from here up is a failure.
ERROR_THRESHOLD = 400


@dataclass(frozen=True)
class PeerCapabilities:
    """What the peer's READY message allows (peer.ChaincodeAdditionalParams)."""

    use_write_batch: bool = False
    max_write_batch: int = 0
    use_get_multiple: bool = False
    max_get_multiple: int = 0

    @property
    def write_batch_size(self) -> int:
        """Records per WRITE_BATCH_STATE message."""
        return self.max_write_batch or DEFAULT_MAX_BATCH

    @property
    def get_multiple_size(self) -> int:
        """Keys per GET_STATE_MULTIPLE message."""
        return self.max_get_multiple or DEFAULT_MAX_BATCH


@dataclass(frozen=True)
class ChaincodeResponse:
    """What a called chaincode answered (its peer.Response), from ``invoke_chaincode``.

    A called chaincode's refusal is an answer, not an exception: ``status`` >= 400 with
    its ``message`` (a called chaincode that failed without a Response, ERROR, is status
    500 with the text, as in the Go shim). Only the peer refusing the call itself raises
    (PeerError).
    """

    status: int
    message: str = ""
    payload: bytes = b""

    @property
    def ok(self) -> bool:
        """True when the called function succeeded (status below 400)."""
        return self.status < ERROR_THRESHOLD


class KV(NamedTuple):
    """One entry of a range query."""

    key: str
    value: bytes


class RangeIterator(Protocol):
    """What range queries return: an iterator of KV that can be closed early."""

    def __iter__(self) -> Iterator[KV]: ...
    def __next__(self) -> KV: ...
    def close(self) -> None: ...
    def __enter__(self) -> RangeIterator: ...
    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Stub(Protocol):
    """What a transaction function may do. Implemented by PeerStub and by test stubs."""

    @property
    def tx_id(self) -> str: ...
    @property
    def channel_id(self) -> str: ...
    @property
    def function(self) -> str: ...
    @property
    def args(self) -> list[str]: ...
    @property
    def tx_timestamp(self) -> datetime: ...
    @property
    def tx_timestamp_rfc3339(self) -> str: ...
    @property
    def creator(self) -> ClientIdentity: ...
    @property
    def proposal_channel_id(self) -> str: ...
    @property
    def proposal_chaincode(self) -> str: ...

    def endorser_time(self) -> datetime: ...
    def get_state(self, key: str) -> bytes | None: ...
    def get_state_multiple(self, keys: Sequence[str]) -> list[bytes | None]: ...
    def put_state(self, key: str, value: bytes) -> None: ...
    def del_state(self, key: str) -> None: ...
    def get_state_by_range(self, start_key: str, end_key: str) -> RangeIterator: ...
    def get_private_data(self, collection: str, key: str) -> bytes | None: ...
    def get_private_data_multiple(self, collection: str,
                                  keys: Sequence[str]) -> list[bytes | None]: ...
    def get_private_data_by_range(self, collection: str, start_key: str,
                                  end_key: str) -> RangeIterator: ...
    def put_private_data(self, collection: str, key: str, value: bytes) -> None: ...
    def del_private_data(self, collection: str, key: str) -> None: ...
    def get_private_data_hash(self, collection: str, key: str) -> bytes | None: ...
    def get_transient(self, name: str) -> bytes | None: ...
    def set_state_validation_parameter(self, key: str, policy: bytes) -> None: ...
    def get_state_validation_parameter(self, key: str) -> bytes | None: ...
    def set_event(self, name: str, payload: bytes) -> None: ...
    def invoke_chaincode(self, chaincode: str, args: Sequence[str | bytes],
                         channel: str = "") -> ChaincodeResponse: ...


def _check_key(key: str) -> None:
    # The peer would refuse these too, but later and less clearly.
    if not isinstance(key, str) or not key:
        raise ValueError("ledger key must be a non-empty string")


def _check_collection(collection: str) -> None:
    if not isinstance(collection, str) or not collection:
        raise ValueError("private data collection name must be a non-empty string")


def check_invocation(chaincode: str, args: Sequence[str | bytes], channel: str) -> list[bytes]:
    """Check an ``invoke_chaincode`` call's names; return its arguments as bytes.

    Raises ValueError (TypeError for an argument neither str nor bytes): a contract's
    bug, caught here rather than misrouted by the peer ("a/b" would name channel b).
    """
    if not isinstance(chaincode, str) or not _CHAINCODE_NAME.match(chaincode):
        raise ValueError(f"chaincode name {chaincode!r} is not a Fabric chaincode name")
    if channel and (not isinstance(channel, str) or not _CHANNEL_NAME.match(channel)):
        raise ValueError(f"channel name {channel!r} is not a Fabric channel name")
    if isinstance(args, str | bytes):
        raise TypeError("args must be a sequence of arguments, not one string")
    raw: list[bytes] = []
    for arg in args:
        if isinstance(arg, str):
            raw.append(arg.encode("utf-8"))
        elif isinstance(arg, bytes | bytearray):
            raw.append(bytes(arg))
        else:
            raise TypeError(f"chaincode arguments are str or bytes, got {type(arg).__name__}")
    return raw


def called_response(raw: bytes, target: str) -> ChaincodeResponse:
    """Decode the RESPONSE payload of INVOKE_CHAINCODE: the called chaincode's own
    ChaincodeMessage, COMPLETED (its Response) or ERROR (text)."""
    inner = chaincode_shim_pb2.ChaincodeMessage()
    try:
        inner.ParseFromString(raw)
        if inner.type == Msg.COMPLETED:
            response = proposal_response_pb2.Response()
            response.ParseFromString(inner.payload)
            return ChaincodeResponse(response.status, response.message, bytes(response.payload))
    except message.DecodeError as exc:
        raise PeerError("INVOKE_CHAINCODE", f"{target}: unreadable answer ({exc})") from None
    if inner.type == Msg.ERROR:
        return ChaincodeResponse(500, inner.payload.decode("utf-8", "replace"))
    raise PeerError(
        "INVOKE_CHAINCODE",
        f"{target}: the called chaincode answered {Msg.Type.Name(inner.type)}, "
        "expected COMPLETED or ERROR",
    )


class PeerStub:
    """Stub for one INIT/TRANSACTION, talking to the peer through ``ask``."""

    def __init__(
        self,
        *,
        channel_id: str,
        tx_id: str,
        raw_args: Sequence[bytes],
        proposal: ProposalFacts,
        ask: AskFn,
        capabilities: PeerCapabilities,
    ) -> None:
        self._channel_id = channel_id
        self._tx_id = tx_id
        self._raw_args = [bytes(a) for a in raw_args]
        self._proposal = proposal
        self._ask_fn = ask
        self._caps = capabilities
        self._lock = threading.Lock()
        self._creator: ClientIdentity | None = None
        # Buffered writes keyed by (collection, key, is_metadata): a later write to the
        # same key replaces the earlier one, as the peer would apply only the last.
        self._writes: dict[tuple[str, str, bool], WriteRecord] = {}
        self._event: chaincode_event_pb2.ChaincodeEvent | None = None

    # -- transaction facts -------------------------------------------------------------

    @property
    def tx_id(self) -> str:
        """Transaction id (from the peer's TRANSACTION message)."""
        return self._tx_id

    @property
    def channel_id(self) -> str:
        """Channel the transaction runs on."""
        return self._channel_id

    @property
    def function(self) -> str:
        """First argument: the function name ("" when the client sent none)."""
        return self._raw_args[0].decode("utf-8") if self._raw_args else ""

    @property
    def args(self) -> list[str]:
        """Arguments after the function name, decoded as UTF-8."""
        return [a.decode("utf-8") for a in self._raw_args[1:]]

    @property
    def raw_args(self) -> list[bytes]:
        """All arguments, function name included, as bytes."""
        return list(self._raw_args)

    @property
    def tx_timestamp(self) -> datetime:
        """Client timestamp from the ChannelHeader: the same on every endorser."""
        return self._proposal.timestamp_datetime

    @property
    def tx_timestamp_rfc3339(self) -> str:
        """``tx_timestamp`` as RFC 3339 text."""
        return self._proposal.timestamp_rfc3339

    def endorser_time(self) -> datetime:
        """This endorser's own clock: never part of a result (endorsers must agree), only
        of whether to endorse at all (common/clock.py)."""
        return datetime.now(UTC)

    @property
    def creator(self) -> ClientIdentity:
        """The submitting identity (parsed lazily: most transactions never ask)."""
        if self._creator is None:
            self._creator = parse_creator(self._proposal.creator)
        return self._creator

    @property
    def transient(self) -> Mapping[str, bytes]:
        """The proposal's transient map (never written to the ledger)."""
        return dict(self._proposal.transient)

    def get_transient(self, name: str) -> bytes | None:
        """One transient field, or None."""
        return self._proposal.transient.get(name)

    @property
    def proposal_channel_id(self) -> str:
        """The channel the client's proposal names: ``channel_id``, unless a chaincode on
        another channel called this one (the called chaincode gets the caller's proposal)."""
        return self._proposal.channel_id

    @property
    def proposal_chaincode(self) -> str:
        """The chaincode the client's proposal invokes: this one, unless another chaincode
        called it ("" if the peer sent no proposal)."""
        return self._proposal.chaincode

    # -- public state ------------------------------------------------------------------

    def get_state(self, key: str) -> bytes | None:
        """Committed value of ``key`` (None if absent). Own writes are not visible."""
        return self._get("", key)

    def get_state_multiple(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of several keys, in order; one round trip per chunk when allowed."""
        return self._get_multiple("", keys)

    def put_state(self, key: str, value: bytes) -> None:
        """Write ``key``; buffered into a write batch when the peer accepts batches."""
        self._write("", key, value, WriteRecord.PUT_STATE)

    def del_state(self, key: str) -> None:
        """Delete ``key``."""
        self._write("", key, b"", WriteRecord.DEL_STATE)

    def get_state_by_range(self, start_key: str, end_key: str) -> StateIterator:
        """Keys in [start_key, end_key) in key order ("" means unbounded)."""
        return self._range("", start_key, end_key)

    # -- private data ------------------------------------------------------------------

    def get_private_data(self, collection: str, key: str) -> bytes | None:
        """Value of ``key`` in a private data collection (None if absent)."""
        _check_collection(collection)
        return self._get(collection, key)

    def get_private_data_multiple(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        """Several private values, in order."""
        _check_collection(collection)
        return self._get_multiple(collection, keys)

    def put_private_data(self, collection: str, key: str, value: bytes) -> None:
        """Write ``key`` into a private data collection."""
        _check_collection(collection)
        self._write(collection, key, value, WriteRecord.PUT_STATE)

    def del_private_data(self, collection: str, key: str) -> None:
        """Delete ``key`` from a private data collection."""
        _check_collection(collection)
        self._write(collection, key, b"", WriteRecord.DEL_STATE)

    def purge_private_data(self, collection: str, key: str) -> None:
        """Purge ``key`` and its history from a collection (channel capability V2_5)."""
        _check_collection(collection)
        self._write(collection, key, b"", WriteRecord.PURGE_PRIVATE_DATA)

    def get_private_data_hash(self, collection: str, key: str) -> bytes | None:
        """SHA-256 of a private value; readable by orgs outside the collection too."""
        _check_collection(collection)
        _check_key(key)
        payload = chaincode_shim_pb2.GetState(key=key, collection=collection)
        return self._ask(Msg.GET_PRIVATE_DATA_HASH, payload.SerializeToString()) or None

    def get_private_data_by_range(
        self, collection: str, start_key: str, end_key: str
    ) -> StateIterator:
        """Private keys in [start_key, end_key)."""
        _check_collection(collection)
        return self._range(collection, start_key, end_key)

    # -- key-level endorsement ---------------------------------------------------------

    def set_state_validation_parameter(self, key: str, policy: bytes, collection: str = "") -> None:
        """Attach an endorsement policy to ``key`` (see policy.all_of_policy)."""
        self._write(collection, key, policy, WriteRecord.PUT_STATE_METADATA)

    def get_state_validation_parameter(self, key: str, collection: str = "") -> bytes | None:
        """The key's endorsement policy bytes, or None if it has none."""
        _check_key(key)
        payload = chaincode_shim_pb2.GetStateMetadata(key=key, collection=collection)
        raw = self._ask(Msg.GET_STATE_METADATA, payload.SerializeToString())
        result = chaincode_shim_pb2.StateMetadataResult()
        result.ParseFromString(raw)
        for entry in result.entries:
            if entry.metakey == VALIDATION_PARAMETER:
                return bytes(entry.value) or None
        return None

    # -- events ------------------------------------------------------------------------

    def set_event(self, name: str, payload: bytes) -> None:
        """Set the transaction's chaincode event; Fabric keeps only the last one."""
        if not name:
            raise ValueError("event name must not be empty")
        self._event = chaincode_event_pb2.ChaincodeEvent(event_name=name, payload=payload)

    @property
    def event(self) -> chaincode_event_pb2.ChaincodeEvent | None:
        """The event to send with COMPLETED (None when the contract set none)."""
        return self._event

    # -- calling another chaincode -----------------------------------------------------

    def invoke_chaincode(
        self, chaincode: str, args: Sequence[str | bytes], channel: str = ""
    ) -> ChaincodeResponse:
        """Call ``chaincode`` with ``args`` (function name first) on ``channel`` (default:
        this one) at this endorser, as the same client; return its Response.

        On another channel nothing of the call enters this transaction's read/write set
        and its writes are discarded (see the module docstring); on this channel they are
        this transaction's. Raises PeerError when the peer refuses the call (the ACL
        ``peer/ChaincodeToChaincode``: Writers of the called channel, which also refuses a
        channel this peer has not joined; a chaincode the channel does not have; the
        called chaincode timing out), ValueError for a malformed name.
        """
        raw_args = check_invocation(chaincode, args, channel)
        same_channel = channel in ("", self._channel_id)
        target = chaincode if same_channel else f"{chaincode}/{channel}"
        where = f"chaincode {chaincode!r} on channel {channel or self._channel_id!r}"
        if same_channel:
            # The called chaincode writes into this transaction's simulator: send ours
            # first, so the peer gets every write in program order, as without batching.
            self.flush_writes()
        spec = chaincode_pb2.ChaincodeSpec(
            chaincode_id=chaincode_pb2.ChaincodeID(name=target),
            input=chaincode_pb2.ChaincodeInput(args=raw_args),
        )
        try:
            raw = self._ask(Msg.INVOKE_CHAINCODE, spec.SerializeToString())
        except PeerError as exc:
            raise PeerError("INVOKE_CHAINCODE", f"calling {where}: {exc.message}") from None
        return called_response(raw, where)

    # -- used by the handler ----------------------------------------------------------

    def flush_writes(self) -> int:
        """Send buffered writes as WRITE_BATCH_STATE chunks; return the records sent."""
        records = list(self._writes.values())
        self._writes.clear()
        size = self._caps.write_batch_size
        for start in range(0, len(records), size):
            batch = chaincode_shim_pb2.WriteBatchState(rec=records[start : start + size])
            self._ask(Msg.WRITE_BATCH_STATE, batch.SerializeToString())
        return len(records)

    def query_next(self, query_id: str) -> chaincode_shim_pb2.QueryResponse:
        """Fetch the next page of an open iterator."""
        payload = chaincode_shim_pb2.QueryStateNext(id=query_id).SerializeToString()
        return _query_response(self._ask(Msg.QUERY_STATE_NEXT, payload))

    def query_close(self, query_id: str) -> None:
        """Release an iterator the contract stopped reading early."""
        payload = chaincode_shim_pb2.QueryStateClose(id=query_id).SerializeToString()
        self._ask(Msg.QUERY_STATE_CLOSE, payload)

    # -- internals ---------------------------------------------------------------------

    def _ask(self, msg_type: int, payload: bytes) -> bytes:
        with self._lock:
            return self._ask_fn(msg_type, payload)

    def _get(self, collection: str, key: str) -> bytes | None:
        _check_key(key)
        payload = chaincode_shim_pb2.GetState(key=key, collection=collection)
        # The peer answers an absent key with an empty payload.
        return self._ask(Msg.GET_STATE, payload.SerializeToString()) or None

    def _get_multiple(self, collection: str, keys: Sequence[str]) -> list[bytes | None]:
        for key in keys:
            _check_key(key)
        if not self._caps.use_get_multiple:
            return [self._get(collection, key) for key in keys]
        values: list[bytes | None] = []
        size = self._caps.get_multiple_size
        for start in range(0, len(keys), size):
            chunk = list(keys[start : start + size])
            request = chaincode_shim_pb2.GetStateMultiple(keys=chunk, collection=collection)
            raw = self._ask(Msg.GET_STATE_MULTIPLE, request.SerializeToString())
            result = chaincode_shim_pb2.GetStateMultipleResult()
            result.ParseFromString(raw)
            if len(result.values) != len(chunk):
                raise ValueError(
                    f"GET_STATE_MULTIPLE returned {len(result.values)} values for {len(chunk)} keys"
                )
            values.extend(bytes(v) or None for v in result.values)
        return values

    def _write(self, collection: str, key: str, value: bytes, kind: int) -> None:
        _check_key(key)
        if not isinstance(value, bytes | bytearray):
            raise TypeError("ledger values must be bytes; encode text or JSON first")
        value = bytes(value)
        if self._caps.use_write_batch:
            record = WriteRecord(key=key, collection=collection, type=kind)
            if kind == WriteRecord.PUT_STATE_METADATA:
                record.metadata.CopyFrom(
                    chaincode_shim_pb2.StateMetadata(metakey=VALIDATION_PARAMETER, value=value)
                )
            elif kind == WriteRecord.PUT_STATE:
                record.value = value
            is_metadata = kind == WriteRecord.PUT_STATE_METADATA
            self._writes.pop((collection, key, is_metadata), None)
            self._writes[(collection, key, is_metadata)] = record
            return
        if kind == WriteRecord.PUT_STATE:
            msg_type = Msg.PUT_STATE
            body = chaincode_shim_pb2.PutState(key=key, value=value, collection=collection)
        elif kind == WriteRecord.DEL_STATE:
            msg_type = Msg.DEL_STATE
            body = chaincode_shim_pb2.DelState(key=key, collection=collection)
        elif kind == WriteRecord.PURGE_PRIVATE_DATA:
            # The peer decodes PURGE_PRIVATE_DATA as a DelState (HandlePurgePrivateData).
            msg_type = Msg.PURGE_PRIVATE_DATA
            body = chaincode_shim_pb2.DelState(key=key, collection=collection)
        else:
            msg_type = Msg.PUT_STATE_METADATA
            body = chaincode_shim_pb2.PutStateMetadata(
                key=key,
                collection=collection,
                metadata=chaincode_shim_pb2.StateMetadata(
                    metakey=VALIDATION_PARAMETER, value=value
                ),
            )
        self._ask(msg_type, body.SerializeToString())

    def _range(self, collection: str, start_key: str, end_key: str) -> StateIterator:
        request = chaincode_shim_pb2.GetStateByRange(
            startKey=start_key, endKey=end_key, collection=collection
        )
        first = _query_response(self._ask(Msg.GET_STATE_BY_RANGE, request.SerializeToString()))
        return StateIterator(self, first)


def _query_response(raw: bytes) -> chaincode_shim_pb2.QueryResponse:
    response = chaincode_shim_pb2.QueryResponse()
    response.ParseFromString(raw)
    return response


class StateIterator(Iterator[KV]):
    """Iterates a range query page by page (QUERY_STATE_NEXT); closes early on demand.

    Use as a context manager (or call ``close``) when you may stop before the end, so
    the peer can release the iterator before the transaction completes.
    """

    def __init__(self, stub: PeerStub, first: chaincode_shim_pb2.QueryResponse) -> None:
        self._stub = stub
        self._page = first
        self._pos = 0
        self._open = True

    def __iter__(self) -> StateIterator:
        return self

    def __next__(self) -> KV:
        while self._pos >= len(self._page.results):
            if not (self._open and self._page.has_more):
                # The peer releases an iterator itself once it reports no more results.
                self._open = False
                raise StopIteration
            self._page = self._stub.query_next(self._page.id)
            self._pos = 0
        item = self._page.results[self._pos]
        self._pos += 1
        kv = kv_query_result_pb2.KV()
        kv.ParseFromString(item.resultBytes)
        return KV(kv.key, bytes(kv.value))

    def close(self) -> None:
        """Tell the peer to drop the iterator if results remain unread."""
        if self._open and self._page.has_more:
            self._stub.query_close(self._page.id)
        self._open = False

    def __enter__(self) -> StateIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
