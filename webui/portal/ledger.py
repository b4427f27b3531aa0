"""Writes to the ledger, as the signed-in person's own Fabric identity.

Reads come from the mirror; only writes come here. Each call connects to the portal's
own peer with the person's identity and key (unlocked for the request from the
server-side session), submits, waits for the commit and disconnects. Failures become a
:class:`LedgerWriteError` whose message says what happened to the write (refused by the
chaincode and why; nothing sent because the peer is unreachable; ordered but invalid).

:class:`LedgerActions` is what the views call; :class:`GatewayActions` is its real
implementation, tests pass their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import grpc

from gridledger.clients.access import Access
from gridledger.clients.errors import ClientError, CommitError, GatewayError
from gridledger.clients.gateway import Gateway
from gridledger.clients.identity import Identity
from gridledger.clients.metering import Metering, Wattcoin
from gridledger.clients.signing import Signer

UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class LedgerWriteError(Exception):
    """A write did not happen (or did not commit); ``status`` is an HTTP status for it."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


def explain(exc: Exception, what: str) -> LedgerWriteError:
    """A person-readable error for a failed ``what``."""
    if isinstance(exc, CommitError):
        return LedgerWriteError(f"{what}: the transaction was ordered but the ledger marked "
                                f"it {exc.code_name}; nothing changed. Try again.", 409)
    if isinstance(exc, GatewayError):
        status = exc.chaincode_status
        if status is not None and 400 <= status < 500:
            reason = next((d.message for d in exc.details if str(status) in d.message),
                          exc.grpc_message)
            return LedgerWriteError(f"{what} was refused: {_clean(reason)}", status)
        if exc.code in UNREACHABLE:
            return LedgerWriteError(
                f"{what} was not sent: the peer is unreachable or did not answer in time "
                f"({exc.code.name}). Pages still show the last mirrored data; try again "
                "later.", 503)
        if exc.access_denied:
            return LedgerWriteError(f"{what}: the peer refused your identity "
                                    f"({_clean(exc.grpc_message)})", 403)
        return LedgerWriteError(f"{what} failed: {_clean(exc.grpc_message)}", 502)
    if isinstance(exc, ClientError):
        return LedgerWriteError(f"{what} failed: {exc}", 502)
    return LedgerWriteError(f"{what} failed: {type(exc).__name__}: {exc}", 500)


def _clean(message: str) -> str:
    """The chaincode's own words from a peer's message."""
    for marker in ("message: ", "chaincode response "):
        if marker in message:
            message = message.split(marker, 1)[1]
    message = re.sub(r"^\d{3},\s*", "", message.strip())
    return message.rstrip(")")[:400]


class PersonLedger(Protocol):
    def my_address(self) -> str: ...
    def open_and_bind(self, customer_id: str) -> str: ...
    def transfer(self, source: str, target: str, amount: int) -> dict[str, Any]: ...
    def set_low_balance_policy(self, address: str, threshold: int,
                               policy: str) -> dict[str, Any]: ...
    def mint(self, address: str, amount: int, reference: str) -> dict[str, Any]: ...
    def issue_bill(self, customer_id: str, start: str, end: str) -> dict[str, Any]: ...
    def set_tariff(self, document: dict[str, Any]) -> dict[str, Any]: ...
    def meter_status(self, meter_id: str, action: str, reason: str) -> dict[str, Any]: ...
    def compute_bill(self, customer_id: str, start: str, end: str) -> dict[str, Any]: ...
    def call(self, chaincode: str, contract: str, function: str, *args: str,
             transient: dict[str, bytes] | None = None, submit: bool = True) -> Any: ...


class LedgerActions(Protocol):
    def as_person(self, identity: Identity, signer: Signer) -> Any:
        """A context manager yielding a :class:`PersonLedger`."""
        ...


class _Person:
    def __init__(self, gateway: Gateway, channel: str, chaincode: str,
                 market_channel: str = "market") -> None:
        network = gateway.network(channel)
        self.gateway = gateway
        self.channel, self.market_channel = channel, market_channel
        self.network = network
        self.metering = Metering(network, chaincode)
        self.wattcoin = Wattcoin(network, chaincode)
        self.access = Access(network, chaincode)
        self.chaincode = chaincode

    def my_address(self) -> str:
        return self.wattcoin.my_address()

    def open_and_bind(self, customer_id: str) -> str:
        try:
            address = self.wattcoin.open_account()["address"]
        except GatewayError as exc:
            if exc.chaincode_status != 409:
                raise
            address = self.wattcoin.my_address()
        self.wattcoin.bind_customer(customer_id, address)
        return address

    def transfer(self, source: str, target: str, amount: int) -> dict[str, Any]:
        return self.wattcoin.transfer(source, target, amount)

    def set_low_balance_policy(self, address: str, threshold: int,
                               policy: str) -> dict[str, Any]:
        return self.wattcoin.set_low_balance_policy(address, threshold, policy)

    def mint(self, address: str, amount: int, reference: str) -> dict[str, Any]:
        return self.wattcoin.mint(address, amount, reference)

    def issue_bill(self, customer_id: str, start: str, end: str) -> dict[str, Any]:
        return self.metering.issue_bill(customer_id, start, end)

    def compute_bill(self, customer_id: str, start: str, end: str) -> dict[str, Any]:
        return self.metering.compute_bill(customer_id, start, end)

    def set_tariff(self, document: dict[str, Any]) -> dict[str, Any]:
        return self.metering.set_tariff(document)

    def meter_status(self, meter_id: str, action: str, reason: str) -> dict[str, Any]:
        fn = {"suspend": self.metering.suspend_meter, "resume": self.metering.resume_meter}
        return fn[action](meter_id, reason)

    # contract access (DACT/IDoT)
    def register_resource(self, resource: dict[str, Any]) -> dict[str, Any]:
        return self.access.register_resource(resource)

    def register_dact(self, table: dict[str, Any]) -> dict[str, Any]:
        return self.access.register_dact(table)

    def revoke_dact(self, dact_id: str, reason: str) -> dict[str, Any]:
        return self.access.revoke_dact(dact_id, reason)

    def register_device(self, device: dict[str, Any]) -> dict[str, Any]:
        return self.access.register_device(device)

    def certify_and_access(self, table: dict[str, Any], device_id: str,
                           device_signer: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
        """Seed 001 steps 1-6: a token for the DACT (the device proves itself), then the
        contract run with it: the hash addresses."""
        token = self.access.certify(table, device_id, device_signer)
        return {**token, **self.access.access(token["tokenId"])}

    # contract market (market channel): the Regulator's right to resolve a pseudonym,
    # logged first
    def resolve_pseudonym(self, pseudonym: str, reason: str) -> dict[str, Any]:
        from gridledger.clients.market import Market

        market = Market(self.gateway, energy_channel=self.channel,
                        market_channel=self.market_channel)
        entry = market.request_resolution(pseudonym, reason)
        return market.resolve(entry["auditId"])

    def call(self, chaincode: str, contract: str, function: str, *args: str,
             transient: dict[str, bytes] | None = None, submit: bool = True) -> Any:
        c = self.network.contract(chaincode, contract)
        raw = (c.submit if submit else c.evaluate)(function, *args, transient=transient)
        return json.loads(raw) if raw else None


class GatewayActions:
    """Writes through the portal's peer as whoever signs: on ``channel`` (energy), and the
    market's on ``market_channel``."""

    def __init__(self, connect: Callable[[Identity, Signer], Gateway], channel: str,
                 chaincode: str = "metering", *, market_channel: str = "market") -> None:
        self._connect = connect
        self.channel = channel
        self.market_channel = market_channel
        self.chaincode = chaincode

    @contextmanager
    def as_person(self, identity: Identity, signer: Signer) -> Iterator[_Person]:
        gateway = self._connect(identity, signer)
        try:
            yield _Person(gateway, self.channel, self.chaincode, self.market_channel)
        finally:
            gateway.close()
