"""The gRPC adapter over loopback: Connect stream, TLS and mutual TLS.

These open a 127.0.0.1 socket (nothing else): they check what the in-memory handler
tests cannot, that grpcio carries the stream both ways and enforces client auth.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import queue
from collections.abc import Iterator

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fabric_protos.peer import (
    chaincode_pb2,
    chaincode_shim_pb2,
    chaincode_shim_pb2_grpc,
    proposal_response_pb2,
)

from gridledger.chaincode.health import HealthContract
from gridledger.chaincode.shim import ChaincodeServer, ContractRouter, ServerConfig, TLSConfig

from .support import make_cert, serialized_identity, signed_proposal

Msg = chaincode_shim_pb2.ChaincodeMessage
CCID = "health_1.0:feedface"


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _issue(cn: str, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, *, is_ca=False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca[0].subject if ca else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if not is_ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
    cert = builder.sign(ca[1] if ca else key, hashes.SHA256())
    return cert, key


@pytest.fixture(scope="module")
def pki() -> dict[str, bytes]:
    ca = _issue("test-ca", None, is_ca=True)
    server = _issue("localhost", ca)
    client = _issue("peer0-client", ca)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    return {
        "ca": pem(ca[0]),
        "server_cert": pem(server[0]),
        "server_key": _pem_key(server[1]),
        "client_cert": pem(client[0]),
        "client_key": _pem_key(client[1]),
    }


def _serve(tls: TLSConfig | None) -> tuple[ChaincodeServer, str]:
    server = ChaincodeServer(
        ServerConfig(address="127.0.0.1:0", chaincode_id=CCID, tls=tls),
        ContractRouter([HealthContract()]),
    )
    server.start()
    return server, f"127.0.0.1:{server.port}"


def _talk(channel: grpc.Channel) -> list[Msg]:
    """Play the peer: register, ready, one Ping transaction; return what came back."""
    outgoing: queue.Queue[Msg | None] = queue.Queue()

    def requests() -> Iterator[Msg]:
        while (item := outgoing.get()) is not None:
            yield item

    responses = chaincode_shim_pb2_grpc.ChaincodeStub(channel).Connect(requests(), timeout=10)
    received = [next(responses)]  # REGISTER comes first, unprompted
    outgoing.put(Msg(type=Msg.REGISTERED))
    outgoing.put(
        Msg(
            type=Msg.READY,
            payload=chaincode_pb2.ChaincodeAdditionalParams(
                use_write_batch=True, max_size_write_batch=1000
            ).SerializeToString(),
        )
    )
    outgoing.put(Msg(type=Msg.KEEPALIVE))
    received.append(next(responses))
    creator = serialized_identity("UtilityMSP", make_cert())
    outgoing.put(
        Msg(
            type=Msg.TRANSACTION,
            txid="t1",
            channel_id="energy",
            payload=chaincode_pb2.ChaincodeInput(args=[b"Ping"]).SerializeToString(),
            proposal=signed_proposal(creator, tx_id="t1"),
        )
    )
    received.append(next(responses))
    outgoing.put(None)
    return received


def _check(received: list[Msg]) -> None:
    assert [m.type for m in received] == [Msg.REGISTER, Msg.KEEPALIVE, Msg.COMPLETED]
    cc_id = chaincode_pb2.ChaincodeID()
    cc_id.ParseFromString(received[0].payload)
    assert cc_id.name == CCID
    response = proposal_response_pb2.Response()
    response.ParseFromString(received[2].payload)
    assert response.status == 200
    assert json.loads(response.payload)["msp"] == "UtilityMSP"


def test_plaintext_stream_round_trip() -> None:
    server, target = _serve(None)
    try:
        with grpc.insecure_channel(target) as channel:
            _check(_talk(channel))
    finally:
        server.stop(0)


def test_mutual_tls_round_trip_and_refusal_without_client_cert(pki: dict[str, bytes]) -> None:
    tls = TLSConfig(pki["server_cert"], pki["server_key"], client_ca_pem=pki["ca"])
    server, target = _serve(tls)
    try:
        good = grpc.ssl_channel_credentials(
            root_certificates=pki["ca"],
            private_key=pki["client_key"],
            certificate_chain=pki["client_cert"],
        )
        with grpc.secure_channel(target, good) as channel:
            _check(_talk(channel))
        anonymous = grpc.ssl_channel_credentials(root_certificates=pki["ca"])
        with grpc.secure_channel(target, anonymous) as channel, pytest.raises(grpc.RpcError):
            _talk(channel)
    finally:
        server.stop(0)
