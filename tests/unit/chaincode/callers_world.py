"""One small ledger with something in every record kind, the kinds of caller of
chaincode/authorization.py as in-memory identities, and arguments for every function
that pass its caller check, for the authorization matrix and the bad-input properties."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import Any

from gridledger.chaincode.access import CONTRACTS as ACCESS
from gridledger.chaincode.health import CONTRACTS as HEALTH
from gridledger.chaincode.market import CONTRACTS as MARKET
from gridledger.chaincode.marketlink import CONTRACTS as MARKETLINK
from gridledger.chaincode.metering import CONTRACTS as METERING
from gridledger.chaincode.shim import ContractRouter, canonical_json
from gridledger.chaincode.wattcoin import CONTRACTS as WATTCOIN
from gridledger.formats.reading import sign
from tests.unit.chaincode.access import world as access_world
from tests.unit.chaincode.channels import Channels
from tests.unit.chaincode.market import world as market_world
from tests.unit.chaincode.metering.helpers import T0, Meter, setup, submit, tariff_json

# Every contract of the energy channel's chaincodes (health answers there too), so the
# two channels answer every function of the table.
ENERGY_ROUTER = ContractRouter([c() for c in (*METERING, *WATTCOIN, *ACCESS, *MARKETLINK,
                                              *HEALTH)])
# Every contract of both channels in one router: what a function takes, for the tests that
# read the functions' signatures or invoke one on a bare stub.
ROUTER = ContractRouter([c() for c in (*METERING, *WATTCOIN, *ACCESS, *MARKETLINK, *HEALTH,
                                       *MARKET)])
NOW = T0 + dt.timedelta(days=40)  # 2025-04-10: March and 1 April are over

ALICE = {"msp": "UtilityMSP", "name": "alice", "ous": ("client",),
         "attrs": {"role": "customer", "customerId": "c-1"}}
BOB = {"msp": "UtilityMSP", "name": "bob", "ous": ("client",),
       "attrs": {"role": "customer", "customerId": "c-2"}}

# The columns of the matrix, as Ledger.call keyword arguments.
IDENTITIES: dict[str, dict[str, Any]] = {
    "utility-operator": {"msp": "UtilityMSP", "name": "utility-admin", "ous": ("admin",),
                         "attrs": {}},
    "regulator-operator": {"msp": "RegulatorMSP", "name": "regulator-admin",
                           "ous": ("admin",), "attrs": {}},
    "aggregator-operator": {"msp": "AggregatorMSP", "name": "aggregator-admin",
                            "ous": ("admin",), "attrs": {}},
    "customer": ALICE,
    # The Aggregator's CA wrote alice's customer id into one of its own clients.
    "foreign-customer": {"msp": "AggregatorMSP", "name": "mallory", "ous": ("client",),
                         "attrs": {"role": "customer", "customerId": "c-1"}},
    # Alice re-enrolled asking for no attributes: same client, same name and key.
    "no-attributes": {**ALICE, "attrs": {}},
    # Everything an identity could claim, from an organisation outside the channel.
    "unknown-msp": {"msp": "IntruderMSP", "name": "intruder", "ous": ("admin",),
                    "attrs": {"role": "customer", "customerId": "c-1",
                              "gridledger.operator": "true"}},
}


@dataclass
class World:
    ledger: Channels
    alice: str  # alice's account (pays for c-1)
    operator: str  # the Utility operator's own account
    next_reading: str  # a SubmitReadings batch not yet submitted
    alarm: str  # a signed RaiseAlarm argument not yet recorded
    new_key: str  # a ReplaceMeterKey argument
    access: access_world.AccessWorld  # devices, resources, DACTs, tokens (contract access)
    market: market_world.MarketMatrixWorld  # participants, intervals, VPP (contract market)

    def fork(self) -> Channels:
        """A copy of both channels that a test may change (values are immutable bytes)."""
        return self.ledger.fork()

    def args(self, contract: str, function: str, kind: str) -> tuple[str, ...]:
        """Arguments that get ``kind`` past ``function``'s caller check when it is
        allowed: its own customer id, meter and account for a customer."""
        if contract == "access":
            return self.access.args(function, kind)
        if contract in ("market", "marketlink"):
            return self.market.args(function, kind)
        own = self.operator if kind == "utility-operator" else self.alice
        other = self.alice if own == self.operator else self.operator
        return {
            "InitKeySecret": (),
            "RegisterMeter": (Meter("m-9", "c-9").registration(),),
            "ReplaceMeterKey": ("m-1", self.new_key),
            "SuspendMeter": ("m-1", "seal broken"),
            "ResumeMeter": ("m-1", "inspected"),
            "DecommissionMeter": ("m-1", "replaced"),
            "SetMeterTariff": ("m-1", "EVN-RES"),
            "GetMeter": ("m-1",),
            "GetMeterDevice": ("m-1",),
            "MetersByCustomer": ("c-1",),
            "SetTariff": (tariff_json("2025-05-01T00:00:00Z"),),
            "GetTariff": ("EVN-RES", ""),
            "SubmitReadings": (self.next_reading,),
            "GetReadings": ("m-1", "1", "10"),
            "GetReadingDetail": ("m-1", "1"),
            "VerifyMeterChain": ("m-1",),
            "RaiseAlarm": (self.alarm,),
            "AlarmsByMeter": ("m-1",),
            "ComputeBill": ("c-1", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"),
            "IssueBill": ("c-1", "2025-04-01T00:00:00Z", "2025-04-02T00:00:00Z"),
            "GetBill": ("c-1", "2025-03-01T00:00:00Z"),
            "BillsByCustomer": ("c-1",),
            "OpenAccount": (),
            "OpenMeterAccount": ("m-2", self.operator),
            "BindCustomer": ("c-1", self.alice),
            "Mint": (self.alice, "100", "PAY-MATRIX"),
            "Transfer": (own, other, "1"),
            "SetLowBalancePolicy": (own, "10", "power-saving"),
            "Balance": (self.alice,),
            "MyAddress": (),
            "AccountOfCustomer": ("c-1",),
            "History": (self.alice, "1", "10"),
            "UtilityAccount": (),
            "SupplyStatus": ('["m-1", "m-2"]',),
            "Ping": (),
            "Get": ("probe",),
            # A customer writes under its own prefix only (health/contract.py).
            "Put": ("customer/c-1/probe" if kind == "customer" else "probe", "up"),
            "Increment": ("customer/c-1/counter" if kind == "customer" else "counter",),
        }[function]


@functools.cache
def _world() -> World:
    ledger = Channels.make(now=NOW, energy_router=ENERGY_ROUTER)
    m1, m2 = Meter("m-1", "c-1"), Meter("m-2", "c-2")
    setup(ledger, m1, m2)
    operator = ledger.ok("wattcoin:OpenAccount", **IDENTITIES["utility-operator"])["address"]
    alice = ledger.ok("wattcoin:OpenAccount", **ALICE)["address"]
    ledger.ok("wattcoin:BindCustomer", "c-1", alice, **ALICE)
    ledger.ok("wattcoin:Mint", alice, "100000", "PAY-1")
    ledger.ok("wattcoin:Mint", operator, "100000", "PAY-2")
    assert submit(ledger, m1.reading(T0 + dt.timedelta(hours=11), 2000)).status == 200
    assert submit(ledger, m2.reading(T0 + dt.timedelta(hours=11), 3000)).status == 200
    ledger.ok("IssueBill", "c-1", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")
    ledger.ok("health:Put", "probe", "up")

    def alarm(at: str) -> str:
        body = {"at": at, "kind": "gas", "meterId": "m-1"}
        return json.dumps({"alarm": body, "signature": sign(m1.key, canonical_json(body))})

    ledger.ok("RaiseAlarm", alarm("2025-03-02T08:00:00Z"))
    next_reading = json.dumps([m1.reading(T0 + dt.timedelta(hours=12), 500)])
    new_key = json.dumps({"publicKeyPem": Meter("m-1", "c-1").pem})
    access = access_world.build(ledger, IDENTITIES, ALICE)
    market = market_world.build(ledger, IDENTITIES)
    return World(ledger, alice, operator, next_reading, alarm("2025-03-03T08:00:00Z"), new_key,
                 access, market)


def world() -> World:
    """The shared world (built once; fork its ledger before changing anything)."""
    return _world()
