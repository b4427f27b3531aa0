"""Tariffs: versioned schedules set by the Regulator, and which tariff keys to trust.

Public state:
    tariff~<tariffId>  {"tariffId", "versions": [version, ...]} in effectiveFrom order
                       (and "replaced": {"at", "txId"} once SetTariff replaced a forgery)
    tariffreg          {"tariffIds": [...]}: the tariffs the Regulator has created

Both keys get the key-level endorsement policy "a RegulatorMSP peer"
(:func:`regulator_policy`) in the transaction that creates them, so every later write
needs the Regulator's endorsement. Any other member pair can still write a key that has no
policy (Fabric validates it against the chaincode policy), so the chaincode trusts a
tariff only when both its key and ``tariffreg`` carry exactly that policy and
``tariffreg`` lists it (:class:`Tariffs`); it refuses to price with anything else (409).
SetTariff replaces a key written without the policy instead of appending to it.

The pricing arithmetic is in :mod:`.pricing`.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from gridledger.formats.ids import check_id, is_id
from gridledger.formats.numbers import check_int, check_object
from gridledger.formats.utc import format_utc, parse_hour

from ..common.callers import REGULATOR
from ..common.keys import key
from ..common.overlay import Overlay, load_json
from ..shim import ChaincodeError, all_of_policy

REGISTRY_KEY = "tariffreg"
_FIELDS = {
    "tariffId", "effectiveFrom", "currency", "currencyExponent", "utcOffsetMinutes", "tiers",
    "touBands", "feedInPricePerKwh", "taxes", "description",
}
_MAX_PRICE = 10**12


def tariff_key(tariff_id: str) -> str:
    """Ledger key of a tariff's version list."""
    return key("tariff", tariff_id)


@functools.cache
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


def _forged(what: str) -> ChaincodeError:
    return ChaincodeError(
        f"{what} does not carry the Regulator's key-level endorsement policy, so members "
        "other than the Regulator may have written it: refusing to trust it (the "
        "Regulator's next SetTariff replaces it)", status=409)


class Tariffs:
    """The tariffs one transaction may trust, each key read and checked once.

    Trusted = ``tariffreg`` and ``tariff~<id>`` both carry exactly :func:`regulator_policy`
    and ``tariffreg`` lists the id. On a peer every policy read is a round trip
    (GET_STATE_METADATA, one key each), hence the per-transaction cache: a reading batch
    prices hundreds of readings with one or two tariffs.
    """

    def __init__(self, ov: Overlay) -> None:
        self.ov = ov
        self._protected: dict[str, bool] = {}
        self._docs: dict[str, dict[str, Any]] = {}

    def protected(self, k: str) -> bool:
        """True when key ``k`` carries exactly the Regulator policy (committed state)."""
        if k not in self._protected:
            policy = self.ov.stub.get_state_validation_parameter(k)
            self._protected[k] = policy == regulator_policy()
        return self._protected[k]

    def registry(self) -> list[str]:
        """The ids ``tariffreg`` lists ([] before the first SetTariff); 409 if forged."""
        raw = self.ov.get(REGISTRY_KEY)
        if raw is None:
            return []
        if not self.protected(REGISTRY_KEY):
            raise _forged(f"the tariff registry {REGISTRY_KEY}")
        return load_json(raw)["tariffIds"]

    def doc(self, tariff_id: str) -> dict[str, Any]:
        """All versions of a trusted tariff; 404 if the Regulator never set it, 409 if forged."""
        if tariff_id in self._docs:
            return self._docs[tariff_id]
        tkey = tariff_key(check_id(tariff_id, "tariffId"))
        self.ov.prefetch([tkey, REGISTRY_KEY])
        raw = self.ov.get(tkey)
        if raw is None or tariff_id not in self.registry():
            raise ChaincodeError(f"tariff {tariff_id} is not defined", status=404)
        if not self.protected(tkey):
            raise _forged(f"tariff key {tkey}")
        self._docs[tariff_id] = load_json(raw)
        return self._docs[tariff_id]

    def version_at(self, tariff_id: str, when: dt.datetime) -> dict[str, Any]:
        """The version of a trusted tariff in force at ``when``, or 404."""
        return version_at(self.doc(tariff_id), when)


def get_doc(ov: Overlay, tariff_id: str) -> dict[str, Any]:
    """All versions of a trusted tariff (one lookup; use :class:`Tariffs` for several)."""
    return Tariffs(ov).doc(tariff_id)


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


def _genuine_registry(tariffs: Tariffs) -> tuple[list[str], bool]:
    """(ids to keep in ``tariffreg``, whether the key needs the policy set).

    A registry without the policy is rebuilt from the ids it lists whose tariff keys carry
    the policy: an id listed by a forger who did not also protect its key does not survive
    (one protected at creation cannot be told apart: chaincode/README.md, "Tariffs").
    """
    raw = tariffs.ov.get(REGISTRY_KEY)
    if raw is None:
        return [], True
    if tariffs.protected(REGISTRY_KEY):
        return load_json(raw)["tariffIds"], False
    try:
        forged = load_json(raw)
    except ValueError:  # not even JSON
        forged = None
    listed = forged.get("tariffIds") if isinstance(forged, dict) else None
    if not isinstance(listed, list):
        listed = []
    candidates = sorted({i for i in listed if is_id(i)})
    return [i for i in candidates if tariffs.protected(tariff_key(i))], True


def set_version(ov: Overlay, fields: dict[str, Any]) -> dict[str, Any]:
    """Append a version to a trusted tariff, or start the tariff (replacing a forgery).

    Versions are append-only and strictly later in effect; after the first, a version may
    not take effect before the transaction time, so issued bills stay reproducible. Every
    key this writes for the first time, or that lacked the policy, gets the Regulator
    policy in this transaction.
    """
    tariff_id = fields["tariffId"]
    tkey = tariff_key(tariff_id)
    tariffs = Tariffs(ov)
    ov.prefetch([tkey, REGISTRY_KEY])
    ids, registry_unprotected = _genuine_registry(tariffs)
    now = ov.stub.tx_timestamp
    exists = ov.get(tkey) is not None
    trusted = exists and tariff_id in ids and tariffs.protected(tkey)
    if trusted:
        doc = load_json(ov.get(tkey))
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
    else:
        # New, or forged (written without the Regulator): start afresh, never append.
        doc = {"tariffId": tariff_id, "versions": []}
        if exists:
            doc["replaced"] = {"at": format_utc(now), "txId": ov.stub.tx_id}
        ov.stub.set_state_validation_parameter(tkey, regulator_policy())
    if tariff_id not in ids or registry_unprotected:
        ov.put_json(REGISTRY_KEY, {"tariffIds": sorted({*ids, tariff_id})})
    if registry_unprotected:
        ov.stub.set_state_validation_parameter(REGISTRY_KEY, regulator_policy())
    version = {**fields, "version": len(doc["versions"]) + 1, "setAt": format_utc(now),
               "txId": ov.stub.tx_id}
    doc["versions"].append(version)
    ov.put_json(tkey, doc)
    return version
