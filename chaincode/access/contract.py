"""The ``access`` contract (chaincode ``metering``): DACT/IDoT access control.

Thin: check the caller, parse arguments, call the domain modules, answer. Seed 001,
Fig. 8: owners register resources and DACTs in advance (RegisterResource, RegisterDact);
a requester presents a DACT and a device's proof and gets a token (Certify: the
threshold is the chaincode's 2-of-3 endorsement policy, and the DACT's key-level policy
puts the data holder, the Utility, among the two); with it, runs the contract and
receives the hash addresses (Access); a service node has its own peer evaluate the
holder's signed proof (ProveHolder), checks the content's owner (ResourceOwner) and
serves the content after the ledger agrees and logs it (Serve). Privacy and arguments:
chaincode/README.md, "Access".
"""

from __future__ import annotations

from typing import Any

from gridledger.formats import access as fmt
from gridledger.formats.access import certificate_fingerprint

from ..common.callers import (
    AGGREGATOR,
    REGULATOR,
    UTILITY,
    customer_of,
    describe,
    is_operator,
    require_customer_or_operator,
    require_member,
    require_operator,
    require_own,
)
from ..common.clock import require_timely
from ..common.privacy import ledger
from ..shim import ChaincodeError, Contract, Stub, canonical_json, evaluate, parse_json_arg, submit
from . import dacts, devices, log, resources, serving, tokens
from .owners import owner_of_call, require_owner_or_agent


def _event(stub: Stub, name: str, **payload: Any) -> None:
    stub.set_event(name, canonical_json(payload))


class AccessContract(Contract):
    """IDoT devices, resources, DACTs, tokens, access and serving, the access log."""

    name = "access"

    # -- IDoT devices ------------------------------------------------------------------

    @submit
    def RegisterDevice(self, stub: Stub, device_json: str) -> dict[str, Any]:
        """Register an IDoT device of the caller's organisation (an operator) or of the
        calling customer (its ownership then kept in customerData)."""
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR, AGGREGATOR,
                                                action="RegisterDevice")
        fields = devices.parse(parse_json_arg(device_json, "device"))
        devices.register(ledger(stub), fields, customer=customer,
                         owner_msp=None if customer else stub.creator.msp_id)
        return {"deviceId": fields["deviceId"], "registered": True}

    @submit(private=True)
    def RevokeDevice(self, stub: Stub, device_id: str, reason: str) -> dict[str, Any]:
        """End an IDoT device of access for good: an organisation's device (its
        operators), a customer's device (the customer, or the Utility's operator for it).
        Every token exercised through it ends."""
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR, AGGREGATOR,
                                                action="RevokeDevice")
        ov = ledger(stub)
        record = devices.record_of(ov, device_id)
        owner = record["owner"]
        if owner["kind"] == "organisation":
            if customer is not None or stub.creator.msp_id != owner["mspId"]:
                raise ChaincodeError(f"RevokeDevice: caller {describe(stub.creator)} is not an "
                                     f"operator of {owner['mspId']}, whose device "
                                     f"{device_id} is", status=403)
        else:
            # Only the owner's side reads the private owner record.
            if customer is None and not is_operator(stub.creator, UTILITY):
                raise ChaincodeError(f"RevokeDevice: caller {describe(stub.creator)} is "
                                     f"neither the customer owning device {device_id} nor "
                                     "the Utility's operator", status=403)
            require_owner_or_agent(stub, customer, devices.owner_customer(ov, device_id),
                                   f"device {device_id}", "RevokeDevice")
        revoked = devices.revoke(ov, record, reason)
        _event(stub, fmt.ACCESS_REVOKED, deviceId=device_id, reason="device-revoked")
        return {"deviceId": device_id, "revoked": True, "revokedAt": revoked["revokedAt"]}

    @evaluate
    def GetDevice(self, stub: Stub, device_id: str) -> dict[str, Any]:
        """An IDoT's public record: a device of access, or a meter of metering."""
        require_member(stub, action="GetDevice")
        return devices.lookup(ledger(stub), device_id)

    # -- shared data -------------------------------------------------------------------

    @submit(private=True)
    def RegisterResource(self, stub: Stub, resource_json: str) -> dict[str, Any]:
        """Register a hash address of content a service node holds (the owner, or the
        Utility acting for the customer named in ``customerId``)."""
        customer = require_customer_or_operator(stub, UTILITY, action="RegisterResource")
        body = parse_json_arg(resource_json, "resource")
        fields = resources.parse(body)
        owner = owner_of_call(stub, customer, body.get("customerId"), "RegisterResource")
        resources.register(ledger(stub), fields, owner)
        return {"resourceId": fields["resourceId"], "registered": True}

    @evaluate
    def GetResource(self, stub: Stub, resource_id: str) -> dict[str, Any]:
        """A resource's public record: hash address, media type, size."""
        require_member(stub, action="GetResource")
        return resources.get(ledger(stub), resource_id)

    @evaluate
    def ResourceOwner(self, stub: Stub, resource_id: str) -> dict[str, Any]:
        """Whose a resource is, for a service node about to serve it: hash address, media
        type, size, owner and description (customerData: the Utility's and the
        Regulator's operators, on their own peers)."""
        require_operator(stub, UTILITY, REGULATOR, action="ResourceOwner")
        return resources.ownership(ledger(stub), resource_id)

    # -- DACTs -------------------------------------------------------------------------

    @submit(private=True)
    def RegisterDact(self, stub: Stub, dact_json: str) -> dict[str, Any]:
        """Register a DACT table {table, customerId?}: the channel keeps its commitment."""
        customer = require_customer_or_operator(stub, UTILITY, action="RegisterDact")
        table, named = dacts.parse_submission(parse_json_arg(dact_json, "DACT"))
        owner = owner_of_call(stub, customer, named, "RegisterDact")
        record = dacts.register(ledger(stub), table, owner)
        return {"dactId": record["dactId"], "version": 1, "commitment": record["commitment"]}

    @submit(private=True)
    def AmendDact(self, stub: Stub, dact_json: str) -> dict[str, Any]:
        """Replace a DACT by its next version; tokens of earlier versions end."""
        customer = require_customer_or_operator(stub, UTILITY, action="AmendDact")
        table, named = dacts.parse_submission(parse_json_arg(dact_json, "DACT"))
        owner = owner_of_call(stub, customer, named, "AmendDact")
        record = dacts.amend(ledger(stub), table, owner)
        _event(stub, fmt.ACCESS_REVOKED, dactId=record["dactId"], reason="dact-amended",
               version=record["version"])
        return {"dactId": record["dactId"], "version": record["version"],
                "commitment": record["commitment"]}

    @submit(private=True)
    def RevokeDact(self, stub: Stub, dact_id: str, reason: str) -> dict[str, Any]:
        """End a DACT (its owner, or the Utility for it); every token under it ends."""
        customer = require_customer_or_operator(stub, UTILITY, action="RevokeDact")
        ov = ledger(stub)
        owner = dacts.owner_record(ov, dact_id)["customerId"]
        require_owner_or_agent(stub, customer, owner, f"DACT {dact_id}", "RevokeDact")
        dacts.revoke(ov, dact_id, reason)
        _event(stub, fmt.ACCESS_REVOKED, dactId=dact_id, reason="dact-revoked")
        return {"dactId": dact_id, "revoked": True}

    @evaluate
    def GetDact(self, stub: Stub, dact_id: str) -> dict[str, Any]:
        """A DACT with its table and owner (its owner; the Utility's and Regulator's
        operators)."""
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR, action="GetDact")
        ov = ledger(stub)
        private = dacts.owner_record(ov, dact_id)
        require_own(stub, customer, private["customerId"], action="GetDact",
                    what=f"DACT {dact_id}")
        return {"dact": dacts.get(ov, dact_id), "table": private["table"],
                "customerId": private["customerId"]}

    # -- certification and tokens ----------------------------------------------------

    @submit(private=True)
    def Certify(self, stub: Stub, request_json: str) -> dict[str, Any]:
        """Present a DACT and a device's signature over this transaction's challenge;
        a token for the caller when each endorser finds they match."""
        require_member(stub, action="Certify")
        require_timely(stub, "Certify")
        ov = ledger(stub)
        token = tokens.certify(ov, parse_json_arg(request_json, "certification request"))
        _event(stub, fmt.TOKEN_ISSUED, tokenId=token["tokenId"], dactId=token["dactId"])
        return {"tokenId": token["tokenId"], "notAfter": token["notAfter"],
                "ownerInfo": token["ownerInfo"]}

    @evaluate
    def GetToken(self, stub: Stub, token_id: str) -> dict[str, Any]:
        """A token and whether it is usable now (``state``)."""
        require_member(stub, action="GetToken")
        ov = ledger(stub)
        token = tokens.get(ov, token_id)
        return {**token, "state": tokens.state(ov, token)}

    @submit
    def RevokeToken(self, stub: Stub, token_id: str) -> dict[str, Any]:
        """End a token: its holder, the DACT's owner, or the Utility for the owner."""
        require_member(stub, action="RevokeToken")
        ov = ledger(stub)
        token = tokens.require_well_formed(tokens.get(ov, token_id), "RevokeToken")
        if tokens.is_holder(token, stub.creator):
            by = "holder"
        else:
            # Only the owner's side reads the private owner record: other callers' peers
            # and identities may not read customerData at all.
            customer = customer_of(stub.creator)
            if customer is None and not is_operator(stub.creator, UTILITY):
                raise ChaincodeError(f"RevokeToken: caller {describe(stub.creator)} is neither "
                                     f"the holder of token {token_id} nor its DACT's owner",
                                     status=403)
            owner = dacts.owner_record(ov, token["dactId"])["customerId"]
            require_owner_or_agent(stub, customer, owner, f"token {token_id}", "RevokeToken")
            by = "owner"
        tokens.revoke(ov, token, by)
        _event(stub, fmt.ACCESS_REVOKED, tokenId=token_id, reason="token-revoked")
        return {"tokenId": token_id, "revoked": True}

    # -- access and serving ------------------------------------------------------------

    @submit
    def Access(self, stub: Stub, token_id: str) -> dict[str, Any]:
        """Seed 001 steps 5-6: run the contract with the token; its hash addresses, and
        the access in the log."""
        require_member(stub, action="Access")
        require_timely(stub, "Access")
        ov = ledger(stub)
        token = tokens.usable(ov, token_id, "Access")
        if not tokens.is_holder(token, stub.creator):
            raise ChaincodeError(f"Access: caller {describe(stub.creator)} is not the holder "
                                 f"of token {token_id}", status=403)
        log.record(ov, token, log.CONTRACT, [r["hashAddress"] for r in token["resources"]])
        _event(stub, fmt.RESOURCES_ACCESSED, tokenId=token_id)
        return {"tokenId": token_id, "resources": token["resources"],
                "notAfter": token["notAfter"], "ownerInfo": token["ownerInfo"],
                "purpose": token["purpose"]}

    @evaluate
    def ProveHolder(self, stub: Stub, token_id: str, hash_address: str, nonce: str,
                    node_msp_id: str, node_fingerprint: str) -> dict[str, Any]:
        """A holder's proof for one service node: evaluated by that node, on its own peer,
        as the holder's very own signed proposal (so the peer's MSP has validated the
        holder's certificate, CRLs included): the token is usable, the caller its holder,
        the hash address in its scope. The node then hands the same proposal to Serve."""
        require_member(stub, action="ProveHolder")
        require_timely(stub, "ProveHolder")
        ask = serving.parse_prove_args(token_id, hash_address, nonce, node_msp_id,
                                       node_fingerprint)
        return serving.prove(ledger(stub), ask)

    @submit
    def Serve(self, stub: Stub, serve_json: str) -> dict[str, Any]:
        """A service node (an organisation's operator identity) presents a holder's signed
        ProveHolder proposal naming it; every endorser checks the proof and the token, and
        the serving is logged; the node serves only once this is VALID."""
        require_operator(stub, UTILITY, REGULATOR, AGGREGATOR, action="Serve")
        require_timely(stub, "Serve")
        proof = serving.parse(parse_json_arg(serve_json, "serve request"))
        service = {"mspId": stub.creator.msp_id,
                   "fingerprint": certificate_fingerprint(stub.creator.cert_pem)}
        entry, scope = serving.serve(ledger(stub), proof, service)
        _event(stub, fmt.CONTENT_SERVED, tokenId=entry["tokenId"],
               hashAddress=proof.hash_address)
        return {"served": True, "tokenId": entry["tokenId"],
                "hashAddress": proof.hash_address, "resourceId": scope["resourceId"],
                "ownerInfo": entry["ownerInfo"], "txId": stub.tx_id}

    @evaluate
    def AccessLog(self, stub: Stub, token_id: str, after: str, limit: str) -> dict[str, Any]:
        """One page of a token's accesses, oldest first: who, what, when, how. ``after``:
        the previous page's ``next`` ("" from the start); ``limit`` 1-100."""
        require_member(stub, action="AccessLog")
        ov = ledger(stub)
        tokens.get(ov, token_id)
        return log.page(ov, token_id, after, limit)
