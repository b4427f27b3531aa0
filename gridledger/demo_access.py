"""``gridledger demo up``, continued: a DACT grant (seed 001's data access control).

Demo customer 1 shares its consumption profile with the Aggregator for purpose
``vpp-forecasting``:

1. the Utility's **service node** (``python -m gridledger.webui.service_node``) runs as a
   program of the network's supervisord (``demo-service-node``, added by owner
   ``demo-access``, log ``<state>/logs/demo-service-node.log``), with its content store in
   ``<state>/demo/access/store``;
2. the Aggregator's operator registers its forecasting gateway, an IDoT (key kept in
   ``<state>/demo/access/``, 0600);
3. the customer has the service node produce its profile from the Utility's readings (the
   node's own peer; the profile carries no customer or meter id, only energy per interval
   and a random nonce) and registers its hash address as a resource;
4. the customer registers a DACT naming the Aggregator (requester kind ``organisation``)
   through that gateway. The table, salt included, is kept 0600: the requester needs the
   very same table to certify, and then fetches the profile from the service node.

Ids are random (``AGG-GW-…``, ``R-…``, ``D-…``: none names the customer), drawn once and
kept in ``<state>/demo/access/grant.json``. Each step is checked first, so running it again
changes nothing; and a record found under one of those ids is checked to be the demo's
(the device's key, the resource's owner and address, the DACT's owner and commitment)
before it is taken as done: an id someone else took is an error, never "kept". Only the
public client APIs are used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.clients.access import Access, new_dact, requester
from gridledger.clients.access_service import ServiceNodeClient
from gridledger.clients.errors import GatewayError
from gridledger.clients.session import Session
from gridledger.demo import (
    DemoError,
    _chaincode_status,
    _free_port,
    _listening,
    customer_id,
    meter_id,
)
from gridledger.demo_market import Done, Operators, once, operators, retrying
from gridledger.formats.access import dact_commitment
from gridledger.formats.utc import format_utc
from gridledger.network.layout import open_layout, write_private
from gridledger.network.nodes import Process
from gridledger.network.supervisor import host_supervisor, tail

PURPOSE = "vpp-forecasting"
DACT_DAYS = 365
SERVICE_NODE = "demo-service-node"
OWNER = "demo-access"  # the supervisord file the service node's program is kept in


def _missing(exc: GatewayError) -> bool:
    return _chaincode_status(exc) == 404


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

    # -- the demo's own ids, drawn once --------------------------------------------------

    def ids(self) -> dict[str, Any]:
        """The demo's ids and the service node's port: random, drawn once, kept."""
        path = self.access_dir / "grant.json"
        if path.exists():
            kept: dict[str, Any] = json.loads(path.read_text())
            if {"deviceId", "resourceId", "dactId", "nodePort"} <= set(kept):
                return kept
        made = {"deviceId": "AGG-GW-" + uuid.uuid4().hex[:10],
                "resourceId": "R-" + uuid.uuid4().hex[:12],
                "dactId": "D-" + uuid.uuid4().hex[:12], "nodePort": _free_port()}
        write_private(path, json.dumps(made, indent=2, sort_keys=True))
        return made

    def _keep(self, **changes: Any) -> None:
        path = self.access_dir / "grant.json"
        write_private(path, json.dumps({**self.ids(), **changes}, indent=2, sort_keys=True))

    # -- the service node ----------------------------------------------------------------

    def service_node_process(self, port: int) -> Process:
        """The Utility's service node as a program of the network's supervisord."""
        return Process(
            name=SERVICE_NODE, kind="demo", org="utility",
            command=[sys.executable, "-m", "gridledger.webui.service_node", "--state-dir",
                     str(self.root), "--org", "utility", "--identity", "Admin",
                     "--channel", self.channel, "--store", str(self.access_dir / "store"),
                     "--host", "127.0.0.1", "--port", str(port)],
            cwd=str(self.access_dir), ports=(port,))

    def ensure_service_node(self, port: int, timeout: float = 60.0) -> str:
        """Start the service node (kept running if it is); its URL."""
        layout = open_layout(self.root)
        sup = host_supervisor(layout)
        (self.access_dir / "store").mkdir(parents=True, exist_ok=True, mode=0o700)
        sup.add_programs(OWNER, [self.service_node_process(port)])
        sup.start_process(SERVICE_NODE)
        deadline = time.monotonic() + timeout
        while not _listening(port):
            if time.monotonic() > deadline:
                raise DemoError(f"the service node did not listen on 127.0.0.1:{port} within "
                                f"{timeout:.0f} s; last lines of "
                                f"{layout.log(SERVICE_NODE)}:\n{tail(layout.log(SERVICE_NODE))}")
            time.sleep(0.3)
        return f"http://127.0.0.1:{port}"

    # -- up ------------------------------------------------------------------------------

    def ensure(self) -> dict[str, Any]:
        """The service node, the Aggregator's device, customer 1's profile as a resource
        and its DACT for the Aggregator."""
        owner = customer_id(1)
        ids = self.ids()
        self.say(f"DACT: {owner} grants the Aggregator its consumption profile for {PURPOSE}")
        url = self.ensure_service_node(int(ids["nodePort"]))
        with operators(self.root, self.channel) as ops:
            device = self._ensure_device(ops, ids["deviceId"])
            ops.sync()
            session = Session(self.root, "utility")
            label = f"demo-{owner}"
            with session.gateway(label) as gw:
                access = Access(gw.network(self.channel))
                resource, address = self._ensure_resource(ops, session, label, access, url,
                                                          ids)
                ops.sync()
                table_path = self.access_dir / f"{ids['dactId']}.json"
                table = self._table(table_path, ids)
                status = self._ensure_dact(access, table, owner)
                ops.sync()
                # GetDact answers the owner (and the Utility's and Regulator's operators).
                record = access.get_dact(ids["dactId"])["dact"]
        self.say(f"  service node {url}; device {ids['deviceId']} (Aggregator): {device}; "
                 f"resource {ids['resourceId']}: {resource}; DACT {ids['dactId']} "
                 f"v{record['version']}: {status}, {record['status']}")
        return {"dactId": ids["dactId"], "version": record["version"],
                "status": record["status"], "registered": status, "owner": owner,
                "resourceId": ids["resourceId"], "hashAddress": address,
                "deviceId": ids["deviceId"],
                "deviceKey": str(self.access_dir / f"{ids['deviceId']}.key.pem"),
                "requester": {"kind": "organisation", "mspId": self.requester_msp},
                "purpose": PURPOSE, "table": str(table_path), "serviceNode": url}

    def _device_key(self, device_id: str) -> ec.EllipticCurvePrivateKey:
        key_path = self.access_dir / f"{device_id}.key.pem"
        if not key_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            write_private(key_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def _ensure_device(self, ops: Operators, device_id: str) -> str:
        access = Access(ops.aggregator.network(self.channel))
        pem = self._device_key(device_id).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        try:
            found = access.get_device(device_id)
        except GatewayError as exc:
            if not _missing(exc):
                raise
            found = None
        if found is None:
            with contextlib.suppress(Done):
                once(lambda: access.register_device({"deviceId": device_id, "kind": "gateway",
                                                      "publicKeyPem": pem}))
            found = access.get_device(device_id)
            status = "registered"
        else:
            status = "kept"
        owner = found.get("owner") or {}
        if (found.get("publicKeyPem", "").strip() != pem.strip()
                or owner.get("mspId") != self.requester_msp):
            raise DemoError(f"device {device_id} is registered, but not with the demo's key "
                            f"({self.access_dir / (device_id + '.key.pem')}) for "
                            f"{self.requester_msp}: someone else's. Remove "
                            f"{self.access_dir / 'grant.json'} to draw new ids")
        if found.get("status") != "active":
            raise DemoError(f"device {device_id} is {found.get('status')}: remove "
                            f"{self.access_dir / 'grant.json'} to draw new ids")
        return status

    def _ensure_resource(self, ops: Operators, session: Session, label: str, access: Access,
                         url: str, ids: dict[str, Any]) -> tuple[str, str]:
        resource_id = ids["resourceId"]
        try:
            access.get_resource(resource_id)
            registered = True
        except GatewayError as exc:
            if not _missing(exc):
                raise
            registered = False
        if not registered:
            # The Utility's service node produces the profile from the readings on its
            # own peer; its bytes carry no id and a random nonce.
            identity, signer = session.credentials(label)
            with ServiceNodeClient(url, identity, signer) as node:
                made = node.produce_profile(meter_id(1))
            self._keep(hashAddress=made["hashAddress"])
            with contextlib.suppress(Done):
                once(lambda: retrying(lambda: access.register_resource({
                    "resourceId": resource_id, "hashAddress": made["hashAddress"],
                    "mediaType": made["mediaType"], "size": made["size"],
                    "description": f"15-minute consumption profile, {made['intervals']} "
                                   "intervals"})))
        # Whose it is, as the ledger says (a Utility operator reads the private owner).
        found = Access(ops.utility.network(self.channel)).resource_owner(resource_id)
        expected = self.ids().get("hashAddress")
        if found["customerId"] != customer_id(1) or found["hashAddress"] != expected:
            raise DemoError(f"resource {resource_id} is registered, but not as customer "
                            f"{customer_id(1)}'s profile at the demo's service node: someone "
                            f"else's. Remove {self.access_dir / 'grant.json'} to draw new ids")
        return ("registered" if not registered else "kept"), found["hashAddress"]

    def _ensure_dact(self, access: Access, table: dict[str, Any], owner: str) -> str:
        try:
            found = access.get_dact(table["dactId"])
        except GatewayError as exc:
            if _chaincode_status(exc) == 403:  # the id is another customer's DACT
                raise DemoError(f"DACT {table['dactId']} is registered by someone else: "
                                f"remove {self.access_dir / 'grant.json'} to draw new ids"
                                ) from None
            if not _missing(exc):
                raise
            found = None
        if found is None:
            with contextlib.suppress(Done):
                once(lambda: retrying(lambda: access.register_dact(table)))
            found = access.get_dact(table["dactId"])
            status = "registered"
        else:
            status = "kept"
        if (found.get("customerId") != owner
                or found["dact"]["commitment"] != dact_commitment(table)):
            raise DemoError(f"DACT {table['dactId']} is registered, but is not the demo's "
                            f"table for {owner}: someone else's. Remove "
                            f"{self.access_dir / 'grant.json'} to draw new ids")
        return status

    def _table(self, path: Path, ids: dict[str, Any]) -> dict[str, Any]:
        """The DACT table, made once and kept (salt included) before it is registered."""
        if path.exists():
            table: dict[str, Any] = json.loads(path.read_text())
            if table.get("dactId") == ids["dactId"]:
                return table
        table = new_dact(
            devices=[ids["deviceId"]], resources=[ids["resourceId"]],
            requester=requester("organisation", self.requester_msp), purpose=PURPOSE,
            not_after=format_utc(_now() + dt.timedelta(days=DACT_DAYS)),
            dact_id=ids["dactId"])
        write_private(path, json.dumps(table, indent=2, sort_keys=True))
        return table


def show(dact: dict[str, Any]) -> str:
    """One line on the DACT for ``demo up``'s summary."""
    return (f"DACT {dact['dactId']} v{dact['version']} ({dact['status']}): {dact['owner']}'s "
            f"{dact['resourceId']} for {dact['requester']['mspId']} "
            f"({dact['requester']['kind']}), purpose {dact['purpose']}; served by "
            f"{dact.get('serviceNode', '?')}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
