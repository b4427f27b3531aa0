"""What other contract packages may call in ``wattcoin``: this module and nothing else.

Published for ``metering``'s reading path (metering/readings.py, SubmitReadings). It calls
them on the reading's own overlay, so exhaustion is written in the same transaction as
the reading: both commit, or neither.

- ``customer_key(customer_id)``, ``account_key(address)``: ledger keys of a customer's
  paying-account binding and of an account, for prefetching them in one round trip.
- ``address_of_customer(ov, customer_id)``: the account paying the customer's energy
  (None: the customer is postpaid, no exhaustion).
- ``reading_due(ov, meter_id, version, hour_start, import_wh, export_wh)``: advance the
  meter's month-to-date cost by one reading's energy; the tokens now due (negative: a
  refund).
- ``add_due(dues, address, customer_id, meter_id, amount, index)``: add that (and the
  reading's batch index) to the batch's per-account totals.
- ``settle(ov, dues)``: charge each account once per batch; the ``exhausted`` and
  ``lowBalance`` signals, each with the batch indices of its account's readings (what
  the ReadingsProcessed event names).

Published for ``metering``'s IssueBill (metering/billing.py), in the bill's transaction:

- ``true_up(ov, address, amount, **detail)``: charge (amount > 0) or credit (< 0) the
  difference between a bill and the prepaid charges of its hours.

Published for ``market`` (its Deposit and Withdraw, endorsed by both members of
customerData; chaincode/README.md, "Market"):

- ``paying_account(ov, customer_id)``: the address and controller of the account paying
  for a customer (enrolment checks the customer's consent against its controller).

- ``to_market(ov, address, amount, **detail)``: take tokens out of an account into the
  market (409 when the balance lacks them); a ``to-market`` history entry.
- ``from_market(ov, address, amount, **detail)``: put tokens back (arrears first); a
  ``from-market`` entry. It sets no event, so it never clears ``exhausted`` (``restored``
  is always False): the account's next top-up or transfer in restores supply, with its
  event.
"""

from __future__ import annotations

from typing import Any

from ..common.overlay import Overlay
from .accounts import account_key, address_of_customer, customer_key
from .accounts import get as _account
from .exhaustion import add_due, reading_due, settle, true_up
from .market import from_market, to_market


def paying_account(ov: Overlay, customer_id: str) -> dict[str, Any] | None:
    """The account that pays for ``customer_id`` (None: postpaid): its ``address`` and
    ``controller``, the address of the key that spends from it, which is the customer's
    own key for an account it opened (the market takes a customer's consent as a
    signature by that key)."""
    address = address_of_customer(ov, customer_id)
    if address is None:
        return None
    account = _account(ov, address)
    return {"address": account["address"], "controller": account["controller"]}


__all__ = ["account_key", "add_due", "address_of_customer", "customer_key", "from_market",
           "paying_account", "reading_due", "settle", "to_market", "true_up"]
