"""Key-level endorsement policies of contract ``access``: the data holder in every grant.

The chaincode's policy (2 of 3 organisations) lets any two members write a key that has
no policy of its own: the Aggregator and the Regulator together could then mint a token
for data the Utility holds, or move a resource's hash address. So the records a grant
rests on carry a key-level policy, set in the transaction that creates them (and never
changed afterwards: Fabric fails a transaction writing a key whose policy an earlier
transaction of the same block changed):

==================  ============================  ==========================================
key                 policy                        why
==================  ============================  ==========================================
dact~<id>           DATA_HOLDER                   its ``issued`` map is what makes a token
                                                  usable: no token without the Utility
token~<id>          DATA_HOLDER                   no un-revoking or rewriting without it
resource~<id>       DATA_HOLDER                   a hash address stays the owner's
reshash~<address>   DATA_HOLDER                   the address -> resource binding
idot~<id>           device_policy(...)            an organisation's device: it AND one
                                                  other; a customer's: the Utility AND one
devid~<id>          common/device_ids.py          the id's registry
==================  ============================  ==========================================

DATA_HOLDER = ``AND('UtilityMSP.peer', OR('RegulatorMSP.peer', 'AggregatorMSP.peer'))``:
the Utility holds its customers' data. A key's *first* write is checked against the
chaincode policy only, so what a policy protects is every later write; a token is usable
only when its DACT's record carries exactly :data:`DATA_HOLDER` (read back with
``GetStateValidationParameter``) and lists the token (chaincode/access/tokens.py).
"""

from __future__ import annotations

from ..common.callers import AGGREGATOR, MEMBERS, REGULATOR, UTILITY
from ..shim import Stub, all_and_one_of_policy

DATA_HOLDER = all_and_one_of_policy([UTILITY], [REGULATOR, AGGREGATOR])


def device_policy(owner_msp: str | None) -> bytes:
    """An IDoT's policy: its organisation and one other (a customer's device: the
    Utility, whose customer owns it, and one other)."""
    msp = owner_msp or UTILITY
    return all_and_one_of_policy([msp], [m for m in MEMBERS if m != msp])


def create(stub: Stub, k: str, policy: bytes = DATA_HOLDER) -> None:
    """Give key ``k`` (written in this transaction, which creates it) its policy."""
    stub.set_state_validation_parameter(k, policy)


def carries(stub: Stub, k: str, policy: bytes = DATA_HOLDER) -> bool:
    """Whether key ``k``'s committed validation parameter is exactly ``policy``."""
    return stub.get_state_validation_parameter(k) == policy
