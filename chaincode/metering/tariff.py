"""Tariffs: versioned schedules set by the Regulator, and the pure pricing arithmetic.

Public state:
    tariff~<tariffId>  {"tariffId", "versions": [version, ...]} in effectiveFrom order
    tariffreg          {"tariffIds": [...]}: the tariffs the Regulator has created

Both keys carry a key-level endorsement policy "RegulatorMSP peer" from their first write,
so every later write needs the Regulator's endorsement. A brand-new key has no policy yet
(Fabric validates its first write against the chaincode policy), so a tariff is trusted
only when ``tariffreg`` lists it: adding an id rewrites ``tariffreg``, which needs the
Regulator from the first SetTariff on.

Prices are integers in minor units of the currency per kWh; energy is in Wh, so an amount
is Wh x price / 1000, rounded half away from zero (numbers.div_round) once per bill line.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..shim import ChaincodeError, all_of_policy
from .access import REGULATOR
from .ledger import Overlay, check_id, check_object, key
from .numbers import check_int, div_round, format_utc, parse_hour

REGISTRY_KEY = "tariffreg"
_FIELDS = {
    "tariffId", "effectiveFrom", "currency", "currencyExponent", "utcOffsetMinutes", "tiers",
    "touBands", "feedInPricePerKwh", "taxes", "description",
}
_MAX_PRICE = 10**12


def tariff_key(tariff_id: str) -> str:
    """Ledger key of a tariff's version list."""
    return key("tariff", tariff_id)


def regulator_policy() -> bytes:
    """Key-level endorsement policy for tariff keys: a RegulatorMSP peer must endorse."""
    return all_of_policy([REGULATOR])


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ChaincodeError(f"{what} must be a JSON array", status=400)
    return value


def parse_version(obj: Any) -> dict[str, Any]:
    """Validate a SetTariff argument; return the version fields (without "version")."""
    check_object(obj, "tariff", _FIELDS)
    tariff_id = check_id(obj.get("tariffId"), "tariffId")
    effective = parse_hour(obj.get("effectiveFrom"), "effectiveFrom")
    currency = obj.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
        raise ChaincodeError("currency must be a 3-letter ISO 4217 code", status=400)
    offset = check_int(obj.get("utcOffsetMinutes", 0), "utcOffsetMinutes", minimum=-720,
                       maximum=840)
    if offset % 60:
        # Usage is kept per UTC hour; whole-hour offsets map each onto one local hour.
        raise ChaincodeError("utcOffsetMinutes must be a whole number of hours", status=400)
    tiers = _list(obj.get("tiers"), "tiers")
    if not tiers:
        raise ChaincodeError("tiers must hold at least one tier", status=400)
    clean_tiers: list[dict[str, Any]] = []
    previous = 0
    for i, tier in enumerate(tiers, 1):
        if not isinstance(tier, dict) or set(tier) != {"upToKwh", "pricePerKwh"}:
            raise ChaincodeError(f"tier {i} must be {{upToKwh, pricePerKwh}}", status=400)
        price = check_int(tier["pricePerKwh"], f"tier {i} pricePerKwh", maximum=_MAX_PRICE)
        up_to = tier["upToKwh"]
        if i == len(tiers):
            if up_to is not None:
                raise ChaincodeError("the last tier must have upToKwh null (open)", status=400)
        else:
            check_int(up_to, f"tier {i} upToKwh", minimum=previous + 1)
            previous = up_to
        clean_tiers.append({"upToKwh": up_to, "pricePerKwh": price})
    bands: list[dict[str, Any]] = []
    used_hours: set[int] = set()
    names: set[str] = set()
    for i, band in enumerate(_list(obj.get("touBands", []), "touBands"), 1):
        if not isinstance(band, dict) or set(band) != {"name", "hours", "adjustPerKwh"}:
            raise ChaincodeError(f"touBand {i} must be {{name, hours, adjustPerKwh}}", status=400)
        name = check_id(band["name"], f"touBand {i} name")
        if name in names or name == "standard":
            raise ChaincodeError(f"touBand name {name!r} is reserved or repeated", status=400)
        names.add(name)
        hours = _list(band["hours"], f"touBand {name} hours")
        for h in hours:
            check_int(h, f"touBand {name} hour", maximum=23)
        if not hours or hours != sorted(set(hours)) or used_hours & set(hours):
            raise ChaincodeError(
                f"touBand {name} hours must be sorted, distinct and in no other band", status=400
            )
        used_hours |= set(hours)
        adjust = check_int(band["adjustPerKwh"], f"touBand {name} adjustPerKwh",
                           minimum=-_MAX_PRICE, maximum=_MAX_PRICE)
        bands.append({"name": name, "hours": hours, "adjustPerKwh": adjust})
    taxes: list[dict[str, Any]] = []
    for i, tax in enumerate(_list(obj.get("taxes", []), "taxes"), 1):
        if not isinstance(tax, dict) or set(tax) != {"name", "rateBasisPoints"}:
            raise ChaincodeError(f"tax {i} must be {{name, rateBasisPoints}}", status=400)
        taxes.append({
            "name": check_id(tax["name"], f"tax {i} name"),
            "rateBasisPoints": check_int(tax["rateBasisPoints"], f"tax {i} rateBasisPoints",
                                         maximum=10_000),
        })
    description = obj.get("description", "")
    if not isinstance(description, str) or len(description) > 512:
        raise ChaincodeError("description must be a string of at most 512", status=400)
    return {
        "tariffId": tariff_id,
        "effectiveFrom": format_utc(effective),
        "currency": currency,
        "currencyExponent": check_int(obj.get("currencyExponent"), "currencyExponent",
                                      maximum=4),
        "utcOffsetMinutes": offset,
        "tiers": clean_tiers,
        "touBands": bands,
        "feedInPricePerKwh": check_int(obj.get("feedInPricePerKwh", 0), "feedInPricePerKwh",
                                       maximum=_MAX_PRICE),
        "taxes": taxes,
        "description": description,
    }


def set_version(ov: Overlay, fields: dict[str, Any]) -> dict[str, Any]:
    """Append a version; attach the Regulator key-level policy on first write of a key.

    Versions are append-only and strictly later in effect; after the first, a version may
    not take effect before the transaction time, so issued bills stay reproducible.
    """
    tariff_id = fields["tariffId"]
    doc = ov.get_json(tariff_key(tariff_id))
    now = ov.stub.tx_timestamp
    if doc is None:
        doc = {"tariffId": tariff_id, "versions": []}
        registry = ov.get_json(REGISTRY_KEY)
        if registry is None:
            ov.stub.set_state_validation_parameter(REGISTRY_KEY, regulator_policy())
            registry = {"tariffIds": []}
        registry["tariffIds"] = sorted({*registry["tariffIds"], tariff_id})
        ov.put_json(REGISTRY_KEY, registry)
        ov.stub.set_state_validation_parameter(tariff_key(tariff_id), regulator_policy())
    else:
        last = doc["versions"][-1]
        if fields["effectiveFrom"] <= last["effectiveFrom"]:
            raise ChaincodeError(
                f"tariff {tariff_id} version {last['version']} is effective from "
                f"{last['effectiveFrom']}; a new version must start later", status=409
            )
        if parse_hour(fields["effectiveFrom"], "effectiveFrom") < now:
            raise ChaincodeError(
                "a new tariff version cannot take effect before the transaction time", status=409
            )
    version = {**fields, "version": len(doc["versions"]) + 1, "setAt": format_utc(now),
               "txId": ov.stub.tx_id}
    doc["versions"].append(version)
    ov.put_json(tariff_key(tariff_id), doc)
    return version


def get_doc(ov: Overlay, tariff_id: str) -> dict[str, Any]:
    """All versions of a trusted tariff, or 404 (also when ``tariffreg`` does not list it)."""
    tariff_id = check_id(tariff_id, "tariffId")
    doc, registry = (ov.get_json(k) for k in (tariff_key(tariff_id), REGISTRY_KEY))
    if doc is None or registry is None or tariff_id not in registry["tariffIds"]:
        raise ChaincodeError(f"tariff {tariff_id} is not defined", status=404)
    return doc


def version_at(doc: dict[str, Any], when: dt.datetime) -> dict[str, Any]:
    """The version in force at ``when``, or 404."""
    stamp = format_utc(when)
    current = None
    for version in doc["versions"]:
        if version["effectiveFrom"] <= stamp:
            current = version
    if current is None:
        raise ChaincodeError(
            f"tariff {doc['tariffId']} has no version in force at {stamp}", status=404
        )
    return current


# -- pricing arithmetic (pure) -------------------------------------------------------------


def tier_bounds_wh(version: dict[str, Any], num: int = 1, den: int = 1) -> list[int | None]:
    """Upper tier bounds in Wh, scaled by num/den (pro-rating), rounded half up."""
    return [
        None if t["upToKwh"] is None else div_round(t["upToKwh"] * 1000 * num, den)
        for t in version["tiers"]
    ]


def split_by_tiers(start_wh: int, energy_wh: int, bounds: list[int | None]) -> list[int]:
    """Wh of the span [start_wh, start_wh + energy_wh) that falls in each tier."""
    parts: list[int] = []
    low = 0
    end = start_wh + energy_wh
    for bound in bounds:
        high = end if bound is None else bound
        parts.append(max(0, min(end, high) - max(start_wh, low)))
        low = high if bound is not None else low
    return parts


def tiered_milli(start_wh: int, energy_wh: int, version: dict[str, Any]) -> int:
    """Exact cost of [start_wh, start_wh + energy_wh) in thousandths of a minor unit."""
    parts = split_by_tiers(start_wh, energy_wh, tier_bounds_wh(version))
    return sum(wh * t["pricePerKwh"] for wh, t in zip(parts, version["tiers"], strict=True))


def local_hour(version: dict[str, Any], utc_hour: int) -> int:
    """Hour of day in the tariff's local time for a UTC hour of day."""
    return (utc_hour + version["utcOffsetMinutes"] // 60) % 24


def band_of(version: dict[str, Any], utc_hour: int) -> tuple[str, int]:
    """(band name, adjustPerKwh) for a UTC hour; ("standard", 0) outside every band."""
    hour = local_hour(version, utc_hour)
    for band in version["touBands"]:
        if hour in band["hours"]:
            return band["name"], band["adjustPerKwh"]
    return "standard", 0


def tax_basis_points(version: dict[str, Any]) -> int:
    """Sum of the version's tax rates in basis points."""
    return sum(t["rateBasisPoints"] for t in version["taxes"])
