"""A small contract API: Contract classes, transaction decorators, dispatch.

    class Meter(Contract):
        name = "meter"

        @submit
        def Record(self, stub: Stub, meter_id: str, reading_json: str) -> dict: ...

        @evaluate
        def Read(self, stub: Stub, meter_id: str) -> dict: ...

Clients call "meter:Record" (or plain "Record" on the default contract). Arguments
arrive as strings; a function returns bytes, str, None or a JSON-able value (sent as
canonical JSON).

A function marked ``@submit(private=True)`` takes its arguments from the transient map
(key ``args``: a JSON array of strings) and refuses proposal arguments: those are stored in
every block on every peer and orderer, transient data is not. Such a function writes only
values every member may see into public state, and returns and emits only those too (the
response payload and the event are in the block as well).

``ChaincodeError`` becomes a failed Response with its status and message, and so does
``FormatError`` (the shared format checks of ``gridledger.formats``, which contracts call
directly) with status 400; any other exception becomes status 500 "internal error in
<fn>: <type>".
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from fabric_protos.peer import proposal_response_pb2

from gridledger.formats.canonical import canonical_json
from gridledger.formats.errors import FormatError

from .errors import ChaincodeError, StreamClosedError
from .stub import ChaincodeResponse, Stub

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_KIND_ATTR = "__gridledger_tx_kind__"
_PRIVATE_ATTR = "__gridledger_tx_private__"
SUBMIT = "submit"
EVALUATE = "evaluate"
# Transient key that carries a private function's arguments.
TRANSIENT_ARGS = "args"

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


# A UTF-16 surrogate, escaped in JSON text or raw: JSON lets "\ud800" stand alone, UTF-8
# cannot carry it, so a value holding one could be neither stored nor answered.
_SURROGATE_TEXT = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _utf8_encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json_arg(text: str | bytes, what: str) -> Any:
    """Decode a JSON argument, or refuse the call with status 400."""
    try:
        value = json.loads(text)
        pattern = _SURROGATE_BYTES if isinstance(text, bytes) else _SURROGATE_TEXT
        # Checked only when a surrogate may be there: a batch of readings is large.
        if pattern.search(text) and not _utf8_encodable(value):  # type: ignore[arg-type]
            raise ChaincodeError(f"{what} holds a lone UTF-16 surrogate, which is not text",
                                 status=400)
        return value
    except json.JSONDecodeError as exc:
        raise ChaincodeError(f"{what} is not valid JSON: {exc.msg}", status=400) from None
    except UnicodeDecodeError:
        raise ChaincodeError(f"{what} is not UTF-8 text", status=400) from None
    except RecursionError:
        # Nesting deep enough to exhaust the parser's stack: no format of ours nests so.
        raise ChaincodeError(f"{what} nests too deeply", status=400) from None
    except ValueError:
        # An integer of more digits than int() reads (sys.get_int_max_str_digits).
        raise ChaincodeError(f"{what} holds a number too long to read", status=400) from None


def _mark(kind: str, fn: F | None, private: bool) -> F | Callable[[F], F]:
    def mark(f: F) -> F:
        setattr(f, _KIND_ATTR, kind)
        setattr(f, _PRIVATE_ATTR, private)
        return f

    return mark(fn) if fn is not None else mark


def submit(fn: F | None = None, *, private: bool = False) -> Any:
    """Mark a method as a transaction that may write (clients submit it).

    ``@submit(private=True)``: its arguments come from the transient map (see above).
    """
    return _mark(SUBMIT, fn, private)


def evaluate(fn: F | None = None, *, private: bool = False) -> Any:
    """Mark a method as read-only (clients evaluate it); writes are refused."""
    return _mark(EVALUATE, fn, private)


def transient_arguments(stub: Stub, function: str) -> list[str]:
    """A private function's arguments, from the transient map; 400 if misplaced."""
    if proposal_arguments(stub):
        raise ChaincodeError(
            f"{function} takes its arguments in the transient map ({TRANSIENT_ARGS!r}: a JSON "
            "array of strings), not as proposal arguments, which every peer and orderer "
            "stores in its blocks", status=400)
    raw = stub.get_transient(TRANSIENT_ARGS)
    if raw is None:
        return []
    args = parse_json_arg(raw, f"transient {TRANSIENT_ARGS!r}")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ChaincodeError(f"transient {TRANSIENT_ARGS!r} must be a JSON array of strings",
                             status=400)
    return args


def proposal_arguments(stub: Stub) -> list[str]:
    """The proposal's arguments as text; 400 when one is not UTF-8."""
    try:
        return stub.args
    except UnicodeDecodeError:
        raise ChaincodeError("every argument must be UTF-8 text", status=400) from None


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
    private: bool = False


class ReadOnlyStub:
    """Wraps a stub for evaluate-only functions: reads pass, writes are refused."""

    # What the peer's simulator needs to allow range scans of private data: Fabric
    # refuses them in a transaction that writes (they cannot be checked for phantoms).
    read_only = True

    def __init__(self, stub: Stub, function: str) -> None:
        self._stub = stub
        self._function = function

    def __getattr__(self, name: str) -> Any:
        if name in _WRITES:
            raise ChaincodeError(
                f"{self._function} is evaluate-only and cannot call {name}", status=500
            )
        return getattr(self._stub, name)

    def invoke_chaincode(
        self, chaincode: str, args: Sequence[str | bytes], channel: str = ""
    ) -> ChaincodeResponse:
        """Across channels only: a chaincode called on this channel writes into this
        transaction; one on another channel runs in a throw-away simulator."""
        if channel in ("", self._stub.channel_id):
            raise ChaincodeError(
                f"{self._function} is evaluate-only and cannot call chaincode {chaincode!r} "
                "on its own channel (what that chaincode writes would be this transaction's "
                "writes); only a call to another channel is read-only",
                status=500,
            )
        return self._stub.invoke_chaincode(chaincode, args, channel)


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
        try:
            function = stub.function
        except UnicodeDecodeError:
            return proposal_response_pb2.Response(status=400,
                                                  message="the function name is not UTF-8")
        try:
            tx = self.resolve(function)
            args = (transient_arguments(stub, tx.function) if tx.private
                    else proposal_arguments(stub))
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
        except FormatError as exc:
            # Input that breaks a shared format (an id, a number, an instant, a reading):
            # the caller's mistake, answered like ChaincodeError(status=400), so domain
            # code calls gridledger.formats directly instead of wrapping each check.
            log.info("[%s] %s refused (400): %s", stub.tx_id[:8], function, exc)
            return proposal_response_pb2.Response(status=400, message=str(exc))
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
                private=getattr(method, _PRIVATE_ATTR, False),
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
