"""A modified ``access`` contract, as two colluding members might run it (issue 17, hole 6).

Served by the Aggregator's and the Regulator's chaincode servers at once (see
``tests/integration/rogue.py``), it adds two functions the honest contract does not have;
the honest Utility peer answers neither. Both write what the attackers want without any
check: ``ForgeToken`` a ``token~`` record (a key with no policy yet, whose creation only the
chaincode's "2 of 3" constrains: the two rogues' endorsements make it VALID), and
``ForgeIssued`` an entry in a DACT's ``issued`` map (``dact~`` carries the data holder's
key-level policy: without the Utility's endorsement the transaction fails validation).
"""

from __future__ import annotations

import json
from typing import Any

from gridledger.chaincode.access import AccessContract
from gridledger.chaincode.market import CONTRACTS as MARKET
from gridledger.chaincode.metering import CONTRACTS as METERING
from gridledger.chaincode.shim import Stub, canonical_json, submit
from gridledger.chaincode.wattcoin import CONTRACTS as WATTCOIN


class RogueAccess(AccessContract):
    """The access contract plus two forgeries."""

    @submit
    def ForgeToken(self, stub: Stub, token_json: str) -> dict[str, Any]:
        token = json.loads(token_json)
        stub.put_state(f"token~{token['tokenId']}", canonical_json(token))
        return {"forged": token["tokenId"]}

    @submit
    def ForgeIssued(self, stub: Stub, dact_id: str, token_id: str, digest: str,
                    not_after: str) -> dict[str, Any]:
        record = json.loads(stub.get_state(f"dact~{dact_id}"))
        record.setdefault("issued", {})[token_id] = {"digest": digest, "notAfter": not_after,
                                                     "status": "active"}
        stub.put_state(f"dact~{dact_id}", canonical_json(record))
        return {"forged": token_id}


# What the rogue organisations' chaincode server serves instead of the real one: every
# contract of chaincode `metering`, access replaced.
CONTRACTS = (*METERING, *WATTCOIN, RogueAccess, *MARKET)
