"""For the access tests on the real network: the Utility's service node as a real process,
a customer with a metered day, the Aggregator's device, and a DACT -> token -> fetch flow.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.access import Access, device_signer, holder_proof, new_dact, requester
from gridledger.clients.access_service import ServiceNodeClient
from gridledger.clients.gateway import Gateway
from gridledger.clients.metering import Metering, SignedReading
from gridledger.formats.access import certificate_fingerprint, certify_challenge
from gridledger.formats.reading import encode_reading, sign
from gridledger.formats.utc import format_utc
from gridledger.network.consortium import Consortium

from .customers import Customer, connect_customer, register_customer

PURPOSE = "vpp-forecasting"
CHANNEL = "energy"


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServiceNode:
    url: str
    store: Path
    process: subprocess.Popen

    def served(self) -> list[dict[str, Any]]:
        """The node's own record of what it served."""
        path = self.store / "served.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@contextlib.contextmanager
def service_node(net: Consortium, store: Path, org: str = "utility") -> Iterator[ServiceNode]:
    """The organisation's service node, a real process on 127.0.0.1, stopped afterwards."""
    port = _free_port()
    log = open(store.parent / f"service-node-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gridledger.webui.service_node", "--state-dir",
         str(net.layout.root), "--org", org, "--channel", net.topology.channel,
         "--store", str(store), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"service node did not start: see {log.name}")
            time.sleep(0.2)
        yield ServiceNode(url, store, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Household:
    """A customer of the Utility with a meter and a few hours of readings."""

    customer: Customer
    meter_id: str
    deltas: list[int]  # Wh per quarter hour, as read

    def gateway(self, net: Consortium) -> Gateway:
        return connect_customer(net, self.customer)

    def service_client(self, node: ServiceNode) -> ServiceNodeClient:
        enrollment = self.customer.enrollment
        return ServiceNodeClient(node.url, enrollment.identity("UtilityMSP"),
                                 enrollment.signer())


def household(net: Consortium, utility: Gateway, tariff: dict[str, Any],
              readings: int = 8) -> Household:
    metering = Metering(utility.network(net.topology.channel))
    customer = register_customer(net, "C-ACC-" + uuid.uuid4().hex[:6])
    meter_id = "ACC-" + uuid.uuid4().hex[:8]
    key = ec.generate_private_key(ec.SECP256R1())
    metering.register_meter({
        "meterId": meter_id, "curve": "P-256", "customerId": customer.customer_id,
        "publicKeyPem": _pem(key), "tariffId": tariff["tariffId"], "deviceProfile": "SDM630",
        "location": "Hanoi", "installDate": "2026-01-01", "initialImportWh": 1_000})
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(minute=0, second=0,
                                                                     microsecond=0)
    register, batch, deltas = 1_000, [], []
    for seq in range(1, readings + 1):
        delta = 113 + (seq * 53) % 197
        register += delta
        deltas.append(delta)
        body = {"meterId": meter_id, "seq": seq, "intervalEnd": (
            start + dt.timedelta(minutes=15 * seq)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "importWh": register, "exportWh": 0, "voltageDv": 2301, "currentMa": 4000,
            "powerW": 900}
        batch.append(SignedReading(body, sign(key, encode_reading(body))))
    assert metering.submit_readings(batch)["accepted"] == readings
    return Household(customer, meter_id, deltas)


@dataclass
class Device:
    device_id: str
    key: ec.EllipticCurvePrivateKey

    @property
    def signer(self):
        return device_signer(self.key)


def aggregator_device(aggregator: Gateway, channel: str) -> Device:
    """The Aggregator's VPP forecasting gateway, an IDoT registered by its operator."""
    key = ec.generate_private_key(ec.SECP256R1())
    device = Device("AGG-GW-" + uuid.uuid4().hex[:6], key)
    Access(aggregator.network(channel)).register_device(
        {"deviceId": device.device_id, "kind": "gateway", "publicKeyPem": _pem(key)})
    return device


def owner_grant(net: Consortium, home: Household, requester_gateway: Gateway, device: Device,
                resource_ids: list[str], **table: Any) -> dict[str, Any]:
    """The customer registers a DACT naming the requester's identity; the table."""
    dact = new_dact(
        devices=[device.device_id], resources=resource_ids,
        requester=requester("identity", requester_gateway.identity.msp_id,
                            requester_gateway.identity.certificate),
        purpose=PURPOSE, not_after=(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"), **table)
    with home.gateway(net) as gw:
        commit = Access(gw.network(net.topology.channel)).register_dact_async(dact)
        commit.wait()
    # The requester certifies through its own peer next: wait until that peer has the DACT
    # (the customer's gateway waited for the Utility's peer only).
    requester_gateway.commit_status(net.topology.channel, commit.transaction_id)
    return dact


def produce_and_register(net: Consortium, home: Household, node: ServiceNode,
                         resource_id: str | None = None) -> tuple[str, str]:
    """Seed 001's shared data: the customer has the Utility's service node produce its
    profile and registers its hash address. (resource id, hash address)."""
    with home.service_client(node) as client:
        made = client.produce_profile(home.meter_id)
    with home.gateway(net) as gw:
        resource_id = resource_id or "R-" + uuid.uuid4().hex[:8]
        Access(gw.network(net.topology.channel)).register_resource({
            "resourceId": resource_id, "hashAddress": made["hashAddress"],
            "mediaType": made["mediaType"], "size": made["size"],
            "description": "15-minute consumption profile, one day"})
    return resource_id, made["hashAddress"]


@dataclass
class MatrixAccess:
    """Contract access for the authorization matrix (test_authorization.py): per kind of
    caller, arguments that get it past each function's caller check."""

    device: Device
    customer_id: str
    resource_id: str
    tables: dict[str, dict[str, Any]]  # MSP -> a DACT naming that organisation
    spare: dict[str, Any]  # a DACT the matrix amends, revokes and reads
    tokens: dict[str, str]  # kind -> a token it holds
    holder: Gateway  # the Aggregator's operator: holds tokens["aggregator-operator"]
    identities: dict[str, Any]  # kind -> its Identity
    devices: dict[str, str]  # kind -> a device of its own (RevokeDevice)
    msps: dict[str, str]  # kind -> its MSP

    def _proof(self, node_kind: str) -> str:
        """A fresh holder's proof (made now: Serve takes proofs up to 120 s old) of the
        Aggregator's token, naming the node of ``node_kind``."""
        node = self.identities[node_kind]
        proof = holder_proof(
            self.holder.identity, self.holder.sign, channel=CHANNEL, chaincode="metering",
            token_id=self.tokens["aggregator-operator"], hash_address="cd" * 32,
            nonce=os.urandom(16).hex(), node_msp_id=node.msp_id,
            node_fingerprint=certificate_fingerprint(node.certificate))
        return base64.b64encode(proof).decode()

    def _certify(self, table: dict[str, Any]) -> dict[str, Any]:
        challenge = certify_challenge(
            dact_id=table["dactId"], dact_version=1, device_id=self.device.device_id,
            holder="0" * 64, tx_id="0" * 64, signed_at=format_utc(dt.datetime.now(dt.UTC)))
        return {"dact": table, "deviceId": self.device.device_id, "challenge": challenge,
                "signature": self.device.signer(challenge)}

    def args(self, function: str, kind: str) -> tuple[str, ...]:
        def owned(**doc: Any) -> str:
            if kind == "utility-operator":
                doc["customerId"] = self.customer_id
            return json.dumps(doc)

        token = self.tokens.get(kind, self.tokens["aggregator-operator"])
        key = ec.generate_private_key(ec.SECP256R1())
        table = self.tables.get(self.msps.get(kind, ""), self.tables["AggregatorMSP"])
        utility = self.identities["utility-operator"]
        return {
            "RegisterDevice": lambda: (json.dumps({
                "deviceId": "AZ-DEV-" + uuid.uuid4().hex[:8], "kind": "phone",
                "publicKeyPem": _pem(key)}),),
            "RevokeDevice": lambda: (self.devices.get(kind, self.device.device_id), "matrix"),
            "GetDevice": lambda: (self.device.device_id,),
            "ResourceOwner": lambda: (self.resource_id,),
            "RegisterResource": lambda: (owned(
                resourceId="AZ-R-" + uuid.uuid4().hex[:8], hashAddress="ab" * 32,
                mediaType="application/json", size=2, description="matrix"),),
            "GetResource": lambda: (self.tables["AggregatorMSP"]["resources"][0],),
            "RegisterDact": lambda: (owned(table={
                **self.spare, "dactId": "AZ-D-" + uuid.uuid4().hex[:8]}),),
            "AmendDact": lambda: (owned(table={**self.spare, "version": 2}),),
            "RevokeDact": lambda: (self.spare["dactId"], "matrix"),
            "GetDact": lambda: (self.spare["dactId"],),
            # Signed for another transaction than the matrix's: past the caller check and
            # the DACT match, refused at the proof (401).
            "Certify": lambda: (json.dumps(self._certify(table)),),
            "GetToken": lambda: (token,),
            "RevokeToken": lambda: (token,),
            "Access": lambda: (token,),
            "ProveHolder": lambda: (token, "cd" * 32, os.urandom(16).hex(), utility.msp_id,
                                    certificate_fingerprint(utility.certificate)),
            "Serve": lambda: (json.dumps({"proof": self._proof(kind)}),),
            "AccessLog": lambda: (token, "", "10"),
        }[function]()


def matrix_access(callers: dict[str, Any], customer_id: str, channel: str) -> MatrixAccess:
    """The Aggregator's device, a resource of the customer, one DACT per organisation
    (requester: the organisation) and a token for every member kind of caller."""
    aggregator = callers["aggregator-operator"].gateway
    device = aggregator_device(aggregator, channel)
    customer = Access(callers["customer"].gateway.network(channel))
    resource_id = "AZ-R-" + uuid.uuid4().hex[:8]
    customer.register_resource({"resourceId": resource_id, "hashAddress": "cd" * 32,
                                "mediaType": "application/json", "size": 2,
                                "description": "matrix"})
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    msps = {kind: c.gateway.identity.msp_id for kind, c in callers.items()}

    def grant(msp: str) -> dict[str, Any]:
        dact = new_dact(devices=[device.device_id], resources=[resource_id],
                        requester=requester("organisation", msp), purpose=PURPOSE,
                        not_after=until)
        customer.register_dact(dact)
        return dact

    tables = {msp: grant(msp) for msp in ("UtilityMSP", "RegulatorMSP", "AggregatorMSP")}
    spare = grant("AggregatorMSP")
    tokens = {}
    for kind, caller in callers.items():
        if kind != "unknown-msp":
            tokens[kind] = Access(caller.gateway.network(channel)).certify(
                tables[msps[kind]], device.device_id, device.signer)["tokenId"]
    # A device of its own for every kind the matrix lets revoke one.
    devices = {}
    for kind in ("utility-operator", "regulator-operator", "aggregator-operator", "customer"):
        own = "AZ-RV-" + uuid.uuid4().hex[:8]
        Access(callers[kind].gateway.network(channel)).register_device({
            "deviceId": own, "kind": "phone",
            "publicKeyPem": _pem(ec.generate_private_key(ec.SECP256R1()))})
        devices[kind] = own
    identities = {kind: c.gateway.identity for kind, c in callers.items()}
    return MatrixAccess(device, customer_id, resource_id, tables, spare, tokens, aggregator,
                        identities, devices, msps)
