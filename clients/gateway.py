"""A connection to a peer's Gateway service, and the Network and Contract views over it.

Shaped after the official fabric-gateway clients: ``Gateway -> Network -> Contract``.
One gRPC channel carries every call; each phase has its own deadline.

    with Gateway.connect(endpoint, identity, signer) as gw:
        contract = gw.network("energy").contract("metering")
        contract.submit("RegisterMeter", json.dumps(meter))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import chaincode_event_pb2

from .errors import (
    ArgumentError,
    CommitError,
    CommitStatusError,
    EndorseError,
    EvaluateError,
    GatewayError,
    SubmitError,
    validation_code_name,
)
from .identity import Identity
from .proposal import Proposal, SignableRequest, Transaction, commit_status_request
from .signing import Signer

if TYPE_CHECKING:
    from .events import BlockEvents, ChaincodeEvents

T = TypeVar("T")
S = TypeVar("S", Proposal, Transaction, SignableRequest)


@dataclass(frozen=True)
class Deadlines:
    """Per-phase call deadlines in seconds, as the official clients default them.

    ``disagreement`` is how long ``endorse`` keeps asking again while the endorsers
    return different results (0: never again).
    """

    evaluate: float = 5.0
    endorse: float = 15.0
    submit: float = 5.0
    commit_status: float = 60.0
    disagreement: float = 5.0


@dataclass(frozen=True)
class Endpoint:
    """A peer's Gateway address and how to trust it.

    ``tls_root`` is the PEM root the peer's TLS certificate chains to; ``server_name``
    overrides the name checked against that certificate (when dialling an IP address the
    certificate does not list). A client certificate is only needed where the peer
    demands mutual TLS.
    """

    address: str
    tls_root: bytes
    server_name: str | None = None
    client_cert: bytes | None = None
    client_key: bytes | None = field(default=None, repr=False)


# The peer's keepalive enforcement (peer.keepalive.minInterval) defaults to 60 s; pinging
# more often makes it close the connection with ENHANCE_YOUR_CALM.
KEEPALIVE_MS = 120_000


def open_channel(endpoint: Endpoint) -> grpc.Channel:
    """A TLS gRPC channel to ``endpoint`` with keepalive the peer accepts."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=endpoint.tls_root,
        private_key=endpoint.client_key,
        certificate_chain=endpoint.client_cert,
    )
    options: list[tuple[str, int | str]] = [
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", 100 * 1024 * 1024),
        ("grpc.max_send_message_length", 100 * 1024 * 1024),
    ]
    if endpoint.server_name:
        options.append(("grpc.ssl_target_name_override", endpoint.server_name))
    return grpc.secure_channel(endpoint.address, creds, options=options)


class Gateway:
    """A client identity connected to one peer's Gateway service.

    ``signer`` may be None for offline signing: then ``Contract.new_proposal`` hands out
    unsigned proposals and every signing step is the caller's.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        identity: Identity,
        signer: Signer | None,
        *,
        deadlines: Deadlines | None = None,
        owns_channel: bool = False,
    ) -> None:
        self.identity = identity
        self.creator = identity.serialize()
        self._signer = signer
        self.deadlines = deadlines or Deadlines()
        self.channel = channel
        self._owns_channel = owns_channel
        self.stub = gateway_pb2_grpc.GatewayStub(channel)

    @classmethod
    def connect(
        cls,
        endpoint: Endpoint,
        identity: Identity,
        signer: Signer | None,
        *,
        deadlines: Deadlines | None = None,
    ) -> Gateway:
        """Open a channel to ``endpoint``; closed again by ``close`` or ``with``."""
        return cls(
            open_channel(endpoint), identity, signer, deadlines=deadlines, owns_channel=True
        )

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_channel:
            self.channel.close()

    def network(self, name: str) -> Network:
        return Network(self, name)

    # -- signing ------------------------------------------------------------------

    def sign(self, message: bytes) -> bytes:
        if self._signer is None:
            raise ArgumentError(
                "this gateway has no signer: sign the bytes offline and pass the signed "
                "proposal or transaction (see gridledger.clients.proposal)"
            )
        return self._signer(message)

    def _signed(self, item: S) -> S:
        """``item`` as given if already signed (offline), else signed by our signer."""
        return item if item.signature else item.signed(self.sign(item.bytes))

    # -- the four Gateway calls ---------------------------------------------------

    def evaluate(self, proposal: Proposal, timeout: float | None = None) -> bytes:
        """Run a proposal on one peer without ordering it; return the chaincode's result."""
        proposal = self._signed(proposal)
        request = gateway_pb2.EvaluateRequest(
            transaction_id=proposal.transaction_id,
            channel_id=proposal.channel,
            proposed_transaction=proposal.signed_proposal(),
            target_organizations=proposal.endorsing_organizations,
        )
        response = _call(
            EvaluateError, proposal.transaction_id,
            lambda: self.stub.Evaluate(request, timeout=timeout or self.deadlines.evaluate),
        )  # fmt: skip
        return response.result.payload

    def endorse(self, proposal: Proposal, timeout: float | None = None) -> Transaction:
        """Collect endorsements satisfying the policy; return the unsigned transaction.

        Asked again for up to ``Deadlines.disagreement`` seconds while the endorsers
        disagree (a peer a block behind); then :class:`EndorseError` with
        ``endorsers_disagree`` set."""
        proposal = self._signed(proposal)
        request = gateway_pb2.EndorseRequest(
            transaction_id=proposal.transaction_id,
            channel_id=proposal.channel,
            proposed_transaction=proposal.signed_proposal(),
            endorsing_organizations=proposal.endorsing_organizations,
        )
        # A Gateway waits for a commit on its own peer only, so right after a transaction
        # another organisation's peer may still be a block behind and simulate on older
        # state: the endorsements then differ. Nothing was ordered, so the same signed
        # proposal is endorsed again until the peers agree or the time is up.
        give_up = time.monotonic() + self.deadlines.disagreement
        pause = 0.05
        while True:
            try:
                response = _call(
                    EndorseError, proposal.transaction_id,
                    lambda: self.stub.Endorse(request,
                                              timeout=timeout or self.deadlines.endorse),
                )  # fmt: skip
                break
            except EndorseError as exc:
                if not exc.endorsers_disagree or time.monotonic() + pause > give_up:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
        return Transaction(proposal.channel, proposal.transaction_id,
                           response.prepared_transaction)

    def submit(self, transaction: Transaction, timeout: float | None = None) -> Commit:
        """Send a signed transaction to the orderers; return a handle on its commit."""
        transaction = self._signed(transaction)
        request = gateway_pb2.SubmitRequest(
            transaction_id=transaction.transaction_id,
            channel_id=transaction.channel,
            prepared_transaction=transaction.envelope,
        )
        _call(
            SubmitError, transaction.transaction_id,
            lambda: self.stub.Submit(request, timeout=timeout or self.deadlines.submit),
        )  # fmt: skip
        return Commit(self, transaction.channel, transaction.transaction_id,
                      transaction.result, transaction.chaincode_event)

    def commit_status(
        self,
        channel: str,
        transaction_id: str,
        *,
        signed_request: SignableRequest | None = None,
        timeout: float | None = None,
    ) -> Status:
        """Wait until the transaction is in a block; return its validation status."""
        req = signed_request or commit_status_request(channel, transaction_id, self.creator)
        req = self._signed(req)
        request = gateway_pb2.SignedCommitStatusRequest(
            request=req.bytes, signature=req.signature
        )
        response = _call(
            CommitStatusError, transaction_id,
            lambda: self.stub.CommitStatus(
                request, timeout=timeout or self.deadlines.commit_status),
        )  # fmt: skip
        return Status(transaction_id, response.result, response.block_number)


@dataclass(frozen=True)
class Status:
    """Where a transaction was committed and whether it was valid."""

    transaction_id: str
    code: int
    block_number: int

    @property
    def successful(self) -> bool:
        return self.code == 0

    @property
    def code_name(self) -> str:
        return validation_code_name(self.code)


class Commit:
    """A submitted transaction: its ID, the endorsed result and chaincode event, and its
    commit status."""

    def __init__(self, gateway: Gateway, channel: str, transaction_id: str, result: bytes,
                 chaincode_event: chaincode_event_pb2.ChaincodeEvent | None = None):
        self._gateway = gateway
        self.channel = channel
        self.transaction_id = transaction_id
        self.result = result
        self.chaincode_event = chaincode_event  # fires only if the commit is valid
        self._status: Status | None = None

    def status(self, timeout: float | None = None) -> Status:
        """Block until committed; the status is fetched once and kept."""
        if self._status is None:
            self._status = self._gateway.commit_status(
                self.channel, self.transaction_id, timeout=timeout
            )
        return self._status

    def wait(self, timeout: float | None = None) -> bytes:
        """Block until committed; return the result, or raise CommitError if invalid."""
        status = self.status(timeout)
        if not status.successful:
            raise CommitError(self.transaction_id, status.code, status.block_number)
        return self.result


class Network:
    """A channel as seen through the gateway."""

    def __init__(self, gateway: Gateway, name: str) -> None:
        self.gateway = gateway
        self.name = name

    def contract(self, chaincode: str, contract: str | None = None) -> Contract:
        return Contract(self, chaincode, contract)

    def chaincode_events(self, chaincode: str, **kwargs: Any) -> ChaincodeEvents:
        """Chaincode events as they commit; see ``events.ChaincodeEvents``."""
        from .events import ChaincodeEvents

        return ChaincodeEvents(self, chaincode, **kwargs)

    def block_events(self, **kwargs: Any) -> BlockEvents:
        """Blocks (full or filtered) as they commit; see ``events.BlockEvents``."""
        from .events import BlockEvents

        return BlockEvents(self, **kwargs)


class Contract:
    """One chaincode (and optionally one contract within it) on a network."""

    def __init__(self, network: Network, chaincode: str, contract: str | None = None):
        self.network = network
        self.chaincode = chaincode
        self.contract = contract

    @property
    def gateway(self) -> Gateway:
        return self.network.gateway

    def _function(self, name: str) -> str:
        return f"{self.contract}:{name}" if self.contract else name

    def new_proposal(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, str | bytes] | None = None,
        endorsing_organizations: Sequence[str] = (),
        timestamp: datetime | None = None,
    ) -> Proposal:
        """An unsigned proposal, for offline signing (``Proposal.bytes``); ``timestamp``
        overrides the transaction time (a replay, a simulated day)."""
        return Proposal.build(
            self.gateway.creator, self.network.name, self.chaincode, self._function(function),
            args, transient=transient, endorsing_organizations=endorsing_organizations,
            timestamp=timestamp,
        )  # fmt: skip

    def evaluate(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, str | bytes] | None = None,
        target_organizations: Sequence[str] = (),
    ) -> bytes:
        """Query: run the function on a peer and return its result; nothing is ordered."""
        proposal = self.new_proposal(
            function, *args, transient=transient, endorsing_organizations=target_organizations
        )
        return self.gateway.evaluate(proposal)

    def submit_async(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, str | bytes] | None = None,
        endorsing_organizations: Sequence[str] = (),
    ) -> Commit:
        """Endorse and send to ordering; return at once with a handle on the commit."""
        proposal = self.new_proposal(
            function, *args, transient=transient,
            endorsing_organizations=endorsing_organizations,
        )  # fmt: skip
        return self.gateway.submit(self.gateway.endorse(proposal))

    def submit(
        self,
        function: str,
        *args: str | bytes,
        transient: Mapping[str, str | bytes] | None = None,
        endorsing_organizations: Sequence[str] = (),
    ) -> bytes:
        """Endorse, order and wait for a valid commit; return the function's result."""
        return self.submit_async(
            function, *args, transient=transient,
            endorsing_organizations=endorsing_organizations,
        ).wait()  # fmt: skip


def _call(error: type[GatewayError], txid: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except grpc.RpcError as err:
        raise error.from_rpc_error(err, txid) from None


__all__ = [
    "Commit",
    "Contract",
    "Deadlines",
    "Endpoint",
    "Gateway",
    "Network",
    "Status",
]
