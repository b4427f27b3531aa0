"""Caller checks: which organisation, and operator or customer.

Customers and prosumers are client identities of an organisation's CA carrying the Fabric
CA attributes ``role`` (``customer`` or ``prosumer``) and ``customerId``. Any other
identity of an MSP (no such role) acts for that organisation as an operator. A customer of
the Utility's CA is therefore *not* "the Utility": register customers with
``role=customer:ecert`` and ``customerId=<id>:ecert``.
"""

from __future__ import annotations

from ..shim import ChaincodeError, Stub

UTILITY = "UtilityMSP"
REGULATOR = "RegulatorMSP"
AGGREGATOR = "AggregatorMSP"
CUSTOMER_ROLES = frozenset({"customer", "prosumer"})


def is_customer(stub: Stub) -> bool:
    """True when the caller is a customer/prosumer identity, not an operator."""
    return stub.creator.get_attribute("role") in CUSTOMER_ROLES


def caller_customer_id(stub: Stub) -> str | None:
    """The caller's ``customerId`` attribute when the caller is a customer."""
    return stub.creator.get_attribute("customerId") if is_customer(stub) else None


def require_operator(stub: Stub, *msp_ids: str, action: str) -> None:
    """Refuse (403) unless the caller is an operator of one of ``msp_ids``."""
    msp = stub.creator.msp_id
    if msp not in msp_ids or is_customer(stub):
        allowed = " or ".join(msp_ids)
        raise ChaincodeError(
            f"{action}: caller {msp} ({stub.creator.common_name}) is not an operator of "
            f"{allowed}",
            status=403,
        )


def require_operator_or_customer(
    stub: Stub, customer_id: str, *msp_ids: str, action: str
) -> None:
    """Allow operators of ``msp_ids`` and the customer ``customer_id`` itself; else 403."""
    if caller_customer_id(stub) == customer_id:
        return
    require_operator(stub, *msp_ids, action=action)
