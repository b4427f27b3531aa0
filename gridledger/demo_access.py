"""``gridledger demo up``, continued: a DACT grant (seed 001's data access control).

Demo customer 1 registers its consumption profile as a resource (its own meter's readings
as it reads them, a JSON document kept in ``<state>/demo/access/`` so that a service node
can serve what the hash address names) and a DACT granting the Aggregator (requester kind
``organisation``) access for purpose ``vpp-forecasting`` through the Aggregator's
forecasting gateway, a device its operator registers (key kept beside it, 0600). The
table, salt included, is kept 0600 too: the requester needs the very same table to
certify. Each step is checked first (404: do it; 409: done already), so running it again
changes nothing; only the public client APIs are used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.access import Access, new_dact, requester
from gridledger.clients.errors import GatewayError
from gridledger.clients.metering import Metering
from gridledger.clients.session import Session
from gridledger.demo import _chaincode_status, customer_id, meter_id
from gridledger.demo_market import Done, Operators, once, operators, retrying
from gridledger.formats.access import hash_address
from gridledger.formats.canonical import canonical_json
from gridledger.formats.utc import format_utc
from gridledger.network.layout import write_private

PURPOSE = "vpp-forecasting"
DEVICE_ID = "DEMO-AGG-FORECASTER"
RESOURCE_ID = "DEMO-CUST-1-PROFILE"
DACT_ID = "DEMO-DACT-CUST-1-VPP"
DACT_DAYS = 365


class DactGrant:
    """Demo customer 1's DACT for the Aggregator, on one network's demo directory."""

    def __init__(self, root: Path, channel: str, demo_dir: Path, *,
                 say: Callable[[str], None]) -> None:
        self.root = root
        self.channel = channel
        self.access_dir = demo_dir / "access"
        self.say = say

    @property
    def requester_msp(self) -> str:
        """The Aggregator's MSP id, from its connection profile."""
        return Session(self.root, "aggregator").msp_id


    def ensure(self) -> dict[str, Any]:
        """Customer 1's profile as a resource and its DACT for the Aggregator."""
        owner = customer_id(1)
        self.say(f"DACT: {owner} grants the Aggregator its consumption profile for {PURPOSE}")
        with operators(self.root, self.channel) as ops:
            device = self._ensure_device(ops)
            ops.sync()
            with Session(self.root, "utility").gateway(f"demo-{owner}") as gw:
                network = gw.network(self.channel)
                resource = self._ensure_resource(Access(network), Metering(network))
                ops.sync()
                table_path = self.access_dir / f"{DACT_ID}.json"
                access = Access(network)
                status = "kept"
                try:
                    access.get_dact(DACT_ID)
                except GatewayError as exc:
                    if _chaincode_status(exc) != 404:
                        raise
                    table = self._table(table_path)
                    with contextlib.suppress(Done):
                        once(lambda: retrying(lambda: access.register_dact(table)))
                    status = "registered"
                ops.sync()
                # GetDact answers the owner (and the Utility's and Regulator's operators).
                record = access.get_dact(DACT_ID)["dact"]
        self.say(f"  device {DEVICE_ID} (Aggregator): {device}; resource {RESOURCE_ID}: "
                 f"{resource}; DACT {DACT_ID} v{record['version']}: {status}, "
                 f"{record['status']}")
        return {"dactId": DACT_ID, "version": record["version"], "status": record["status"],
                "registered": status, "owner": owner, "resourceId": RESOURCE_ID,
                "deviceId": DEVICE_ID,
                "requester": {"kind": "organisation", "mspId": self.requester_msp},
                "purpose": PURPOSE, "table": str(table_path)}

    def _ensure_device(self, ops: Operators) -> str:
        access = Access(ops.aggregator.network(self.channel))
        key_path = self.access_dir / f"{DEVICE_ID}.key.pem"
        try:
            access.get_device(DEVICE_ID)
            return "kept"
        except GatewayError as exc:
            if _chaincode_status(exc) != 404:
                raise
        if not key_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            write_private(key_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        with contextlib.suppress(Done):
            once(lambda: access.register_device({"deviceId": DEVICE_ID, "kind": "gateway",
                                                  "publicKeyPem": pem.decode()}))
        return "registered"

    def _ensure_resource(self, access: Access, metering: Metering) -> str:
        try:
            access.get_resource(RESOURCE_ID)
            return "kept"
        except GatewayError as exc:
            if _chaincode_status(exc) != 404:
                raise
        # The profile as the customer reads it (its own meter's readings); the content is
        # kept so a service node can serve what the hash address names.
        mid = meter_id(1)
        readings = metering.get_readings(mid, 1, 100)
        profile = {"kind": "consumption-profile", "meterId": mid, "customerId": customer_id(1),
                   "readings": [{k: r.get(k) for k in ("seq", "intervalEnd", "importWh",
                                                       "importDeltaWh")} for r in readings]}
        content = canonical_json(profile)
        write_private(self.access_dir / f"{RESOURCE_ID}.json", content)
        with contextlib.suppress(Done):
            once(lambda: retrying(lambda: access.register_resource({
                "resourceId": RESOURCE_ID, "hashAddress": hash_address(content),
                "mediaType": "application/json", "size": len(content),
                "description": f"consumption profile of {mid}, first {len(readings)} "
                               "readings"})))
        return "registered"

    def _table(self, path: Path) -> dict[str, Any]:
        """The DACT table, made once and kept (salt included) before it is registered."""
        if path.exists():
            table: dict[str, Any] = json.loads(path.read_text())
            if table.get("dactId") == DACT_ID:
                return table
        table = new_dact(
            devices=[DEVICE_ID], resources=[RESOURCE_ID],
            requester=requester("organisation", self.requester_msp), purpose=PURPOSE,
            not_after=format_utc(_now() + dt.timedelta(days=DACT_DAYS)), dact_id=DACT_ID)
        write_private(path, json.dumps(table, indent=2, sort_keys=True))
        return table


def show(dact: dict[str, Any]) -> str:
    """One line on the DACT for ``demo up``'s summary."""
    return (f"DACT {dact['dactId']} v{dact['version']} ({dact['status']}): {dact['owner']}'s "
            f"{dact['resourceId']} for {dact['requester']['mspId']} "
            f"({dact['requester']['kind']}), purpose {dact['purpose']}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
