"""Who a data owner's call is for: the customer itself, or a customer the Utility names.

Data owners are the Utility's customers. A customer acts for itself (its own
transaction is its consent, and its certificate is then in the block: the existence and
timing of its transactions are visible to every organisation, chaincode/README.md
"Threat model"). The Utility's operators act for a customer named in the private
arguments, as the Utility's portal does: the block then names the Utility, not the
customer. Either way the owner is written only into ``customerData``.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.ids import check_id

from ..common.callers import describe
from ..shim import ChaincodeError, Stub


def owner_of_call(stub: Stub, customer: str | None, named: Any, action: str) -> str:
    """The owner: ``customer`` (the calling customer; ``named`` must be absent or equal),
    or for a Utility operator (``customer`` None) the ``customerId`` it names (400 if none).
    """
    if customer is not None:
        if named is not None and named != customer:
            raise ChaincodeError(f"{action}: caller {describe(stub.creator)} (customer "
                                 f"{customer!r}) may not act for another customer", status=403)
        return customer
    return check_id(named, "customerId (the customer a Utility operator acts for)")


def require_owner_or_agent(stub: Stub, customer: str | None, owner: str, what: str,
                           action: str) -> None:
    """A customer reaches only its own ``what``; a Utility operator (None) any customer's."""
    if customer is not None and customer != owner:
        raise ChaincodeError(f"{action}: caller {describe(stub.creator)} (customer "
                             f"{customer!r}) is not the owner of {what}", status=403)
