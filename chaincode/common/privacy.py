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
meterkey      public       a public key's fingerprint -> the meter it signs for (used once)
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
idot          public       an IDoT device of contract `access`: kind, public key, status
idotowner     private      the customer who owns an IDoT device (an organisation's: public)
resource      public       shared data: its SHA-256 hash address, media type, size
resowner      private      whose data a resource is, and its description
dact          public       a DACT's commitment (salted hash of its table), version, status
dactowner     private      whose DACT it is, and the table itself (salt included)
token         public       a certification token: holder, scope, expiry, status
accesslog     public       each disclosure: who, which token, which hash addresses, when
servenonce    public       a service-node request nonce already used (no replays)
reshash       public       a hash address -> the one resource (owner) it was registered as
devid         public       a device id's claim: the registry (metering, access) holding it
mktmeter      private      a meter enrolled in the market -> its pseudonym (whose it is)
mktlink       private      a pseudonym -> its meter, customer and paying Wattcoin account
mktiv         private      a pseudonym's metered import/export in one delivery interval
mktwho        regulator    a pseudonym -> the customer (collection regulatorOnly)
mktvch        private      a deposit's voucher: tokens taken from the account for the
                           market channel to credit to the pseudonym
mktred        private      a market payout already paid into the customer's account
keysecret     private      the secret customerData's key names are derived with (overlay.py)
mkt*          public       the market, on the market channel only: pseudonymous parties,
                           wallets, intervals, orders, trades, settlements, VPPs, audit
                           log, deposits credited, payouts (chaincode/market/ledger.py)
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
    # contract `access` (DACT/IDoT): who owns what; the channel holds no person
    "idotowner", "resowner", "dactowner",
    # contract `market`: what ties a pseudonym to a meter, a person or its energy
    "mktmeter", "mktlink", "mktiv",
    # the market's money across the channels: a deposit's voucher, a payout redeemed
    # (chaincode/marketlink/money.py)
    "mktvch", "mktred",
    # the secret every other key name of the collection is derived with (overlay.py)
    "keysecret",
})
PUBLIC_KINDS = frozenset({"meter", "meterkey", "tariff", "tariffreg", "health",
                          "idot", "resource", "dact", "token", "accesslog", "servenonce",
                          "reshash",
                          # one namespace of device ids, meters and access devices
                          # (common/device_ids.py)
                          "devid",
                          # contract `market`: pseudonymous (chaincode/market/ledger.py)
                          "mktconfig", "mktparty", "mktfund", "mktwallet", "mktreq",
                          "mktint", "mktbook", "mktpo", "mktclr", "mkttr", "mktstl", "mktsp",
                          "mktdel", "mktvpp", "mktvppm", "mktmember", "mktvppq", "mktpay",
                          "mktso", "mktsos", "mktsof", "mktbil", "mktaudit",
                          # the market channel's side of deposits and payouts
                          "mktdep", "mktout"})

# Keyed: a private key whose first id names a meter, a customer, an account, a payment
# or a pseudonym is stored under a name only the collection's members can compute
# (overlay.py), so no organisation can link the key hashes every block carries to the
# names it knows or can guess. The owner records of access (idotowner, resowner,
# dactowner) are named by ids that are public anyway (their public record is written in
# the same transaction), and any peer checks that a DACT's owner record exists.
KEYED_KINDS = frozenset({
    "meterinfo", "meterhead", "custmeter", "custbills", "custadj", "reading", "usage",
    "alarm", "bill", "billadj", "wcacct", "wccust", "wcmint", "wchist", "wcptd",
    "mktmeter", "mktlink", "mktiv", "mktvch", "mktred",
})
CUSTOMER_DATA_KINDS = PrivateKinds(CUSTOMER_DATA, PRIVATE_KINDS, keyed=KEYED_KINDS)

# The Regulator's own collection: pseudonym -> identity, which only it may resolve (its
# peer alone holds and endorses it; network/topology.yaml).
REGULATOR_ONLY = "regulatorOnly"
# Keyed too (with customerData's secret, which the Regulator holds as its member): the
# pseudonyms are public on the market channel, so a plain ``mktwho~<pseudonym>`` would
# name its hash for anyone to compute.
REGULATOR_ONLY_KINDS = PrivateKinds(REGULATOR_ONLY, frozenset({"mktwho"}),
                                    keyed=frozenset({"mktwho"}),
                                    secret_collection=CUSTOMER_DATA)


def ledger(stub: Stub, *, defer_json: bool = False) -> Overlay:
    """The overlay every metering and wattcoin function reads and writes through."""
    return Overlay(stub, defer_json=defer_json, private=CUSTOMER_DATA_KINDS)


def regulator_ledger(stub: Stub) -> Overlay:
    """The overlay for the Regulator's collection (the market's pseudonym register)."""
    return Overlay(stub, private=REGULATOR_ONLY_KINDS)
