"""Python bindings for chaincode ``metering``: its ``metering`` and ``wattcoin`` contracts.

Each method is one chaincode function (arguments and answers in chaincode/README.md);
objects go as JSON, answers come back decoded. Submits wait for a valid commit unless
the ``_async`` form is used.

Privacy (chaincode/README.md, "Privacy"): a function that handles customer data takes
its arguments in the transient map, never as proposal arguments (those are in every
block), and every transaction that writes customer data carries a fresh random salt.
These bindings do both; answers of such submits say only that they were done, so the
bindings read what was done back with an evaluate where the caller needs it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import EndorseError
from .gateway import Commit, Network
from .proposal import private_arguments

CHAINCODE = "metering"
# The members of collection customerData: every write to it needs both their peers.
CUSTOMER_DATA_ENDORSERS = ("UtilityMSP", "RegulatorMSP")


def _json(data: bytes) -> Any:
    return json.loads(data) if data else None


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


# Functions whose arguments travel in the transient map (the chaincode refuses them as
# proposal arguments), and functions that write customer data (they need a salt).
PRIVATE_ARGUMENTS = frozenset({
    "InitKeySecret", "RegisterMeter", "SetMeterTariff", "SubmitReadings", "IssueBill",
    "OpenMeterAccount", "BindCustomer", "Mint", "Transfer", "SetLowBalancePolicy",
})
WRITES_CUSTOMER_DATA = PRIVATE_ARGUMENTS | {"RaiseAlarm", "OpenAccount", "ReplaceMeterKey"}
# Functions that write a meter's public record (meter~), whose key-level policy needs the
# Utility's and the Regulator's peers: the Gateway plans for the chaincode's policy only.
WRITES_METER_RECORD = frozenset({"ReplaceMeterKey", "SuspendMeter", "ResumeMeter",
                                 "DecommissionMeter"})
# Tariff keys need the Regulator's peer and one other (RegulatorMSP + UtilityMSP here).
TARIFF_ENDORSERS = ("RegulatorMSP", "UtilityMSP")


def private_call(function: str, args: Sequence[str]) -> tuple[tuple[str, ...],
                                                                dict[str, bytes] | None]:
    """(proposal arguments, transient map) for one call of a metering/wattcoin function."""
    return private_arguments(function, args, private=PRIVATE_ARGUMENTS,
                             salted=WRITES_CUSTOMER_DATA)


@dataclass(frozen=True)
class SignedReading:
    """A reading as the meter signed it: the reading object and its base64 DER signature."""

    reading: dict[str, Any]
    signature: str

    def to_json(self) -> dict[str, Any]:
        return {"reading": self.reading, "signature": self.signature}


class Metering:
    """Meters, tariffs, readings, chain checks, alarms and bills."""

    def __init__(self, network: Network, chaincode: str = CHAINCODE) -> None:
        self.contract = network.contract(chaincode, "metering")

    def _submit(self, fn: str, *args: str) -> Any:
        args, transient = private_call(fn, args)
        endorsers: tuple[str, ...] = ()
        if fn in WRITES_METER_RECORD:
            endorsers = CUSTOMER_DATA_ENDORSERS
        elif fn == "SetTariff":
            endorsers = TARIFF_ENDORSERS
        return _json(self.contract.submit(fn, *args, transient=transient,
                                          endorsing_organizations=endorsers))

    def _evaluate(self, fn: str, *args: str) -> Any:
        return _json(self.contract.evaluate(fn, *args))

    # the collection's key secret
    def init_key_secret(self, secret: bytes) -> bool:
        """Set customerData's key secret (once per ledger; endorsed by both members of the
        collection). True when set now, False when it was set already."""
        args, transient = private_call("InitKeySecret", ())
        transient = {**(transient or {}), "keySecret": secret}
        try:
            self.contract.submit("InitKeySecret", *args, transient=transient,
                                 endorsing_organizations=CUSTOMER_DATA_ENDORSERS)
        except EndorseError as exc:
            if exc.chaincode_status == 409:
                return False
            raise
        return True

    # meters
    def register_meter(self, meter: dict[str, Any]) -> dict[str, Any]:
        return self._submit("RegisterMeter", _dump(meter))

    def register_meter_async(self, meter: dict[str, Any]) -> Commit:
        """Endorse and order a registration; many can be in flight at once."""
        args, transient = private_call("RegisterMeter", (_dump(meter),))
        return self.contract.submit_async("RegisterMeter", *args, transient=transient)

    def replace_meter_key(self, meter_id: str, key: dict[str, Any]) -> dict[str, Any]:
        return self._submit("ReplaceMeterKey", meter_id, _dump(key))

    def suspend_meter(self, meter_id: str, reason: str) -> dict[str, Any]:
        return self._submit("SuspendMeter", meter_id, reason)

    def resume_meter(self, meter_id: str, reason: str) -> dict[str, Any]:
        return self._submit("ResumeMeter", meter_id, reason)

    def decommission_meter(self, meter_id: str, reason: str) -> dict[str, Any]:
        return self._submit("DecommissionMeter", meter_id, reason)

    def set_meter_tariff(self, meter_id: str, tariff_id: str) -> dict[str, Any]:
        return self._submit("SetMeterTariff", meter_id, tariff_id)

    def get_meter(self, meter_id: str) -> dict[str, Any]:
        return self._evaluate("GetMeter", meter_id)

    def meters_by_customer(self, customer_id: str) -> list[dict[str, Any]]:
        return self._evaluate("MetersByCustomer", customer_id)

    # tariffs (the Regulator's; the key-level policy needs its endorsement)
    def set_tariff(self, tariff: dict[str, Any]) -> dict[str, Any]:
        return self._submit("SetTariff", _dump(tariff))

    def get_tariff(self, tariff_id: str, at: str) -> dict[str, Any]:
        return self._evaluate("GetTariff", tariff_id, at)

    # readings
    def submit_readings_async(self, batch: Sequence[SignedReading | dict[str, Any]]) -> Commit:
        """Endorse and order a batch; the commit handle's result is the per-reading report."""
        items = [r.to_json() if isinstance(r, SignedReading) else r for r in batch]
        args, transient = private_call("SubmitReadings", (_dump(items),))
        return self.contract.submit_async("SubmitReadings", *args, transient=transient)

    def submit_readings(self, batch: Sequence[SignedReading | dict[str, Any]]) -> dict[str, Any]:
        """Submit a batch and wait; returns accepted/duplicate/refused per reading."""
        return _json(self.submit_readings_async(batch).wait())

    def get_readings(self, meter_id: str, from_seq: int = 1, limit: int = 100) -> list[Any]:
        return self._evaluate("GetReadings", meter_id, str(from_seq), str(limit))

    def get_reading_detail(self, meter_id: str, seq: int) -> dict[str, Any]:
        return self._evaluate("GetReadingDetail", meter_id, str(seq))

    def verify_meter_chain(self, meter_id: str) -> dict[str, Any]:
        return self._evaluate("VerifyMeterChain", meter_id)

    # alarms
    def raise_alarm(self, alarm: dict[str, Any]) -> dict[str, Any]:
        return self._submit("RaiseAlarm", _dump(alarm))

    def alarms_by_meter(self, meter_id: str) -> list[dict[str, Any]]:
        return self._evaluate("AlarmsByMeter", meter_id)

    # bills
    def compute_bill(self, customer_id: str, period_start: str, period_end: str) -> dict[str, Any]:
        return self._evaluate("ComputeBill", customer_id, period_start, period_end)

    def issue_bill(self, customer_id: str, period_start: str, period_end: str) -> dict[str, Any]:
        return self._submit("IssueBill", customer_id, period_start, period_end)

    def get_bill(self, customer_id: str, period_start: str) -> dict[str, Any]:
        return self._evaluate("GetBill", customer_id, period_start)

    def bills_by_customer(self, customer_id: str) -> list[dict[str, Any]]:
        return self._evaluate("BillsByCustomer", customer_id)


class Wattcoin:
    """Prepaid Wattcoin accounts: top-ups (mint), transfers, balances, history."""

    def __init__(self, network: Network, chaincode: str = CHAINCODE) -> None:
        self.contract = network.contract(chaincode, "wattcoin")

    def _submit(self, fn: str, *args: str) -> Any:
        args, transient = private_call(fn, args)
        return _json(self.contract.submit(fn, *args, transient=transient))

    def _evaluate(self, fn: str, *args: str) -> Any:
        return _json(self.contract.evaluate(fn, *args))

    def open_account(self) -> dict[str, Any]:
        return self._submit("OpenAccount")

    def open_meter_account(self, meter_id: str, controller: str) -> dict[str, Any]:
        return self._submit("OpenMeterAccount", meter_id, controller)

    def bind_customer(self, customer_id: str, address: str) -> dict[str, Any]:
        return self._submit("BindCustomer", customer_id, address)

    def mint(self, address: str, amount: int, reference: str) -> dict[str, Any]:
        """Top up ``address`` (Utility only); ``reference`` is the payment, used once."""
        return self._submit("Mint", address, str(amount), reference)

    def transfer(self, source: str, target: str, amount: int) -> dict[str, Any]:
        return self._submit("Transfer", source, target, str(amount))

    def set_low_balance_policy(self, address: str, threshold: int, policy: str) -> dict[str, Any]:
        return self._submit("SetLowBalancePolicy", address, str(threshold), policy)

    def balance(self, address: str) -> dict[str, Any]:
        return self._evaluate("Balance", address)

    def my_address(self) -> str:
        return self._evaluate("MyAddress")["address"]

    def account_of_customer(self, customer_id: str) -> dict[str, Any]:
        return self._evaluate("AccountOfCustomer", customer_id)

    def history(self, address: str, from_n: int = 1, limit: int = 100) -> list[Any]:
        return self._evaluate("History", address, str(from_n), str(limit))

    def utility_account(self) -> dict[str, Any]:
        return self._evaluate("UtilityAccount")

    def supply_status(self, meter_ids: Sequence[str]) -> dict[str, Any]:
        """Whether each meter's supply should be on, from the ledger's state on this
        gateway's peer (at most 1000 meters; Utility and Regulator operators)."""
        return self._evaluate("SupplyStatus", _dump(list(meter_ids)))
