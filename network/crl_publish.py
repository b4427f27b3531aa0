"""Publishing a CA's certificate revocation list to the channels, so peers refuse revoked certs.

Revoking at the CA is half the job (peers learn of revocations only from the channel
configuration, see :mod:`.crl`); the other half is a configuration update of every
channel (each channel's configuration holds its own copy of each organisation's MSP, so a
CRL published on ``energy`` alone would leave the certificate usable on ``market``):

1. fetch the latest config block as the organisation's admin (``peer channel fetch config``);
2. put the CRL into the organisation's MSP value, replacing an older CRL of the same CA
   (:func:`.crl.merge_crl`, :mod:`.crl_config`);
3. sign and submit the ConfigUpdate with ``peer channel update`` as the organisation's
   admin (the MSP value's mod policy is the organisation's own ``Admins``, so the admin's
   one signature is enough; checked before sending);
4. wait until every peer has committed the new config block.

Failures raise :class:`.crl.CRLError` saying what failed (bad CRL, config not fetched,
update refused, peers late) and what to do about it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fabric_protos.common import configtx_pb2

from . import channel as ch
from .crl import CRLError, authority_key_id, check_issuer, load_crl, merge_crl
from .crl_config import (
    MSP_VALUE,
    build_update,
    check_own_admin_suffices,
    crls,
    decode_config_block,
    fabric_msp,
    org_paths,
    update_envelope,
    with_revocation_list,
)
from .fabric_cli import FabricCommandError, OrgAdmin
from .polling import poll

if TYPE_CHECKING:  # the consortium publishes CRLs when it adds a channel: no import cycle
    from .consortium import Consortium

# Attempts at the whole fetch-modify-submit cycle when another config update lands between
# our fetch and our submit (the orderer then refuses ours on a read-set version).
_ATTEMPTS = 3


def fetch_config(admin: OrgAdmin, channel: str) -> tuple[int, configtx_pb2.Config]:
    """The latest config block of ``channel``, fetched from the orderer as ``admin``."""
    with tempfile.TemporaryDirectory(prefix="gridledger-config-") as tmp:
        path = Path(tmp) / "config.block"
        try:
            admin.peer(
                "channel", "fetch", "config", str(path), "-c", channel,
                *admin.orderer_tls_args(),
            )  # fmt: skip
        except FabricCommandError as exc:
            raise CRLError(
                f"could not fetch the config block of {channel!r} as {admin.org.msp_id} admin: "
                f"{exc.stderr.strip() or exc}; is {admin.org.orderer.id} running "
                "(`gridledger network status`)?"
            ) from None
        return decode_config_block(path.read_bytes())


def publish_crl(
    net: Consortium, org: str, crl_pem: bytes, timeout: float = 60
) -> dict[str, int]:
    """Put ``org``'s CA's CRL into every channel's config: ``{channel: config block number}``.

    Channel by channel, the main one first (see :func:`publish_crl_to`); once this
    returns, every peer refuses the revoked certificates on every channel.  When a channel
    fails, the error says which channels hold the CRL already: publishing again submits
    nothing to those.
    """
    crl = load_crl(crl_pem)
    authority_key_id(crl)  # refuse a CRL without one before touching any channel
    published: dict[str, int] = {}
    for channel in net.topology.channels:
        try:
            published[channel] = publish_crl_to(net, org, crl_pem, channel, timeout)
        except CRLError as exc:
            if not published:
                raise
            done = ", ".join(f"{c} (config block {n})" for c, n in published.items())
            raise CRLError(
                f"channel {channel!r}: {exc}\nThe CRL is published on {done} only: "
                "publish it again once this is fixed (channels that hold it submit nothing)."
            ) from None
    return published


def carry_crls(net: Consortium, source: str, targets: Iterable[str], timeout: float = 60) -> None:
    """Publish on ``targets`` every CRL each organisation has on channel ``source``.

    For a channel added to a running network: its genesis block holds no CRL, and the
    certificates revoked before must be refused on it as well.
    """
    targets = list(targets)
    for admin in net.admins:
        _, config = fetch_config(admin, source)
        for crl_pem in crls(config, admin.org.msp_id):
            for channel in targets:
                publish_crl_to(net, admin.org.name, crl_pem, channel, timeout)


def publish_crl_to(
    net: Consortium, org: str, crl_pem: bytes, channel: str, timeout: float = 60
) -> int:
    """Put ``org``'s CA's CRL into ``channel``'s config; return the config block's number.

    Waits until every peer has committed that block, so once this returns, each peer
    refuses the revoked certificates on that channel.  When the channel already holds this
    CRL nothing is submitted and the number of the latest config block (which holds it)
    is returned.
    """
    admin = net.admin(org)
    msp_id = admin.org.msp_id
    crl = load_crl(crl_pem)
    authority_key_id(crl)  # refuse a CRL without one before touching the channel
    for attempt in range(1, _ATTEMPTS + 1):
        number, config = fetch_config(admin, channel)
        paths = org_paths(config, msp_id)
        new_values: dict[tuple[str, str], bytes] = {}
        for section, group_name in paths:
            group = config.channel_group.groups[section].groups[group_name]
            check_issuer(crl, fabric_msp(group))
            merged = merge_crl(fabric_msp(group).revocation_list, crl)
            if merged is not None:
                check_own_admin_suffices(config, section, msp_id)
                new_values[section, group_name] = with_revocation_list(
                    group.values[MSP_VALUE], merged
                )
        if not new_values:
            # Already published, perhaps by a call that timed out waiting for the peers:
            # keep this function's promise that every peer has the block.
            _wait_for_peers(net, channel, number, timeout)
            return number
        try:
            _submit(admin, channel, build_update(config, channel, new_values))
        except _StaleReadSet:
            if attempt == _ATTEMPTS:
                raise CRLError(
                    f"the channel config kept changing under {_ATTEMPTS} attempts to publish "
                    "the CRL; try again when other config updates have finished"
                ) from None
            continue
        new_number = _wait_for_config(admin, channel, number, crl, timeout)
        _wait_for_peers(net, channel, new_number, timeout)
        return new_number
    raise AssertionError("unreachable")  # the loop returns or raises


class _StaleReadSet(Exception):
    """The orderer refused the update because the config changed since it was fetched."""


def _submit(admin: OrgAdmin, channel: str, update: configtx_pb2.ConfigUpdate) -> None:
    with tempfile.TemporaryDirectory(prefix="gridledger-crl-") as tmp:
        path = Path(tmp) / "crl-update.pb"
        path.write_bytes(update_envelope(update, channel))
        try:
            admin.peer(
                "channel", "update", "-f", str(path), "-c", channel, *admin.orderer_tls_args()
            )
        except FabricCommandError as exc:
            said = exc.stderr.strip() or str(exc)
            if "be at version" in said or "but key is at version" in said:
                raise _StaleReadSet() from None
            raise CRLError(
                f"the orderer refused the config update publishing {admin.org.msp_id}'s CRL: "
                f"{said}\nThe update needs the signature of a {admin.org.msp_id} admin "
                "(the MSP's mod policy); check the admin identity the peer CLI uses."
            ) from None


def _wait_for_config(
    admin: OrgAdmin,
    channel: str,
    previous: int,
    crl: x509.CertificateRevocationList,
    timeout: float,
) -> int:
    """The number of the config block that took our update, once the orderer has cut it."""
    polled = poll(
        lambda: fetch_config(admin, channel),
        lambda fetched: fetched[0] > previous,
        timeout=timeout,
        interval=0.5,
    )
    if not polled.done:
        raise CRLError(
            f"the orderer accepted the config update but cut no config block within "
            f"{timeout:.0f}s; check the orderers' logs (`gridledger network logs`)"
        )
    number, config = polled.last
    want = crl.public_bytes(serialization.Encoding.DER)
    held = crls(config, admin.org.msp_id)
    if want not in (load_crl(c).public_bytes(serialization.Encoding.DER) for c in held):
        raise CRLError(
            f"config block {number} replaced block {previous} but does not hold the CRL; "
            "another config update won. Publish the CRL again."
        )
    return number


def _peer_heights(net: Consortium, channel: str) -> dict[str, int | str]:
    """Each peer's block height, or why it is unknown."""
    heights: dict[str, int | str] = {}
    for admin in net.admins:
        try:
            heights[admin.org.peer.id] = ch.peer_height(admin, channel)
        except (FabricCommandError, ValueError) as exc:
            heights[admin.org.peer.id] = f"unknown ({exc})"
    return heights


def _wait_for_peers(net: Consortium, channel: str, number: int, timeout: float) -> None:
    """Wait until every peer has committed block ``number``: from then on they all refuse."""
    polled = poll(
        lambda: _peer_heights(net, channel),
        lambda heights: all(isinstance(h, int) and h > number for h in heights.values()),
        timeout=timeout,
        interval=0.5,
    )
    if not polled.done:
        raise CRLError(
            f"config block {number} is ordered but not yet committed by every peer after "
            f"{timeout:.0f}s (heights: {polled.last}); revoked certificates may still be "
            "accepted by the late ones. Check those peers' logs."
        )
