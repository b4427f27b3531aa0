"""One namespace of device ids for the two registries of IDoTs: meters and access devices.

A meter (``metering``, ``meter~<id>``) and a device of contract ``access`` (``idot~<id>``)
are both IDoTs, looked up by one id (``access`` answers ``GetDevice`` for both). Without a
shared claim an id could be taken by both: a device registered under an id no meter has
*yet* would stand in for the meter registered later under it (its key would answer the
meter's device proofs, and decommissioning the meter would end nothing). So each registry
*claims* the id when it registers a device, in the same transaction:

    devid~<deviceId>   public: which registry holds the device (``metering`` or
                       ``access``), when it was claimed, by which transaction

:func:`claim` refuses (409) an id the other registry holds, by its claim or, for records
made before claims existed, by the other registry's own record. The claim is written once
and carries a key-level policy (the Utility and one other organisation), so no two other
members can move an id from one registry to the other afterwards.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.utc import format_utc

from ..shim import ChaincodeError, all_and_one_of_policy
from .callers import AGGREGATOR, REGULATOR, UTILITY
from .keys import key
from .overlay import Overlay

METERING, ACCESS = "metering", "access"
# The record each registry keeps under the same id (what a claim-less id is checked by).
_RECORD = {METERING: "meter", ACCESS: "idot"}
_WHAT = {METERING: "a meter (registered by metering:RegisterMeter)",
         ACCESS: "an IDoT device of contract access (access:RegisterDevice)"}
# Written once; a later write (moving the id to the other registry) needs the Utility.
CLAIM_POLICY = all_and_one_of_policy([UTILITY], [REGULATOR, AGGREGATOR])


def claim_key(device_id: str) -> str:
    """Ledger key of a device id's claim."""
    return key("devid", device_id)


def holder(ov: Overlay, device_id: str) -> str | None:
    """The registry that holds ``device_id`` (``metering``, ``access``), or None when
    neither does. A claim decides; an id registered before claims existed is held by the
    registry whose record exists (both: the claim-less id is ambiguous, 409)."""
    claimed = ov.get_json(claim_key(device_id))
    if claimed is not None:
        return str(claimed["registry"])
    found = [r for r, kind in _RECORD.items() if ov.get(key(kind, device_id)) is not None]
    if len(found) > 1:
        raise ChaincodeError(f"{device_id} names both a meter and an access device, and "
                             "no claim says which registry holds it: refused until the "
                             "Utility retires one of them", status=409)
    return found[0] if found else None


def claim(ov: Overlay, device_id: str, registry: str) -> dict[str, Any]:
    """Claim ``device_id`` for ``registry``; 409 when the other registry holds it (the
    caller's own registry checks its own record for a repeated registration)."""
    if registry not in _RECORD:
        raise ValueError(f"unknown device registry {registry!r}")
    held = holder(ov, device_id)
    if held is not None and held != registry:
        raise ChaincodeError(f"{device_id} is {_WHAT[held]}: one id names one device, so it "
                             f"cannot also be {_WHAT[registry]}; choose another id",
                             status=409)
    record = {"deviceId": device_id, "registry": registry,
              "claimedAt": format_utc(ov.stub.tx_timestamp), "txId": ov.stub.tx_id}
    if ov.get(claim_key(device_id)) is None:
        ov.put_json(claim_key(device_id), record)
        ov.stub.set_state_validation_parameter(claim_key(device_id), CLAIM_POLICY)
    return record
