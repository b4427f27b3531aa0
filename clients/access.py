"""Python bindings for contract ``access`` of chaincode ``metering`` (DACT/IDoT access).

Each method is one chaincode function (arguments and answers in chaincode/README.md,
"Access (DACT/IDoT)"). Private arguments (a DACT table, a certification request) travel
in the transient map; a transaction that may write customer data carries a fresh salt.

Certification needs the device's signature over a challenge bound to the certifying
transaction's id, which is known before the proposal is sent (SHA-256 of its nonce and
the creator): :meth:`Access.certify` draws the nonce, builds the challenge, has the
device sign it (``device_signer``: any callable from the challenge to a base64 DER
signature, e.g. :func:`device_signer` over a key in memory, or a call to the device),
and sends the proposal with that nonce.

Who endorses. A DACT's record carries the data holder's key-level policy (the Utility
and one other organisation), and Certify and RevokeToken write it: they are endorsed by
the caller's organisation and the Utility (:func:`holder_endorsers`; the Utility and the
Regulator when the caller is the Utility's), and by no third organisation, so the DACT
table (transient) reaches only the peers that must check it. RevokeDevice is endorsed by
the device's organisation and one other.

A service node's fetch carries the holder's proof: a proposal of
``access:ProveHolder(tokenId, hashAddress, nonce, nodeMspId, nodeFingerprint)`` signed
with the holder's own Fabric key (:func:`holder_proof`, built like any proposal and
never sent by the holder); the node evaluates that very signed proposal on its peer
(:meth:`Access.prove_holder`) and hands it to Serve (:meth:`Access.serve_async`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2

from gridledger.formats.access import (
    DEFAULT_OWNER_INFO,
    certificate_fingerprint,
    certify_challenge,
    sign_message,
)
from gridledger.formats.access_proof import PROVE_HOLDER, holder_proof_args
from gridledger.formats.utc import format_utc

from .gateway import Commit, Network
from .identity import Identity
from .proposal import Proposal, private_arguments, transaction_id
from .signing import Signer

CHAINCODE = "metering"
CONTRACT = "access"
DeviceSigner = Callable[[dict[str, Any]], str]

# The organisation that holds the customers' data: in every token's endorsement.
DATA_HOLDER = "UtilityMSP"
SECOND_OF_DATA_HOLDER = "RegulatorMSP"  # with the Utility, when the caller is the Utility's
MEMBERS = ("UtilityMSP", "RegulatorMSP", "AggregatorMSP")
LOG_PAGE = 100

PRIVATE_ARGUMENTS = frozenset({"RegisterResource", "RegisterDact", "AmendDact", "RevokeDact",
                               "Certify", "RevokeDevice"})
WRITES_CUSTOMER_DATA = frozenset({"RegisterDevice", "RegisterResource", "RegisterDact",
                                  "AmendDact", "RevokeDact", "RevokeDevice"})


def holder_endorsers(msp_id: str) -> tuple[str, ...]:
    """Who endorses a write of a DACT's record for a caller of ``msp_id``: its own
    organisation and the data holder (the data holder and the Regulator for the data
    holder's own identities): the data holder's key-level policy, and no third
    organisation."""
    if msp_id == DATA_HOLDER:
        return (DATA_HOLDER, SECOND_OF_DATA_HOLDER)
    return (msp_id, DATA_HOLDER)


def device_endorsers(owner_msp: str) -> tuple[str, ...]:
    """Who endorses a write of a device's record: its organisation and one other."""
    return holder_endorsers(owner_msp)


def holder_proof(identity: Identity, signer: Signer, *, channel: str, chaincode: str,
                 token_id: str, hash_address: str, nonce: str, node_msp_id: str,
                 node_fingerprint: str, timestamp: dt.datetime | None = None) -> bytes:
    """A token holder's proof for one service node: the holder's signed proposal of
    ``access:ProveHolder`` (marshalled SignedProposal). Never sent by the holder itself:
    the node evaluates it on its own peer and hands it to Serve."""
    args = holder_proof_args(token_id=token_id, hash_address=hash_address, nonce=nonce,
                             node_msp_id=node_msp_id, node_fingerprint=node_fingerprint)
    proposal = Proposal.build(identity.serialize(), channel, chaincode, PROVE_HOLDER, args,
                              timestamp=timestamp)
    signed = proposal.signed(signer(proposal.bytes))
    return signed.signed_proposal().SerializeToString()


def proof_proposal(signed: bytes, target: Sequence[str] = ()) -> Proposal:
    """A signed proposal made elsewhere (a holder's proof) as a Proposal our Gateway can
    evaluate, on the peers of ``target``."""
    sp = proposal_pb2.SignedProposal.FromString(signed)
    proposal = proposal_pb2.Proposal.FromString(sp.proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    ch = common_pb2.ChannelHeader.FromString(header.channel_header)
    ext = proposal_pb2.ChaincodeHeaderExtension.FromString(ch.extension)
    return Proposal(ch.channel_id, ext.chaincode_id.name, ch.tx_id, proposal, tuple(target),
                    bytes(sp.signature), bytes(sp.proposal_bytes))


def _json(data: bytes) -> Any:
    return json.loads(data) if data else None


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def private_call(function: str, args: Sequence[str]) -> tuple[tuple[str, ...],
                                                                dict[str, bytes] | None]:
    """(proposal arguments, transient map) for one call of a access function."""
    return private_arguments(function, args, private=PRIVATE_ARGUMENTS,
                             salted=WRITES_CUSTOMER_DATA)


def device_signer(private_key: ec.EllipticCurvePrivateKey) -> DeviceSigner:
    """A device signer over a key in memory (a device holds its own key elsewhere)."""
    return lambda challenge: sign_message(private_key, challenge)


def requester(kind: str, msp_id: str, cert_pem: bytes | None = None) -> dict[str, str]:
    """A DACT's requester: ``identity`` (needs its certificate), ``organisation`` or
    ``operator`` of ``msp_id``."""
    out = {"kind": kind, "mspId": msp_id}
    if kind == "identity":
        if cert_pem is None:
            raise ValueError("an identity requester needs its certificate")
        out["fingerprint"] = certificate_fingerprint(cert_pem)
    return out


def new_dact(*, devices: Sequence[str], resources: Sequence[str], requester: Mapping[str, str],
             purpose: str, not_after: str, owner_info: str = DEFAULT_OWNER_INFO,
             terms: str | None = None, dact_id: str | None = None) -> dict[str, Any]:
    """A DACT table, version 1, with a fresh random salt (keep it: the requester needs
    the very same table, and the owner needs it to amend)."""
    table = {"dactId": dact_id or "dact-" + uuid.uuid4().hex[:16], "version": 1,
             "devices": list(devices), "resources": list(resources),
             "requester": dict(requester), "purpose": purpose, "notAfter": not_after,
             "ownerInfo": owner_info, "salt": os.urandom(32).hex()}
    if terms is not None:
        table["terms"] = terms
    return table


def amended(table: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """The next version of ``table`` with ``changes`` (keys as in the table) and a new
    salt."""
    return {**table, **changes, "version": table["version"] + 1, "salt": os.urandom(32).hex()}


class Access:
    """Devices, resources, DACTs, certification tokens, access, serving, the log."""

    def __init__(self, network: Network, chaincode: str = CHAINCODE) -> None:
        self.network = network
        self.contract = network.contract(chaincode, CONTRACT)

    @property
    def msp_id(self) -> str:
        """The caller's organisation."""
        return self.network.gateway.identity.msp_id

    def _submit_async(self, fn: str, *args: str,
                      endorsing_organizations: Sequence[str] = ()) -> Commit:
        args, transient = private_call(fn, args)
        return self.contract.submit_async(fn, *args, transient=transient,
                                          endorsing_organizations=endorsing_organizations)

    def _submit(self, fn: str, *args: str, endorsing_organizations: Sequence[str] = ()) -> Any:
        return _json(self._submit_async(
            fn, *args, endorsing_organizations=endorsing_organizations).wait())

    def _evaluate(self, fn: str, *args: str) -> Any:
        return _json(self.contract.evaluate(fn, *args))

    # devices (IDoT)
    def register_device(self, device: Mapping[str, Any]) -> dict[str, Any]:
        return self._submit("RegisterDevice", _dump(device))

    def get_device(self, device_id: str) -> dict[str, Any]:
        return self._evaluate("GetDevice", device_id)

    def revoke_device(self, device_id: str, reason: str,
                      endorsing_organizations: Sequence[str] = ()) -> dict[str, Any]:
        """End a device for good (its organisation's operators; a customer's device: the
        customer or the Utility). Endorsed by the device's organisation and one other
        (a customer's device: the Utility and the Regulator, who hold its owner record)."""
        if not endorsing_organizations:
            device = self.get_device(device_id)
            owner = device.get("owner") or {}
            endorsing_organizations = (holder_endorsers(owner["mspId"])
                                       if owner.get("kind") == "organisation"
                                       else (DATA_HOLDER, SECOND_OF_DATA_HOLDER))
        return self._submit("RevokeDevice", device_id, reason,
                            endorsing_organizations=endorsing_organizations)

    # shared data
    def register_resource(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        return self._submit("RegisterResource", _dump(resource))

    def get_resource(self, resource_id: str) -> dict[str, Any]:
        return self._evaluate("GetResource", resource_id)

    def resource_owner(self, resource_id: str) -> dict[str, Any]:
        """Whose a resource is (the Utility's and the Regulator's operators, on their own
        peer): {resourceId, hashAddress, mediaType, size, customerId, description, bound}."""
        return _json(self.contract.evaluate("ResourceOwner", resource_id,
                                            target_organizations=[self.msp_id]))

    # DACTs (the owner's, or the Utility's for the customer named)
    def register_dact(self, table: Mapping[str, Any],
                      customer_id: str | None = None) -> dict[str, Any]:
        return _json(self.register_dact_async(table, customer_id).wait())

    def register_dact_async(self, table: Mapping[str, Any],
                            customer_id: str | None = None) -> Commit:
        """RegisterDact, returning at once with a handle on the commit (its transaction
        id lets the requester wait until its own peer has it before certifying)."""
        return self._submit_async("RegisterDact", _dump(_owned(table, customer_id)))

    def amend_dact(self, table: Mapping[str, Any],
                   customer_id: str | None = None) -> dict[str, Any]:
        return self._submit("AmendDact", _dump(_owned(table, customer_id)))

    def revoke_dact(self, dact_id: str, reason: str) -> dict[str, Any]:
        return self._submit("RevokeDact", dact_id, reason)

    def get_dact(self, dact_id: str) -> dict[str, Any]:
        return self._evaluate("GetDact", dact_id)

    # certification -> threshold
    def certify_async(self, table: Mapping[str, Any], device_id: str, signer: DeviceSigner, *,
                      resources: Sequence[str] | None = None, lifetime_seconds: int | None = None,
                      endorsing_organizations: Sequence[str] = (),
                      signed_at: dt.datetime | None = None) -> Commit:
        """Endorse and order a certification (the commit's result is the token).
        Endorsers: the caller's organisation and the Utility (:func:`holder_endorsers`),
        unless ``endorsing_organizations`` says otherwise."""
        gateway = self.network.gateway
        endorsing_organizations = (tuple(endorsing_organizations)
                                   or holder_endorsers(gateway.identity.msp_id))
        nonce = os.urandom(24)
        challenge = certify_challenge(
            dact_id=table["dactId"], dact_version=table["version"], device_id=device_id,
            holder=certificate_fingerprint(gateway.identity.certificate),
            tx_id=transaction_id(nonce, gateway.creator),
            signed_at=format_utc(signed_at or dt.datetime.now(dt.UTC)))
        request: dict[str, Any] = {"dact": dict(table), "deviceId": device_id,
                                   "challenge": challenge, "signature": signer(challenge)}
        if resources is not None:
            request["resources"] = list(resources)
        if lifetime_seconds is not None:
            request["lifetimeSeconds"] = lifetime_seconds
        _, transient = private_call("Certify", (_dump(request),))
        proposal = Proposal.build(
            gateway.creator, self.network.name, self.contract.chaincode, "access:Certify", (),
            transient=transient, endorsing_organizations=endorsing_organizations, nonce=nonce)
        return gateway.submit(gateway.endorse(proposal))

    def certify(self, table: Mapping[str, Any], device_id: str, signer: DeviceSigner,
                **kw: Any) -> dict[str, Any]:
        """Certify and wait: {"tokenId", "notAfter", "ownerInfo"}."""
        return _json(self.certify_async(table, device_id, signer, **kw).wait())

    def get_token(self, token_id: str) -> dict[str, Any]:
        return self._evaluate("GetToken", token_id)

    def revoke_token(self, token_id: str,
                     endorsing_organizations: Sequence[str] = ()) -> dict[str, Any]:
        """End a token (its holder, or the DACT's owner or the Utility for it); endorsed
        by the caller's organisation and the Utility (the token's DACT records it)."""
        return self._submit("RevokeToken", token_id, endorsing_organizations=(
            tuple(endorsing_organizations) or holder_endorsers(self.msp_id)))

    # access and serving
    def access(self, token_id: str) -> dict[str, Any]:
        """Run the contract with the token: the hash addresses in scope (logged)."""
        return self._submit("Access", token_id)

    def prove_holder(self, proof: bytes) -> dict[str, Any]:
        """A service node evaluates a holder's signed proof (:func:`holder_proof`) on its
        own organisation's peer, as the holder's own proposal: the peer's MSP validates
        the holder's certificate (CRLs included), the chaincode checks the token."""
        return _json(self.network.gateway.evaluate(proof_proposal(proof, [self.msp_id])))

    def serve_async(self, proof: bytes,
                    endorsing_organizations: Sequence[str] = ()) -> Commit:
        """A service node's check-and-log of one holder's proof naming it (Serve)."""
        return self._submit_async("Serve", _dump({"proof": base64.b64encode(proof).decode()}),
                                  endorsing_organizations=endorsing_organizations)

    def access_log_page(self, token_id: str, after: str = "",
                        limit: int = LOG_PAGE) -> dict[str, Any]:
        """One page of a token's log: {"entries", "next"} (``next``: the cursor of the
        following page, None at the end)."""
        return self._evaluate("AccessLog", token_id, after, str(limit))

    def access_log(self, token_id: str, most: int = 10_000) -> list[dict[str, Any]]:
        """A token's log, oldest first, page by page (at most ``most`` entries)."""
        entries: list[dict[str, Any]] = []
        after = ""
        while len(entries) < most:
            page = self.access_log_page(token_id, after)
            entries += page["entries"]
            if page["next"] is None:
                break
            after = page["next"]
        return entries[:most]


def _owned(table: Mapping[str, Any], customer_id: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"table": dict(table)}
    if customer_id is not None:
        doc["customerId"] = customer_id
    return doc
