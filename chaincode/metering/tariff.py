"""Tariffs: versioned schedules set by the Regulator, and which tariff keys to trust.

Public state:
    tariff~<tariffId>  {"tariffId", "versions": [version, ...]} in effectiveFrom order
                       (and "replaced": {"at", "txId"} once SetTariff replaced a forgery)
    tariffreg          {"tariffIds": [...]}: the tariffs the Regulator has created

Both keys get the key-level endorsement policy "a RegulatorMSP peer and a peer of the
Utility or the Aggregator" (:func:`regulator_policy`) in the transaction that creates them,
so every later write needs the Regulator and one other member. Not the Regulator alone:
when a transaction writes only keys that carry key-level policies, Fabric checks those
policies and not the chaincode's, so "a RegulatorMSP peer" would let a Regulator running
modified chaincode reprice the past or delete versions on its own. Any other member pair
can still write a key that has no policy (Fabric validates it against the chaincode
policy), so the chaincode trusts a tariff only when both its key and ``tariffreg`` carry
exactly that policy, ``tariffreg`` lists it, and both records have the shape SetTariff
writes (:class:`Tariffs`); it refuses to price with anything else (409). SetTariff replaces
such a key instead of appending to it.

Time: SetTariff's transaction must be timely (common/clock.py), and a version after the
first may start no earlier than :func:`first_unmetered`, so no hour a recorded reading
may already have reached is ever repriced.

The pricing arithmetic is in :mod:`.pricing`.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from gridledger.formats.errors import FormatError
from gridledger.formats.ids import check_id, is_id
from gridledger.formats.numbers import check_int, check_object
from gridledger.formats.utc import format_utc, parse_hour

from ..common.callers import AGGREGATOR, REGULATOR, UTILITY
from ..common.clock import DEFAULT_TOLERANCE, require_timely
from ..common.keys import key
from ..common.overlay import Overlay, load_json
from ..shim import ChaincodeError, Stub, all_and_one_of_policy

REGISTRY_KEY = "tariffreg"
_FIELDS = {
    "tariffId", "effectiveFrom", "currency", "currencyExponent", "utcOffsetMinutes", "tiers",
    "touBands", "feedInPricePerKwh", "taxes", "description",
}
_MAX_PRICE = 10**12


def tariff_key(tariff_id: str) -> str:
    """Ledger key of a tariff's version list."""
    return key("tariff", tariff_id)


_STAMP = {"version", "setAt", "txId"}  # what SetTariff adds to a version's fields


@functools.cache
def regulator_policy() -> bytes:
    """Key-level endorsement policy for tariff keys:
    ``AND('RegulatorMSP.peer', OR('UtilityMSP.peer', 'AggregatorMSP.peer'))``. The
    Regulator decides; one other member witnesses, so the Regulator alone (its own peer
    running modified chaincode) can neither reprice a past hour nor drop a version."""
    return all_and_one_of_policy([REGULATOR], [UTILITY, AGGREGATOR])


def first_unmetered(stub: Stub, action: str) -> dt.datetime:
    """The earliest instant no recorded reading can have reached yet, for a timely
    transaction (409 otherwise).

    A reading may not end after its own transaction's time, and that time was within
    the consortium's tolerance T of its endorsers' clocks (SubmitReadings is timely too);
    this transaction's time is within T of this endorser's clock. So every recorded
    reading ended before ``tx time + 2T``: a tariff change from then on reprices nothing
    already metered (or charged to a prepaid account).
    """
    return require_timely(stub, action) + 2 * DEFAULT_TOLERANCE


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
        """The ids ``tariffreg`` lists ([] before the first SetTariff); 409 if forged or
        malformed."""
        raw = self.ov.get(REGISTRY_KEY)
        if raw is None:
            return []
        if not self.protected(REGISTRY_KEY):
            raise _forged(f"the tariff registry {REGISTRY_KEY}")
        return checked_registry(raw)

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
        self._docs[tariff_id] = checked_doc(tariff_id, raw)
        return self._docs[tariff_id]

    def version_at(self, tariff_id: str, when: dt.datetime) -> dict[str, Any]:
        """The version of a trusted tariff in force at ``when``, or 404."""
        return version_at(self.doc(tariff_id), when)


def _malformed(what: str, why: str) -> ChaincodeError:
    return ChaincodeError(
        f"{what} is not a record SetTariff writes ({why}): refusing to price with it (the "
        "Regulator's next SetTariff replaces it)", status=409)


def checked_registry(raw: bytes) -> list[str]:
    """The ids of a stored ``tariffreg``; 409 unless it is exactly what SetTariff writes."""
    try:
        registry = load_json(raw)
    except ValueError:
        raise _malformed(f"the tariff registry {REGISTRY_KEY}", "not JSON") from None
    ids = registry.get("tariffIds") if isinstance(registry, dict) else None
    if (not isinstance(ids, list) or set(registry) != {"tariffIds"}
            or not all(is_id(i) for i in ids) or ids != sorted(set(ids))):
        raise _malformed(f"the tariff registry {REGISTRY_KEY}",
                         "not {\"tariffIds\": [sorted distinct ids]}")
    return ids


def checked_doc(tariff_id: str, raw: bytes) -> dict[str, Any]:
    """A stored ``tariff~<id>``, checked member by member as SetTariff writes it (every
    version as parse_version returns it, numbered 1, 2, ... and strictly later each); 409
    otherwise, so that a malformed record refuses a reading or a bill with its reason
    rather than failing the transaction with an internal error."""
    what = f"tariff key {tariff_key(tariff_id)}"
    try:
        doc = load_json(raw)
    except ValueError:
        raise _malformed(what, "not JSON") from None
    if (not isinstance(doc, dict) or doc.get("tariffId") != tariff_id
            or not set(doc) <= {"tariffId", "versions", "replaced"}
            or not isinstance(doc.get("versions"), list) or not doc["versions"]):
        raise _malformed(what, "not {tariffId, versions: [...]} of this tariff")
    previous = ""
    for n, version in enumerate(doc["versions"], 1):
        if not isinstance(version, dict) or not set(version) >= _STAMP:
            raise _malformed(what, f"version {n} is not an object with version, setAt, txId")
        fields = {k: v for k, v in version.items() if k not in _STAMP}
        try:
            clean = parse_version(fields)
        except (ChaincodeError, FormatError) as exc:
            raise _malformed(what, f"version {n}: {exc}") from None
        if (clean != fields or version["version"] != n or clean["tariffId"] != tariff_id
                or clean["effectiveFrom"] <= previous
                or not isinstance(version["setAt"], str)
                or not isinstance(version["txId"], str)):
            raise _malformed(what, f"version {n} differs from what SetTariff writes")
        previous = clean["effectiveFrom"]
    return doc


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
    """(ids to keep in ``tariffreg``, whether the record must be rewritten).

    A registry without the policy (or malformed) is rebuilt from the ids it lists whose
    tariff keys carry the policy: an id listed by a forger who did not also protect its
    key does not survive (one protected at creation cannot be told apart:
    chaincode/README.md, "Tariffs").
    """
    raw = tariffs.ov.get(REGISTRY_KEY)
    if raw is None:
        return [], True
    if tariffs.protected(REGISTRY_KEY):
        try:
            return checked_registry(raw), False
        except ChaincodeError:
            pass  # protected but malformed: rebuilt below, like a forgery
    try:
        forged = load_json(raw)
    except ValueError:  # not even JSON
        forged = None
    listed = forged.get("tariffIds") if isinstance(forged, dict) else None
    if not isinstance(listed, list):
        listed = []
    candidates = sorted({i for i in listed if is_id(i)})
    return [i for i in candidates if tariffs.protected(tariff_key(i))], True


def _trusted_doc(tariffs: Tariffs, tariff_id: str, ids: list[str]) -> dict[str, Any] | None:
    """The stored versions of a tariff the Regulator may append to, or None (new, forged
    or malformed: SetTariff starts it afresh)."""
    tkey = tariff_key(tariff_id)
    raw = tariffs.ov.get(tkey)
    if raw is None or tariff_id not in ids or not tariffs.protected(tkey):
        return None
    try:
        return checked_doc(tariff_id, raw)
    except ChaincodeError:
        return None


def set_version(ov: Overlay, fields: dict[str, Any]) -> dict[str, Any]:
    """Append a version to a trusted tariff, or start the tariff (replacing a forgery).

    The transaction must be timely (409). Versions are append-only and strictly later in
    effect; after the first, a version may not take effect before :func:`first_unmetered`
    (so no hour a recorded reading may have reached is repriced, and issued bills stay
    reproducible). A new tariff's first version may start at any hour: nothing was priced
    by it. Every key this writes for the first time, or that lacked exactly the policy,
    gets :func:`regulator_policy` in this transaction.
    """
    tariff_id = fields["tariffId"]
    tkey = tariff_key(tariff_id)
    horizon = first_unmetered(ov.stub, "SetTariff")
    now = ov.stub.tx_timestamp
    tariffs = Tariffs(ov)
    ov.prefetch([tkey, REGISTRY_KEY])
    ids, rewrite_registry = _genuine_registry(tariffs)
    doc = _trusted_doc(tariffs, tariff_id, ids)
    if doc is not None:
        last = doc["versions"][-1]
        if fields["effectiveFrom"] <= last["effectiveFrom"]:
            raise ChaincodeError(
                f"tariff {tariff_id} version {last['version']} is effective from "
                f"{last['effectiveFrom']}; a new version must start later", status=409
            )
        if parse_hour(fields["effectiveFrom"], "effectiveFrom") < horizon:
            earliest = horizon.replace(minute=0, second=0, microsecond=0)
            if earliest < horizon:
                earliest += dt.timedelta(hours=1)
            raise ChaincodeError(
                f"a new version of tariff {tariff_id} may not start before hours already "
                f"metered: the earliest is {format_utc(earliest)} (the transaction time "
                f"plus twice the consortium's clock tolerance, "
                f"{2 * DEFAULT_TOLERANCE.total_seconds():.0f} s)", status=409)
    else:
        # New, forged (written without the Regulator and a witness) or malformed: start
        # afresh, never append.
        doc = {"tariffId": tariff_id, "versions": []}
        if ov.get(tkey) is not None:
            doc["replaced"] = {"at": format_utc(now), "txId": ov.stub.tx_id}
        if not tariffs.protected(tkey):
            ov.stub.set_state_validation_parameter(tkey, regulator_policy())
    if tariff_id not in ids or rewrite_registry:
        ov.put_json(REGISTRY_KEY, {"tariffIds": sorted({*ids, tariff_id})})
    if not tariffs.protected(REGISTRY_KEY):
        ov.stub.set_state_validation_parameter(REGISTRY_KEY, regulator_policy())
    version = {**fields, "version": len(doc["versions"]) + 1, "setAt": format_utc(now),
               "txId": ov.stub.tx_id}
    doc["versions"].append(version)
    ov.put_json(tkey, doc)
    return version
