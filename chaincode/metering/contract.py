"""The ``metering`` contract (default contract of chaincode ``metering``).

Thin: check the caller, parse arguments, call the domain modules, return JSON. See
chaincode/README.md for each function's arguments and answers.
"""

from __future__ import annotations

from typing import Any

from ..shim import ChaincodeError, Contract, Stub, canonical_json, evaluate, parse_json_arg, submit
from . import alarms, billing, meters, readings, tariff
from .access import REGULATOR, UTILITY, require_operator, require_operator_or_customer
from .chain import RecordedLink, first_broken_link
from .ledger import DETAIL_COLLECTION, Overlay, check_id, load_json, prefix_range
from .numbers import check_int, parse_utc

EVENT_ALARM = "Alarm"
_VERIFY_CHUNK = 500


def _int_arg(text: str, what: str, minimum: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ChaincodeError(f"{what} must be an integer, got {text!r}", status=400) from None
    return check_int(value, what, minimum=minimum)


class MeteringContract(Contract):
    """Meters, tariffs, readings, chain verification, alarms and bills."""

    name = "metering"

    # -- meters --------------------------------------------------------------------------

    @submit
    def RegisterMeter(self, stub: Stub, meter_json: str) -> dict[str, Any]:
        """Register a meter (Utility operator); its tariff must exist."""
        require_operator(stub, UTILITY, action="RegisterMeter")
        fields = meters.parse_registration(parse_json_arg(meter_json, "meter"))
        ov = Overlay(stub)
        tariff.get_doc(ov, fields["tariffId"])
        return meters.register(ov, fields)

    @submit
    def ReplaceMeterKey(self, stub: Stub, meter_id: str, key_json: str) -> dict[str, Any]:
        """Install a new meter key {publicKeyPem, curve}; the chain continues (Utility)."""
        require_operator(stub, UTILITY, action="ReplaceMeterKey")
        body = parse_json_arg(key_json, "key")
        if not isinstance(body, dict) or set(body) - {"publicKeyPem", "curve"}:
            raise ChaincodeError('key must be {"publicKeyPem": "...", "curve": "P-256"}', 400)
        return meters.replace_key(Overlay(stub), meter_id, body.get("publicKeyPem"),
                                  body.get("curve", "P-256"))

    @submit
    def SuspendMeter(self, stub: Stub, meter_id: str, reason: str) -> dict[str, Any]:
        """Stop accepting the meter's readings until resumed (Utility)."""
        require_operator(stub, UTILITY, action="SuspendMeter")
        return meters.set_status(Overlay(stub), meter_id, meters.SUSPENDED, reason)

    @submit
    def ResumeMeter(self, stub: Stub, meter_id: str, reason: str) -> dict[str, Any]:
        """Accept a suspended meter's readings again (Utility)."""
        require_operator(stub, UTILITY, action="ResumeMeter")
        return meters.set_status(Overlay(stub), meter_id, meters.ACTIVE, reason)

    @submit
    def DecommissionMeter(self, stub: Stub, meter_id: str, reason: str) -> dict[str, Any]:
        """Retire a meter for good (Utility)."""
        require_operator(stub, UTILITY, action="DecommissionMeter")
        return meters.set_status(Overlay(stub), meter_id, meters.DECOMMISSIONED, reason)

    @submit
    def SetMeterTariff(self, stub: Stub, meter_id: str, tariff_id: str) -> dict[str, Any]:
        """Bill the meter under another (existing) tariff (Utility)."""
        require_operator(stub, UTILITY, action="SetMeterTariff")
        ov = Overlay(stub)
        tariff.get_doc(ov, tariff_id)
        return meters.set_tariff(ov, meter_id, tariff_id)

    @evaluate
    def GetMeter(self, stub: Stub, meter_id: str) -> dict[str, Any]:
        """The meter record and its chain head."""
        ov = Overlay(stub)
        return {"meter": meters.get(ov, meter_id), "head": meters.get_head(ov, meter_id)}

    @evaluate
    def MetersByCustomer(self, stub: Stub, customer_id: str) -> list[dict[str, Any]]:
        """Meter records of a customer, by meter id."""
        ov = Overlay(stub)
        return [meters.get(ov, m) for m in meters.by_customer(ov, customer_id)]

    # -- tariffs -------------------------------------------------------------------------

    @submit
    def SetTariff(self, stub: Stub, tariff_json: str) -> dict[str, Any]:
        """Add a tariff version (Regulator operator; key-level policy: Regulator's peer)."""
        require_operator(stub, REGULATOR, action="SetTariff")
        fields = tariff.parse_version(parse_json_arg(tariff_json, "tariff"))
        return tariff.set_version(Overlay(stub), fields)

    @evaluate
    def GetTariff(self, stub: Stub, tariff_id: str, at: str) -> dict[str, Any]:
        """The version in force at ``at`` (RFC 3339 UTC), or every version when ``at`` is ""."""
        doc = tariff.get_doc(Overlay(stub), tariff_id)
        if not at:
            return doc
        return tariff.version_at(doc, parse_utc(at, "at"))

    # -- readings ------------------------------------------------------------------------

    @submit
    def SubmitReadings(self, stub: Stub, batch_json: str) -> dict[str, Any]:
        """Verify and record a batch; one verdict per reading; event ReadingsProcessed."""
        # Collection members only: the batch writes interval detail (memberOnlyWrite).
        require_operator(stub, UTILITY, REGULATOR, action="SubmitReadings")
        result = readings.submit_readings(Overlay(stub, defer_json=True),
                                          parse_json_arg(batch_json, "batch"))
        result.pop("event")
        return result

    @evaluate
    def GetReadings(self, stub: Stub, meter_id: str, from_seq: str, limit: str) -> list[Any]:
        """Public reading records (no interval detail) with seq >= from_seq, at most limit."""
        check_id(meter_id, "meterId")
        first = _int_arg(from_seq, "fromSeq", 1)
        count = min(_int_arg(limit, "limit", 1), 1000)
        _, end = prefix_range("reading", meter_id)
        out: list[Any] = []
        with stub.get_state_by_range(readings.reading_key(meter_id, first), end) as it:
            for kv in it:
                if len(out) >= count:
                    break
                out.append(load_json(kv.value))
        return out

    @evaluate
    def GetReadingDetail(self, stub: Stub, meter_id: str, seq: str) -> dict[str, Any]:
        """Interval detail of one reading (collection members' peers and clients only)."""
        require_operator(stub, UTILITY, REGULATOR, action="GetReadingDetail")
        rkey = readings.reading_key(check_id(meter_id, "meterId"), _int_arg(seq, "seq", 1))
        raw = stub.get_private_data(DETAIL_COLLECTION, rkey)
        if raw is None:
            raise ChaincodeError(f"no interval detail for {meter_id} seq {seq}", status=404)
        detail = load_json(raw)
        detail["reading"] = load_json(detail["canonical"].encode("utf-8"))
        return detail

    @evaluate
    def VerifyMeterChain(self, stub: Stub, meter_id: str) -> dict[str, Any]:
        """Recompute the meter's chain from the private canonical bytes (members' peers).

        Returns {"ok": true, "seq": head} or {"ok": false, "seq", "reason", "expected",
        "found"} naming the first broken link.
        """
        require_operator(stub, UTILITY, REGULATOR, action="VerifyMeterChain")
        ov = Overlay(stub)
        head = meters.get_head(ov, meter_id)
        start, end = prefix_range("reading", meter_id)
        with stub.get_state_by_range(start, end) as it:
            records = [load_json(kv.value) for kv in it]
        details = _private_many(stub, [readings.reading_key(meter_id, r["seq"])
                                       for r in records])
        links = [
            RecordedLink(r["seq"], r["prevHash"], r["hash"],
                         None if d is None else load_json(d)["canonical"].encode("utf-8"))
            for r, d in zip(records, details, strict=True)
        ]
        broken = first_broken_link(links)
        if broken is None and records and records[-1]["hash"] != head["hash"]:
            broken = {"seq": head["seq"], "reason": "head hash differs",
                      "expected": records[-1]["hash"], "found": head["hash"]}
        if broken is None and len(records) != head["seq"]:
            broken = {"seq": len(records) + 1, "reason": "missing reading",
                      "expected": head["seq"], "found": len(records)}
        if broken is not None:
            return {"ok": False, **broken}
        return {"ok": True, "seq": head["seq"]}

    # -- alarms --------------------------------------------------------------------------

    @submit
    def RaiseAlarm(self, stub: Stub, alarm_json: str) -> dict[str, Any]:
        """Record a meter-signed alarm and emit event ``Alarm`` (a repeat is a no-op)."""
        require_operator(stub, UTILITY, REGULATOR, action="RaiseAlarm")
        alarm, canonical, signature = alarms.parse_signed_alarm(
            parse_json_arg(alarm_json, "alarm"))
        ov = Overlay(stub)
        meter = meters.get(ov, alarm["meterId"])
        entry = alarms.raise_signed(ov, meter, alarm, canonical, signature)
        if entry is None:
            return {"recorded": False, "reason": "duplicate: no-op, already recorded"}
        stub.set_event(EVENT_ALARM, canonical_json(entry))
        return {"recorded": True, "alarm": entry}

    @evaluate
    def AlarmsByMeter(self, stub: Stub, meter_id: str) -> list[dict[str, Any]]:
        """Alarms of a meter, oldest first."""
        return alarms.by_meter(Overlay(stub), meter_id)

    # -- bills ---------------------------------------------------------------------------

    @evaluate
    def ComputeBill(self, stub: Stub, customer_id: str, period_start: str,
                    period_end: str) -> dict[str, Any]:
        """The bill for [periodStart, periodEnd) (Utility/Regulator operators, the customer)."""
        require_operator_or_customer(stub, customer_id, UTILITY, REGULATOR,
                                     action="ComputeBill")
        return billing.compute(Overlay(stub), customer_id, period_start, period_end)

    @submit
    def IssueBill(self, stub: Stub, customer_id: str, period_start: str,
                  period_end: str) -> dict[str, Any]:
        """Compute and record the bill (Utility operator); 409 if it overlaps another."""
        require_operator(stub, UTILITY, action="IssueBill")
        return billing.issue(Overlay(stub), customer_id, period_start, period_end)

    @evaluate
    def GetBill(self, stub: Stub, customer_id: str, period_start: str) -> dict[str, Any]:
        """An issued bill, by customer and period start."""
        require_operator_or_customer(stub, customer_id, UTILITY, REGULATOR, action="GetBill")
        raw = stub.get_state(billing.bill_key(check_id(customer_id, "customerId"),
                                              period_start))
        if raw is None:
            raise ChaincodeError(f"no bill for {customer_id} from {period_start}", status=404)
        return load_json(raw)

    @evaluate
    def BillsByCustomer(self, stub: Stub, customer_id: str) -> list[dict[str, Any]]:
        """Issued bills of a customer, by period start."""
        require_operator_or_customer(stub, customer_id, UTILITY, REGULATOR,
                                     action="BillsByCustomer")
        return billing.issued(Overlay(stub), customer_id)


def _private_many(stub: Stub, keys: list[str]) -> list[bytes | None]:
    # PeerStub batches private reads (GET_STATE_MULTIPLE); the Stub protocol lacks it.
    many = getattr(stub, "get_private_data_multiple", None)
    if many is None:
        return [stub.get_private_data(DETAIL_COLLECTION, k) for k in keys]
    out: list[bytes | None] = []
    for i in range(0, len(keys), _VERIFY_CHUNK):
        out.extend(many(DETAIL_COLLECTION, keys[i : i + _VERIFY_CHUNK]))
    return out
