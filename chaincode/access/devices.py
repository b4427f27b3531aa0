"""IDoT devices: the things through which access is exercised (seed 001's "identity of
things"): one registry with the meters of ``metering``.

    idot~<deviceId>       public: kind, public key, curve, status, owner kind (and the
                          organisation's MSP for an organisation's device)
    idotowner~<deviceId>  private: the customer who owns a customer's device

A meter is an IDoT too, kept where ``metering`` keeps it (its public ``meter~`` record,
read through ``metering/api.py``): :func:`lookup` answers for both. An id names one
device: both registries claim the ids they register in one namespace
(``common/device_ids.py``, ``devid~<id>``), so a device registered under an id no meter
has *yet* cannot stand in for the meter registered later (RegisterMeter refuses the id).

``idot~`` carries a key-level policy (policies.py): an organisation's device, that
organisation and one other; a customer's device, the Utility and one other. So no two
other members can replace a device's key. RevokeDevice ends a device for good (status
``revoked``): every token exercised through it ends.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.numbers import check_object
from gridledger.formats.reading import CURVES, load_public_key
from gridledger.formats.utc import format_utc

from ..common import device_ids
from ..common.keys import key
from ..common.overlay import Overlay
from ..metering import api as metering
from ..shim import ChaincodeError
from . import policies

KINDS = ("gateway", "home-gateway", "phone", "sensor", "inverter", "ev-charger", "battery")
ACTIVE, REVOKED = "active", "revoked"


def device_key(device_id: str) -> str:
    """Ledger key of a device registered by ``access``."""
    return key("idot", device_id)


def owner_key(device_id: str) -> str:
    """Ledger key of a customer-owned device's owner (private)."""
    return key("idotowner", device_id)


def parse(obj: Any) -> dict[str, Any]:
    """A RegisterDevice argument: {deviceId, kind, publicKeyPem, curve?}."""
    check_object(obj, "device", {"deviceId", "kind", "publicKeyPem", "curve"})
    device_id = check_id(obj.get("deviceId"), "deviceId")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise ChaincodeError(f"device kind must be one of {', '.join(KINDS)} (meters are "
                             "registered by metering:RegisterMeter)", status=400)
    curve = obj.get("curve", "P-256")
    if curve not in CURVES:
        raise ChaincodeError(f"curve must be one of {', '.join(CURVES)}", status=400)
    pem = obj.get("publicKeyPem")
    if not isinstance(pem, str) or not pem or len(pem) > 4096:
        raise ChaincodeError("publicKeyPem must be a PEM public key", status=400)
    load_public_key(pem, curve)  # 400 unless a PEM EC key on that curve
    return {"deviceId": device_id, "kind": kind, "publicKeyPem": pem, "curve": curve}


def _is_meter(ov: Overlay, device_id: str) -> bool:
    try:
        metering.get_meter_device(ov, device_id)
    except ChaincodeError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def register(ov: Overlay, fields: dict[str, Any], *, owner_msp: str | None,
             customer: str | None) -> dict[str, Any]:
    """Record a device of an organisation (``owner_msp``) or of a customer (409 if the id
    names a device already, a meter included)."""
    device_id = fields["deviceId"]
    if ov.get(device_key(device_id)) is not None:
        raise ChaincodeError(f"device {device_id} is already registered", status=409)
    if _is_meter(ov, device_id):
        raise ChaincodeError(f"{device_id} is a meter, an IDoT registered by metering: one "
                             "registry per device", status=409)
    device_ids.claim(ov, device_id, device_ids.ACCESS)
    owner = ({"kind": "customer"} if customer is not None
             else {"kind": "organisation", "mspId": owner_msp})
    record = {**fields, "status": ACTIVE, "owner": owner,
              "registeredAt": format_utc(ov.stub.tx_timestamp)}
    ov.put_json(device_key(device_id), record)
    policies.create(ov.stub, device_key(device_id), policies.device_policy(owner_msp))
    if customer is not None:
        ov.put_json(owner_key(device_id), {"deviceId": device_id, "customerId": customer})
    return record


def record_of(ov: Overlay, device_id: str) -> dict[str, Any]:
    """A device of access (its ``idot~`` record), or 404 (a meter: 409, decommission it
    with metering:DecommissionMeter)."""
    record = ov.get_json(device_key(check_id(device_id, "deviceId")))
    if record is None:
        if _is_meter(ov, device_id):
            raise ChaincodeError(f"{device_id} is a meter: the Utility decommissions it "
                                 "(metering:DecommissionMeter)", status=409)
        raise ChaincodeError(f"no IDoT device {device_id} registered by access", status=404)
    return record


def owner_customer(ov: Overlay, device_id: str) -> str:
    """The customer who owns a customer's device (a read of customerData)."""
    record = ov.get_json(owner_key(device_id))
    if record is None:
        raise ChaincodeError(f"device {device_id} has no owner record on this peer; ask a "
                             "Utility or Regulator peer", status=404)
    return str(record["customerId"])


def revoke(ov: Overlay, record: dict[str, Any], reason: str) -> dict[str, Any]:
    """End a device for good (409 if it is already revoked). An organisation's reason is
    public; a customer's stays in its private owner record (free text may name a
    person)."""
    device_id = record["deviceId"]
    if record["status"] == REVOKED:
        raise ChaincodeError(f"device {device_id} is already revoked", status=409)
    if not isinstance(reason, str) or not reason or len(reason) > 256 or not reason.isprintable():
        raise ChaincodeError("reason must be printable text of 1-256 characters", status=400)
    now = format_utc(ov.stub.tx_timestamp)
    revoked = {**record, "status": REVOKED, "revokedAt": now}
    if record["owner"]["kind"] == "customer":
        private = ov.get_json(owner_key(device_id)) or {"deviceId": device_id}
        ov.put_json(owner_key(device_id), {**private, "revokedReason": reason})
    else:
        revoked["revokedReason"] = reason
    ov.put_json(device_key(device_id), revoked)
    return revoked


def lookup(ov: Overlay, device_id: str) -> dict[str, Any]:
    """The IDoT named ``device_id``: {deviceId, kind, publicKeyPem, curve, status,
    registry}; a meter's public record when it is a meter (404 when neither)."""
    check_id(device_id, "deviceId")
    held = device_ids.holder(ov, device_id)  # 409 for an id both registries hold unclaimed
    record = ov.get_json(device_key(device_id)) if held != device_ids.METERING else None
    if record is not None:
        return {f: record[f] for f in ("deviceId", "kind", "publicKeyPem", "curve",
                                       "status", "owner")} | {"registry": "access"}
    try:
        meter = metering.get_meter_device(ov, device_id)
    except ChaincodeError as exc:
        if exc.status == 404:
            raise ChaincodeError(f"no IDoT device {device_id} (neither a device of access "
                                 "nor a meter)", status=404) from None
        raise
    return {"deviceId": device_id, "kind": "meter", "publicKeyPem": meter["publicKeyPem"],
            "curve": meter["curve"], "status": meter["status"], "registry": "metering"}
