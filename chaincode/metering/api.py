"""What other contract packages may call in ``metering``: this module and nothing else.

Published for ``wattcoin`` (served in the same chaincode, so a plain call on the same
stub, inside the caller's transaction):

- ``get_meter(ov, meter_id)``: the meter record (404 if unknown); OpenMeterAccount
  derives a meter wallet's address from its registered key.
- ``meters_of_customer(ov, customer_id)``: a customer's meter ids; Mint and Transfer name
  the meters whose supply a top-up restores.
- ``band_of(version, utc_hour)``, ``tiered_milli(start_wh, energy_wh, version)``,
  ``tax_basis_points(version)``: tariff pricing of one tariff version (a record as
  GetTariff returns it); exhaustion prices each reading's energy with them.

A contract that needs more of metering adds it here (and to chaincode/README.md) rather
than importing metering's modules.
"""

from __future__ import annotations

from .meters import by_customer as meters_of_customer
from .meters import get as get_meter
from .pricing import band_of, tax_basis_points, tiered_milli

__all__ = ["band_of", "get_meter", "meters_of_customer", "tax_basis_points", "tiered_milli"]
