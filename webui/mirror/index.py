"""Whose record a key is: the customer, meter and reference a mirror row is found by.

The key layout is the chaincode's (chaincode/README.md, "Privacy: what is where"):
``<kind>~<id>~...``. A reading, a usage day or an alarm names its meter; the meter's
private ``meterinfo`` record names its customer; a Wattcoin account names the customer it
pays for. So the customer of a row is found from the key and value, and from what the
mirror already holds (:class:`Owners`) — which is only what the organisation may hold:
the Aggregator's mirror has no ``meterinfo`` and so no customer on any row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# kind -> which key part (after the kind) is the meter / the customer / the address
_METER_PART = {"meter": 1, "meterinfo": 1, "meterhead": 1, "reading": 1, "usage": 1,
               "alarm": 1, "wcptd": 1, "mktmeter": 1}
_CUSTOMER_PART = {"custmeter": 1, "custbills": 1, "custadj": 1, "bill": 1, "billadj": 1,
                  "wccust": 1}
_ADDRESS_PART = {"wcacct": 1, "wchist": 1}


@dataclass(frozen=True)
class Index:
    customer_id: str | None = None
    meter_id: str | None = None
    ref: str | None = None


class Owners:
    """Meter -> customer and account -> customer, as far as the mirror knows them.

    ``lookup(kind, key)`` returns the decoded current value of a key (None if absent);
    what this block wrote is learnt with :meth:`learn` before later writes are indexed.
    """

    def __init__(self, lookup: Callable[[str, str], Any]) -> None:
        self._lookup = lookup
        self._meters: dict[str, str | None] = {}
        self._accounts: dict[str, str | None] = {}

    def learn(self, kind: str, key: str, value: Any) -> None:
        parts = key.split("~")
        if kind == "meterinfo" and isinstance(value, dict) and len(parts) > 1:
            self._meters[parts[1]] = value.get("customerId")
        elif kind == "wcacct" and isinstance(value, dict) and len(parts) > 1:
            self._accounts[parts[1]] = _account_customer(value)

    def meter(self, meter_id: str) -> str | None:
        if meter_id not in self._meters:
            info = self._lookup("meterinfo", f"meterinfo~{meter_id}")
            self._meters[meter_id] = info.get("customerId") if isinstance(info, dict) else None
        return self._meters[meter_id]

    def account(self, address: str) -> str | None:
        if address not in self._accounts:
            acct = self._lookup("wcacct", f"wcacct~{address}")
            self._accounts[address] = (_account_customer(acct) if isinstance(acct, dict)
                                       else None)
        return self._accounts[address]


def _account_customer(account: dict[str, Any]) -> str | None:
    return account.get("customerId") or (account.get("owner") or {}).get("customerId")


def decode_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def index_of(kind: str, key: str, value: Any, owners: Owners) -> Index:
    """The customer, meter and reference of one written key."""
    parts = key.split("~")
    meter = parts[_METER_PART[kind]] if kind in _METER_PART and len(parts) > 1 else None
    customer = (parts[_CUSTOMER_PART[kind]]
                if kind in _CUSTOMER_PART and len(parts) > 1 else None)
    ref = None
    obj = value if isinstance(value, dict) else {}
    if kind in _ADDRESS_PART and len(parts) > 1:
        ref = parts[1]
        customer = _account_customer(obj) if kind == "wcacct" else owners.account(parts[1])
    elif kind == "wccust":
        ref = obj.get("address")
    elif kind == "wcmint":
        ref = obj.get("address")
        customer = owners.account(ref) if ref else None
    elif kind == "reading":
        ref = obj.get("hash")
    elif kind == "token":
        ref = obj.get("dactId")  # a DACT's tokens are found by it
    elif kind in ("tariff", "idot", "resource", "dact"):
        ref = parts[1] if len(parts) > 1 else None
    if kind in ("meterinfo", "alarm", "idotowner", "resowner", "dactowner", "mktlink"):
        customer = obj.get("customerId") or obj.get("owner") or customer
        if not isinstance(customer, str):
            customer = None
    if customer is None and meter is not None:
        customer = owners.meter(meter)
    return Index(customer, meter, ref)
