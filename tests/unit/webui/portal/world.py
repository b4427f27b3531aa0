"""A small metering world as blocks: two customers, their meters, accounts, readings, a
bill, an alarm and a refused reading, for the mirror's and the portal's unit tests; and
its market, on a channel of its own (:func:`build_market`), whose block numbers repeat
the energy channel's."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from .fabric_blocks import ChainBuilder, Tx

C1, C2 = "C-1001", "C-2002"
M1, M2 = "MTR-ALICE-1", "MTR-BOB-2"
A1, A2 = "a" * 40, "b" * 40
# Distinctive ids: a page also holds random tokens (CSRF), which may contain "D-1".
DEVICE, RESOURCE, DACT, TOKEN = "AGG-GW-1", "RES-ALICE-PROFILE", "DACT-ALICE-VPP", "tok-alice-vpp"
P1, P2, VPP, IV = "p-" + "1" * 24, "p-" + "2" * 24, "vpp-sun", "mk-2026-04-03T10"
HASH_ADDRESS = "ab" * 32
TARIFF = {"tariffId": "RES", "versions": [{"version": 1, "currency": "VND",
                                           "effectiveFrom": "2026-01-01T00:00:00Z",
                                           "tiers": [{"upToKwh": 50, "pricePerKwh": 1984},
                                                     {"upToKwh": None, "pricePerKwh": 2050}],
                                           "taxes": [{"name": "VAT", "rateBasisPoints": 800}]}]}


def reading(meter: str, seq: int, prev: str, end: str, imp: int, exp: int = 0
            ) -> dict[str, Any]:
    canonical = (f'{{"currentMa":1000,"exportWh":{exp},"importWh":{imp},"intervalEnd":'
                 f'"{end}","meterId":"{meter}","powerW":200,"seq":{seq},"voltageDv":2300}}')
    h = hashlib.sha256(bytes.fromhex(prev) + canonical.encode()).hexdigest()
    return {"meterId": meter, "seq": seq, "intervalEnd": end, "prevHash": prev, "hash": h,
            "quality": "measured", "txId": "", "importDeltaWh": 100, "exportDeltaWh": exp,
            "canonical": canonical, "signature": "c2ln"}


def account(address: str, customer: str, balance: int, arrears: int = 0,
            exhausted: bool = False) -> dict[str, Any]:
    return {"address": address, "kind": "identity", "controller": address, "owner": {},
            "customerId": customer, "balance": balance, "arrears": arrears, "minted": 0,
            "paid": 0, "returned": 0, "charged": 0, "refunded": 0, "lowBalanceThreshold": 0,
            "policy": "notify", "low": False, "exhausted": exhausted, "entries": 1,
            "openedAt": "2026-03-01T09:00:00Z"}


MARKET_WHEN = dt.datetime(2026, 4, 4, tzinfo=dt.UTC)


def build() -> ChainBuilder:
    """The energy channel, blocks 0..8: a config-free chain of endorser transactions."""
    chain = ChainBuilder("energy")
    when = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    chain.add(Tx("metering:SetTariff", [json_text(TARIFF)],
                 writes={"tariff~RES": TARIFF, "tariffreg": {"tariffIds": ["RES"]}},
                 response={"tariffId": "RES"}, msp="RegulatorMSP", when=when))
    regs = []
    for meter, cust in ((M1, C1), (M2, C2)):
        regs.append(Tx("metering:RegisterMeter", writes={f"meter~{meter}": {
            "meterId": meter, "status": "active", "curve": "P-256", "publicKeyPem": "pem",
            "deviceProfile": "sim", "installDate": "2026-01-01"}},
            private={f"meterinfo~{meter}": {"meterId": meter, "customerId": cust,
                                             "location": f"{cust} street", "tariffId": "RES",
                                             "tariffs": [], "billedPeriods": []},
                     f"meterhead~{meter}": {"seq": 0, "hash": "00" * 32},
                     f"custmeter~{cust}": {"meters": [meter]}},
            response={"meterId": meter}, when=when))
    chain.add(*regs)
    chain.add(Tx("wattcoin:OpenAccount", private={f"wcacct~{A1}": account(A1, C1, 0)},
                 cn="web-alice", when=when),
              Tx("wattcoin:OpenAccount", private={f"wcacct~{A2}": account(A2, C2, 0)},
                 cn="web-bob", when=when))
    chain.add(Tx("wattcoin:BindCustomer", private={f"wccust~{C1}": {"address": A1},
                                                    f"wcacct~{A1}": account(A1, C1, 50_000)},
                 cn="web-alice", when=when),
              Tx("wattcoin:Mint", private={f"wcacct~{A2}": account(A2, C2, 100),
                                           f"wccust~{C2}": {"address": A2}}, when=when))
    prev1, prev2 = "00" * 32, "00" * 32
    r11 = reading(M1, 1, prev1, "2026-03-01T10:00:00Z", 1100)
    r12 = reading(M1, 2, r11["hash"], "2026-03-01T11:00:00Z", 1200)
    r21 = reading(M2, 1, prev2, "2026-03-01T10:00:00Z", 500)
    usage = {"importWh": [0] * 10 + [100, 100] + [0] * 12, "exportWh": [0] * 24,
             "quality": {}}
    chain.add(Tx("metering:SubmitReadings",
                 private={f"reading~{M1}~000000000001": r11, f"reading~{M1}~000000000002": r12,
                          f"reading~{M2}~000000000001": r21,
                          f"usage~{M1}~20260301": usage, f"usage~{M2}~20260301": usage,
                          f"meterhead~{M1}": {"seq": 2, "hash": r12["hash"]},
                          f"wcacct~{A1}": account(A1, C1, 49_500),
                          f"wcacct~{A2}": account(A2, C2, 0, arrears=120, exhausted=True),
                          f"wchist~{A1}~000000000002": {"n": 2, "kind": "charge",
                                                        "amount": -500, "balance": 49_500},
                          f"alarm~{M2}~2026-03-01T10:00:00Z~fire": {
                              "meterId": M2, "kind": "fire", "at": "2026-03-01T10:00:00Z",
                              "customerId": C2, "location": "x", "source": "reading"}},
                 response={"accepted": 3, "duplicate": 0, "refused": 1, "results": [
                     {"index": 3, "meterId": M1, "seq": 9, "status": "refused",
                      "code": "skip", "reason": "sequence 9 skips ahead: expected 3"}]},
                 event=("ReadingsProcessed", {"accepted": 3, "refused": 1,
                                              "alarms": [], "exhausted": [{"meters": [M2]}]}),
                 cn="bridge", when=when + dt.timedelta(hours=2)),
              Tx("metering:SubmitReadings", valid=False, private={},
                 response={"accepted": 0, "refused": 0}, when=when + dt.timedelta(hours=2)))
    chain.add(Tx("metering:IssueBill", private={f"bill~{C1}~2026-03-01T00:00:00Z": {
        "billId": f"bill~{C1}~2026-03-01T00:00:00Z", "customerId": C1,
        "periodStart": "2026-03-01T00:00:00Z", "periodEnd": "2026-04-01T00:00:00Z",
        "total": 431, "energyCharge": 397, "touCharge": 0, "taxes": {"VAT": 34},
        "exportCredit": 0, "importWh": 200, "exportWh": 0, "currency": "VND",
        "meters": [{"meterId": M1, "segments": [{"tiers": [
            {"tier": 1, "upToWh": 50000, "energyWh": 200, "pricePerKwh": 1984,
             "amount": 397}], "taxes": [{"name": "VAT", "amount": 34}]}]}],
        "adjustments": []}, f"custbills~{C1}": {"periodStarts": ["2026-03-01T00:00:00Z"]}},
        response={"issued": True}, when=when + dt.timedelta(days=31)))
    # Data sharing (contract access): the Aggregator's device, alice's resource and DACT,
    # a token for the Aggregator and one access.
    table = {"dactId": DACT, "version": 1, "devices": [DEVICE], "resources": [RESOURCE],
             "requester": {"kind": "organisation", "mspId": "AggregatorMSP"},
             "purpose": "vpp-forecasting", "notAfter": "2027-01-01T00:00:00Z",
             "ownerInfo": "if-several", "salt": "5a" * 32}
    chain.add(Tx("access:RegisterDevice", writes={f"idot~{DEVICE}": {
        "deviceId": DEVICE, "kind": "gateway", "publicKeyPem": "pem", "curve": "P-256",
        "status": "active", "owner": {"kind": "organisation", "mspId": "AggregatorMSP"}}},
        msp="AggregatorMSP", when=when + dt.timedelta(days=32)),
        Tx("access:RegisterResource", writes={f"resource~{RESOURCE}": {
            "resourceId": RESOURCE, "hashAddress": HASH_ADDRESS, "mediaType": "text/csv",
            "size": 1234}}, private={f"resowner~{RESOURCE}": {
                "resourceId": RESOURCE, "customerId": C1, "description": "my profile"}},
            cn="web-alice", when=when + dt.timedelta(days=32)),
        Tx("access:RegisterDact", writes={f"dact~{DACT}": {
            "dactId": DACT, "version": 1, "commitment": "cc" * 32, "status": "active"}},
            private={f"dactowner~{DACT}": {"dactId": DACT, "customerId": C1,
                                            "table": table}},
            cn="web-alice", when=when + dt.timedelta(days=32)))
    chain.add(Tx("access:Certify", writes={f"token~{TOKEN}": {
        "tokenId": TOKEN, "dactId": DACT, "dactVersion": 1, "deviceId": DEVICE,
        "holder": {"mspId": "AggregatorMSP", "fingerprint": "ee" * 32},
        "purpose": "vpp-forecasting", "notAfter": "2026-05-01T00:00:00Z", "status": "active",
        "resources": [{"resourceId": RESOURCE, "hashAddress": HASH_ADDRESS}],
        "ownerInfo": False}}, msp="AggregatorMSP", when=when + dt.timedelta(days=33)),
        Tx("access:Access", writes={f"accesslog~{TOKEN}~{'1' * 64}": {
            "tokenId": TOKEN, "kind": "contract", "dactId": DACT, "at": "2026-04-03T09:00:00Z",
            "atMicros": 1, "hashAddresses": [HASH_ADDRESS], "txId": "1" * 64}},
            msp="AggregatorMSP", when=when + dt.timedelta(days=33)))
    # The market's side on the energy channel: alice's pseudonym P1 is linked to her meter
    # (customerData, contract marketlink); the market itself is on its own channel.
    chain.add(Tx("marketlink:LinkParticipant", private={f"mktlink~{P1}": {
        "pseudonym": P1, "meterId": M1, "customerId": C1, "address": A1}},
        when=when + dt.timedelta(days=34)))
    return chain


def build_market() -> ChainBuilder:
    """The market channel, blocks 0..1: alice trades as P1 through the Aggregator's VPP;
    P2 is someone else. Public records only (the market channel has no collections)."""
    chain = ChainBuilder("market")
    when = MARKET_WHEN
    chain.add(Tx("Put", ["probe"], chaincode="health", writes={"health~probe": "market"},
                 when=when),
              Tx("market:CreateVpp", chaincode="market", writes={f"mktvpp~{VPP}": {
            "vppId": VPP, "marketId": "mk", "name": "Sunny roofs", "commissionBp": 500,
            "operator": "AggregatorMSP"}, f"mktvppm~{VPP}~{P1}": {
            "vppId": VPP, "pseudonym": P1, "capacityWh": 5000, "commissionBp": 500,
            "joinedAt": "2026-04-04T00:00:00Z", "leftAt": None},
            f"mktmember~{P1}": {"vppId": VPP, "joinedAt": "2026-04-04T00:00:00Z"}},
            msp="AggregatorMSP", when=when))
    chain.add(Tx("market:Clear", chaincode="market", writes={f"mktint~{IV}": {
            "intervalId": IV, "marketId": "mk", "start": "2026-04-03T10:00:00Z",
            "marketType": "uniform", "status": "settled", "clearingPrice": 1700,
            "volumeWh": 3000, "trades": 1, "retailPricePerKwh": 1984,
            "feedInPricePerKwh": 800}, f"mkttr~{IV}~000000000001": {
            "intervalId": IV, "page": 1, "trades": [{
                "n": 1, "kind": "auction", "wh": 3000, "buyer": P2, "seller": VPP,
                "bidPrice": 1700, "offerPrice": 1600}]},
            f"mktpay~{VPP}~{IV}~{P1}": {"amount": 4845, "wh": 3000},
            f"mktaudit~{'9' * 64}": {"auditId": "9" * 64, "pseudonym": P2,
                                    "reason": "suspected wash trading",
                                    "requestedBy": {"mspId": "RegulatorMSP",
                                                    "subject": "CN=reg-op"},
                                    "at": "2026-04-05T00:00:00Z"}},
            msp="AggregatorMSP", when=when + dt.timedelta(days=1)))
    return chain


def json_text(obj: Any) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"), sort_keys=True)
