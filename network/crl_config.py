"""Where CRLs live in a channel configuration, and the ConfigUpdate that changes them.

Pure protobuf work, no processes and no network: decode a config block, find an
organisation's MSP value under ``/Channel/Application/<Org>MSP`` (and
``/Channel/Orderer/<Org>MSP`` when it orders too), replace its revocation list, and
express that as a ConfigUpdate: a read set naming the groups on the path at their
current versions, a write set with the MSP value at version + 1 (the form Fabric's own
configtxlator computes, and which ``common/configtx`` checks).  Before anything is sent,
:func:`check_own_admin_suffices` checks that the value's mod policy is satisfied by one
admin signature of the organisation, rather than assuming it.
"""

from __future__ import annotations

import math

from fabric_protos.common import common_pb2, configtx_pb2, policies_pb2
from fabric_protos.msp import msp_config_pb2, msp_principal_pb2

from .crl import CRLError

# The value in an organisation's group that holds its MSP definition (Fabric's MSPKey).
MSP_VALUE = "MSP"
# Channel subgroups that may hold an organisation: its peers' side and its orderers' side.
ORG_SECTIONS = ("Application", "Orderer")
# MSPConfig.type of an X.509 Fabric MSP (1 would be idemix, which has no CRLs of this kind).
FABRIC_MSP_TYPE = 0


# -- reading the configuration -------------------------------------------------------------


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
