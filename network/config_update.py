"""Channel configuration changes by majority, as files that travel between the members.

A change is *proposed* by one member's admin on its host: the channel's current config is
fetched, changed, and the difference computed by Fabric's own ``configtxlator
compute_update``; the result is written as a CONFIG_UPDATE envelope, the standard file
``peer channel signconfigtx`` and ``peer channel update`` work on.  Each member's admin
*signs* that file on its own host (its signature is appended inside it), after reading
what it changes (:func:`describe`); once the signatures meet the mod policy of what is
changed (``MAJORITY Admins`` for the orderer's batch settings, the member list and the
consenters), any member *submits* it.  With too few signatures the orderer refuses it,
and :class:`UpdateRefused` shows Fabric's own words and who had signed.

No private key travels: each signature is made where its key is.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_config
from google.protobuf.message import DecodeError

from . import channel as ch
from . import crl_publish
from .binaries import FabricBinaries
from .definition import OrgDefinition
from .errors import NetworkError
from .fabric_cli import FabricCommandError, OrgAdmin, run
from .layout import Layout
from .polling import poll

Change = Callable[[configtx_pb2.Config], None]


class ConfigUpdateError(NetworkError):
    """A config update could not be proposed, read, signed or submitted."""


class UpdateRefused(ConfigUpdateError):
    """The orderer refused the update: its policy is not met, or the config moved on."""


class NothingToChange(ConfigUpdateError):
    """The change asked for is what the channel's configuration holds already."""


@dataclass(frozen=True)
class UpdateFile:
    """What a config update file holds: for which channel, what it changes, who signed."""

    channel: str
    changes: list[str]  # the paths whose version the update raises, e.g. /Channel/Orderer/BatchSize
    signers: list[str]  # MSP IDs of the admins who signed, in order


# -- reading a file --------------------------------------------------------------------------


def _envelope(path: Path) -> tuple[common_pb2.Envelope, configtx_pb2.ConfigUpdateEnvelope]:
    try:
        envelope = common_pb2.Envelope.FromString(path.read_bytes())
        payload = common_pb2.Payload.FromString(envelope.payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        if header.type != common_pb2.CONFIG_UPDATE:
            raise ConfigUpdateError(f"{path} is not a config update (header type {header.type})")
        return envelope, configtx_pb2.ConfigUpdateEnvelope.FromString(payload.data)
    except OSError as exc:
        raise ConfigUpdateError(f"{path}: cannot be read ({exc.strerror})") from None
    except (DecodeError, ValueError) as exc:
        raise ConfigUpdateError(f"{path} is not a config update file: {exc}") from None


def _changed(group: configtx_pb2.ConfigGroup, read: configtx_pb2.ConfigGroup | None,
             path: str) -> list[str]:
    """The elements of a write set whose version the update raises above its read set's."""
    out = []
    if read is None or group.version > read.version:
        out.append(path)
    for kind in ("values", "policies"):
        for name, item in getattr(group, kind).items():
            before = getattr(read, kind).get(name) if read is not None else None
            if before is None or item.version > before.version:
                out.append(f"{path}/{name}")
    for name, sub in group.groups.items():
        out += _changed(sub, read.groups.get(name) if read is not None else None,
                        f"{path}/{name}")
    return out


def describe(path: Path) -> UpdateFile:
    """What the update file at ``path`` changes, and whose signatures it carries."""
    _, update_envelope = _envelope(path)
    update = configtx_pb2.ConfigUpdate.FromString(update_envelope.config_update)
    signers = []
    for sig in update_envelope.signatures:
        header = common_pb2.SignatureHeader.FromString(sig.signature_header)
        signers.append(identities_pb2.SerializedIdentity.FromString(header.creator).mspid)
    return UpdateFile(
        channel=update.channel_id,
        changes=_changed(update.write_set, update.read_set, "/Channel"),
        signers=signers,
    )


# -- proposing ---------------------------------------------------------------------------------


def compute_update(
    bins: FabricBinaries, channel: str, original: configtx_pb2.Config,
    updated: configtx_pb2.Config,
) -> configtx_pb2.ConfigUpdate:
    """The ConfigUpdate from ``original`` to ``updated``, by Fabric's configtxlator."""
    with tempfile.TemporaryDirectory(prefix="gridledger-update-") as tmp:
        a, b, out = Path(tmp) / "original.pb", Path(tmp) / "updated.pb", Path(tmp) / "update.pb"
        a.write_bytes(original.SerializeToString())
        b.write_bytes(updated.SerializeToString())
        try:
            run([bins["configtxlator"], "compute_update", "--channel_id", channel,
                 "--original", str(a), "--updated", str(b), "--output", str(out)])
        except FabricCommandError as exc:
            if "no differences detected" in exc.stderr:
                raise NothingToChange(
                    f"the channel {channel!r} holds this configuration already: nothing to "
                    "propose"
                ) from None
            raise ConfigUpdateError(f"configtxlator could not compute the update: {exc}") from None
        return configtx_pb2.ConfigUpdate.FromString(out.read_bytes())


def propose(admin: OrgAdmin, channel: str, change: Change, out: Path) -> UpdateFile:
    """Fetch ``channel``'s config as ``admin``, apply ``change``, write the update to ``out``.

    The file carries no signature yet: the proposer signs it like everyone else
    (:func:`sign`), after reading it.
    """
    _, config = crl_publish.fetch_config(admin, channel)
    updated = configtx_pb2.Config()
    updated.CopyFrom(config)
    change(updated)
    update = compute_update(admin.bins, channel, config, updated)
    header = common_pb2.ChannelHeader(type=common_pb2.CONFIG_UPDATE, channel_id=channel)
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=header.SerializeToString()),
        data=configtx_pb2.ConfigUpdateEnvelope(
            config_update=update.SerializeToString()).SerializeToString(),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString())
    tmp.replace(out)
    return describe(out)


# -- the changes we propose --------------------------------------------------------------------


def set_batch(timeout: str | None = None, max_message_count: int | None = None) -> Change:
    """Change the orderers' batch settings (how long and how many transactions per block)."""
    if timeout is not None and not re.fullmatch(r"\d+(\.\d+)?(ms|s|m)", timeout):
        raise ConfigUpdateError(f"batch timeout {timeout!r} is not a duration such as 250ms or 2s")
    if max_message_count is not None and max_message_count < 1:
        raise ConfigUpdateError("max message count must be at least 1")

    def change(config: configtx_pb2.Config) -> None:
        values = config.channel_group.groups["Orderer"].values
        if timeout is not None:
            values["BatchTimeout"].value = orderer_config.BatchTimeout(
                timeout=timeout).SerializeToString()
        if max_message_count is not None:
            size = orderer_config.BatchSize.FromString(values["BatchSize"].value)
            size.max_message_count = max_message_count
            values["BatchSize"].value = size.SerializeToString()

    return change


def batch_settings(config: configtx_pb2.Config) -> tuple[str, int]:
    """The channel's batch timeout and max message count."""
    values = config.channel_group.groups["Orderer"].values
    timeout = orderer_config.BatchTimeout.FromString(values["BatchTimeout"].value).timeout
    size = orderer_config.BatchSize.FromString(values["BatchSize"].value)
    return timeout, size.max_message_count


def add_member(bins: FabricBinaries, layout: Layout, definitions: Sequence[OrgDefinition],
               new: OrgDefinition) -> Change:
    """Add the organisation ``new`` to a channel: its peers' side (Application: MSP,
    policies, anchor peer), its orderer's side (Orderer: MSP, policies, endpoint) and its
    orderer as a Raft consenter.  ``definitions``: every member's, installed in ``layout``
    (the proposer's), ``new`` among them.

    The organisation's groups are made by configtxgen (``-printOrg``) from the same
    configtx.yaml the channel was made from, so they carry the same policies as the
    founders', in its own name.
    """
    with tempfile.TemporaryDirectory(prefix="gridledger-org-") as tmp:
        doc = ch.render_configtx(definitions, layout, founders=False)
        orderer_side = _print_org(bins, Path(tmp) / "orderer", doc, new.msp_id)
        for entry in doc["Organizations"]:
            entry.pop("OrdererEndpoints", None)
        peer_side = _print_org(bins, Path(tmp) / "peer", doc, new.msp_id)
    consenter = {
        "host": new.orderer.host, "port": new.orderer.port,
        "client_tls_cert": base64.b64encode(new.orderer_tls_cert.encode()).decode(),
        "server_tls_cert": base64.b64encode(new.orderer_tls_cert.encode()).decode(),
    }

    def change(config: configtx_pb2.Config) -> None:
        data = _to_json(bins, config)
        groups = data["channel_group"]["groups"]
        groups["Application"]["groups"][new.msp_id] = peer_side
        groups["Orderer"]["groups"][new.msp_id] = orderer_side
        metadata = groups["Orderer"]["values"]["ConsensusType"]["value"]["metadata"]
        if all(c["host"] != new.orderer.host or c["port"] != new.orderer.port
               for c in metadata["consenters"]):
            metadata["consenters"].append(consenter)
        config.CopyFrom(_from_json(bins, data))

    return change


def _print_org(bins: FabricBinaries, directory: Path, doc: dict, msp_id: str) -> dict:
    ch.write_configtx(directory, doc)
    out = run([bins["configtxgen"], "-printOrg", msp_id, "-configPath", str(directory)])
    return json.loads(out.stdout)


def _to_json(bins: FabricBinaries, config: configtx_pb2.Config) -> dict:
    with tempfile.TemporaryDirectory(prefix="gridledger-config-") as tmp:
        path = Path(tmp) / "config.pb"
        path.write_bytes(config.SerializeToString())
        out = run([bins["configtxlator"], "proto_decode", "--type", "common.Config",
                   "--input", str(path)])
    return json.loads(out.stdout)


def _from_json(bins: FabricBinaries, data: dict) -> configtx_pb2.Config:
    with tempfile.TemporaryDirectory(prefix="gridledger-config-") as tmp:
        src, out = Path(tmp) / "config.json", Path(tmp) / "config.pb"
        src.write_text(json.dumps(data))
        run([bins["configtxlator"], "proto_encode", "--type", "common.Config",
             "--input", str(src), "--output", str(out)])
        return configtx_pb2.Config.FromString(out.read_bytes())


def consenters(config: configtx_pb2.Config) -> list[str]:
    """The Raft consenters of a channel, as ``host:port``."""
    from fabric_protos.orderer.etcdraft import configuration_pb2 as raft

    value = config.channel_group.groups["Orderer"].values["ConsensusType"].value
    metadata = raft.ConfigMetadata.FromString(
        orderer_config.ConsensusType.FromString(value).metadata)
    return [f"{c.host}:{c.port}" for c in metadata.consenters]


# -- signing and submitting -----------------------------------------------------------------


def sign(admin: OrgAdmin, path: Path) -> UpdateFile:
    """Add ``admin``'s signature to the update file (on ``admin``'s host, with its key)."""
    before = describe(path)
    if admin.org.msp_id in before.signers:
        return before
    try:
        admin.peer("channel", "signconfigtx", "-f", str(path))
    except FabricCommandError as exc:
        raise ConfigUpdateError(f"{admin.org.msp_id} admin could not sign {path}: {exc}") from None
    return describe(path)


def submit(admin: OrgAdmin, path: Path, timeout: float = 60) -> int:
    """Send the signed update to our orderer; the number of the config block that took it.

    ``peer channel update`` adds the submitter's signature if it is not there yet; the
    orderer then checks every signature against the mod policies of what changes.
    """
    described = describe(path)
    channel = described.channel
    before, _ = crl_publish.fetch_config(admin, channel)
    try:
        admin.peer("channel", "update", "-f", str(path), "-c", channel,
                   *admin.orderer_tls_args())
    except FabricCommandError as exc:
        said = next((ln.strip() for ln in reversed(exc.stderr.splitlines()) if ln.strip()),
                    str(exc))
        signers = [*described.signers]
        if admin.org.msp_id not in signers:
            signers.append(f"{admin.org.msp_id} (the submitter)")
        raise UpdateRefused(
            f"the orderer refused the update of {channel!r} ({', '.join(described.changes)}), "
            f"signed by {', '.join(signers)}:\n  {said}\nCollect more members' signatures "
            "(`gridledger channel update sign FILE` on each member's host) and submit again; "
            "if the channel's config changed meanwhile, propose the change anew."
        ) from None
    polled = poll(lambda: crl_publish.fetch_config(admin, channel)[0],
                  lambda number: number > before, timeout=timeout, interval=0.5)
    if not polled.done:
        raise ConfigUpdateError(f"the update of {channel!r} was accepted but no config block "
                                f"was cut within {timeout:.0f}s; see the orderers' logs")
    return polled.last
