"""Test helpers: an in-memory Stub for pure contract logic, certificates, proposals, and a
:class:`Network` of other channels' chaincodes for ``MemoryStub.invoke_chaincode``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import queue
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    chaincode_shim_pb2,
    proposal_pb2,
    proposal_response_pb2,
)
from google.protobuf import timestamp_pb2

from gridledger.chaincode.shim import (
    KV,
    ChaincodeResponse,
    ClientIdentity,
    Contract,
    ContractRouter,
    PeerError,
    Stub,
    evaluate,
)
from gridledger.chaincode.shim.handler import StreamHandler
from gridledger.chaincode.shim.stub import check_invocation
from gridledger.formats.ca_attributes import FABRIC_CA_ATTRS_OID

TX_TIME = dt.datetime(2025, 3, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)
# The private key of every certificate make_cert made, for tests that sign as its holder.
KEYS: dict[bytes, ec.EllipticCurvePrivateKey] = {}


def make_cert(
    cn: str = "meter-7",
    attrs: dict[str, str] | None = None,
    raw_ext: bytes | None = None,
    ous: Sequence[str] | None = None,
) -> bytes:
    """A self-signed ECDSA P-256 certificate (PEM), optionally with Fabric CA attrs.

    ``ous`` are the subject's OUs; by default what Fabric CA writes for such an identity
    here: NodeOU ``client`` for a customer (``role`` customer/prosumer), else ``admin``.
    """
    if ous is None:
        customer = (attrs or {}).get("role") in ("customer", "prosumer")
        ous = ("client",) if customer else ("admin",)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "utility.gridledger"),
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(TX_TIME - dt.timedelta(days=1))
        .not_valid_after(TX_TIME + dt.timedelta(days=365))
    )
    if attrs is not None or raw_ext is not None:
        value = raw_ext if raw_ext is not None else json.dumps({"attrs": attrs}).encode()
        builder = builder.add_extension(
            x509.UnrecognizedExtension(FABRIC_CA_ATTRS_OID, value), critical=False
        )
    cert = builder.sign(key, hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM)
    KEYS[pem] = key
    return pem


def serialized_identity(msp_id: str, cert_pem: bytes) -> bytes:
    """A marshalled msp.SerializedIdentity."""
    return identities_pb2.SerializedIdentity(mspid=msp_id, id_bytes=cert_pem).SerializeToString()


def signed_proposal(
    creator: bytes,
    *,
    tx_id: str = "tx1",
    channel: str = "energy",
    transient: dict[str, bytes] | None = None,
    when: dt.datetime = TX_TIME,
    header_type: int = common_pb2.ENDORSER_TRANSACTION,
    chaincode: str = "",
) -> proposal_pb2.SignedProposal:
    """A SignedProposal shaped like the ones a gateway sends (signature not checked);
    ``chaincode``: the chaincode it invokes (its ChaincodeInvocationSpec)."""
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    channel_header = common_pb2.ChannelHeader(
        type=header_type, channel_id=channel, tx_id=tx_id, timestamp=ts
    )
    signature_header = common_pb2.SignatureHeader(creator=creator, nonce=b"n" * 24)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )
    spec = chaincode_pb2.ChaincodeInvocationSpec(chaincode_spec=chaincode_pb2.ChaincodeSpec(
        chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode)))
    payload = proposal_pb2.ChaincodeProposalPayload(TransientMap=transient or {},
                                                    input=spec.SerializeToString())
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    return proposal_pb2.SignedProposal(proposal_bytes=proposal.SerializeToString())


class ListIterator:
    """A closable iterator over a list, shaped like the shim's StateIterator."""

    def __init__(self, items: list[KV]) -> None:
        self._items: Iterator[KV] = iter(items)

    def __iter__(self) -> ListIterator:
        return self

    def __next__(self) -> KV:
        return next(self._items)

    def close(self) -> None:
        self._items = iter(())

    def __enter__(self) -> ListIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryStub:
    """In-memory Stub for unit tests of pure contract logic (no protocol involved)."""

    def __init__(
        self,
        function: str = "",
        args: Sequence[str] = (),
        *,
        msp_id: str = "UtilityMSP",
        state: dict[str, bytes] | None = None,
        channel: str = "energy",
        network: Network | None = None,
    ) -> None:
        self.tx_id = "memtx0001"
        self.channel_id = channel
        # What the client's proposal names (a called chaincode sees its caller's); the
        # channel follows channel_id unless set.
        self._proposal_channel_id: str | None = None
        self.proposal_chaincode = ""
        # Other channels' chaincodes that invoke_chaincode reaches (None: no other channel).
        self.network = network
        self.function = function
        self.args = list(args)
        self.tx_timestamp = TX_TIME
        self.tx_timestamp_rfc3339 = "2025-03-01T12:30:15.250Z"
        self.creator = ClientIdentity(
            msp_id=msp_id,
            cert_pem=b"",
            subject="CN=tester",
            issuer="CN=tester",
            common_name="tester",
            ous=("admin",),  # an operator (NodeOU admin) of its MSP, unless a test says
        )
        self.state: dict[str, bytes] = dict(state or {})
        self.private: dict[tuple[str, str], bytes] = {}
        self.metadata: dict[str, bytes] = {}
        self.transient: dict[str, bytes] = {}
        self.events: list[tuple[str, bytes]] = []
        # The endorser's own clock (None: the transaction time, as a client in sync).
        self.endorser_clock: dt.datetime | None = None

    @property
    def proposal_channel_id(self) -> str:
        return self._proposal_channel_id or self.channel_id

    @proposal_channel_id.setter
    def proposal_channel_id(self, channel: str) -> None:
        self._proposal_channel_id = channel

    def endorser_time(self) -> dt.datetime:
        return self.endorser_clock or self.tx_timestamp

    def get_state(self, key: str) -> bytes | None:
        return self.state.get(key)

    def get_state_multiple(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.state.get(k) for k in keys]

    def put_state(self, key: str, value: bytes) -> None:
        self.state[key] = value

    def del_state(self, key: str) -> None:
        self.state.pop(key, None)

    def get_state_by_range(self, start_key: str, end_key: str) -> ListIterator:
        keys = [k for k in sorted(self.state) if k >= start_key and (not end_key or k < end_key)]
        return ListIterator([KV(k, self.state[k]) for k in keys])

    def get_private_data(self, collection: str, key: str) -> bytes | None:
        return self.private.get((collection, key))

    def get_private_data_multiple(self, collection: str,
                                  keys: Sequence[str]) -> list[bytes | None]:
        return [self.get_private_data(collection, k) for k in keys]

    def get_private_data_by_range(self, collection: str, start_key: str,
                                  end_key: str) -> ListIterator:
        keys = sorted(k for c, k in self.private if c == collection
                      and k >= start_key and (not end_key or k < end_key))
        return ListIterator([KV(k, self.private[(collection, k)]) for k in keys])

    def put_private_data(self, collection: str, key: str, value: bytes) -> None:
        self.private[(collection, key)] = value

    def del_private_data(self, collection: str, key: str) -> None:
        self.private.pop((collection, key), None)

    def get_private_data_hash(self, collection: str, key: str) -> bytes | None:
        value = self.private.get((collection, key))
        return hashlib.sha256(value).digest() if value is not None else None

    def get_transient(self, name: str) -> bytes | None:
        return self.transient.get(name)

    def set_state_validation_parameter(self, key: str, policy: bytes) -> None:
        self.metadata[key] = policy

    def get_state_validation_parameter(self, key: str) -> bytes | None:
        return self.metadata.get(key)

    def set_event(self, name: str, payload: bytes) -> None:
        self.events.append((name, payload))

    def invoke_chaincode(self, chaincode: str, args: Sequence[str | bytes],
                         channel: str = "") -> ChaincodeResponse:
        """A cross-channel call through ``self.network`` (see :class:`Network`); nothing of
        it enters this stub's state, reads or writes."""
        raw = check_invocation(chaincode, args, channel)
        if channel in ("", self.channel_id):
            # On its own channel the called chaincode shares the caller's simulator (its
            # reads and writes are this transaction's): not modelled here, so say so.
            raise NotImplementedError(
                f"MemoryStub models cross-channel calls only; {chaincode!r} was called on "
                f"the caller's own channel {self.channel_id!r}")
        if self.network is None:
            raise PeerError("INVOKE_CHAINCODE", f"calling chaincode {chaincode!r} on channel "
                            f"{channel!r}: this MemoryStub has no network (pass "
                            "network=Network())")
        return self.network.invoke(self, channel, chaincode, raw)


class Store(Protocol):
    """Committed state of one chaincode on one channel: a MemoryStub, a metering Ledger
    (tests/unit/chaincode/metering/helpers.py), or anything with these three dicts."""

    state: dict[str, bytes]
    private: dict[tuple[str, str], bytes]
    metadata: dict[str, bytes]


class Invocable(Protocol):
    """What serves a chaincode: a ContractRouter."""

    def invoke(self, stub: Stub) -> proposal_response_pb2.Response: ...


@dataclass
class Call:
    """One cross-channel call, as ``Network.calls`` records it."""

    from_channel: str
    channel: str
    chaincode: str
    args: list[bytes]
    response: ChaincodeResponse
    stub: CalledStub  # what the called chaincode read (reads, hashed_reads) and wrote


@dataclass
class Network:
    """Other channels' chaincodes, reached by ``MemoryStub.invoke_chaincode`` as Fabric's
    peer runs a cross-channel call (core/chaincode/handler.go HandleInvokeChaincode)::

        net = Network()
        net.add("energy", "metering", energy_ledger.router, energy_ledger)
        stub = MemoryStub("market:Deposit", [...], channel="market", network=net)
        ledger = Ledger(..., network=net)      # metering helpers' Ledger passes it on

    A call runs the called router on a fresh :class:`CalledStub` over the other channel's
    COMMITTED state (``store``), with the caller's txid, creator, transient map, proposal
    timestamp and endorser clock (Fabric hands the called chaincode the same
    SignedProposal), and on the same "peer" (``outside``: collections it does not hold).
    Its writes and event are discarded, and nothing is recorded in the caller's state,
    reads or hashed reads: the read/write set stays the caller channel's own.

    Not modelled: the ACL ``peer/ChaincodeToChaincode`` (Writers of the called channel;
    every organisation here is on every channel, so no member's creator is refused) and
    calls on the caller's own channel (``NotImplementedError``).
    """

    chaincodes: dict[tuple[str, str], tuple[Invocable, Store]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def add(self, channel: str, chaincode: str, router: Invocable, store: Store) -> None:
        """Serve ``chaincode`` on ``channel`` with ``router`` over ``store``'s state."""
        self.chaincodes[(channel, chaincode)] = (router, store)

    def invoke(self, caller: MemoryStub, channel: str, chaincode: str,
               args: list[bytes]) -> ChaincodeResponse:
        """Run one call for ``caller``; PeerError as the peer refuses an unknown target."""
        if not any(ch == channel for ch, _ in self.chaincodes):
            # The peer's ACL check on the called channel is what fails first.
            raise PeerError("INVOKE_CHAINCODE", f"calling chaincode {chaincode!r} on channel "
                            f"{channel!r}: Failed to get policy manager for channel "
                            f"[{channel}]")
        if (channel, chaincode) not in self.chaincodes:
            raise PeerError("INVOKE_CHAINCODE", f"calling chaincode {chaincode!r} on channel "
                            f"{channel!r}: invalid invocation: [channel {channel}] failed to "
                            f"get chaincode container info for {chaincode}")
        router, store = self.chaincodes[(channel, chaincode)]
        stub = CalledStub(caller, channel, store, args)
        answer = router.invoke(stub)
        response = ChaincodeResponse(answer.status, answer.message, bytes(answer.payload))
        self.calls.append(Call(caller.channel_id, channel, chaincode, list(args), response, stub))
        return response


class CalledStub(MemoryStub):
    """The called chaincode's stub: reads ``store``'s committed state, keeps its own writes
    (never applied: Fabric's throw-away simulator on the called channel)."""

    def __init__(self, caller: MemoryStub, channel: str, store: Store,
                 args: Sequence[bytes]) -> None:
        texts = [a.decode("utf-8") for a in args]
        super().__init__(texts[0] if texts else "", texts[1:], channel=channel,
                         network=caller.network)
        self.store = store
        self.tx_id = caller.tx_id
        self.tx_timestamp = caller.tx_timestamp
        self.tx_timestamp_rfc3339 = caller.tx_timestamp_rfc3339
        self.creator = caller.creator
        self.transient = dict(caller.transient)
        self.endorser_clock = caller.endorser_clock
        self.proposal_channel_id = caller.proposal_channel_id
        self.proposal_chaincode = caller.proposal_chaincode
        # The same endorsing peer: the collections it does not hold (metering's TxStub).
        self.outside: frozenset[str] = frozenset(getattr(caller, "outside", ()))
        self.reads: list[str] = []
        self.hashed_reads: list[tuple[str, str]] = []

    def get_state(self, key: str) -> bytes | None:
        self.reads.append(key)
        return self.store.state.get(key)

    def get_state_multiple(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.get_state(k) for k in keys]

    def get_state_by_range(self, start_key: str, end_key: str) -> ListIterator:
        keys = [k for k in sorted(self.store.state)
                if k >= start_key and (not end_key or k < end_key)]
        return ListIterator([KV(k, self.store.state[k]) for k in keys])

    def get_private_data(self, collection: str, key: str) -> bytes | None:
        value = self.store.private.get((collection, key))
        if collection in self.outside and value is not None:
            # A peer outside the collection has the hash, not the value (Fabric's error).
            raise PeerError("GET_STATE", "private data matching public hash version is not "
                            "available")
        self.hashed_reads.append((collection, key))
        return value

    def get_private_data_by_range(self, collection: str, start_key: str,
                                  end_key: str) -> ListIterator:
        keys = sorted(k for c, k in self.store.private if c == collection
                      and k >= start_key and (not end_key or k < end_key))
        return ListIterator([KV(k, self.store.private[(collection, k)]) for k in keys])

    def get_private_data_hash(self, collection: str, key: str) -> bytes | None:
        self.hashed_reads.append((collection, key))
        value = self.store.private.get((collection, key))
        return hashlib.sha256(value).digest() if value is not None else None

    def get_state_validation_parameter(self, key: str) -> bytes | None:
        return self.store.metadata.get(key)


def answer_to(error: Exception) -> proposal_response_pb2.Response:
    """The response the contract dispatcher gives when ``error`` escapes a transaction."""

    class Raising(Contract):
        name = "raising"

        @evaluate
        def Raise(self, stub: Stub) -> None:
            raise error

    return ContractRouter([Raising()]).invoke(MemoryStub("Raise"))


class PeerEnd:
    """The peer's end of one chaincode stream, played by a test (core/chaincode/handler.go):
    what the shim sends is queued for the test to read, and the test answers."""

    def __init__(self, ccid: str, contracts: Sequence[Contract], *, tx_workers: int,
                 timeout: float) -> None:
        self.sent: queue.Queue[chaincode_shim_pb2.ChaincodeMessage] = queue.Queue()
        self.timeout = timeout
        self.handler = StreamHandler(ccid, ContractRouter(list(contracts)), self.sent.put,
                                     tx_workers=tx_workers)

    def next(self, timeout: float | None = None) -> chaincode_shim_pb2.ChaincodeMessage:
        return self.sent.get(timeout=self.timeout if timeout is None else timeout)

    def nothing_sent(self, wait: float = 0.2) -> bool:
        try:
            self.sent.get(timeout=wait)
        except queue.Empty:
            return True
        return False

    def connect(self, **params: object) -> None:
        """Start the stream: REGISTER answered, then READY with ``params`` (the peer's
        ChaincodeAdditionalParams)."""
        msg = chaincode_shim_pb2.ChaincodeMessage
        self.handler.start()
        assert self.next().type == msg.REGISTER
        self.handler.handle(msg(type=msg.REGISTERED))
        ready = chaincode_pb2.ChaincodeAdditionalParams(**params)  # type: ignore[arg-type]
        self.handler.handle(msg(type=msg.READY, payload=ready.SerializeToString()))

    def answer(self, request: chaincode_shim_pb2.ChaincodeMessage, payload: bytes = b"",
               kind: int = chaincode_shim_pb2.ChaincodeMessage.RESPONSE) -> None:
        self.handler.handle(chaincode_shim_pb2.ChaincodeMessage(
            type=kind, payload=payload, txid=request.txid, channel_id=request.channel_id))
