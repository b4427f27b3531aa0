"""gRPC server for chaincode as a service: the peer dials us and opens ``Connect``."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from fabric_protos.peer import chaincode_shim_pb2, chaincode_shim_pb2_grpc

from .handler import Chaincode, ProtocolError, StreamHandler

log = logging.getLogger(__name__)

Msg = chaincode_shim_pb2.ChaincodeMessage

# Same limits and keepalive tolerance as a Fabric node (internal/pkg/comm/config.go):
# the peer pings every 60 s, so the server must accept pings that often, even idle.
_MAX_MSG = 100 * 1024 * 1024
_GRPC_OPTIONS = [
    ("grpc.max_send_message_length", _MAX_MSG),
    ("grpc.max_receive_message_length", _MAX_MSG),
    ("grpc.keepalive_time_ms", 2 * 60 * 60 * 1000),
    ("grpc.keepalive_timeout_ms", 20 * 1000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 30 * 1000),
    ("grpc.http2.max_ping_strikes", 0),
]

_END = object()


@dataclass(frozen=True)
class TLSConfig:
    """Server certificate and key (PEM); ``client_ca_pem`` turns on mutual TLS."""

    cert_pem: bytes
    key_pem: bytes
    client_ca_pem: bytes | None = None


@dataclass(frozen=True)
class ServerConfig:
    """Where and as what the chaincode server listens."""

    address: str
    chaincode_id: str
    tls: TLSConfig | None = None
    max_streams: int = 8
    tx_workers: int = 32


class ChaincodeService(chaincode_shim_pb2_grpc.ChaincodeServicer):
    """``protos.Chaincode/Connect``: one StreamHandler and one send queue per stream."""

    def __init__(self, chaincode_id: str, chaincode: Chaincode, tx_workers: int = 32) -> None:
        self._chaincode_id = chaincode_id
        self._chaincode = chaincode
        self._tx_workers = tx_workers

    def Connect(  # the gRPC method name
        self, request_iterator: Iterator[Msg], context: grpc.ServicerContext
    ) -> Iterator[Msg]:
        """Serve one peer connection until either side ends it."""
        outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        handler = StreamHandler(
            self._chaincode_id, self._chaincode, outbox.put, tx_workers=self._tx_workers
        )
        peer = context.peer()
        log.info("peer %s connected", peer)

        def finish() -> None:
            handler.close()
            outbox.put(_END)

        def read() -> None:
            try:
                for msg in request_iterator:
                    handler.handle(msg)
            except ProtocolError as exc:
                log.error("ending stream with %s: %s", peer, exc)
            except Exception as exc:  # grpc.RpcError on cancel, or a bug
                log.debug("stream with %s ended: %r", peer, exc)
            finally:
                finish()

        context.add_callback(finish)
        handler.start()
        threading.Thread(target=read, name="cc-recv", daemon=True).start()
        while True:
            item = outbox.get()
            if item is _END:
                break
            yield item  # type: ignore[misc]
        log.info("peer %s disconnected", peer)


class ChaincodeServer:
    """A started gRPC server for one chaincode package (possibly several contracts)."""

    def __init__(self, config: ServerConfig, chaincode: Chaincode) -> None:
        self.config = config
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=config.max_streams, thread_name_prefix="cc-rpc"),
            options=_GRPC_OPTIONS,
            maximum_concurrent_rpcs=config.max_streams,
        )
        chaincode_shim_pb2_grpc.add_ChaincodeServicer_to_server(
            ChaincodeService(config.chaincode_id, chaincode, config.tx_workers), self._server
        )
        if config.tls is None:
            self.port = self._server.add_insecure_port(config.address)
        else:
            credentials = grpc.ssl_server_credentials(
                [(config.tls.key_pem, config.tls.cert_pem)],
                root_certificates=config.tls.client_ca_pem,
                require_client_auth=config.tls.client_ca_pem is not None,
            )
            self.port = self._server.add_secure_port(config.address, credentials)
        if not self.port:
            raise OSError(f"cannot listen on {config.address}")

    def start(self) -> None:
        """Start serving in background threads."""
        self._server.start()
        log.info(
            "chaincode %s listening on %s (%s)",
            self.config.chaincode_id,
            self.config.address,
            _tls_mode(self.config.tls),
        )

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting streams; give running transactions ``grace`` seconds."""
        self._server.stop(grace).wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops; True if it did within ``timeout``."""
        return self._server.wait_for_termination(timeout)


def _tls_mode(tls: TLSConfig | None) -> str:
    if tls is None:
        return "plaintext"
    return "mutual TLS" if tls.client_ca_pem else "TLS"
