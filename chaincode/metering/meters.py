"""Meters as IDoT devices: registration, key replacement, status, lookup by customer.

Public state:
    meter~<meterId>                 the meter record (JSON)
    meterhead~<meterId>             chain head: seq, hash, intervalEnd, importWh, exportWh
    custmeter~<customerId>~<meterId> index for MetersByCustomer (value: meterId)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from ..shim import ChaincodeError
from .chain import GENESIS_HASH
from .encoding import load_public_key
from .ledger import Overlay, check_id, check_object, key, prefix_range
from .numbers import check_int, format_utc

ACTIVE, SUSPENDED, DECOMMISSIONED = "active", "suspended", "decommissioned"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REGISTER_FIELDS = {
    "meterId", "publicKeyPem", "curve", "customerId", "tariffId", "deviceProfile", "location",
    "installDate", "initialImportWh", "initialExportWh",
}


def meter_key(meter_id: str) -> str:
    """Ledger key of a meter record."""
    return key("meter", meter_id)


def head_key(meter_id: str) -> str:
    """Ledger key of a meter's chain head."""
    return key("meterhead", meter_id)


def key_fingerprint(pem: str) -> str:
    """SHA-256 of the PEM text, hex: names a key in the key history."""
    return hashlib.sha256(pem.encode("ascii")).hexdigest()


def _text(value: Any, what: str, max_len: int = 256) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ChaincodeError(f"{what} must be a non-empty string of at most {max_len}", status=400)
    return value


def parse_registration(obj: Any) -> dict[str, Any]:
    """Validate a RegisterMeter argument; return the normalised fields."""
    check_object(obj, "meter", _REGISTER_FIELDS)
    pem = _text(obj.get("publicKeyPem"), "publicKeyPem", 4096)
    curve = obj.get("curve", "P-256")
    load_public_key(pem, curve)  # 400 unless a PEM EC key on that curve
    install = _text(obj.get("installDate"), "installDate", 10)
    if not _DATE.fullmatch(install):
        raise ChaincodeError("installDate must be YYYY-MM-DD", status=400)
    try:
        dt.date.fromisoformat(install)
    except ValueError:
        raise ChaincodeError(f"installDate {install} is not a date", status=400) from None
    profile = obj.get("deviceProfile")
    location = obj.get("location")
    return {
        "meterId": check_id(obj.get("meterId"), "meterId"),
        "publicKeyPem": pem,
        "curve": curve,
        "customerId": check_id(obj.get("customerId"), "customerId"),
        "tariffId": check_id(obj.get("tariffId"), "tariffId"),
        "deviceProfile": _text(profile, "deviceProfile"),
        "location": _text(location, "location"),
        "installDate": install,
        "initialImportWh": check_int(obj.get("initialImportWh", 0), "initialImportWh"),
        "initialExportWh": check_int(obj.get("initialExportWh", 0), "initialExportWh"),
    }


def register(ov: Overlay, fields: dict[str, Any]) -> dict[str, Any]:
    """Create a meter, its genesis chain head and its customer index entry (409 if known)."""
    meter_id = fields["meterId"]
    if ov.get(meter_key(meter_id)) is not None:
        raise ChaincodeError(f"meter {meter_id} is already registered", status=409)
    now = format_utc(ov.stub.tx_timestamp)
    record = {
        "meterId": meter_id,
        "publicKeyPem": fields["publicKeyPem"],
        "curve": fields["curve"],
        "customerId": fields["customerId"],
        "tariffId": fields["tariffId"],
        "deviceProfile": fields["deviceProfile"],
        "location": fields["location"],
        "installDate": fields["installDate"],
        "status": ACTIVE,
        "statusReason": "",
        "keyHistory": [
            {"fromSeq": 1, "curve": fields["curve"],
             "fingerprint": key_fingerprint(fields["publicKeyPem"]), "since": now}
        ],
        "registeredAt": now,
        "updatedAt": now,
    }
    head = {
        "seq": 0,
        "hash": GENESIS_HASH,
        "intervalEnd": None,
        "importWh": fields["initialImportWh"],
        "exportWh": fields["initialExportWh"],
    }
    ov.put_json(meter_key(meter_id), record)
    ov.put_json(head_key(meter_id), head)
    ov.put(key("custmeter", fields["customerId"], meter_id), meter_id.encode("ascii"))
    return record


def get(ov: Overlay, meter_id: str) -> dict[str, Any]:
    """The meter record, or 404."""
    record = ov.get_json(meter_key(check_id(meter_id, "meterId")))
    if record is None:
        raise ChaincodeError(f"meter {meter_id} is not registered", status=404)
    return record


def get_head(ov: Overlay, meter_id: str) -> dict[str, Any]:
    """The meter's chain head, or 404."""
    head = ov.get_json(head_key(check_id(meter_id, "meterId")))
    if head is None:
        raise ChaincodeError(f"meter {meter_id} is not registered", status=404)
    return head


def _changeable(ov: Overlay, meter_id: str) -> dict[str, Any]:
    record = get(ov, meter_id)
    if record["status"] == DECOMMISSIONED:
        raise ChaincodeError(f"meter {meter_id} is decommissioned", status=409)
    return record


def _save(ov: Overlay, record: dict[str, Any]) -> dict[str, Any]:
    record["updatedAt"] = format_utc(ov.stub.tx_timestamp)
    ov.put_json(meter_key(record["meterId"]), record)
    return record


def replace_key(ov: Overlay, meter_id: str, pem: str, curve: str) -> dict[str, Any]:
    """Install a new public key: readings after the current head must carry it."""
    record = _changeable(ov, meter_id)
    load_public_key(_text(pem, "publicKeyPem", 4096), curve)
    if pem == record["publicKeyPem"]:
        raise ChaincodeError(f"meter {meter_id} already has this key", status=409)
    head = get_head(ov, meter_id)
    record["publicKeyPem"] = pem
    record["curve"] = curve
    record["keyHistory"].append(
        {"fromSeq": head["seq"] + 1, "curve": curve, "fingerprint": key_fingerprint(pem),
         "since": format_utc(ov.stub.tx_timestamp)}
    )
    return _save(ov, record)


def set_status(ov: Overlay, meter_id: str, status: str, reason: str) -> dict[str, Any]:
    """Suspend, resume or decommission a meter (decommissioning is final)."""
    record = _changeable(ov, meter_id)
    if record["status"] == status:
        raise ChaincodeError(f"meter {meter_id} is already {status}", status=409)
    record["status"] = status
    record["statusReason"] = reason[:256]
    return _save(ov, record)


def set_tariff(ov: Overlay, meter_id: str, tariff_id: str) -> dict[str, Any]:
    """Bill the meter under another tariff from now on."""
    record = _changeable(ov, meter_id)
    record["tariffId"] = check_id(tariff_id, "tariffId")
    return _save(ov, record)


def by_customer(ov: Overlay, customer_id: str) -> list[str]:
    """Meter ids of a customer, in id order (range scan over the index)."""
    start, end = prefix_range("custmeter", check_id(customer_id, "customerId"))
    return [kv.value.decode("ascii") for kv in ov.scan(start, end)]
