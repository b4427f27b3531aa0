"""GridLedger's chaincode shim for Fabric 3.1 chaincode as a service.

Public API (everything else is internal):

- writing contracts: ``Contract``, ``submit``, ``evaluate``, ``Stub``, ``KV``,
  ``ChaincodeResponse`` (what ``Stub.invoke_chaincode`` returns),
  ``ChaincodeError``, ``PeerError``, ``canonical_json``, ``parse_json_arg``,
  ``ClientIdentity``, ``all_of_policy``,
  ``all_and_one_of_policy``, ``satisfied_by``
- serving them: ``ContractRouter``, ``ChaincodeServer``, ``ServerConfig``, ``TLSConfig``

``canonical_json`` and ``read_ca_attributes`` are :mod:`gridledger.formats`' own, re-exported
for contracts' convenience; a ``FormatError`` escaping a contract function is answered with
status 400, like ``ChaincodeError(status=400)``.
"""

from gridledger.formats.ca_attributes import read_ca_attributes
from gridledger.formats.canonical import canonical_json

from .contract import (
    TRANSIENT_ARGS,
    Contract,
    ContractRouter,
    evaluate,
    parse_json_arg,
    submit,
    transient_arguments,
)
from .errors import ChaincodeError, PeerError, ShimError, StreamClosedError
from .identity import ClientIdentity, parse_creator
from .policy import all_and_one_of_policy, all_of_policy, policy_msp_ids, satisfied_by
from .server import ChaincodeServer, ServerConfig, TLSConfig
from .stub import (
    KV,
    ChaincodeResponse,
    PeerCapabilities,
    PeerStub,
    RangeIterator,
    StateIterator,
    Stub,
)

__all__ = [
    "KV",
    "TRANSIENT_ARGS",
    "ChaincodeError",
    "ChaincodeResponse",
    "ChaincodeServer",
    "ClientIdentity",
    "Contract",
    "ContractRouter",
    "PeerCapabilities",
    "PeerError",
    "PeerStub",
    "RangeIterator",
    "ServerConfig",
    "ShimError",
    "StateIterator",
    "StreamClosedError",
    "Stub",
    "TLSConfig",
    "all_and_one_of_policy",
    "all_of_policy",
    "canonical_json",
    "evaluate",
    "parse_creator",
    "parse_json_arg",
    "policy_msp_ids",
    "read_ca_attributes",
    "satisfied_by",
    "submit",
    "transient_arguments",
]
