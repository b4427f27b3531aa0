"""Contract ``access`` on the in-memory ledger: a device, resources, DACTs and tokens, and
the helpers to build more (tables, device proofs, signed serve requests).

Used by this package's tests and by the shared matrix and bad-input tests
(tests/unit/chaincode/callers_world.py), which need arguments that get each kind of
caller past each access function's caller check.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.peer import proposal_pb2

from gridledger.clients.proposal import Proposal
from gridledger.clients.signing import private_key_signer
from gridledger.formats.access import (
    certificate_fingerprint,
    certify_challenge,
    sign_message,
)
from gridledger.formats.access_proof import PROVE_HOLDER, holder_proof_args
from gridledger.formats.utc import format_utc
from tests.unit.chaincode.metering.helpers import Ledger, cert_of
from tests.unit.chaincode.support import KEYS, serialized_identity

AGG = {"msp": "AggregatorMSP", "name": "aggregator-admin", "ous": ("admin",), "attrs": {}}
# The Utility's service node: an operator identity of the Utility.
NODE = {"msp": "UtilityMSP", "name": "utility-admin", "ous": ("admin",), "attrs": {}}
DEVICE_ID = "agg-gw-1"
PROFILE = b'{"intervals":[{"end":"2025-03-01T00:15:00Z","importWh":131}],"nonce":"n1"}'


def pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint_of(identity: dict[str, Any]) -> str:
    """The certificate fingerprint of a Ledger.call identity (by its name)."""
    return certificate_fingerprint(cert_of(identity["name"]))


def next_tx(ledger: Ledger) -> str:
    """The id Ledger.call gives the next transaction."""
    return f"tx{ledger.count + 1:05d}"


def table(dact_id: str, requester: dict[str, Any], *, version: int = 1,
          resources: tuple[str, ...] = ("r-1",), devices: tuple[str, ...] = (DEVICE_ID,),
          owner_info: str = "if-several", not_after: str = "2025-12-31T00:00:00Z",
          purpose: str = "vpp-forecasting") -> dict[str, Any]:
    """A DACT table (salt derived from the id, so a test can rebuild it)."""
    return {"dactId": dact_id, "version": version, "devices": list(devices),
            "resources": list(resources), "requester": requester, "purpose": purpose,
            "notAfter": not_after, "ownerInfo": owner_info,
            "salt": hashlib.sha256(dact_id.encode()).hexdigest()}


def identity_requester(identity: dict[str, Any]) -> dict[str, str]:
    return {"kind": "identity", "mspId": identity["msp"], "fingerprint": fingerprint_of(identity)}


def certify_request(ledger: Ledger, dact: dict[str, Any], identity: dict[str, Any],
                    device_key: ec.EllipticCurvePrivateKey, *, tx_id: str | None = None,
                    signed_at: dt.datetime | None = None, device_id: str = DEVICE_ID,
                    **extra: Any) -> dict[str, Any]:
    """A Certify request of ``identity`` for its next transaction, signed by the device."""
    challenge = certify_challenge(
        dact_id=dact["dactId"], dact_version=dact["version"], device_id=device_id,
        holder=fingerprint_of(identity), tx_id=tx_id or next_tx(ledger),
        signed_at=format_utc(signed_at or ledger.now))
    return {"dact": dact, "deviceId": device_id, "challenge": challenge,
            "signature": sign_message(device_key, challenge), **extra}


def proposal_of(holder: dict[str, Any], function: str, args: list[str], *,
                when: dt.datetime, channel: str = "energy") -> Proposal:
    """A proposal created by ``holder`` (a Ledger.call identity), signed with its key."""
    cert = cert_of(holder["name"])
    proposal = Proposal.build(serialized_identity(holder["msp"], cert), channel, "metering",
                              function, args, timestamp=when)
    return proposal.signed(private_key_signer(KEYS[cert])(proposal.bytes))


def holder_proof(token_id: str, hash_address: str, holder: dict[str, Any], *,
                 node: dict[str, Any] = NODE, nonce: str = "ab" * 16,
                 when: dt.datetime | None = None, channel: str = "energy") -> str:
    """The holder's signed ProveHolder proposal for ``node``, as base64 (what a client
    sends a service node, and the node hands to Serve)."""
    from tests.unit.chaincode.access.conftest import NOW

    args = holder_proof_args(token_id=token_id, hash_address=hash_address, nonce=nonce,
                             node_msp_id=node["msp"],
                             node_fingerprint=certificate_fingerprint(cert_of(node["name"])))
    proposal = proposal_of(holder, PROVE_HOLDER, args, when=when or NOW, channel=channel)
    return base64.b64encode(proposal.signed_proposal().SerializeToString()).decode()


def prove_args(token_id: str, hash_address: str, node: dict[str, Any] = NODE,
               nonce: str = "ab" * 16) -> tuple[str, ...]:
    """ProveHolder's arguments, as its evaluate takes them."""
    return tuple(holder_proof_args(
        token_id=token_id, hash_address=hash_address, nonce=nonce, node_msp_id=node["msp"],
        node_fingerprint=certificate_fingerprint(cert_of(node["name"]))))


def serve_args(token_id: str, hash_address: str, holder: dict[str, Any], *,
               node: dict[str, Any] = NODE, **kw: Any) -> dict[str, Any]:
    """A Serve argument: the holder's signed proof naming ``node``."""
    return {"proof": holder_proof(token_id, hash_address, holder, node=node, **kw)}


def reproof(proof: str, **changes: Any) -> str:
    """``proof`` with its SignedProposal's fields replaced (for forgeries)."""
    signed = proposal_pb2.SignedProposal.FromString(base64.b64decode(proof))
    for name, value in changes.items():
        setattr(signed, name, value)
    return base64.b64encode(signed.SerializeToString()).decode()


@dataclass
class AccessWorld:
    """What build() registered: the device key, resources, DACTs and tokens per kind."""

    ledger: Ledger
    identities: dict[str, dict[str, Any]]
    device_key: ec.EllipticCurvePrivateKey
    hashes: dict[str, str]  # resource id -> hash address
    dacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> table
    tokens: dict[str, str] = field(default_factory=dict)  # kind -> token id
    revocable: set[str] = field(default_factory=set)  # kinds with a device dev-rv-<kind>

    def token(self, kind: str) -> str:
        return self.tokens.get(kind, self.tokens["aggregator-operator"])

    def owner_doc(self, kind: str, **doc: Any) -> dict[str, Any]:
        """A data owner's argument: a Utility operator names the customer it acts for."""
        return {**doc, "customerId": "c-1"} if kind == "utility-operator" else doc

    def args(self, function: str, kind: str) -> tuple[str, ...]:
        """Arguments that get ``kind`` past ``function``'s caller check and succeed."""
        identity = self.identities[kind]
        spare = table("d-spare", identity_requester(AGG), version=2)
        resource = {"resourceId": "r-new", "hashAddress": hashlib.sha256(b"new").hexdigest(),
                    "mediaType": "application/json", "size": 3, "description": "March profile"}
        device = {"deviceId": f"dev-{kind}", "kind": "phone",
                  "publicKeyPem": pem_of(ec.generate_private_key(ec.SECP256R1()))}
        request = self.dacts.get(kind, self.dacts["aggregator-operator"])
        return {
            "RegisterDevice": lambda: (json.dumps(device),),
            "RevokeDevice": lambda: (f"dev-rv-{kind}" if kind in self.revocable
                                     else "dev-rv-aggregator-operator", "lost"),
            "GetDevice": lambda: (DEVICE_ID,),
            "ResourceOwner": lambda: ("r-1",),
            "RegisterResource": lambda: (json.dumps(self.owner_doc(kind, **resource)),),
            "GetResource": lambda: ("r-1",),
            "RegisterDact": lambda: (json.dumps(self.owner_doc(
                kind, table=table("d-new", identity_requester(AGG)))),),
            "AmendDact": lambda: (json.dumps(self.owner_doc(kind, table=spare)),),
            "RevokeDact": lambda: ("d-spare", "moved house"),
            "GetDact": lambda: ("d-spare",),
            "Certify": lambda: (json.dumps(certify_request(self.ledger, request, identity,
                                                           self.device_key)),),
            "GetToken": lambda: (self.token(kind),),
            "RevokeToken": lambda: (self.token(kind),),
            "Access": lambda: (self.token(kind),),
            "ProveHolder": lambda: prove_args(self.token(kind), self.hashes["r-1"]),
            # The holder's proof names the calling node (any kind: refused ones get 403
            # before the proof is read).
            "Serve": lambda: (json.dumps(serve_args(
                self.token("aggregator-operator"), self.hashes["r-1"], AGG,
                node=identity)),),
            "AccessLog": lambda: (self.token(kind), "", "10"),
        }[function]()

    def documents(self) -> dict[str, dict[str, Any]]:
        """One valid document per JSON argument of access, for the bad-input properties."""
        return {
            "device_json": json.loads(self.args("RegisterDevice", "utility-operator")[0]),
            "resource_json": json.loads(self.args("RegisterResource", "utility-operator")[0]),
            "dact_json": json.loads(self.args("AmendDact", "utility-operator")[0]),
            "request_json": json.loads(self.args("Certify", "utility-operator")[0]),
            "serve_json": json.loads(self.args("Serve", "utility-operator")[0]),
        }


def build(ledger: Ledger, identities: dict[str, dict[str, Any]],
          customer: dict[str, Any]) -> AccessWorld:
    """On a ledger with customer c-1 (``customer``): the Aggregator's device, c-1's
    resources r-1 and r-2, one DACT and one token per member kind of caller, and a
    spare DACT (d-spare) naming the Aggregator's operator."""
    key = ec.generate_private_key(ec.SECP256R1())
    ledger.ok("access:RegisterDevice", json.dumps(
        {"deviceId": DEVICE_ID, "kind": "gateway", "publicKeyPem": pem_of(key)}), **AGG)
    hashes = {}
    for rid, content in (("r-1", PROFILE), ("r-2", PROFILE + b" ")):
        hashes[rid] = hashlib.sha256(content).hexdigest()
        ledger.ok("access:RegisterResource", json.dumps({
            "resourceId": rid, "hashAddress": hashes[rid], "mediaType": "application/json",
            "size": len(content), "description": f"consumption profile {rid}"}), **customer)
    world = AccessWorld(ledger, identities, key, hashes)
    ledger.ok("access:RegisterDact", json.dumps(
        {"table": table("d-spare", identity_requester(AGG))}), **customer)
    for kind, identity in identities.items():
        if kind == "unknown-msp":
            continue
        dact = table(f"d-{kind}", identity_requester(identity))
        ledger.ok("access:RegisterDact", json.dumps({"table": dact}), **customer)
        world.dacts[kind] = dact
        if kind in ("utility-operator", "regulator-operator", "aggregator-operator",
                    "customer"):
            ledger.ok("access:RegisterDevice", json.dumps(
                {"deviceId": f"dev-rv-{kind}", "kind": "phone",
                 "publicKeyPem": pem_of(ec.generate_private_key(ec.SECP256R1()))}),
                **identity)
            world.revocable.add(kind)
        answer = ledger.ok("access:Certify", json.dumps(
            certify_request(ledger, dact, identity, key)), **identity)
        world.tokens[kind] = answer["tokenId"]
    return world
