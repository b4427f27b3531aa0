"""The service node in memory: identities of the organisations' CAs, a fake ledger that
keeps tokens and resources as contract access would and checks holders' proofs as its
ProveHolder and Serve do, and our client over a WSGI transport."""

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
from gridledger.formats.access import certificate_fingerprint
from gridledger.formats.access_proof import parse
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
    """Tokens and resources as contract access keeps them; ProveHolder and Serve check a
    holder's proof as the chaincode does; every Serve that passed is logged. ``revoked``:
    certificate fingerprints the peer's MSP refuses (a CRL published to the channel)."""

    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    meters: dict[str, str] = field(default_factory=dict)
    readings_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    proved: int = 0

    def register(self, resource_id: str, address: str, owner: str,
                 media_type: str = "application/json") -> None:
        self.resources[resource_id] = {
            "resourceId": resource_id, "hashAddress": address, "mediaType": media_type,
            "size": 1, "customerId": owner, "description": f"{owner}'s {resource_id}",
            "bound": True}

    def grant(self, token_id: str, holder: Identity, resources: list[str],
              owner_info: bool = False) -> None:
        self.tokens[token_id] = {
            "holder": certificate_fingerprint(holder.certificate),
            "scope": {self.resources[r]["hashAddress"]: r for r in resources},
            "ownerInfo": owner_info}

    def _check(self, raw: bytes) -> tuple[Any, dict[str, Any], str]:
        proof = parse(raw)
        if not proof.signature_valid():
            raise LedgerRefusal(401, "not signed")
        if proof.holder_fingerprint in self.revoked:
            raise LedgerRefusal(401, "the peer refused the holder's certificate (revoked)")
        token = self.tokens.get(proof.token_id)
        if token is None:
            raise LedgerRefusal(404, f"no token {proof.token_id}")
        if proof.holder_fingerprint != token["holder"]:
            raise LedgerRefusal(403, "ProveHolder: the caller is not the holder of the token")
        if proof.hash_address not in token["scope"]:
            raise LedgerRefusal(403, "ProveHolder: hash address is outside the scope")
        return proof, token, token["scope"][proof.hash_address]

    def prove(self, raw: bytes) -> dict[str, Any]:
        self.proved += 1
        proof, token, resource_id = self._check(raw)
        return {"proven": True, "tokenId": proof.token_id, "resourceId": resource_id,
                "ownerInfo": token["ownerInfo"]}

    def resource_owner(self, resource_id: str) -> dict[str, Any]:
        return dict(self.resources[resource_id])

    def serve(self, raw: bytes) -> dict[str, Any]:
        proof, token, resource_id = self._check(raw)
        tx = f"tx-{len(self.log) + 1}"
        self.log.append({"tokenId": proof.token_id, "hashAddress": proof.hash_address,
                         "node": (proof.node_msp_id, proof.node_fingerprint), "txId": tx})
        return {"served": True, "txId": tx, "tokenId": proof.token_id,
                "resourceId": resource_id, "ownerInfo": token["ownerInfo"]}

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
    config: Config

    def client(self, who: tuple[Identity, Any], **kw: Any) -> ServiceNodeClient:
        return ServiceNodeClient("http://node", *who,
                                 transport=httpx.WSGITransport(app=self.app), **kw)


def make_node(tmp_path, msp: str = "UtilityMSP") -> Node:
    utility, aggregator = CA.make("UtilityMSP"), CA.make("AggregatorMSP")
    regulator = CA.make("RegulatorMSP")
    own = {"UtilityMSP": utility, "RegulatorMSP": regulator}[msp]
    identity, _ = own.issue("service-node", ou="admin")
    ledger = FakeLedger()
    store = DiskStore(tmp_path / "store")
    config = Config(msp_id=msp, roots={"UtilityMSP": [utility.cert],
                                       "RegulatorMSP": [regulator.cert],
                                       "AggregatorMSP": [aggregator.cert]},
                    served_log=tmp_path / "served.jsonl",
                    fingerprint=certificate_fingerprint(identity.certificate))
    node = Node(create_app(config, ledger, store), ledger, store, utility, aggregator, config)
    node.regulator = regulator  # type: ignore[attr-defined]
    return node


@pytest.fixture
def node(tmp_path) -> Node:
    return make_node(tmp_path)
