"""A modified ``metering`` contract, as a member running modified chaincode might run it
(issue 17: metering and Wattcoin attacked).

Served by one or two organisations' chaincode servers in place of the real one (see
``tests/integration/rogue.py``), it adds functions the honest contract does not have, each
writing what the attacker wants without any check:

- ``RewriteTariff`` (the Regulator alone): a past tariff version repriced, later versions
  dropped. ``tariff~`` carries ``AND(Regulator, OR(Utility, Aggregator))``: the
  Regulator's endorsement alone fails validation.
- ``InstallKey`` (the Regulator and the Aggregator): a key of theirs in a meter's public
  record. ``meter~`` carries ``AND(Utility, Regulator)`` from RegisterMeter on.
- ``ForgeEvent`` (the Regulator alone): any chaincode event, in a transaction that writes
  only the Regulator's own collection (as ``market:RecordPseudonym`` does), so the
  Regulator's peer alone endorses it and it is VALID: what a bridge that obeyed events
  would act on.
"""

from __future__ import annotations

import json
from typing import Any

from gridledger.chaincode.access import CONTRACTS as ACCESS
from gridledger.chaincode.market import CONTRACTS as MARKET
from gridledger.chaincode.metering import MeteringContract
from gridledger.chaincode.shim import Stub, canonical_json, submit
from gridledger.chaincode.wattcoin import CONTRACTS as WATTCOIN


class RogueMetering(MeteringContract):
    """The metering contract plus three forgeries."""

    @submit
    def RewriteTariff(self, stub: Stub, tariff_id: str, price: str) -> dict[str, Any]:
        key = f"tariff~{tariff_id}"
        doc = json.loads(stub.get_state(key))
        doc["versions"] = doc["versions"][:1]
        for tier in doc["versions"][0]["tiers"]:
            tier["pricePerKwh"] = int(price)
        stub.put_state(key, canonical_json(doc))
        return {"rewritten": tariff_id}

    @submit
    def InstallKey(self, stub: Stub, meter_id: str, pem: str) -> dict[str, Any]:
        key = f"meter~{meter_id}"
        record = json.loads(stub.get_state(key))
        record["publicKeyPem"] = pem
        record["keyHistory"].append({"fromSeq": 1, "curve": "P-256", "publicKeyPem": pem,
                                     "fingerprint": "rogue", "since": record["updatedAt"]})
        stub.put_state(key, canonical_json(record))
        return {"installed": meter_id}

    @submit
    def ForgeEvent(self, stub: Stub, name: str, payload: str, pseudonym: str
                   ) -> dict[str, Any]:
        stub.put_private_data("regulatorOnly", f"mktwho~{pseudonym}",
                              canonical_json({"customerId": "nobody", "key": "forged"}))
        stub.set_event(name, payload.encode("utf-8"))
        return {"forged": name}


# What a rogue organisation's chaincode server serves instead of the real one: every
# contract of chaincode `metering`, metering replaced.
CONTRACTS = (RogueMetering, *WATTCOIN, *ACCESS, *MARKET)
