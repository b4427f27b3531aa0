"""Caller checks: which organisation, and an operator, a customer or nobody.

Every right is proven by the certificate, never inferred from something it lacks:

- **Operator of X**: the creator's MSP is X, and the certificate proves the operator role:
  its NodeOU is ``admin`` (Fabric CA writes the identity type into the subject's OU; the
  peer's MSP has checked the certificate chain to X's CA), or it carries the Fabric CA
  attribute ``gridledger.operator=true``, which only a registrar whose
  ``hf.Registrar.Attributes`` names that attribute can assign (X's bootstrap admin; a
  customer sign-up service is given ``role,customerId`` only).
- **Customer**: the creator's MSP is the Utility's (the organisation whose CA registers
  customers), its certificate carries ``role`` = ``customer`` or ``prosumer`` and a valid
  ``customerId``, and it is not an operator. The same attributes from any other
  organisation's CA prove nothing: that CA may write any ``customerId`` it likes.
- **Member**: any identity of a channel organisation. Identities with neither proof
  (a customer re-enrolled without attributes, a plain client) are members and nothing
  more: they get what chaincode/authorization.py grants "any member" (public reads).

The peer refuses creators of organisations outside the channel before the chaincode
runs; :func:`require_member` refuses them here too.

Each transaction function calls one ``require_*`` as its first statement, before it looks
at any argument, so a refused caller gets 403 whatever it sent. chaincode/authorization.py
is the table of who may call what; tests/unit/chaincode/test_authorization.py holds every
function to it.
"""

from __future__ import annotations

from gridledger.formats.ids import is_id

from ..shim import ChaincodeError, ClientIdentity, Stub

UTILITY = "UtilityMSP"
REGULATOR = "RegulatorMSP"
AGGREGATOR = "AggregatorMSP"
MEMBERS = (UTILITY, REGULATOR, AGGREGATOR)
# The organisation whose CA registers customers: only its customer attributes count.
CUSTOMER_MSP = UTILITY
CUSTOMER_ROLES = frozenset({"customer", "prosumer"})
# The NodeOU role of an organisation's operators (Fabric CA identity type "admin").
OPERATOR_OU = "admin"
# Fabric CA attribute proving the operator role for a non-admin identity (a service).
OPERATOR_ATTRIBUTE = "gridledger.operator"


def is_operator(identity: ClientIdentity, *msp_ids: str) -> bool:
    """True when ``identity`` is an operator of one of ``msp_ids`` (any member if none)."""
    if identity.msp_id not in (msp_ids or MEMBERS):
        return False
    return (identity.node_ou == OPERATOR_OU
            or identity.get_attribute(OPERATOR_ATTRIBUTE) == "true")


def customer_of(identity: ClientIdentity) -> str | None:
    """The customer id ``identity`` proves, or None when it is not a customer."""
    if identity.msp_id != CUSTOMER_MSP or is_operator(identity):
        return None
    if identity.get_attribute("role") not in CUSTOMER_ROLES:
        return None
    customer_id = identity.get_attribute("customerId")
    return customer_id if is_id(customer_id) else None


def caller_customer_id(stub: Stub) -> str | None:
    """The caller's customer id when the caller is a customer, else None."""
    return customer_of(stub.creator)


def describe(identity: ClientIdentity) -> str:
    """The caller as refusals name it: MSP, NodeOU role and common name."""
    return f"{identity.msp_id} {identity.node_ou or 'identity'} {identity.common_name!r}"


def _refuse(action: str, identity: ClientIdentity, why: str) -> ChaincodeError:
    return ChaincodeError(f"{action}: caller {describe(identity)} {why}", status=403)


def require_member(stub: Stub, *, action: str) -> None:
    """Refuse (403) unless the caller belongs to an organisation of the channel."""
    identity = stub.creator
    if identity.msp_id not in MEMBERS:
        raise _refuse(action, identity, "is not of a member organisation "
                      f"({', '.join(MEMBERS)})")


def require_operator(stub: Stub, *msp_ids: str, action: str) -> None:
    """Refuse (403) unless the caller is an operator of one of ``msp_ids``."""
    identity = stub.creator
    if not is_operator(identity, *msp_ids):
        raise _refuse(action, identity, f"is not an operator of {' or '.join(msp_ids)}")


def require_customer(stub: Stub, *, action: str, customer_id: str | None = None) -> str:
    """The caller's customer id; 403 unless it is a customer (``customer_id`` itself, if
    given)."""
    identity = stub.creator
    own = customer_of(identity)
    if own is None or (customer_id is not None and own != customer_id):
        whom = f"customer {customer_id!r}" if customer_id is not None else "a customer"
        raise _refuse(action, identity, f"is not {whom} of {CUSTOMER_MSP}")
    return own


def require_customer_or_operator(stub: Stub, *msp_ids: str, action: str,
                                 customer_id: str | None = None) -> str | None:
    """Allow operators of ``msp_ids`` (returns None) and customers (returns the caller's
    customer id); with ``customer_id``, only that customer. Anyone else: 403.

    A customer allowed here may still reach only its own records: the function checks
    the record's owner with :func:`require_own` once it has read it.
    """
    identity = stub.creator
    if is_operator(identity, *msp_ids):
        return None
    own = customer_of(identity)
    if own is not None and (customer_id is None or own == customer_id):
        return own
    whom = f"customer {customer_id!r}" if customer_id is not None else "a customer"
    raise _refuse(action, identity,
                  f"is neither an operator of {' or '.join(msp_ids)} nor {whom} of "
                  f"{CUSTOMER_MSP}")


def require_own(stub: Stub, customer: str | None, owner: str | None, *, action: str,
                what: str) -> None:
    """Refuse (403) a customer caller (``customer`` not None) reading ``what`` of another
    customer ``owner``; operators (``customer`` None) pass."""
    if customer is not None and customer != owner:
        raise _refuse(action, stub.creator, f"(customer {customer!r}) may not read {what}")
