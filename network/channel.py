"""The application channels: generated configtx, genesis blocks, orderers and peers joined.

Fabric 3 has no system channel: the genesis block of each channel (``energy``,
``market``) is made by configtxgen and handed to each orderer through the channel
participation API (osnadmin), then to each peer.  Every channel is made from the same
profile (the same organisations, policies and ACLs), only its channel ID differs.  Anchor
peers are in the genesis block already (configtx.yaml names them), so gateways find the
other organisations' endorsers from the first block on.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .binaries import FabricBinaries
from .errors import NetworkError
from .fabric_cli import FabricCommandError, OrgAdmin, run
from .layout import Layout
from .polling import poll
from .topology import Topology

# The profile every channel is made from (configtx.yaml): the channel ID is configtxgen's
# -channelID, not part of the profile.
PROFILE = "Energy"
REPO_CONFIGTX = Path(__file__).resolve().parent.parent / "configtx.yaml"


class ChannelError(NetworkError):
    """The channel could not be created or joined."""


def render_configtx(topology: Topology, layout: Layout, source: Path = REPO_CONFIGTX) -> dict:
    """configtx.yaml with addresses and MSP paths filled in from the topology."""
    doc = yaml.safe_load(source.read_text())
    by_msp = {o.msp_id: o for o in topology.organisations}
    declared = {org["ID"] for org in doc["Organizations"]}
    if declared != set(by_msp):
        raise ChannelError(
            f"configtx.yaml declares {sorted(declared)} but the topology has {sorted(by_msp)}"
        )
    # YAML aliases make the profile share these dicts, so filling them fills the profile.
    for entry in doc["Organizations"]:
        org = by_msp[entry["ID"]]
        entry["MSPDir"] = str(layout.org_msp(org.name))
        entry["OrdererEndpoints"] = [org.orderer.address]
        entry["AnchorPeers"] = [{"Host": org.peer.host, "Port": org.peer.port}]
    doc["Orderer"]["EtcdRaft"]["Consenters"] = [
        {
            "Host": o.orderer.host,
            "Port": o.orderer.port,
            "ClientTLSCert": str(layout.tls(o.name, o.orderer.name) / "server.crt"),
            "ServerTLSCert": str(layout.tls(o.name, o.orderer.name) / "server.crt"),
        }
        for o in topology.organisations
    ]
    profile = doc["Profiles"][PROFILE]
    profile["Orderer"]["EtcdRaft"]["Consenters"] = doc["Orderer"]["EtcdRaft"]["Consenters"]
    return doc


class _PlainDumper(yaml.SafeDumper):
    """Writes shared objects out in full instead of as YAML anchors and aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def make_genesis_block(
    bins: FabricBinaries, topology: Topology, layout: Layout, channel: str | None = None
) -> Path:
    """The genesis block of ``channel`` (default: the main one), made once and kept."""
    channel = channel or topology.channel
    block = layout.genesis_block(channel)
    if block.exists():
        return block
    cfg_dir = layout.channel_dir
    cfg_dir.mkdir(parents=True, exist_ok=True)
    (cfg_dir / "configtx.yaml").write_text(
        yaml.dump(render_configtx(topology, layout), Dumper=_PlainDumper, sort_keys=False)
    )
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
