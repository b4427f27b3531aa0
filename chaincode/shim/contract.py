"""A small contract API: Contract classes, transaction decorators, dispatch.

    class Meter(Contract):
        name = "meter"

        @submit
        def Record(self, stub: Stub, meter_id: str, reading_json: str) -> dict: ...

        @evaluate
        def Read(self, stub: Stub, meter_id: str) -> dict: ...

Clients call "meter:Record" (or plain "Record" on the default contract). Arguments
arrive as strings; a function returns bytes, str, None or a JSON-able value (sent as
canonical JSON). ``ChaincodeError`` becomes a failed Response with its status and
message; any other exception becomes status 500 "internal error in <fn>: <type>".
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from fabric_protos.peer import proposal_response_pb2

from .errors import ChaincodeError, StreamClosedError
from .stub import Stub

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_KIND_ATTR = "__gridledger_tx_kind__"
SUBMIT = "submit"
EVALUATE = "evaluate"

# Stub methods an evaluate-only function must not call.
_WRITES = frozenset(
    {
        "put_state",
        "del_state",
        "put_private_data",
        "del_private_data",
        "purge_private_data",
        "set_state_validation_parameter",
        "set_event",
    }
)


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no spaces: identical bytes on every endorser."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def parse_json_arg(text: str, what: str) -> Any:
    """Decode a JSON argument, or refuse the call with status 400."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChaincodeError(f"{what} is not valid JSON: {exc.msg}", status=400) from None


def submit(fn: F) -> F:
    """Mark a method as a transaction that may write (clients submit it)."""
    setattr(fn, _KIND_ATTR, SUBMIT)
    return fn


def evaluate(fn: F) -> F:
    """Mark a method as read-only (clients evaluate it); writes are refused."""
    setattr(fn, _KIND_ATTR, EVALUATE)
    return fn


class Contract:
    """Base class: set ``name``; mark transaction methods with @submit / @evaluate."""

    name: ClassVar[str] = ""


@dataclass(frozen=True)
class Transaction:
    """One callable transaction function of a contract."""

    contract: str
    function: str
    kind: str
    params: tuple[str, ...]
    call: Callable[..., Any]


class ReadOnlyStub:
    """Wraps a stub for evaluate-only functions: reads pass, writes are refused."""

    def __init__(self, stub: Stub, function: str) -> None:
        self._stub = stub
        self._function = function

    def __getattr__(self, name: str) -> Any:
        if name in _WRITES:
            raise ChaincodeError(
                f"{self._function} is evaluate-only and cannot call {name}", status=500
            )
        return getattr(self._stub, name)


class ContractRouter:
    """Dispatches "Contract:Function" (or "Function" on the default contract)."""

    def __init__(self, contracts: Iterable[Contract], default: str | None = None) -> None:
        self._transactions: dict[tuple[str, str], Transaction] = {}
        names: list[str] = []
        for contract in contracts:
            if not contract.name or ":" in contract.name:
                raise ValueError(f"{type(contract).__name__} needs a name without ':'")
            if contract.name in names:
                raise ValueError(f"two contracts are named {contract.name!r}")
            names.append(contract.name)
            for tx in _transactions_of(contract):
                self._transactions[(tx.contract, tx.function)] = tx
        if not names:
            raise ValueError("a chaincode needs at least one contract")
        if default is not None and default not in names:
            raise ValueError(f"default contract {default!r} is not among {names}")
        self.default = default or names[0]
        self.contract_names = tuple(names)

    def transactions(self) -> list[Transaction]:
        """All transaction functions, for logs and documentation."""
        return list(self._transactions.values())

    def resolve(self, function: str) -> Transaction:
        """Find the transaction for a function name, or raise ChaincodeError(400)."""
        if not function:
            raise ChaincodeError("no function name given", status=400)
        contract, sep, name = function.rpartition(":")
        if not sep:
            contract = self.default
        tx = self._transactions.get((contract, name))
        if tx is None:
            raise ChaincodeError(f"unknown function {function!r}", status=400)
        return tx

    def invoke(self, stub: Stub) -> proposal_response_pb2.Response:
        """Run the function named by the stub's first argument.

        Every failure becomes a Response, except a closed stream (there is no one left
        to answer), which propagates as StreamClosedError.
        """
        function = stub.function
        try:
            tx = self.resolve(function)
            args = stub.args
            if len(args) != len(tx.params):
                raise ChaincodeError(
                    f"{tx.function} expects {len(tx.params)} argument(s) "
                    f"({', '.join(tx.params)}), got {len(args)}",
                    status=400,
                )
            target = ReadOnlyStub(stub, tx.function) if tx.kind == EVALUATE else stub
            result = tx.call(target, *args)
            return proposal_response_pb2.Response(status=200, payload=_encode(result))
        except ChaincodeError as exc:
            log.info("[%s] %s refused (%d): %s", stub.tx_id[:8], function, exc.status, exc)
            return proposal_response_pb2.Response(status=exc.status, message=exc.message)
        except StreamClosedError:
            raise  # nobody is left to answer; the handler drops the transaction
        except Exception as exc:
            # A bug or an infrastructure failure: log everything, tell the client little.
            log.exception("[%s] %s raised", stub.tx_id[:8], function)
            return proposal_response_pb2.Response(
                status=500, message=f"internal error in {function}: {type(exc).__name__}"
            )


def _transactions_of(contract: Contract) -> list[Transaction]:
    found: list[Transaction] = []
    for attr in dir(type(contract)):
        method = getattr(contract, attr)
        kind = getattr(method, _KIND_ATTR, None)
        if kind is None:
            continue
        params = list(inspect.signature(method).parameters.values())
        if not params:
            raise ValueError(f"{contract.name}:{attr} must take the stub as first argument")
        if any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
            raise ValueError(f"{contract.name}:{attr} may only take plain positional args")
        found.append(
            Transaction(
                contract=contract.name,
                function=attr,
                kind=kind,
                params=tuple(p.name for p in params[1:]),
                call=method,
            )
        )
    return found


def _encode(result: Any) -> bytes:
    if result is None:
        return b""
    if isinstance(result, bytes | bytearray):
        return bytes(result)
    if isinstance(result, str):
        return result.encode("utf-8")
    return canonical_json(result)
