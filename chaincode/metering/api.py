"""What other contract packages may call in ``metering``: this module and nothing else.

Published for ``wattcoin`` (served in the same chaincode, so a plain call on the same
stub, inside the caller's transaction):

- ``get_meter(ov, meter_id)``: the meter record (404 if unknown); OpenMeterAccount
  derives a meter wallet's address from its registered key.
- ``meters_of_customer(ov, customer_id)``: a customer's meter ids; Mint and Transfer name
  the meters whose supply a top-up restores.
- ``get_meter_device(ov, meter_id)``: the meter's public record only (the device, an
  IDoT: id, public key, curve, status; 404 if unknown). For ``access``, whose callers
  include identities outside customerData (the Aggregator), which may not read the
  meter's private record: one registry of devices, read where it is kept.
- ``band_of(version, utc_hour)``, ``tiered_milli(start_wh, energy_wh, version)``,
  ``tax_basis_points(version)``: tariff pricing of one tariff version (a record as
  GetTariff returns it); exhaustion prices each reading's energy with them.

Published for ``market`` (served by chaincode ``metering`` too; chaincode/README.md,
"Market"):

- ``market_enrolment_key(meter_id)``, ``enrol_market_meter(ov, meter_id, pseudonym,
  market_id, interval_seconds)``: from EnrolParticipant on, the reading path keeps the
  meter's energy per delivery interval of its market under its pseudonym
  (metering/market_records.py; 409 if enrolled).
- ``market_record_key(pseudonym, interval_id)``: the private key of that record, whose
  hash (``GetPrivateDataHash``) the settlement checks on every endorser.
- ``market_record_bytes(ov, pseudonym, interval_id)``: the record exactly as stored, salt
  included (None if the meter reported nothing then), on a Utility or Regulator peer.
- ``meter_owner(ov, meter_id)``: the meter's customer from its private record alone, so
  that the enrolment's transaction reads no public key naming the meter (its read set is
  in the block, keys in plain text).
- ``trusted_tariff_version(ov, tariff_id, at)``: the version of a Regulator-set tariff in
  force at ``at`` (404 unknown, 409 without the Regulator's key-level policy): the
  reference prices of a delivery interval.

A contract that needs more of metering adds it here (and to chaincode/README.md) rather
than importing metering's modules.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..common.overlay import Overlay
from .market_records import enrol as enrol_market_meter
from .market_records import enrolment_key as market_enrolment_key
from .market_records import record_key as market_record_key
from .market_records import stored_bytes as market_record_bytes
from .meters import by_customer as meters_of_customer
from .meters import get as get_meter
from .meters import get_device as get_meter_device
from .meters import owner as meter_owner
from .pricing import band_of, tax_basis_points, tiered_milli
from .tariff import Tariffs


def trusted_tariff_version(ov: Overlay, tariff_id: str, at: dt.datetime) -> dict[str, Any]:
    """The version of trusted tariff ``tariff_id`` in force at ``at`` (404 / 409)."""
    return Tariffs(ov).version_at(tariff_id, at)


__all__ = ["band_of", "enrol_market_meter", "get_meter", "get_meter_device",
           "market_enrolment_key", "market_record_bytes", "market_record_key",
           "meter_owner", "meters_of_customer", "tax_basis_points", "tiered_milli",
           "trusted_tariff_version"]
