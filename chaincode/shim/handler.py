"""The chaincode side of one peer stream, independent of gRPC.

Sequence (peer side: fabric core/chaincode/handler.go):

    chaincode -> REGISTER(ChaincodeID{name: package id})
    peer      -> REGISTERED                      state created -> established
    peer      -> READY(ChaincodeAdditionalParams) state established -> ready
    peer      -> INIT | TRANSACTION (many at once, each its own channel/txid)
    chaincode -> GET_STATE, PUT_STATE, ...       one pending request per transaction
    peer      -> RESPONSE | ERROR                matched by (channel_id, txid)
    chaincode -> COMPLETED(Response, ChaincodeEvent) | ERROR(text)

INVOKE_CHAINCODE is one such request: the peer runs the called chaincode (as a new
TRANSACTION with the same txid, on the called channel, possibly on this very stream:
one package defined on two channels has one stream) before it answers RESPONSE. The
transaction workers (workers.py) let a caller's thread wait without holding a worker the
called transaction needs; replies cannot mix up, as the two differ in channel or stream.

KEEPALIVE may come at any time and is echoed back, as the Go shim does.
Messages leave through ``send``: one queue per stream, filled from many threads.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from enum import Enum
from typing import Protocol

from fabric_protos.peer import chaincode_pb2, chaincode_shim_pb2, proposal_response_pb2

from .errors import PeerError, ShimError, StreamClosedError
from .proposal import ProposalFacts, parse_signed_proposal
from .stub import PeerCapabilities, PeerStub
from .workers import TxWorkers

log = logging.getLogger(__name__)

Msg = chaincode_shim_pb2.ChaincodeMessage
SendFn = Callable[[Msg], None]

_CLOSED = object()


class Chaincode(Protocol):
    """What the handler runs for each INIT/TRANSACTION (ContractRouter implements it)."""

    def invoke(self, stub: PeerStub) -> proposal_response_pb2.Response: ...


class State(Enum):
    """Handler states, named as in the peer and the Go shim."""

    CREATED = "created"
    ESTABLISHED = "established"
    READY = "ready"
    CLOSED = "closed"


class ProtocolError(ShimError):
    """The peer sent a message that is invalid in the current state: the stream ends."""


def type_name(msg_type: int) -> str:
    """Readable name of a ChaincodeMessage type."""
    return Msg.Type.Name(msg_type)


class StreamHandler:
    """Protocol state machine for one peer connection."""

    def __init__(
        self,
        chaincode_id: str,
        chaincode: Chaincode,
        send: SendFn,
        tx_workers: int = 32,
    ) -> None:
        if not chaincode_id:
            raise ValueError("chaincode id (the package id) must not be empty")
        self.chaincode_id = chaincode_id
        self._chaincode = chaincode
        self._send = send
        self._workers = TxWorkers(tx_workers, name="cc-tx")
        self._lock = threading.Lock()
        self._state = State.CREATED
        self._waiting: dict[tuple[str, str], queue.Queue[object]] = {}
        self._running: set[tuple[str, str]] = set()
        self.capabilities = PeerCapabilities()

    @property
    def state(self) -> State:
        """Current protocol state."""
        return self._state

    def start(self) -> None:
        """Send REGISTER; the peer dialled us, but the chaincode speaks first."""
        payload = chaincode_pb2.ChaincodeID(name=self.chaincode_id).SerializeToString()
        self._send(Msg(type=Msg.REGISTER, payload=payload))

    def handle(self, msg: Msg) -> None:
        """Process one message from the peer. Raises ProtocolError to end the stream."""
        if msg.type == Msg.KEEPALIVE:
            self._send(msg)
            return
        state = self._state
        if state is State.READY:
            self._handle_ready(msg)
        elif state is State.ESTABLISHED and msg.type == Msg.READY:
            self._on_ready(msg)
        elif state is State.CREATED and msg.type == Msg.REGISTERED:
            self._state = State.ESTABLISHED
            log.debug("registered %s with peer", self.chaincode_id)
        else:
            self._refuse(msg, f"unexpected {type_name(msg.type)} in state {state.value}")

    def close(self) -> None:
        """Stream ended: wake every transaction waiting for the peer, stop workers."""
        with self._lock:
            if self._state is State.CLOSED:
                return
            self._state = State.CLOSED
            waiting = list(self._waiting.values())
            self._waiting.clear()
        for slot in waiting:
            slot.put(_CLOSED)
        self._workers.close()

    # -- peer -> chaincode ----------------------------------------------------------------

    def _on_ready(self, msg: Msg) -> None:
        params = chaincode_pb2.ChaincodeAdditionalParams()
        if msg.payload:
            # An older peer sends READY without a payload: no batching, no multi-get.
            params.ParseFromString(msg.payload)
        self.capabilities = PeerCapabilities(
            use_write_batch=params.use_write_batch,
            max_write_batch=params.max_size_write_batch,
            use_get_multiple=params.use_get_multiple_keys,
            max_get_multiple=params.max_size_get_multiple_keys,
        )
        self._state = State.READY
        log.info(
            "chaincode %s ready: write batch %s (max %d), get multiple %s (max %d)",
            self.chaincode_id,
            params.use_write_batch,
            params.max_size_write_batch,
            params.use_get_multiple_keys,
            params.max_size_get_multiple_keys,
        )

    def _handle_ready(self, msg: Msg) -> None:
        if msg.type in (Msg.RESPONSE, Msg.ERROR):
            self._deliver(msg)
        elif msg.type in (Msg.TRANSACTION, Msg.INIT):
            ctx = (msg.channel_id, msg.txid)
            with self._lock:
                duplicate = ctx in self._running
                if not duplicate:
                    self._running.add(ctx)
            if duplicate:
                # The peer never does this (its TXContexts refuse a duplicate txid).
                self._send_error(msg, f"transaction {msg.txid} is already running")
                return
            self._workers.submit(lambda: self._run_transaction(msg))
        else:
            self._refuse(msg, f"unexpected {type_name(msg.type)} in state ready")

    def _deliver(self, msg: Msg) -> None:
        with self._lock:
            slot = self._waiting.get((msg.channel_id, msg.txid))
        if slot is None:
            # Nothing waits (e.g. its transaction already failed): drop, keep the stream.
            log.warning("[%s] dropping %s nobody waits for", msg.txid[:8], type_name(msg.type))
            return
        slot.put(msg)

    def _refuse(self, msg: Msg, reason: str) -> None:
        self._send(Msg(type=Msg.ERROR, payload=reason.encode(), txid=msg.txid))
        raise ProtocolError(reason)

    # -- one transaction, on a worker thread ------------------------------------------------

    def ask(self, channel_id: str, txid: str, msg_type: int, payload: bytes) -> bytes:
        """Send a request for a transaction and wait for the peer's RESPONSE payload."""
        ctx = (channel_id, txid)
        slot: queue.Queue[object] = queue.Queue(maxsize=1)
        with self._lock:
            if self._state is State.CLOSED:
                raise StreamClosedError("stream to the peer is closed")
            if ctx in self._waiting:
                raise ShimError(f"[{txid[:8]}] a request is already pending")
            self._waiting[ctx] = slot
        # While the peer runs a called chaincode, this worker's slot may serve it.
        blocking = (self._workers.waiting() if msg_type == Msg.INVOKE_CHAINCODE
                    else contextlib.nullcontext())
        try:
            self._send(Msg(type=msg_type, payload=payload, txid=txid, channel_id=channel_id))
            with blocking:
                answer = slot.get()
        finally:
            with self._lock:
                self._waiting.pop(ctx, None)
        if answer is _CLOSED:
            raise StreamClosedError(f"stream closed while waiting for {type_name(msg_type)}")
        assert isinstance(answer, Msg)
        if answer.type == Msg.RESPONSE:
            return bytes(answer.payload)
        if answer.type == Msg.ERROR:
            raise PeerError(type_name(msg_type), answer.payload.decode("utf-8", "replace"))
        raise ShimError(f"unexpected {type_name(answer.type)} answering {type_name(msg_type)}")

    def _run_transaction(self, msg: Msg) -> None:
        try:
            reply = self._execute(msg)
            if self._state is not State.CLOSED:
                self._send(reply)
        except StreamClosedError:
            log.warning("[%s] stream closed during transaction", msg.txid[:8])
        except Exception as exc:  # a shim bug or a failed flush: report, keep serving
            log.exception("[%s] transaction failed in the shim", msg.txid[:8])
            self._send_error(msg, f"chaincode shim failure: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._running.discard((msg.channel_id, msg.txid))

    def _execute(self, msg: Msg) -> Msg:
        chaincode_input = chaincode_pb2.ChaincodeInput()
        chaincode_input.ParseFromString(msg.payload)
        try:
            facts = (
                parse_signed_proposal(msg.proposal)
                if msg.HasField("proposal")
                else ProposalFacts(creator=b"")
            )
        except Exception as exc:
            return self._error_msg(msg, f"cannot read the signed proposal: {exc}")
        stub = PeerStub(
            channel_id=msg.channel_id,
            tx_id=msg.txid,
            raw_args=chaincode_input.args,
            proposal=facts,
            ask=lambda t, p: self.ask(msg.channel_id, msg.txid, t, p),
            capabilities=self.capabilities,
        )
        response = self._chaincode.invoke(stub)
        failed = response.status >= 400
        if msg.type == Msg.INIT and response.status >= 500:
            # As the Go shim: a failed Init is reported as ERROR, not as a Response.
            return self._error_msg(msg, response.message)
        if not failed:
            # Writes must reach the peer before COMPLETED, or they are not in the rwset.
            stub.flush_writes()
        completed = Msg(
            type=Msg.COMPLETED,
            payload=response.SerializeToString(),
            txid=msg.txid,
            channel_id=msg.channel_id,
        )
        if stub.event is not None:
            completed.chaincode_event.CopyFrom(stub.event)
        return completed

    def _error_msg(self, msg: Msg, text: str) -> Msg:
        return Msg(type=Msg.ERROR, payload=text.encode(), txid=msg.txid, channel_id=msg.channel_id)

    def _send_error(self, msg: Msg, text: str) -> None:
        self._send(self._error_msg(msg, text))
