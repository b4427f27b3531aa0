"""Virtual power plants: an aggregator bundles prosumers and sells their export as one.

    mktvpp~<vpp>           {"vppId", "name", "commissionBp", "operator", "createdAt"}
    mktvppm~<vpp>~<p>      a member: its signed consent (kept verbatim), capacityWh,
                           commissionBp consented to, joinedAt, leftAt
    mktmember~<p>          which VPP a pseudonym sells through (it may not also sell alone)
    mktvppq~<vpp>~<iv>     Wh the VPP offered in an interval (at most its capacity)
    mktpay~<vpp>~<iv>~<w>  a payout made (w: a member, or the VPP itself: the commission)

**Consent** is the member's own: it signs ``{"action": "vpp-join", "pseudonym", "vppId",
"capacityWh", "commissionBp", "sharesExport": true}`` with its market key (the aggregator
relays it), agreeing to the VPP's commission and to its metered export per interval
being disclosed to the VPP, which pays by it. The terms must be the VPP's current ones;
a member leaves by a signed ``vpp-leave`` and may not rejoin under that pseudonym.

Members of an interval are those who joined before its gate closure and had not left by
then. **Bundled offers** (the aggregator's) sell at most the sum of the members'
capacities per interval. **Payouts** after settlement: the VPP's net proceeds are split
pro rata to each member's metered export in the interval, by the largest-remainder rule
(shares add up to the proceeds exactly; ties to the smaller pseudonym); from each share
the VPP keeps ``floor(share x commissionBp / 10000)``, the member's consented rate (its
revenue share is the rest). One transaction per member (no two payouts conflict) and one
for the VPP's commission.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gridledger.formats.ids import check_id
from gridledger.formats.market import check_pseudonym, check_vpp_id, interval_id
from gridledger.formats.numbers import check_int, check_object

from ..common import clock
from ..common.callers import AGGREGATOR
from ..common.keys import key
from ..shim import ChaincodeError, parse_json_arg
from . import intervals, orders, signed
from .ledger import Market, credit, open_wallet

MAX_MEMBERS = 500  # active members of a VPP
MAX_EVER = 4 * MAX_MEMBERS  # members it ever had: what a settlement page scans, bounded


def is_vpp(trader: str) -> bool:
    """Whether a trader is a VPP (``vpp-...``) rather than a participant."""
    return trader.startswith("vpp-")


def vpp_key(vpp_id: str) -> str:
    """Key of a VPP."""
    return key("mktvpp", vpp_id)


def member_key(vpp_id: str, pseudonym: str) -> str:
    """Key of a VPP member's consent and terms."""
    return key("mktvppm", vpp_id, pseudonym)


def membership_key(pseudonym: str) -> str:
    """Key of the VPP a pseudonym sells through."""
    return key("mktmember", pseudonym)


def payout_key(vpp_id: str, iv: str, who: str) -> str:
    """Key of one payout of a VPP's interval proceeds."""
    return key("mktpay", vpp_id, iv, who)


def create(m: Market, body: Any) -> dict[str, Any]:
    """Create a VPP operated by the calling aggregator, with its commission."""
    check_object(body, "vpp", {"vppId", "marketId", "name", "commissionBp"})
    vpp_id = check_vpp_id(body.get("vppId"))
    market_id = intervals.config(m, body.get("marketId"))["marketId"]
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 128:
        raise ChaincodeError("name must be 1-128 characters", status=400)
    commission = check_int(body.get("commissionBp"), "commissionBp", maximum=10_000)
    record = {"vppId": vpp_id, "marketId": market_id, "name": name,
              "commissionBp": commission, "operator": AGGREGATOR, "createdAt": m.now}
    m.create(vpp_key(vpp_id), record)
    m.create(signed.party_key(vpp_id), {"trader": vpp_id, "kind": "vpp", "marketId": market_id,
                                        "operator": AGGREGATOR, "enrolledAt": m.now})
    open_wallet(m, vpp_id)
    return record


def get(m: Market, vpp_id: str) -> dict[str, Any]:
    """A VPP, or 404."""
    return m.need(vpp_key(check_vpp_id(vpp_id)), f"VPP {vpp_id}")


def enrol(m: Market, vpp_id: str, text: str) -> dict[str, Any]:
    """Record a prosumer's signed consent: it joins the VPP on the terms it signed."""
    vpp = get(m, vpp_id)
    message = signed.signed_by(m, text, "vpp-join", ("pseudonym", "vppId", "capacityWh",
                                                     "commissionBp", "sharesExport"))
    pseudonym = message["pseudonym"]
    if message["vppId"] != vpp_id:
        raise ChaincodeError(f"the consent is to VPP {message['vppId']}, not {vpp_id}",
                             status=409)
    if message["commissionBp"] != vpp["commissionBp"]:
        raise ChaincodeError(f"the consent is to a commission of {message['commissionBp']} "
                             f"bp; VPP {vpp_id} takes {vpp['commissionBp']}", status=409)
    if m.get(membership_key(pseudonym)) is not None:
        raise ChaincodeError(f"{pseudonym} has been in a VPP already", status=409)
    cfg = intervals.config(m, vpp["marketId"])
    if m.need(signed.party_key(pseudonym), pseudonym)["marketId"] != vpp["marketId"]:
        raise ChaincodeError(f"{pseudonym} trades in another market than VPP {vpp_id}",
                             status=409)
    # The join time decides from which interval the VPP sells the member's export.
    now = clock.require_timely(m.stub, "EnrolVppMember", intervals.tolerance(cfg))
    _require_no_sales_ahead(m, pseudonym, vpp["marketId"], now)
    everyone = members(m, vpp_id)
    active = sum(1 for member in everyone if member["leftAt"] is None)
    if active >= MAX_MEMBERS or len(everyone) >= MAX_EVER:
        raise ChaincodeError(f"VPP {vpp_id} is full: {MAX_MEMBERS} active members and "
                             f"{MAX_EVER} ever are the most one settlement page reads",
                             status=409)
    member = {"vppId": vpp_id, "pseudonym": pseudonym, "capacityWh": message["capacityWh"],
              "commissionBp": message["commissionBp"], "joinedAt": m.now, "leftAt": None,
              "consent": {"message": message, "signature": _signature(text)}}
    m.create(member_key(vpp_id, pseudonym), member)
    m.create(membership_key(pseudonym), {"vppId": vpp_id, "joinedAt": m.now, "leftAt": None})
    return member


def _require_no_sales_ahead(m: Market, pseudonym: str, market_id: str,
                            now: dt.datetime) -> None:
    """A prosumer joins a VPP only with no sale of its own still to come: an open offer in
    an interval not yet begun, a standing offer not withdrawn, or volume accepted from one
    for such an interval. Otherwise the VPP and a buyer would both be sold its export."""
    ahead = interval_id(market_id, now.replace(second=0, microsecond=0))
    for _, order in m.scan("mktpo", pseudonym, start=key("mktpo", pseudonym, ahead)):
        if order["side"] == orders.OFFER and order["status"] == orders.OPEN:
            raise ChaincodeError(f"{pseudonym} has an open offer {order['orderId']} in "
                                 f"{order['intervalId']}: cancel it before joining a VPP",
                                 status=409)
    for _, entry in m.scan("mktsos", pseudonym):
        offer = m.get(key("mktso", entry["offerId"]))
        if offer["withdrawnAt"] is None:
            raise ChaincodeError(f"{pseudonym}'s standing offer {offer['offerId']} is not "
                                 "withdrawn: withdraw it before joining a VPP", status=409)
        start = key("mktsof", offer["offerId"], ahead)
        for _, taken in m.scan("mktsof", offer["offerId"], start=start):
            if taken["acceptedWh"]:
                raise ChaincodeError(f"{pseudonym}'s standing offer {offer['offerId']} has "
                                     "volume accepted in an interval still to come: join "
                                     "the VPP after it", status=409)


def _signature(text: str) -> str:
    # read() parsed it already; the signature is kept with the consent, verbatim.
    return parse_json_arg(text, "consent")["signature"]


def leave(m: Market, vpp_id: str, text: str) -> dict[str, Any]:
    """A member's signed leave: from now on its export is its own again."""
    vpp = get(m, vpp_id)
    message = signed.signed_by(m, text, "vpp-leave", ("pseudonym", "vppId"))
    pseudonym = message["pseudonym"]
    if message["vppId"] != vpp_id:
        raise ChaincodeError(f"the message leaves VPP {message['vppId']}, not {vpp_id}",
                             status=409)
    member = m.need(member_key(vpp_id, pseudonym), f"member {pseudonym} of VPP {vpp_id}")
    clock.require_timely(m.stub, "LeaveVpp",
                         intervals.tolerance(intervals.config(m, vpp["marketId"])))
    if member["leftAt"] is not None:
        raise ChaincodeError(f"{pseudonym} left VPP {vpp_id} at {member['leftAt']}", 409)
    member["leftAt"] = m.now
    m.put(member_key(vpp_id, pseudonym), member)
    m.put(membership_key(pseudonym), {"vppId": vpp_id, "joinedAt": member["joinedAt"],
                                      "leftAt": m.now})
    return member


def members(m: Market, vpp_id: str) -> list[dict[str, Any]]:
    """Every member a VPP ever had, by pseudonym."""
    return [member for _, member in m.scan("mktvppm", vpp_id)]


def members_at(m: Market, vpp_id: str, when: str) -> dict[str, dict[str, Any]]:
    """The members at instant ``when`` (an interval's gate closure), by pseudonym."""
    return {member["pseudonym"]: member for member in members(m, vpp_id)
            if member["joinedAt"] < when and (member["leftAt"] is None
                                              or member["leftAt"] >= when)}


def place_offer(m: Market, vpp_id: str, iv: str, order_id: str, quantity: int,
                price: int) -> dict[str, Any]:
    """A bundled offer of the VPP (at most its members' capacity in the interval)."""
    get(m, vpp_id)
    check_id(order_id, "orderId")
    check_int(quantity, "quantityWh", minimum=1, maximum=signed.MAX_WH)
    record = intervals.require_open(m, iv, "PlaceVppOffer")
    intervals.require_trader_in(m, vpp_id, record)
    intervals.require_price(record, price)
    capacity = sum(member["capacityWh"] for member in members(m, vpp_id)
                   if member["leftAt"] is None)
    qkey = key("mktvppq", vpp_id, iv)
    offered = m.get(qkey)
    if (offered["offeredWh"] if offered else 0) + quantity > capacity:
        raise ChaincodeError(f"VPP {vpp_id} may offer at most its members' capacity, "
                             f"{capacity} Wh, in {iv}", status=409)
    if offered is None:
        m.create(qkey, {"offeredWh": quantity})
    else:
        m.put(qkey, {"offeredWh": offered["offeredWh"] + quantity})
    return orders.place(m, record, vpp_id, order_id, orders.OFFER, quantity, price)


def pro_rata(total: int, weights: dict[str, int]) -> dict[str, int]:
    """``total`` split by ``weights``, largest remainder first (ties: smaller key): the
    shares add up to ``total`` exactly (all zero when every weight is)."""
    whole = sum(weights.values())
    if whole == 0:
        return dict.fromkeys(weights, 0)
    shares = {k: total * w // whole for k, w in weights.items()}
    left = total - sum(shares.values())
    for k in sorted(weights, key=lambda k: (-(total * weights[k] % whole), k))[:left]:
        shares[k] += 1
    return shares


def allocation(delivery: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Each member's share of a VPP's interval proceeds, the commission and the payout."""
    members_ = delivery["members"]
    shares = pro_rata(delivery["proceeds"], {p: e["exportWh"] for p, e in members_.items()})
    out = {}
    for p, share in shares.items():
        commission = share * members_[p]["commissionBp"] // 10_000
        out[p] = {"exportWh": members_[p]["exportWh"], "share": share,
                  "commission": commission, "payout": share - commission}
    return out


def payout(m: Market, vpp_id: str, iv: str, who: str, delivery: dict[str, Any] | None
           ) -> dict[str, Any]:
    """Pay one member its share (``who`` a pseudonym) or the VPP its commission
    (``who`` the VPP's id), once the interval is settled."""
    get(m, vpp_id)
    record = intervals.get(m, iv)
    if record["status"] != intervals.SETTLED:
        raise ChaincodeError(f"interval {iv} is {record['status']}: pay out after "
                             "settlement", status=409)
    if delivery is None:
        raise ChaincodeError(f"VPP {vpp_id} sold nothing in {iv}", status=404)
    split = allocation(delivery)
    if who == vpp_id:
        amount = sum(s["commission"] for s in split.values())
    else:
        check_pseudonym(who, "member")
        if m.get(member_key(vpp_id, who)) is None:
            raise ChaincodeError(f"{who} never consented to VPP {vpp_id}: it is no member "
                                 "and gets no payout", status=409)
        if who not in split:
            raise ChaincodeError(f"{who} was not a member of VPP {vpp_id} at {iv}'s gate "
                                 "closure", status=409)
        amount = split[who]["payout"]
    pkey = payout_key(vpp_id, iv, who)
    if m.get(pkey) is not None:
        raise ChaincodeError(f"{who} has been paid for {iv} already", status=409)
    credit(m, who, amount)
    paid = {"vppId": vpp_id, "intervalId": iv, "to": who, "amount": amount, "at": m.now,
            "txId": m.stub.tx_id}
    m.create(pkey, paid)
    return paid
