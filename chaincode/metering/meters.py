"""Meters as IDoT devices: registration, key replacement, status, lookup by customer.

A meter is two records (see common/privacy.py for why):
    meter~<meterId>        public: the device (IDoT) - id, public key, curve, profile,
                           install date, status, key history; every member may check a
                           device's signature against it
    meterinfo~<meterId>    private: whose it is - customer, location; billing - the
                           tariff history and the hours already billed (below)
    meterhead~<meterId>    private: chain head: seq, hash, intervalEnd, importWh, exportWh
    custmeter~<customerId> private: {"meters": [...]}, the customer's meters (one record:
                           a transaction that writes may not range-scan private data)

``get`` returns both records merged (on a member's peer); ``get_device`` the public one.

Keys: a meter's signing key is in both records. The public one is the device's, for
every member (and contract ``access``) to check device signatures against; it carries the
key-level policy ``AND('UtilityMSP.peer', 'RegulatorMSP.peer')`` from RegisterMeter on,
so no two members without the Utility can install a key of their own (the chaincode policy
alone, 2 of 3, would let the Regulator and the Aggregator do it). The reading path
verifies with the copy in the private record (``publicKeyPem``, ``curve``, and ``keys``:
every key with the seq it took effect from), which only the collection's two members
write; ``meterkey~<fingerprint>`` (public, written once) holds which meter a key was
registered for, so one device key never signs for two meters. ReplaceMeterKey changes
all of them in one transaction.

Tariff history: ``tariffs`` = [{"tariffId", "from"}, ...] in ``from`` order; each hour is
priced (bills, exhaustion, late adjustments) by the entry in force at its start, so a
change never reprices a past hour. RegisterMeter's tariff applies ``from`` the epoch (a
meter's backlog is priced by it); SetMeterTariff's from the first whole UTC hour at or
after the transaction time (no reading of that hour can be recorded yet: readings may not
end after the transaction time). ``tariffId`` is the last entry's. ``billedPeriods``: see
metering/periods.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.numbers import check_int, check_object
from gridledger.formats.reading import load_public_key
from gridledger.formats.utc import format_utc

from ..common import device_ids
from ..common.callers import REGULATOR, UTILITY
from ..common.keys import key
from ..common.overlay import Overlay
from ..shim import ChaincodeError, all_of_policy
from . import market_records, periods
from .chain import GENESIS_HASH
from .tariff import Tariffs, first_unmetered

ACTIVE, SUSPENDED, DECOMMISSIONED = "active", "suspended", "decommissioned"
EPOCH = "1970-01-01T00:00:00Z"
HOUR = dt.timedelta(hours=1)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REGISTER_FIELDS = {
    "meterId", "publicKeyPem", "curve", "customerId", "tariffId", "deviceProfile", "location",
    "installDate", "initialImportWh", "initialExportWh",
}


def meter_key(meter_id: str) -> str:
    """Ledger key of a meter record."""
    return key("meter", meter_id)


def info_key(meter_id: str) -> str:
    """Ledger key of a meter's private record (customer, location, tariff)."""
    return key("meterinfo", meter_id)


def device_key_key(fingerprint: str) -> str:
    """Ledger key naming the meter a public key was registered for (public)."""
    return key("meterkey", fingerprint)


# Members of the private record; everything else of a meter is public. The key members
# are the device's too: the private copy, which the reading path verifies with, wins.
INFO_FIELDS = ("customerId", "location", "tariffId", "tariffs", "billedPeriods",
               "publicKeyPem", "curve", "keys")
# Every write of meter~<id> after RegisterMeter, and of meterkey~: both customerData
# members' peers (the Utility runs the meters; the Regulator witnesses).
DEVICE_POLICY = all_of_policy([UTILITY, REGULATOR])


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
    curve = _text(obj.get("curve", "P-256"), "curve", 16)
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
    device_ids.claim(ov, meter_id, device_ids.METERING)  # 409: an access device has the id
    _claim_key(ov, meter_id, fields["publicKeyPem"])
    now = format_utc(ov.stub.tx_timestamp)
    device = {
        "meterId": meter_id,
        "publicKeyPem": fields["publicKeyPem"],
        "curve": fields["curve"],
        "deviceProfile": fields["deviceProfile"],
        "installDate": fields["installDate"],
        "status": ACTIVE,
        "statusReason": "",
        "keyHistory": [
            {"fromSeq": 1, "curve": fields["curve"], "publicKeyPem": fields["publicKeyPem"],
             "fingerprint": key_fingerprint(fields["publicKeyPem"]), "since": now}
        ],
        "registeredAt": now,
        "updatedAt": now,
    }
    info = {"meterId": meter_id, "customerId": fields["customerId"],
            "location": fields["location"], "tariffId": fields["tariffId"],
            "tariffs": [{"tariffId": fields["tariffId"], "from": EPOCH}],
            # A new meter of a customer already billed: its readings for those hours are late.
            "billedPeriods": periods.billed_periods(periods.issued(ov, fields["customerId"])),
            "publicKeyPem": fields["publicKeyPem"], "curve": fields["curve"],
            "keys": [{"fromSeq": 1, "publicKeyPem": fields["publicKeyPem"],
                      "curve": fields["curve"]}]}
    head = {
        "seq": 0,
        "hash": GENESIS_HASH,
        "intervalEnd": None,
        "importWh": fields["initialImportWh"],
        "exportWh": fields["initialExportWh"],
    }
    ov.put_json(meter_key(meter_id), device)
    # The first write of meter~ is validated against the chaincode policy; every later one
    # (status, key) needs both members' peers.
    ov.stub.set_state_validation_parameter(meter_key(meter_id), DEVICE_POLICY)
    ov.put_json(info_key(meter_id), info)
    ov.put_json(head_key(meter_id), head)
    owned = by_customer(ov, fields["customerId"])
    ov.put_json(customer_index_key(fields["customerId"]), {"meters": sorted([*owned, meter_id])})
    return {**device, **{f: info[f] for f in INFO_FIELDS}}


def merged(device: dict[str, Any] | None, info: dict[str, Any] | None) -> dict[str, Any] | None:
    """A meter's public and private records as one (None when either is missing); the
    key is the private record's."""
    if device is None or info is None:
        return None
    return {**device, **{f: info[f] for f in INFO_FIELDS}}


def _claim_key(ov: Overlay, meter_id: str, pem: str) -> None:
    """Record that ``pem`` signs for ``meter_id``; 409 when another meter registered it
    (now or before: a retired key is never reused for another meter)."""
    kkey = device_key_key(key_fingerprint(pem))
    claimed = ov.get_json(kkey)
    if claimed is not None and claimed["meterId"] != meter_id:
        raise ChaincodeError(f"this public key is registered for another meter "
                             f"({claimed['meterId']}): one device key signs for one meter; "
                             "give the meter a key of its own", status=409)
    if claimed is None:
        ov.put_json(kkey, {"meterId": meter_id, "txId": ov.stub.tx_id,
                           "at": format_utc(ov.stub.tx_timestamp)})
        ov.stub.set_state_validation_parameter(kkey, DEVICE_POLICY)


def get(ov: Overlay, meter_id: str) -> dict[str, Any]:
    """The whole meter record (device and private part), or 404."""
    device = get_device(ov, meter_id)
    info = ov.get_json(info_key(meter_id))
    if info is None:
        raise ChaincodeError(f"meter {meter_id} has no private record on this peer; ask a "
                             "Utility or Regulator peer", status=404)
    return merged(device, info)


def get_device(ov: Overlay, meter_id: str) -> dict[str, Any]:
    """The meter's public record (the device), or 404."""
    record = ov.get_json(meter_key(check_id(meter_id, "meterId")))
    if record is None:
        raise ChaincodeError(f"meter {meter_id} is not registered", status=404)
    return record


def owner(ov: Overlay, meter_id: str) -> str:
    """The customer id of a meter, from its private record only (404 without it): for
    callers whose transaction must not name the meter in its public read set."""
    info = ov.get_json(info_key(check_id(meter_id, "meterId")))
    if info is None:
        raise ChaincodeError(f"meter {meter_id} is not registered (or this peer holds no "
                             "customerData)", status=404)
    return info["customerId"]


def owners(ov: Overlay, meter_ids: list[str]) -> dict[str, str | None]:
    """The customer of each meter from its private record (None: unknown here), the
    records read in one round trip."""
    keys = [info_key(check_id(m, "meterId")) for m in meter_ids]
    ov.prefetch(keys)
    return {m: (info or {}).get("customerId")
            for m, info in zip(meter_ids, (ov.get_json(k) for k in keys), strict=True)}


def get_head(ov: Overlay, meter_id: str) -> dict[str, Any]:
    """The meter's chain head, or 404."""
    head = ov.get_json(head_key(check_id(meter_id, "meterId")))
    if head is None:
        raise ChaincodeError(f"meter {meter_id} is not registered", status=404)
    return head


def _changeable(ov: Overlay, meter_id: str) -> dict[str, Any]:
    record = get_device(ov, meter_id)
    if record["status"] == DECOMMISSIONED:
        raise ChaincodeError(f"meter {meter_id} is decommissioned", status=409)
    return record


def _save(ov: Overlay, device: dict[str, Any]) -> dict[str, Any]:
    device["updatedAt"] = format_utc(ov.stub.tx_timestamp)
    ov.put_json(meter_key(device["meterId"]), device)
    return device


def replace_key(ov: Overlay, meter_id: str, pem: str, curve: str) -> dict[str, Any]:
    """Install a new public key, in the public and the private record alike: readings
    after the current head must carry it (both members' peers endorse: the private
    record, and meter~'s key-level policy). The answer is the public record."""
    record = _changeable(ov, meter_id)
    load_public_key(_text(pem, "publicKeyPem", 4096), _text(curve, "curve", 16))
    info = ov.get_json(info_key(meter_id))
    if info is None:
        raise ChaincodeError(f"meter {meter_id} has no private record on this peer", 404)
    if pem == info["publicKeyPem"]:
        raise ChaincodeError(f"meter {meter_id} already has this key", status=409)
    _claim_key(ov, meter_id, pem)
    head = get_head(ov, meter_id)
    record["publicKeyPem"] = pem
    record["curve"] = curve
    record["keyHistory"].append(
        {"fromSeq": head["seq"] + 1, "curve": curve, "publicKeyPem": pem,
         "fingerprint": key_fingerprint(pem), "since": format_utc(ov.stub.tx_timestamp)}
    )
    info["publicKeyPem"], info["curve"] = pem, curve
    entry = {"fromSeq": head["seq"] + 1, "publicKeyPem": pem, "curve": curve}
    if info["keys"][-1]["fromSeq"] == entry["fromSeq"]:
        info["keys"][-1] = entry  # replaced again before any reading used it
    else:
        info["keys"].append(entry)
    ov.put_json(info_key(meter_id), info)
    return _save(ov, record)


def key_at(info: dict[str, Any], seq: int) -> dict[str, Any]:
    """The key (``publicKeyPem``, ``curve``) the meter's private record says signed
    reading ``seq``: the last entry of ``keys`` from at most ``seq`` on."""
    current = info["keys"][0]
    for entry in info["keys"]:
        if entry["fromSeq"] <= seq:
            current = entry
    return current


def set_status(ov: Overlay, meter_id: str, status: str, reason: str) -> dict[str, Any]:
    """Suspend, resume or decommission a meter (decommissioning is final)."""
    record = _changeable(ov, meter_id)
    if record["status"] == status:
        raise ChaincodeError(f"meter {meter_id} is already {status}", status=409)
    record["status"] = status
    record["statusReason"] = reason[:256]
    return _save(ov, record)


def tariff_at(meter: dict[str, Any], when: dt.datetime) -> str:
    """Id of the tariff the meter's history assigns to the hour starting at ``when``."""
    stamp = format_utc(when)
    current = meter["tariffs"][0]["tariffId"]
    for entry in meter["tariffs"]:
        if entry["from"] <= stamp:
            current = entry["tariffId"]
    return current


def _next_hour(when: dt.datetime) -> dt.datetime:
    start = when.replace(minute=0, second=0, microsecond=0)
    return start if start == when else start + HOUR


def set_tariff(ov: Overlay, meter_id: str, tariff_id: str) -> dict[str, Any]:
    """Bill the meter under another trusted tariff from the next whole hour on (a no-op if
    it already is; 409 if a later change is scheduled or the currency would change)."""
    _changeable(ov, meter_id)
    info = ov.get_json(info_key(meter_id))
    if info is None:
        raise ChaincodeError(f"meter {meter_id} has no private record on this peer", 404)
    check_id(tariff_id, "tariffId")
    if market_records.enrolment(ov, meter_id) is not None:
        # Settlement refunds a trade's energy at the market's tariff: the meter must be
        # billed by that very tariff while it trades (market/parties.py).
        raise ChaincodeError(f"meter {meter_id} trades in the market under its tariff: "
                             "retire its participant before changing the tariff", status=409)
    # The first whole hour no recorded reading can have reached (tariff.py): a reading
    # ending after the transaction time, within the consortium's tolerance, could
    # otherwise hold energy of an hour this reprices.
    start = _next_hour(first_unmetered(ov.stub, "SetMeterTariff"))
    stamp = format_utc(start)
    history = info["tariffs"]
    if stamp < history[-1]["from"]:
        raise ChaincodeError(f"meter {meter_id} already changes tariff at "
                             f"{history[-1]['from']}", status=409)
    current = tariff_at(info, start)
    if current == tariff_id:  # already so: a no-op (a retried request, say)
        return {"meterId": meter_id, "from": history[-1]["from"]}
    tariffs = Tariffs(ov)
    new = tariffs.version_at(tariff_id, start)  # 404/409 unless trusted and in force
    try:
        old: dict[str, Any] | None = tariffs.version_at(current, start)
    except ChaincodeError:
        old = None  # the old tariff is not trusted (any more): leaving it is the remedy
    if old is not None and ((old["currency"], old["currencyExponent"])
                            != (new["currency"], new["currencyExponent"])):
        raise ChaincodeError(f"tariff {tariff_id} is in {new['currency']}, meter {meter_id} "
                             f"is billed in {old['currency']}", status=409)
    entry = {"tariffId": tariff_id, "from": stamp}
    if history[-1]["from"] == stamp:
        history[-1] = entry  # a second change in the same hour: the last one counts
    else:
        history.append(entry)
    info["tariffId"] = tariff_id
    ov.put_json(info_key(meter_id), info)
    return {"meterId": meter_id, "from": stamp}


def add_billed(ov: Overlay, meter_id: str, start: str, end: str) -> None:
    """Record that an issued bill covers [start, end) of the meter."""
    info = ov.get_json(info_key(meter_id))
    info["billedPeriods"] = periods.add_period(info["billedPeriods"], start, end)
    ov.put_json(info_key(meter_id), info)


def customer_index_key(customer_id: str) -> str:
    """Ledger key of the list of a customer's meters."""
    return key("custmeter", customer_id)


def by_customer(ov: Overlay, customer_id: str) -> list[str]:
    """Meter ids of a customer, in id order."""
    index = ov.get_json(customer_index_key(check_id(customer_id, "customerId")))
    return list(index["meters"]) if index else []
