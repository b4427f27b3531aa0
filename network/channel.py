"""The application channels: generated configtx, genesis blocks, orderers and peers joined.

Fabric 3 has no system channel: the genesis block of each channel (``energy``,
``market``) is made by configtxgen from the founding members' definitions, by one of
them, and handed to the others as a file; each member joins its own orderer through the
channel participation API (osnadmin), then its own peer.  Every channel is made from the same
profile (the same organisations, policies and ACLs), only its channel ID differs.  Anchor
peers are in the genesis block already (configtx.yaml names them), so gateways find the
other organisations' endorsers from the first block on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import yaml

from .binaries import FabricBinaries
from .definition import OrgDefinition
from .errors import NetworkError
from .fabric_cli import FabricCommandError, OrgAdmin, run
from .layout import Layout
from .polling import poll

# The profile every channel is made from (configtx.yaml): the channel ID is configtxgen's
# -channelID, not part of the profile.
PROFILE = "Energy"
REPO_CONFIGTX = Path(__file__).resolve().parent.parent / "configtx.yaml"


class ChannelError(NetworkError):
    """The channel could not be created or joined."""


def render_configtx(
    definitions: Sequence[OrgDefinition], layout: Layout, source: Path = REPO_CONFIGTX,
    founders: bool = True,
) -> dict:
    """configtx.yaml with the members' definitions filled in (MSPDir, endpoints, consenters).

    The definitions have been installed in ``layout`` (:meth:`OrgDefinition.install`), so
    each organisation's MSP directory there holds its public certificates only.  With
    ``founders`` the definitions must be exactly the organisations configtx.yaml declares
    (the channel's founding members); otherwise an organisation it does not declare gets
    the first one's policies, in its own name (a member joining later, for ``-printOrg``).
    """
    doc = yaml.safe_load(source.read_text())
    by_msp = {d.msp_id: d for d in definitions}
    declared = {org["ID"] for org in doc["Organizations"]}
    if founders and declared != set(by_msp):
        raise ChannelError(
            f"configtx.yaml declares {sorted(declared)} but the members' definitions are "
            f"{sorted(by_msp)}"
        )
    template = doc["Organizations"][0]
    for msp_id in by_msp.keys() - declared:
        text = json.dumps({k: v for k, v in template.items() if k != "Policies"})
        entry = json.loads(text.replace(template["ID"], msp_id))
        entry["Policies"] = json.loads(json.dumps(template["Policies"]).replace(
            f"'{template['ID']}.", f"'{msp_id}."))
        doc["Organizations"].append(entry)
    # YAML aliases make the profile share these dicts, so filling them fills the profile.
    for entry in doc["Organizations"]:
        d = by_msp.get(entry["ID"])
        if d is None:
            continue
        entry["MSPDir"] = str(layout.org_msp(d.name))
        entry["OrdererEndpoints"] = [d.orderer.address]
        entry["AnchorPeers"] = [{"Host": d.anchor_peer.host, "Port": d.anchor_peer.port}]
    consenters = [
        {
            "Host": d.orderer.host,
            "Port": d.orderer.port,
            "ClientTLSCert": str(layout.tls(d.name, d.orderer_name) / "server.crt"),
            "ServerTLSCert": str(layout.tls(d.name, d.orderer_name) / "server.crt"),
        }
        for d in definitions
    ]
    doc["Orderer"]["EtcdRaft"]["Consenters"] = consenters
    doc["Profiles"][PROFILE]["Orderer"]["EtcdRaft"]["Consenters"] = consenters
    return doc


class _PlainDumper(yaml.SafeDumper):
    """Writes shared objects out in full instead of as YAML anchors and aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def write_configtx(directory: Path, doc: dict) -> Path:
    """Write a rendered configtx.yaml into ``directory`` (configtxgen's -configPath)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "configtx.yaml"
    path.write_text(yaml.dump(doc, Dumper=_PlainDumper, sort_keys=False))
    return path


def make_genesis_block(
    bins: FabricBinaries, definitions: Sequence[OrgDefinition], layout: Layout, channel: str
) -> Path:
    """The genesis block of ``channel`` from the founding members' definitions (made once)."""
    block = layout.genesis_block(channel)
    if block.exists():
        return block
    cfg_dir = layout.channel_dir
    write_configtx(cfg_dir, render_configtx(definitions, layout))
    partial = block.with_suffix(".partial")
    run(
        [
            bins["configtxgen"], "-profile", PROFILE, "-channelID", channel,
            "-outputBlock", str(partial), "-configPath", str(cfg_dir),
        ]
    )
    partial.rename(block)
    return block


def orderer_channels(admin: OrgAdmin) -> dict[str, dict]:
    """Channels this organisation's orderer serves, from the participation API."""
    out = admin.osnadmin("channel", "list")
    body = json.loads(out[out.index("{") :])
    return {c["name"]: c for c in body.get("channels") or []}


def orderer_channel_info(admin: OrgAdmin, channel: str) -> dict:
    out = admin.osnadmin("channel", "list", "--channelID", channel)
    return json.loads(out[out.index("{") :])


def join_orderers(admins: list[OrgAdmin], channel: str, block: Path) -> None:
    for admin in admins:
        if channel in orderer_channels(admin):
            continue
        admin.osnadmin("channel", "join", "--channelID", channel, "--config-block", str(block))


def wait_for_raft(admins: list[OrgAdmin], channel: str, timeout: float = 60) -> None:
    """Wait until every orderer reports itself an active consenter of the channel."""

    def states() -> dict[str, tuple[str, str]]:
        seen = {}
        for admin in admins:
            try:
                info = orderer_channel_info(admin, channel)
                seen[admin.org.orderer.id] = (info.get("consensusRelation"), info.get("status"))
            except (FabricCommandError, ValueError) as exc:
                seen[admin.org.orderer.id] = ("?", str(exc))
        return seen

    polled = poll(
        states,
        lambda seen: all(s == ("consenter", "active") for s in seen.values()),
        timeout=timeout,
        interval=0.5,
    )
    if not polled.done:
        raise ChannelError(f"Raft cluster did not become active in {timeout:.0f}s: {polled.last}")


def peer_channels(admin: OrgAdmin) -> list[str]:
    out = admin.peer("channel", "list")
    return [ln.strip() for ln in out.splitlines() if ln.strip() and ":" not in ln]


def join_peers(admins: list[OrgAdmin], channel: str, block: Path) -> None:
    for admin in admins:
        if channel in peer_channels(admin):
            continue
        admin.peer("channel", "join", "-b", str(block))


def peer_height(admin: OrgAdmin, channel: str) -> int:
    out = admin.peer("channel", "getinfo", "-c", channel)
    body = json.loads(out[out.index("{") :])
    return int(body["height"])
