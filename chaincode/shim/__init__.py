"""GridLedger's chaincode shim for Fabric 3.1 chaincode as a service.

Public API (everything else is internal):

- writing contracts: ``Contract``, ``submit``, ``evaluate``, ``Stub``, ``KV``,
  ``ChaincodeError``, ``PeerError``, ``canonical_json``, ``parse_json_arg``,
  ``ClientIdentity``, ``all_of_policy``
- serving them: ``ContractRouter``, ``ChaincodeServer``, ``ServerConfig``, ``TLSConfig``
"""

from .contract import (
    Contract,
    ContractRouter,
    canonical_json,
    evaluate,
    parse_json_arg,
    submit,
)
from .errors import ChaincodeError, PeerError, ShimError, StreamClosedError
from .identity import ClientIdentity, parse_creator, read_ca_attributes
from .policy import all_of_policy, policy_msp_ids
from .server import ChaincodeServer, ServerConfig, TLSConfig
from .stub import KV, PeerCapabilities, PeerStub, RangeIterator, StateIterator, Stub

__all__ = [
    "KV",
    "ChaincodeError",
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
    "all_of_policy",
    "canonical_json",
    "evaluate",
    "parse_creator",
    "parse_json_arg",
    "policy_msp_ids",
    "read_ca_attributes",
    "submit",
]
