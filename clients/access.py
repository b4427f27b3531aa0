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
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.formats.access import (
    DEFAULT_OWNER_INFO,
    certificate_fingerprint,
    certify_challenge,
    sign_message,
)
from gridledger.formats.utc import format_utc

from .gateway import Commit, Network
from .proposal import Proposal, private_arguments, transaction_id

CHAINCODE = "metering"
CONTRACT = "access"
DeviceSigner = Callable[[dict[str, Any]], str]

PRIVATE_ARGUMENTS = frozenset({"RegisterResource", "RegisterDact", "AmendDact", "RevokeDact",
                               "Certify"})
WRITES_CUSTOMER_DATA = frozenset({"RegisterDevice", "RegisterResource", "RegisterDact",
                                  "AmendDact", "RevokeDact"})


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

    def _submit_async(self, fn: str, *args: str,
                      endorsing_organizations: Sequence[str] = ()) -> Commit:
        args, transient = private_call(fn, args)
        return self.contract.submit_async(fn, *args, transient=transient,
                                          endorsing_organizations=endorsing_organizations)

    def _submit(self, fn: str, *args: str) -> Any:
        return _json(self._submit_async(fn, *args).wait())

    def _evaluate(self, fn: str, *args: str) -> Any:
        return _json(self.contract.evaluate(fn, *args))

    # devices (IDoT)
    def register_device(self, device: Mapping[str, Any]) -> dict[str, Any]:
        return self._submit("RegisterDevice", _dump(device))

    def get_device(self, device_id: str) -> dict[str, Any]:
        return self._evaluate("GetDevice", device_id)

    # shared data
    def register_resource(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        return self._submit("RegisterResource", _dump(resource))

    def get_resource(self, resource_id: str) -> dict[str, Any]:
        return self._evaluate("GetResource", resource_id)

    # DACTs (the owner's, or the Utility's for the customer named)
    def register_dact(self, table: Mapping[str, Any],
                      customer_id: str | None = None) -> dict[str, Any]:
        return self._submit("RegisterDact", _dump(_owned(table, customer_id)))

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
        """Endorse and order a certification (the commit's result is the token)."""
        gateway = self.network.gateway
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

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        return self._submit("RevokeToken", token_id)

    # access and serving
    def access(self, token_id: str) -> dict[str, Any]:
        """Run the contract with the token: the hash addresses in scope (logged)."""
        return self._submit("Access", token_id)

    def serve_async(self, request: Mapping[str, Any]) -> Commit:
        """A service node's check-and-log of one signed request (see the service node)."""
        return self._submit_async("Serve", _dump(request))

    def access_log(self, token_id: str) -> list[dict[str, Any]]:
        return self._evaluate("AccessLog", token_id)


def _owned(table: Mapping[str, Any], customer_id: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"table": dict(table)}
    if customer_id is not None:
        doc["customerId"] = customer_id
    return doc
