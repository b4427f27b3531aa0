"""Shared data: content held off-chain by a service node, named by its hash address.

    resource~<resourceId>   public: hash address (SHA-256 of the content), media type,
                            size, registration time; a name, not a capability: the
                            service node serves the content only under a valid token
    resowner~<resourceId>   private: whose data it is, and its description (free text
                            may name a person or a place)
    reshash~<hashAddress>   public: the one resource a hash address was registered as

A hash address names one owner's content: the first owner who registers it holds it
(``reshash~``; a second registration of the address is 409), so nobody can register a
resource of their own carrying someone else's address, grant it to themselves and have a
service node hand out the victim's content (issue 17, hole 1). ``resource~`` and
``reshash~`` carry the data holder's key-level policy (policies.py). A resource never
changes: new content is a new resource (a new hash address).
"""

from __future__ import annotations

import re
from typing import Any

from gridledger.formats.access import check_hex64
from gridledger.formats.ids import check_id
from gridledger.formats.numbers import check_int, check_object
from gridledger.formats.utc import format_utc

from ..common.keys import key
from ..common.overlay import Overlay
from ..shim import ChaincodeError
from . import policies

_MEDIA_TYPE = re.compile(r"[a-z]{1,32}/[a-z0-9.+-]{1,64}")
MAX_SIZE = 2**40


def resource_key(resource_id: str) -> str:
    """Ledger key of a resource (public)."""
    return key("resource", resource_id)


def owner_key(resource_id: str) -> str:
    """Ledger key of a resource's owner and description (private)."""
    return key("resowner", resource_id)


def hash_key(hash_address: str) -> str:
    """Ledger key binding a hash address to the resource it was registered as (public)."""
    return key("reshash", hash_address)


def parse(obj: Any) -> dict[str, Any]:
    """A RegisterResource argument: {resourceId, hashAddress, mediaType, size,
    description, customerId? (a Utility operator names the owner)}."""
    check_object(obj, "resource", {"resourceId", "hashAddress", "mediaType", "size",
                                   "description", "customerId"})
    media = obj.get("mediaType")
    if not isinstance(media, str) or not _MEDIA_TYPE.fullmatch(media):
        raise ChaincodeError("mediaType must look like application/json", status=400)
    description = obj.get("description")
    if (not isinstance(description, str) or not description or len(description) > 512
            or not description.isprintable()):
        raise ChaincodeError("description must be printable text of 1-512 characters",
                             status=400)
    return {"resourceId": check_id(obj.get("resourceId"), "resourceId"),
            "hashAddress": check_hex64(obj.get("hashAddress"), "hashAddress"),
            "mediaType": media, "size": check_int(obj.get("size"), "size", maximum=MAX_SIZE),
            "description": description}


def register(ov: Overlay, fields: dict[str, Any], owner: str) -> dict[str, Any]:
    """Record a resource of customer ``owner`` (409 if the id is taken)."""
    resource_id, address = fields["resourceId"], fields["hashAddress"]
    if ov.get(resource_key(resource_id)) is not None:
        raise ChaincodeError(f"resource {resource_id} is already registered", status=409)
    bound = ov.get_json(hash_key(address))
    if bound is not None:
        raise ChaincodeError(f"hash address {address} is registered already (resource "
                             f"{bound['resourceId']}): a hash address names one owner's "
                             "content; register content of your own", status=409)
    public = {f: fields[f] for f in ("resourceId", "hashAddress", "mediaType", "size")}
    public["registeredAt"] = format_utc(ov.stub.tx_timestamp)
    ov.put_json(resource_key(resource_id), public)
    ov.put_json(hash_key(address), {"hashAddress": address, "resourceId": resource_id,
                                    "txId": ov.stub.tx_id})
    policies.create(ov.stub, resource_key(resource_id))
    policies.create(ov.stub, hash_key(address))
    ov.put_json(owner_key(resource_id), {"resourceId": resource_id, "customerId": owner,
                                         "description": fields["description"]})
    return public


def get(ov: Overlay, resource_id: str) -> dict[str, Any]:
    """A resource's public record, or 404."""
    record = ov.get_json(resource_key(check_id(resource_id, "resourceId")))
    if record is None:
        raise ChaincodeError(f"no resource {resource_id}", status=404)
    return record


def owner_record(ov: Overlay, resource_id: str) -> dict[str, Any]:
    """{resourceId, customerId, description}: a read of customerData (members' peers)."""
    get(ov, resource_id)
    record = ov.get_json(owner_key(resource_id))
    if record is None:
        raise ChaincodeError(f"resource {resource_id} has no owner record on this peer; ask "
                             "a Utility or Regulator peer", status=404)
    return record


def owner(ov: Overlay, resource_id: str) -> str:
    """The customer a resource belongs to (a read of customerData: members' peers only)."""
    return str(owner_record(ov, resource_id)["customerId"])


def ownership(ov: Overlay, resource_id: str) -> dict[str, Any]:
    """What a service node checks before it serves a resource (ResourceOwner): the public
    record (hash address, media type, size) and the owner record (customer,
    description), and whether the hash address is still bound to this resource."""
    public = get(ov, resource_id)
    private = owner_record(ov, resource_id)
    bound = ov.get_json(hash_key(public["hashAddress"]))
    return {"resourceId": resource_id, "hashAddress": public["hashAddress"],
            "mediaType": public["mediaType"], "size": public["size"],
            "customerId": private["customerId"], "description": private["description"],
            # Registered before addresses were bound: no binding, no second owner either.
            "bound": bound is None or bound.get("resourceId") == resource_id}
