"""IDoT devices: the things through which access is exercised (seed 001's "identity of
things"): one registry with the meters of ``metering``.

    idot~<deviceId>       public: kind, public key, curve, status, owner kind (and the
                          organisation's MSP for an organisation's device)
    idotowner~<deviceId>  private: the customer who owns a customer's device

A meter is an IDoT too, kept where ``metering`` keeps it (its public ``meter~`` record,
read through ``metering/api.py``): :func:`lookup` answers for both, and an id may name
only one device, so no device is registered twice.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.numbers import check_object
from gridledger.formats.reading import CURVES, load_public_key
from gridledger.formats.utc import format_utc

from ..common.keys import key
from ..common.overlay import Overlay
from ..metering import api as metering
from ..shim import ChaincodeError

KINDS = ("gateway", "home-gateway", "phone", "sensor", "inverter", "ev-charger", "battery")
ACTIVE = "active"


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
    owner = ({"kind": "customer"} if customer is not None
             else {"kind": "organisation", "mspId": owner_msp})
    record = {**fields, "status": ACTIVE, "owner": owner,
              "registeredAt": format_utc(ov.stub.tx_timestamp)}
    ov.put_json(device_key(device_id), record)
    if customer is not None:
        ov.put_json(owner_key(device_id), {"deviceId": device_id, "customerId": customer})
    return record


def lookup(ov: Overlay, device_id: str) -> dict[str, Any]:
    """The IDoT named ``device_id``: {deviceId, kind, publicKeyPem, curve, status,
    registry}; a meter's public record when it is a meter (404 when neither)."""
    check_id(device_id, "deviceId")
    record = ov.get_json(device_key(device_id))
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
