"""Publishing a CA's certificate revocation list to the channel, so peers refuse revoked certs.

A Fabric peer never asks a CA whether a certificate is still good.  It knows revocations
only from the channel configuration: each organisation's MSP definition carries a list
of PEM CRLs (``FabricMSPConfig.revocation_list``), and the MSP refuses any certificate
whose serial is on a CRL signed by the CA that issued it.  So revoking at the CA is half
the job; the other half is a channel configuration update, which is what this module does:

1. fetch the latest config block as the organisation's admin (``peer channel fetch config``);
2. put the CRL into the organisation's MSP value under ``/Channel/Application/<Org>MSP``
   and, when the organisation orders too, ``/Channel/Orderer/<Org>MSP``, replacing an older
   CRL of the same CA;
3. express the change as a ConfigUpdate: a read set naming the groups on the path at their
   current versions, a write set with the MSP value at version + 1 (the form Fabric's own
   configtxlator computes, and which ``common/configtx`` checks);
4. sign and submit it with ``peer channel update`` as the organisation's admin;
5. wait until every peer has committed the new config block.

The MSP value's mod policy is the organisation's own ``Admins`` policy, so the admin's one
signature is enough; this is checked against the channel config before anything is sent,
rather than assumed.

Errors::

    CRLError        what failed (bad CRL, config not fetched, update refused, peers late)
                    and what to do about it
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from fabric_protos.common import common_pb2, configtx_pb2, policies_pb2
from fabric_protos.msp import msp_config_pb2, msp_principal_pb2

from . import channel as ch
from .consortium import Consortium
from .fabric_cli import FabricCommandError, OrgAdmin

# The value in an organisation's group that holds its MSP definition (Fabric's MSPKey).
MSP_VALUE = "MSP"
# Channel subgroups that may hold an organisation: its peers' side and its orderers' side.
ORG_SECTIONS = ("Application", "Orderer")
# MSPConfig.type of an X.509 Fabric MSP (1 would be idemix, which has no CRLs of this kind).
FABRIC_MSP_TYPE = 0

# Attempts at the whole fetch-modify-submit cycle when another config update lands between
# our fetch and our submit (the orderer then refuses ours on a read-set version).
_ATTEMPTS = 3


class CRLError(RuntimeError):
    """A CRL could not be published to the channel; the message says what to do."""


# -- the CRL itself --------------------------------------------------------------------------


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """Parse a CRL given as PEM (what Fabric CA returns) or DER."""
    try:
        if b"-----BEGIN X509 CRL-----" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CRLError(
            f"not a CRL ({exc}); pass the PEM the CA returned (revoke with gencrl=True, "
            "or `fabric-ca-client gencrl`)"
        ) from None


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    """The CRL as PEM: the form configtxgen puts into an MSP's revocation list."""
    return crl.public_bytes(serialization.Encoding.PEM)


def authority_key_id(crl: x509.CertificateRevocationList) -> bytes:
    """The CRL's authority key identifier.

    The peer picks the CRL that applies to a certificate by comparing this with the
    issuing CA's subject key identifier, and fails *every* validation if any CRL in the
    MSP lacks it, so a CRL without one must never reach the channel.
    """
    try:
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        aki = None
    if aki is None or not aki.key_identifier:
        raise CRLError(
            "the CRL has no authority key identifier; Fabric peers would then refuse every "
            "certificate of the organisation. Generate it with Fabric CA, whose CRLs carry one."
        )
    return aki.key_identifier


def merge_crl(existing: Iterable[bytes], new: x509.CertificateRevocationList) -> list[bytes] | None:
    """The revocation list with ``new`` in place of any CRL of the same CA.

    Returns None when ``new`` is already there, so there is nothing to update.  A CA's CRL
    lists every certificate it has revoked, so only its newest is worth keeping; keeping
    them all would grow every config block for nothing.  A CRL older than the one already
    published is refused: publishing it could take revocations back.  Issue times have a
    one-second grain, so for two CRLs of the same second the one that lists more wins.
    """
    new_der = new.public_bytes(serialization.Encoding.DER)
    new_aki = authority_key_id(new)
    new_serials = {r.serial_number for r in new}
    kept: list[bytes] = []
    for raw in existing:
        old = load_crl(raw)
        if old.public_bytes(serialization.Encoding.DER) == new_der:
            return None
        if _aki_or_none(old) != new_aki:
            kept.append(raw)
            continue
        old_serials = {r.serial_number for r in old}
        if old.last_update_utc > new.last_update_utc or (
            old.last_update_utc == new.last_update_utc and not old_serials <= new_serials
        ):
            raise CRLError(
                f"the channel already has a newer CRL from this CA (issued "
                f"{old.last_update_utc:%Y-%m-%d %H:%M:%S}Z with {len(old_serials)} revoked, this "
                f"one {new.last_update_utc:%Y-%m-%d %H:%M:%S}Z with {len(new_serials)}); "
                "generate a fresh CRL at the CA and publish that"
            )
    return [*kept, crl_pem(new)]


def _aki_or_none(crl: x509.CertificateRevocationList) -> bytes | None:
    try:
        return authority_key_id(crl)
    except CRLError:
        return None


def check_issuer(crl: x509.CertificateRevocationList, msp: msp_config_pb2.FabricMSPConfig) -> None:
    """Refuse a CRL that no CA of this MSP signed: the peer would silently ignore it."""
    cas = [*msp.root_certs, *msp.intermediate_certs]
    for pem in cas:
        cert = x509.load_pem_x509_certificate(pem)
        try:
            if crl.is_signature_valid(cert.public_key()):  # type: ignore[arg-type]
                return
        except TypeError:
            continue  # a key type CRLs cannot be checked with; not this CA
    raise CRLError(
        f"the CRL (issuer {crl.issuer.rfc4514_string()}) is not signed by any CA of "
        f"{msp.name}; peers would ignore it. Publish the CRL of {msp.name}'s own CA."
    )


# -- the channel configuration -------------------------------------------------------------


def decode_config_block(raw: bytes) -> tuple[int, configtx_pb2.Config]:
    """The number and the channel configuration of a config block."""
    try:
        block = common_pb2.Block.FromString(raw)
        envelope = common_pb2.Envelope.FromString(block.data.data[0])
        payload = common_pb2.Payload.FromString(envelope.payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        if header.type != common_pb2.CONFIG:
            raise CRLError(
                f"block {block.header.number} is not a config block (header type {header.type})"
            )
        config_envelope = configtx_pb2.ConfigEnvelope.FromString(payload.data)
    except (IndexError, ValueError) as exc:  # protobuf's DecodeError is a ValueError
        raise CRLError(f"cannot decode the config block: {exc}") from None
    return block.header.number, config_envelope.config


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


def org_paths(config: configtx_pb2.Config, msp_id: str) -> list[tuple[str, str]]:
    """Where the organisation's MSP is defined: (section, org group) pairs."""
    groups = config.channel_group.groups
    paths = [(s, msp_id) for s in ORG_SECTIONS if s in groups and msp_id in groups[s].groups]
    if not any(s == "Application" for s, _ in paths):
        raise CRLError(
            f"{msp_id} is not a member of the channel's Application group; only a member's "
            "peers check its certificates"
        )
    return paths


def fabric_msp(group: configtx_pb2.ConfigGroup) -> msp_config_pb2.FabricMSPConfig:
    """The X.509 MSP definition held in an organisation's config group."""
    if MSP_VALUE not in group.values:
        raise CRLError("the organisation's config group has no MSP value")
    msp = msp_config_pb2.MSPConfig.FromString(group.values[MSP_VALUE].value)
    if msp.type != FABRIC_MSP_TYPE:
        raise CRLError(f"MSP type {msp.type} is not an X.509 Fabric MSP; it takes no CRLs")
    return msp_config_pb2.FabricMSPConfig.FromString(msp.config)


def crls(config: configtx_pb2.Config, msp_id: str, section: str = "Application") -> list[bytes]:
    """The PEM CRLs the channel holds for ``msp_id`` (in its Application group by default)."""
    group = config.channel_group.groups[section].groups[msp_id]
    return list(fabric_msp(group).revocation_list)


def with_revocation_list(value: configtx_pb2.ConfigValue, revocation_list: list[bytes]) -> bytes:
    """The serialized MSPConfig of ``value`` with its revocation list replaced."""
    msp = msp_config_pb2.MSPConfig.FromString(value.value)
    fabric = msp_config_pb2.FabricMSPConfig.FromString(msp.config)
    del fabric.revocation_list[:]
    fabric.revocation_list.extend(revocation_list)
    updated = msp_config_pb2.MSPConfig(type=msp.type, config=fabric.SerializeToString())
    return updated.SerializeToString()


def build_update(
    config: configtx_pb2.Config,
    channel: str,
    new_values: dict[tuple[str, str], bytes],
) -> configtx_pb2.ConfigUpdate:
    """A ConfigUpdate that sets the MSP value of each (section, org) to the bytes given.

    The read set pins every group on each path at its current version, so the update is
    refused if someone changed the same groups meanwhile; it names no policies or values,
    so unrelated changes elsewhere in those groups do not conflict.  The write set repeats
    the groups at the *same* versions (they are only the way to the value, not changed)
    and carries the MSP value at version + 1 with its mod policy: the one element in the
    delta, whose mod policy the orderer evaluates against our signatures.
    """
    update = configtx_pb2.ConfigUpdate(channel_id=channel)
    root = config.channel_group
    update.read_set.version = update.write_set.version = root.version
    for (section, org), value_bytes in new_values.items():
        current_section = root.groups[section]
        current_org = current_section.groups[org]
        current = current_org.values[MSP_VALUE]
        for target in (update.read_set, update.write_set):
            target.groups[section].version = current_section.version
            target.groups[section].groups[org].version = current_org.version
        written = update.write_set.groups[section].groups[org].values[MSP_VALUE]
        written.version = current.version + 1
        written.mod_policy = current.mod_policy
        written.value = value_bytes
    return update


def update_envelope(update: configtx_pb2.ConfigUpdate, channel: str) -> bytes:
    """An unsigned CONFIG_UPDATE envelope, the file ``peer channel update -f`` expects.

    The peer CLI adds the admin's ConfigSignature to the ConfigUpdateEnvelope and signs
    the outer envelope itself, so no signature is made here.
    """
    header = common_pb2.ChannelHeader(type=common_pb2.CONFIG_UPDATE, channel_id=channel)
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=header.SerializeToString()),
        data=configtx_pb2.ConfigUpdateEnvelope(
            config_update=update.SerializeToString()
        ).SerializeToString(),
    )
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


# -- who may change the MSP value ---------------------------------------------------------


def check_own_admin_suffices(config: configtx_pb2.Config, section: str, msp_id: str) -> None:
    """Refuse early when one admin signature of ``msp_id`` cannot satisfy the mod policy.

    The orderer would refuse the update anyway, but with "policy ... not satisfied"; here
    we can say which policy it is and why.
    """
    org_group = config.channel_group.groups[section].groups[msp_id]
    mod_policy = org_group.values[MSP_VALUE].mod_policy
    policy = _resolve_policy(config, (section, msp_id), mod_policy)
    where = f"/Channel/{section}/{msp_id}/{MSP_VALUE}"
    if policy is None:
        raise CRLError(f"the mod policy {mod_policy!r} of {where} is not in the channel config")
    if policy.type != policies_pb2.Policy.SIGNATURE:
        kind = policies_pb2.Policy.PolicyType.Name(policy.type)
        raise CRLError(
            f"the mod policy {mod_policy!r} of {where} is {kind}, which needs other "
            "organisations' signatures; collect them and submit the update by hand"
        )
    envelope = policies_pb2.SignaturePolicyEnvelope.FromString(policy.value)
    ours = {i for i, p in enumerate(envelope.identities) if _admin_matches(p, msp_id)}
    if _signatures_needed(envelope.rule, ours) > 1:
        raise CRLError(
            f"the mod policy {mod_policy!r} of {where} is not satisfied by one {msp_id} admin "
            "signature; collect the other signatures and submit the update by hand"
        )


def _resolve_policy(
    config: configtx_pb2.Config, org_path: tuple[str, str], name: str
) -> policies_pb2.Policy | None:
    # A relative mod policy names a policy of the group holding the value; an absolute one
    # is a path from /Channel (Fabric's policy manager resolves them the same way).
    if name.startswith("/"):
        parts = name.strip("/").split("/")
        if parts[0] != "Channel":
            return None
        group, parts = config.channel_group, parts[1:]
    else:
        section, org = org_path
        group, parts = config.channel_group.groups[section].groups[org], name.split("/")
    for part in parts[:-1]:
        if part not in group.groups:
            return None
        group = group.groups[part]
    if parts[-1] not in group.policies:
        return None
    return group.policies[parts[-1]].policy


def _admin_matches(principal: msp_principal_pb2.MSPPrincipal, msp_id: str) -> bool:
    if principal.principal_classification != msp_principal_pb2.MSPPrincipal.ROLE:
        return False
    role = msp_principal_pb2.MSPRole.FromString(principal.principal)
    return role.msp_identifier == msp_id and role.role in (
        msp_principal_pb2.MSPRole.ADMIN,
        msp_principal_pb2.MSPRole.MEMBER,
    )


def _signatures_needed(rule: policies_pb2.SignaturePolicy, ours: set[int]) -> float:
    """The fewest signatures of our admin's kind that satisfy ``rule`` (inf: impossible).

    Fabric uses each signature for one ``signed_by`` leaf only, so an n-out-of rule needs
    the sum of its n cheapest children, not their maximum.
    """
    if rule.WhichOneof("Type") == "signed_by":
        return 1 if rule.signed_by in ours else math.inf
    n_of = rule.n_out_of
    costs = sorted(_signatures_needed(r, ours) for r in n_of.rules)
    if n_of.n > len(costs):
        return math.inf
    return sum(costs[: n_of.n])


# -- publishing ------------------------------------------------------------------------------


def publish_crl(net: Consortium, org: str, crl_pem: bytes, timeout: float = 60) -> int:
    """Put ``org``'s CA's CRL into the channel config; return the config block's number.

    Waits until every peer has committed that block, so once this returns, each peer
    refuses the revoked certificates.  When the channel already holds this CRL nothing
    is submitted and the number of the latest config block (which holds it) is returned.
    """
    admin = net.admin(org)
    msp_id = admin.org.msp_id
    channel = net.topology.channel
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
    want = crl.public_bytes(serialization.Encoding.DER)
    deadline = time.monotonic() + timeout
    while True:
        number, config = fetch_config(admin, channel)
        if number > previous:
            held = crls(config, admin.org.msp_id)
            if want in (load_crl(c).public_bytes(serialization.Encoding.DER) for c in held):
                return number
            raise CRLError(
                f"config block {number} replaced block {previous} but does not hold the CRL; "
                "another config update won. Publish the CRL again."
            )
        if time.monotonic() > deadline:
            raise CRLError(
                f"the orderer accepted the config update but cut no config block within "
                f"{timeout:.0f}s; check the orderers' logs (`gridledger network logs`)"
            )
        time.sleep(0.5)


def _wait_for_peers(net: Consortium, channel: str, number: int, timeout: float) -> None:
    """Wait until every peer has committed block ``number``: from then on they all refuse."""
    deadline = time.monotonic() + timeout
    while True:
        heights: dict[str, int | str] = {}
        for admin in net.admins:
            try:
                heights[admin.org.peer.id] = ch.peer_height(admin, channel)
            except (FabricCommandError, ValueError) as exc:
                heights[admin.org.peer.id] = f"unknown ({exc})"
        if all(isinstance(h, int) and h > number for h in heights.values()):
            return
        if time.monotonic() > deadline:
            raise CRLError(
                f"config block {number} is ordered but not yet committed by every peer after "
                f"{timeout:.0f}s (heights: {heights}); revoked certificates may still be "
                "accepted by the late ones. Check those peers' logs."
            )
        time.sleep(0.5)
