"""The ``metering`` contract (default contract of chaincode ``metering``).

Thin: check the caller, parse arguments, call the domain modules, return JSON. See
chaincode/README.md for each function's arguments and answers.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats import events
from gridledger.formats.ids import check_id
from gridledger.formats.utc import parse_utc

from ..common.arguments import int_arg
from ..common.callers import (
    REGULATOR,
    UTILITY,
    require_customer_or_operator,
    require_member,
    require_operator,
    require_own,
)
from ..common.keys import prefix_range
from ..common.overlay import KEY_SECRET, Overlay, load_json
from ..common.privacy import ledger
from ..shim import ChaincodeError, Contract, Stub, canonical_json, evaluate, parse_json_arg, submit
from . import alarms, billing, meters, readings, tariff, verify

# Transient member carrying InitKeySecret's secret, and its least length.
KEY_SECRET_TRANSIENT = "keySecret"
MIN_KEY_SECRET_BYTES = 32


def _require_own_meter(stub: Stub, ov: Overlay, customer: str | None, meter_id: str,
                       action: str) -> None:
    """A customer caller reaches only its own meters (404 for an unknown one); operators
    (``customer`` None) pass without a read."""
    if customer is not None:
        require_own(stub, customer, meters.get(ov, meter_id)["customerId"], action=action,
                    what=f"meter {meter_id}")


class MeteringContract(Contract):
    """Meters, tariffs, readings, chain verification, alarms and bills."""

    name = "metering"

    # -- the collection's key secret -----------------------------------------------------

    @submit(private=True)
    def InitKeySecret(self, stub: Stub) -> dict[str, Any]:
        """Set customerData's key secret, once (Utility; both members' peers endorse):
        the random value every private key name is derived with (common/overlay.py)."""
        require_operator(stub, UTILITY, action="InitKeySecret")
        ov = ledger(stub)
        if ov.get(KEY_SECRET) is not None:
            raise ChaincodeError("customerData's key secret is set already: it never "
                                 "changes (every private key name depends on it)", status=409)
        secret = stub.get_transient(KEY_SECRET_TRANSIENT)
        if secret is None or len(secret) < MIN_KEY_SECRET_BYTES:
            raise ChaincodeError(f"send a fresh random {KEY_SECRET_TRANSIENT!r} of at least "
                                 f"{MIN_KEY_SECRET_BYTES} bytes in the transient map", 400)
        ov.put_json(KEY_SECRET, {"secret": secret.hex()})
        return {"set": True}

    # -- meters --------------------------------------------------------------------------

    @submit(private=True)
    def RegisterMeter(self, stub: Stub, meter_json: str) -> dict[str, Any]:
        """Register a meter (Utility operator); its tariff must exist."""
        require_operator(stub, UTILITY, action="RegisterMeter")
        fields = meters.parse_registration(parse_json_arg(meter_json, "meter"))
        ov = ledger(stub)
        tariff.get_doc(ov, fields["tariffId"])
        meters.register(ov, fields)
        # The response is in the block: only what every member may see.
        return {"meterId": fields["meterId"], "registered": True}

    @submit
    def ReplaceMeterKey(self, stub: Stub, meter_id: str, key_json: str) -> dict[str, Any]:
        """Install a new meter key {publicKeyPem, curve}; the chain continues (Utility)."""
        require_operator(stub, UTILITY, action="ReplaceMeterKey")
        body = parse_json_arg(key_json, "key")
        if not isinstance(body, dict) or set(body) - {"publicKeyPem", "curve"}:
            raise ChaincodeError('key must be {"publicKeyPem": "...", "curve": "P-256"}', 400)
        return meters.replace_key(ledger(stub), meter_id, body.get("publicKeyPem"),
                                  body.get("curve", "P-256"))

    @submit
    def SuspendMeter(self, stub: Stub, meter_id: str, reason: str) -> dict[str, Any]:
        """Stop accepting the meter's readings until resumed (Utility)."""
        require_operator(stub, UTILITY, action="SuspendMeter")
        return meters.set_status(ledger(stub), meter_id, meters.SUSPENDED, reason)

    @submit
    def ResumeMeter(self, stub: Stub, meter_id: str, reason: str) -> dict[str, Any]:
        """Accept a suspended meter's readings again (Utility)."""
        require_operator(stub, UTILITY, action="ResumeMeter")
        return meters.set_status(ledger(stub), meter_id, meters.ACTIVE, reason)

    @submit
    def DecommissionMeter(self, stub: Stub, meter_id: str, reason: str) -> dict[str, Any]:
        """Retire a meter for good (Utility)."""
        require_operator(stub, UTILITY, action="DecommissionMeter")
        return meters.set_status(ledger(stub), meter_id, meters.DECOMMISSIONED, reason)

    @submit(private=True)
    def SetMeterTariff(self, stub: Stub, meter_id: str, tariff_id: str) -> dict[str, Any]:
        """Bill the meter under another trusted tariff from the next whole UTC hour on
        (Utility); past hours keep theirs. Answers {"meterId", "from"}: no tariff id (the
        block holds the answer; the meter's tariff is in its private record)."""
        require_operator(stub, UTILITY, action="SetMeterTariff")
        return meters.set_tariff(ledger(stub), meter_id, tariff_id)

    @evaluate
    def GetMeter(self, stub: Stub, meter_id: str) -> dict[str, Any]:
        """The whole meter record and its chain head (a Utility or Regulator peer)."""
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR, action="GetMeter")
        ov = ledger(stub)
        meter = meters.get(ov, meter_id)
        require_own(stub, customer, meter["customerId"], action="GetMeter",
                    what=f"meter {meter_id}")
        return {"meter": meter, "head": meters.get_head(ov, meter_id)}

    @evaluate
    def GetMeterDevice(self, stub: Stub, meter_id: str) -> dict[str, Any]:
        """The meter as a device (IDoT): id, public key, curve, profile, status (any peer)."""
        require_member(stub, action="GetMeterDevice")
        return meters.get_device(ledger(stub), meter_id)

    @evaluate
    def MetersByCustomer(self, stub: Stub, customer_id: str) -> list[dict[str, Any]]:
        """Meter records of a customer, by meter id."""
        require_customer_or_operator(stub, UTILITY, REGULATOR, action="MetersByCustomer",
                                     customer_id=customer_id)
        ov = ledger(stub)
        return [meters.get(ov, m) for m in meters.by_customer(ov, customer_id)]

    # -- tariffs -------------------------------------------------------------------------

    @submit
    def SetTariff(self, stub: Stub, tariff_json: str) -> dict[str, Any]:
        """Add a tariff version (Regulator operator; key-level policy: Regulator's peer)."""
        require_operator(stub, REGULATOR, action="SetTariff")
        fields = tariff.parse_version(parse_json_arg(tariff_json, "tariff"))
        return tariff.set_version(ledger(stub), fields)

    @evaluate
    def GetTariff(self, stub: Stub, tariff_id: str, at: str) -> dict[str, Any]:
        """The version in force at ``at`` (RFC 3339 UTC), or every version when ``at`` is ""."""
        require_member(stub, action="GetTariff")
        doc = tariff.get_doc(ledger(stub), tariff_id)
        if not at:
            return doc
        return tariff.version_at(doc, parse_utc(at, "at"))

    # -- readings ------------------------------------------------------------------------

    @submit(private=True)
    def SubmitReadings(self, stub: Stub, batch_json: str) -> dict[str, Any]:
        """Verify and record a batch; one verdict per reading; event ReadingsProcessed."""
        # Collection members only: the batch writes interval detail (memberOnlyWrite).
        require_operator(stub, UTILITY, REGULATOR, action="SubmitReadings")
        result = readings.submit_readings(ledger(stub, defer_json=True),
                                          parse_json_arg(batch_json, "batch"))
        result.pop("event")
        return result

    @evaluate
    def GetReadings(self, stub: Stub, meter_id: str, from_seq: str, limit: str) -> list[Any]:
        """Reading records (chain link, deltas, quality; no interval detail) with
        seq >= from_seq, at most limit."""
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR, action="GetReadings")
        check_id(meter_id, "meterId")
        first = int_arg(from_seq, "fromSeq", 1)
        count = min(int_arg(limit, "limit", 1), 1000)
        ov = ledger(stub)
        _require_own_meter(stub, ov, customer, meter_id, "GetReadings")
        _, end = prefix_range("reading", meter_id)
        out: list[Any] = []
        # Lazy, and no further than ``count`` records: the range is closed after them.
        for kv in ov.scan(readings.reading_key(meter_id, first), end, limit=count):
            record = load_json(kv.value)
            for detail in ("canonical", "signature", "salt"):
                record.pop(detail, None)
            out.append(record)
        return out

    @evaluate
    def GetReadingDetail(self, stub: Stub, meter_id: str, seq: str) -> dict[str, Any]:
        """Interval detail of one reading: the signed canonical reading and its signature."""
        require_operator(stub, UTILITY, REGULATOR, action="GetReadingDetail")
        rkey = readings.reading_key(check_id(meter_id, "meterId"), int_arg(seq, "seq", 1))
        record = ledger(stub).get_json(rkey)
        if record is None:
            raise ChaincodeError(f"no interval detail for {meter_id} seq {seq}", status=404)
        return {"canonical": record["canonical"], "signature": record["signature"],
                "reading": load_json(record["canonical"].encode("utf-8"))}

    @evaluate
    def VerifyMeterChain(self, stub: Stub, meter_id: str) -> dict[str, Any]:
        """Check every reading of the meter against its chain and its meter's signature
        (members' peers; metering/verify.py).

        Returns {"ok": true, "seq": head} or {"ok": false, "seq", "reason", "expected",
        "found"} naming the first broken reading.
        """
        require_operator(stub, UTILITY, REGULATOR, action="VerifyMeterChain")
        return verify.verify_chain(ledger(stub), check_id(meter_id, "meterId"))

    # -- alarms --------------------------------------------------------------------------

    @submit
    def RaiseAlarm(self, stub: Stub, alarm_json: str) -> dict[str, Any]:
        """Record a meter-signed alarm and emit event ``Alarm`` (a repeat is a no-op)."""
        require_operator(stub, UTILITY, REGULATOR, action="RaiseAlarm")
        alarm, canonical, signature = alarms.parse_signed_alarm(
            parse_json_arg(alarm_json, "alarm"))
        ov = ledger(stub)
        meter = meters.get(ov, alarm["meterId"])
        entry = alarms.raise_signed(ov, meter, alarm, canonical, signature)
        if entry is None:
            return {"recorded": False, "reason": "duplicate: no-op, already recorded"}
        public = readings.public_alarm(entry)
        stub.set_event(events.ALARM, canonical_json(public))
        return {"recorded": True, "alarm": public}

    @evaluate
    def AlarmsByMeter(self, stub: Stub, meter_id: str) -> list[dict[str, Any]]:
        """Alarms of a meter, oldest first."""
        customer = require_customer_or_operator(stub, UTILITY, REGULATOR,
                                                action="AlarmsByMeter")
        ov = ledger(stub)
        _require_own_meter(stub, ov, customer, check_id(meter_id, "meterId"), "AlarmsByMeter")
        return alarms.by_meter(ov, meter_id)

    # -- bills ---------------------------------------------------------------------------

    @evaluate
    def ComputeBill(self, stub: Stub, customer_id: str, period_start: str,
                    period_end: str) -> dict[str, Any]:
        """The bill for [periodStart, periodEnd) (Utility/Regulator operators, the customer)."""
        require_customer_or_operator(stub, UTILITY, REGULATOR, action="ComputeBill",
                                     customer_id=customer_id)
        return billing.compute(ledger(stub), customer_id, period_start, period_end)

    @submit(private=True)
    def IssueBill(self, stub: Stub, customer_id: str, period_start: str,
                  period_end: str) -> dict[str, Any]:
        """Compute and record the bill (Utility operator); 409 if it overlaps another."""
        require_operator(stub, UTILITY, action="IssueBill")
        bill = billing.issue(ledger(stub), customer_id, period_start, period_end)
        # The response is in the block: the bill itself is read with GetBill.
        return {"issued": True, "periodStart": bill["periodStart"],
                "periodEnd": bill["periodEnd"]}

    @evaluate
    def GetBill(self, stub: Stub, customer_id: str, period_start: str) -> dict[str, Any]:
        """An issued bill, by customer and period start."""
        require_customer_or_operator(stub, UTILITY, REGULATOR, action="GetBill",
                                     customer_id=customer_id)
        bill = ledger(stub).get_json(billing.bill_key(check_id(customer_id, "customerId"),
                                                      period_start))
        if bill is None:
            raise ChaincodeError(f"no bill for {customer_id} from {period_start}", status=404)
        return bill

    @evaluate
    def BillsByCustomer(self, stub: Stub, customer_id: str) -> list[dict[str, Any]]:
        """Issued bills of a customer, by period start."""
        require_customer_or_operator(stub, UTILITY, REGULATOR, action="BillsByCustomer",
                                     customer_id=customer_id)
        return billing.issued(ledger(stub), customer_id)
