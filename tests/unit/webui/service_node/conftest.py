"""The service node in memory: identities of two organisations' CAs, a fake ledger that
keeps tokens as contract access would, and our client over a WSGI transport."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridledger.clients.access_service import ServiceNodeClient
from gridledger.clients.identity import Identity
from gridledger.clients.signing import private_key_signer
from gridledger.formats.access import (
    certificate_fingerprint,
    serve_request,
    verify_with_certificate,
)
from gridledger.formats.ca_attributes import FABRIC_CA_ATTRS_OID
from gridledger.webui.service_node import Config, DiskStore, create_app
from gridledger.webui.service_node.ledger import LedgerRefusal

NOW = dt.datetime.now(dt.UTC)


@dataclass
class CA:
    msp: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, msp: str) -> CA:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ca.{msp}")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(NOW - dt.timedelta(days=1))
                .not_valid_after(NOW + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                .sign(key, hashes.SHA256()))
        return cls(msp, key, cert)

    def issue(self, cn: str, ou: str = "client", attrs: dict[str, str] | None = None,
              days: int = 30) -> tuple[Identity, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([
                       x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                       x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - dt.timedelta(days=2))
                   .not_valid_after(NOW + dt.timedelta(days=days)))
        if attrs:
            builder = builder.add_extension(x509.UnrecognizedExtension(
                FABRIC_CA_ATTRS_OID, json.dumps({"attrs": attrs}).encode()), critical=False)
        from cryptography.hazmat.primitives import serialization

        pem = builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        return Identity(self.msp, pem), private_key_signer(key)


@dataclass
class FakeLedger:
    """Tokens as contract access keeps them; every Serve that passed is logged."""

    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    meters: dict[str, str] = field(default_factory=dict)
    readings_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def grant(self, token_id: str, holder: Identity, addresses: list[str],
              owner_info: bool = False) -> None:
        self.tokens[token_id] = {"holder": certificate_fingerprint(holder.certificate),
                                 "scope": addresses, "ownerInfo": owner_info}

    def check(self, request: dict[str, Any]) -> None:
        token = self.tokens.get(request["tokenId"])
        if token is None:
            raise LedgerRefusal(404, f"no token {request['tokenId']}")
        if certificate_fingerprint(request["certificate"]) != token["holder"]:
            raise LedgerRefusal(403, "Serve: the requester's certificate is not the holder's")
        if request["hashAddress"] not in token["scope"]:
            raise LedgerRefusal(403, "Serve: hash address is outside the scope")
        message = serve_request(token_id=request["tokenId"],
                                hash_address=request["hashAddress"], nonce=request["nonce"])
        if not verify_with_certificate(request["certificate"], message, request["signature"]):
            raise LedgerRefusal(401, "Serve: the request signature does not verify")

    def serve(self, request: dict[str, Any]) -> dict[str, Any]:
        self.check(request)
        tx = f"tx-{len(self.log) + 1}"
        self.log.append({**request, "txId": tx})
        return {"served": True, "txId": tx,
                "ownerInfo": self.tokens[request["tokenId"]]["ownerInfo"]}

    def meter_owner(self, meter_id: str) -> str:
        if meter_id not in self.meters:
            raise LedgerRefusal(404, f"meter {meter_id} is not registered")
        return self.meters[meter_id]

    def readings(self, meter_id: str, from_seq: int, limit: int) -> list[dict[str, Any]]:
        return self.readings_of.get(meter_id, [])[from_seq - 1:from_seq - 1 + limit]


@dataclass
class Node:
    app: Any
    ledger: FakeLedger
    store: DiskStore
    utility: CA
    aggregator: CA

    def client(self, who: tuple[Identity, Any]) -> ServiceNodeClient:
        return ServiceNodeClient("http://node", *who,
                                 transport=httpx.WSGITransport(app=self.app))


@pytest.fixture
def node(tmp_path) -> Node:
    utility, aggregator = CA.make("UtilityMSP"), CA.make("AggregatorMSP")
    ledger = FakeLedger()
    store = DiskStore(tmp_path / "store")
    config = Config(msp_id="UtilityMSP", roots={"UtilityMSP": [utility.cert],
                                                "AggregatorMSP": [aggregator.cert]},
                    served_log=tmp_path / "served.jsonl")
    return Node(create_app(config, ledger, store), ledger, store, utility, aggregator)
