"""What other contract packages may call in ``metering``: this module and nothing else.

Published for ``wattcoin`` (served in the same chaincode, so a plain call on the same
stub, inside the caller's transaction):

- ``get_meter(ov, meter_id)``: the meter record (404 if unknown); OpenMeterAccount
  derives a meter wallet's address from its registered key.
- ``get_meter_device(ov, meter_id)``: the meter's public record only (the device, an
  IDoT: id, public key, curve, status; 404 if unknown). For ``access``, whose callers
  include identities outside customerData (the Aggregator), which may not read the
  meter's private record: one registry of devices, read where it is kept.
- ``band_of(version, utc_hour)``, ``tiered_milli(start_wh, energy_wh, version)``,
  ``tax_basis_points(version)``: tariff pricing of one tariff version (a record as
  GetTariff returns it); exhaustion prices each reading's energy with them.

Published for ``marketlink`` (served by chaincode ``metering`` too, on the energy
channel; the market itself, on its own channel, reads through it across channels:
chaincode/README.md, "Market"):

- ``enrol_market_meter(ov, meter_id, pseudonym, market_id, interval_seconds)``,
  ``retire_market_meter(ov, meter_id, pseudonym)``: from LinkParticipant on (until
  UnlinkParticipant), the reading path keeps the meter's energy per delivery interval of
  its market under its pseudonym (metering/market_records.py; 409 if enrolled).
- ``meter_tariff_at(ov, meter_id, at)``: the tariff the meter is billed with at ``at``
  (a participant's meter must be billed with its market's tariff).
- ``market_record_key(pseudonym, interval_id)``: the private key of a pseudonym's record
  of one delivery interval (DeliveryRecords reads it).
- ``meter_owners(ov, meter_ids)``: each meter's customer from its private record (None
  when unknown), in one round trip: ``wattcoin``'s SupplyStatus, the bridge's check.
- ``meter_owner(ov, meter_id)``: the meter's customer from its private record alone.
- ``trusted_tariff_version(ov, tariff_id, at)``: the version of a Regulator-set tariff in
  force at ``at`` (404 unknown, 409 without the Regulator's key-level policy): the
  reference prices of a delivery interval (marketlink's TariffVersion; ``band_of`` and
  ``tax_basis_points`` turn it into the market's reference retail price).

A contract that needs more of metering adds it here (and to chaincode/README.md) rather
than importing metering's modules.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..common.overlay import Overlay
from .market_records import enrol as enrol_market_meter
from .market_records import record_key as market_record_key
from .market_records import retire as retire_market_meter
from .meters import get as get_meter
from .meters import get_device as get_meter_device
from .meters import info_key, tariff_at
from .meters import owner as meter_owner
from .meters import owners as meter_owners
from .pricing import band_of, tax_basis_points, tiered_milli
from .tariff import Tariffs


def trusted_tariff_version(ov: Overlay, tariff_id: str, at: dt.datetime) -> dict[str, Any]:
    """The version of trusted tariff ``tariff_id`` in force at ``at`` (404 / 409)."""
    return Tariffs(ov).version_at(tariff_id, at)


def meter_tariff_at(ov: Overlay, meter_id: str, at: dt.datetime) -> str:
    """The tariff id the meter's private record bills the hour at ``at`` with (404 if the
    meter or its private record is unknown here). The private record only: a read of the
    public ``meter~<id>`` would name the meter in the block (EnrolParticipant's read set
    sits beside the pseudonym)."""
    meter_owner(ov, meter_id)  # 404 unless the private record is here
    return tariff_at(ov.get_json(info_key(meter_id)), at)


__all__ = ["band_of", "enrol_market_meter", "get_meter", "get_meter_device",
           "market_record_key", "meter_owner", "meter_owners", "meter_tariff_at",
           "retire_market_meter", "tax_basis_points", "tiered_milli",
           "trusted_tariff_version"]
