"""Where each record kind of the `metering` chaincode lives: the one privacy decision.

Every organisation reads all that its own peer and orderer store (blocks with proposal
arguments, responses and events; public world state; the private data of collections it
belongs to), so what the Aggregator may not see must not reach its nodes at all.
Customers' energy and money therefore live only in :data:`CUSTOMER_DATA`, a private data
collection of the Utility and the Regulator; the channel carries salted hashes of it.

The table (why, per kind, is in chaincode/README.md, "Privacy: what is where"):

============  ===========  ==============================================================
kind          where        what
============  ===========  ==============================================================
meter         public       a meter as a device (IDoT): id, public key, curve, status, profile
meterinfo     private      whose meter it is: customer, location, tariff in force over time
meterhead     private      hash-chain head: seq, hash, last interval end, registers
custmeter     private      customer -> its meters (one index record per customer)
custbills     private      customer -> the period starts of its issued bills
custadj       private      customer -> its late readings' adjustment records
reading       private      one reading: canonical bytes, signature, deltas, chain link
usage         private      a meter's hourly import/export for one UTC day
alarm         private      a fire/flood/gas alarm with its location
bill          private      an issued bill
billadj       private      late energy waiting for the next bill
wcacct        private      a Wattcoin account: balance, arrears, counters, policy
wccust        private      customer -> paying account
wcmint        private      a top-up's payment reference (no double mint)
wchist        private      an account's history entries
wcptd         private      a meter's prepaid charges this month (exhaustion)
tariff        public       tariff versions (published prices, set by the Regulator)
tariffreg     public       the tariff ids the Regulator created
health        public       liveness probes (chaincode `health`)
============  ===========  ==============================================================
"""

from __future__ import annotations

from ..shim import Stub
from .overlay import Overlay, PrivateKinds

CUSTOMER_DATA = "customerData"
# Members of CUSTOMER_DATA: the only organisations whose peers may endorse what reads or
# writes it (the collection's endorsement policy requires both).
CUSTOMER_DATA_MEMBERS = ("UtilityMSP", "RegulatorMSP")

PRIVATE_KINDS = frozenset({
    "meterinfo", "meterhead", "custmeter", "custbills", "custadj", "reading", "usage",
    "alarm", "bill", "billadj",
    "wcacct", "wccust", "wcmint", "wchist", "wcptd",
})
PUBLIC_KINDS = frozenset({"meter", "tariff", "tariffreg", "health"})

CUSTOMER_DATA_KINDS = PrivateKinds(CUSTOMER_DATA, PRIVATE_KINDS)


def ledger(stub: Stub, *, defer_json: bool = False) -> Overlay:
    """The overlay every metering and wattcoin function reads and writes through."""
    return Overlay(stub, defer_json=defer_json, private=CUSTOMER_DATA_KINDS)
