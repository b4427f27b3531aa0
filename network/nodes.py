"""Each node's configuration: Fabric's sampleconfig as the base, overridden by environment.

This is how Fabric's own images configure nodes: one shared ``core.yaml`` /
``orderer.yaml`` and per-node ``CORE_*`` / ``ORDERER_*`` variables.  Only the peer's
``core.yaml`` needs a generated copy, because the external builder list cannot be set
from a variable.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .binaries import FabricBinaries
from .layout import Layout
from .topology import ChaincodeDefinition, Organisation

# Sane log levels for a long-running consortium on a small machine: the noisy
# subsystems at WARNING, everything else at INFO.
# Plain text (Fabric's default format has ANSI colours, unreadable in a log file).
LOG_FORMAT = "%{time:2006-01-02 15:04:05.000 MST} %{level:.4s} [%{module}] %{message}"
PEER_LOGGING = "info:gossip,comm.grpc,grpc,msp,cauthdsl,policies=warning"
ORDERER_LOGGING = "info:comm.grpc,grpc,policies,msp=warning"


@dataclass(frozen=True)
class Process:
    """One supervised process: its name, command line, environment and working directory."""

    name: str
    kind: str  # ca | orderer | peer | chaincode
    org: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ""
    ports: tuple[int, ...] = ()


def ca_process(bins: FabricBinaries, layout: Layout, org: Organisation, password: str) -> Process:
    home = layout.ca_home(org.name)
    home.mkdir(parents=True, exist_ok=True)
    # The CA keeps its keys, its database and (in the config it generates at first start)
    # the bootstrap password here: nobody else on the machine may look in.
    home.chmod(0o700)
    cmd = [
        bins["fabric-ca-server"], "start",
        "-H", str(home),
        "--address", org.host,
        "--port", str(org.ca.port),
        "--ca.name", org.ca.name,
        "--csr.cn", f"{org.ca.name}.{org.name}",
        "--csr.hosts", f"{org.host},localhost,127.0.0.1",
        "--tls.enabled",
        "--operations.listenaddress", f"{org.host}:{org.ca.operations_port}",
        "--metrics.provider", "prometheus",
        "--loglevel", "warning",
    ]  # fmt: skip
    # The bootstrap identity goes in the environment (readable only by this user through
    # /proc), never on the command line, which every local user sees in `ps`.
    return Process(
        name=org.ca.name, kind="ca", org=org.name, command=cmd, cwd=str(home),
        env={"FABRIC_CA_SERVER_BOOT": f"admin:{password}"},
        ports=(org.ca.port, org.ca.operations_port),
    )  # fmt: skip


def _tls_env(prefix: str, tls_dir: Path) -> dict[str, str]:
    return {
        f"{prefix}_ENABLED": "true",
        f"{prefix}_CERT_FILE": str(tls_dir / "server.crt"),
        f"{prefix}_KEY_FILE": str(tls_dir / "server.key"),
        f"{prefix}_ROOTCERT_FILE": str(tls_dir / "ca.crt"),
    }


def peer_config_dir(bins: FabricBinaries, layout: Layout, org: Organisation) -> Path:
    """A FABRIC_CFG_PATH for the peer: sampleconfig's core.yaml with our ccaas builder."""
    cfg = layout.node(org.peer.id) / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    core = yaml.safe_load((bins.sampleconfig / "core.yaml").read_text())
    # No Docker: chaincode runs as a service, so the peer must not build or health-check
    # containers.
    core["vm"]["endpoint"] = ""
    core["chaincode"]["externalBuilders"] = [
        {"name": "ccaas_builder", "path": str(bins.ccaas_builder)},
    ]
    (cfg / "core.yaml").write_text(yaml.safe_dump(core, sort_keys=False))
    return cfg


def peer_process(bins: FabricBinaries, layout: Layout, org: Organisation) -> Process:
    peer = org.peer
    data = layout.node(peer.id) / "data"
    data.mkdir(parents=True, exist_ok=True)
    tls = layout.tls(org.name, peer.name)
    env = {
        "FABRIC_CFG_PATH": str(peer_config_dir(bins, layout, org)),
        "FABRIC_LOGGING_SPEC": PEER_LOGGING,
        "FABRIC_LOGGING_FORMAT": LOG_FORMAT,
        "CORE_PEER_ID": f"{peer.name}.{org.name}",
        "CORE_PEER_ADDRESS": peer.address,
        "CORE_PEER_LISTENADDRESS": peer.address,
        "CORE_PEER_CHAINCODEADDRESS": f"{peer.host}:{peer.chaincode_port}",
        "CORE_PEER_CHAINCODELISTENADDRESS": f"{peer.host}:{peer.chaincode_port}",
        # Gossip bootstraps from itself; other organisations are found through the
        # anchor peers in the channel configuration.
        "CORE_PEER_GOSSIP_BOOTSTRAP": peer.address,
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": peer.address,
        "CORE_PEER_LOCALMSPID": org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(layout.msp(org.name, peer.name)),
        "CORE_PEER_FILESYSTEMPATH": str(data),
        "CORE_LEDGER_SNAPSHOTS_ROOTDIR": str(data / "snapshots"),
        "CORE_OPERATIONS_LISTENADDRESS": f"{peer.host}:{peer.operations_port}",
        "CORE_METRICS_PROVIDER": "prometheus",
        **_tls_env("CORE_PEER_TLS", tls),
    }
    return Process(
        name=peer.id, kind="peer", org=org.name, command=[bins["peer"], "node", "start"], env=env,
        cwd=str(data), ports=(peer.port, peer.chaincode_port, peer.operations_port),
    )  # fmt: skip


def orderer_process(bins: FabricBinaries, layout: Layout, org: Organisation) -> Process:
    orderer = org.orderer
    data = layout.node(orderer.id) / "data"
    data.mkdir(parents=True, exist_ok=True)
    tls = layout.tls(org.name, orderer.name)
    admin_client_ca = layout.ca_cert(org.name)
    env = {
        "FABRIC_CFG_PATH": str(bins.sampleconfig),
        "FABRIC_LOGGING_SPEC": ORDERER_LOGGING,
        "FABRIC_LOGGING_FORMAT": LOG_FORMAT,
        "ORDERER_GENERAL_LISTENADDRESS": orderer.host,
        "ORDERER_GENERAL_LISTENPORT": str(orderer.port),
        "ORDERER_GENERAL_LOCALMSPID": org.msp_id,
        "ORDERER_GENERAL_LOCALMSPDIR": str(layout.msp(org.name, orderer.name)),
        "ORDERER_GENERAL_TLS_ENABLED": "true",
        "ORDERER_GENERAL_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
        # Raft traffic shares the general listener and reuses its TLS certificate.
        "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none",
        "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
        "ORDERER_FILELEDGER_LOCATION": str(data / "ledger"),
        "ORDERER_CONSENSUS_WALDIR": str(data / "etcdraft" / "wal"),
        "ORDERER_CONSENSUS_SNAPDIR": str(data / "etcdraft" / "snapshot"),
        # The channel participation API changes what the orderer serves: mutual TLS,
        # and only this organisation's CA may vouch for the caller.
        "ORDERER_ADMIN_LISTENADDRESS": orderer.admin_address,
        "ORDERER_ADMIN_TLS_ENABLED": "true",
        "ORDERER_ADMIN_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_ADMIN_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_ADMIN_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
        "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
        "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{admin_client_ca}]",
        "ORDERER_OPERATIONS_LISTENADDRESS": f"{orderer.host}:{orderer.operations_port}",
        "ORDERER_METRICS_PROVIDER": "prometheus",
    }
    return Process(
        name=orderer.id, kind="orderer", org=org.name, command=[bins["orderer"]], env=env,
        cwd=str(data), ports=(orderer.port, orderer.admin_port, orderer.operations_port),
    )  # fmt: skip


def chaincode_address(org: Organisation, index: int) -> str:
    """Address of the ``index``-th chaincode's server in an organisation (base port + index)."""
    server = org.chaincode_server
    return f"{server.host}:{server.port + index}"


def chaincode_process(
    layout: Layout, org: Organisation, cc: ChaincodeDefinition, index: int, package_id: str,
    channels: dict[str, str] | None = None, code_sha256: str | None = None,
) -> Process:
    """An organisation's server for one chaincode (a ccaas connection registers one package).

    Each organisation runs its own, so it trusts its own endorsements. ``channels``: the
    channel of the customers' records and of the market (``{"energy": ..., "market":
    ...}``), which the contracts read across (chaincode/common/crosschannel.py).
    """
    tls = layout.tls(org.name, "chaincode")
    address = chaincode_address(org, index)
    cmd = [
        sys.executable, "-m", "gridledger.chaincode",
        "--address", address,
        "--chaincode-id", package_id,
        "--contracts", ",".join(cc.contracts),
        "--tls-cert", str(tls / "server.crt"),
        "--tls-key", str(tls / "server.key"),
        "--log-level", "INFO",
    ]  # fmt: skip
    if code_sha256:
        # The code the approved package pins: the server refuses to run other code.
        cmd += ["--code-sha256", code_sha256]
    return Process(
        name=f"cc-{cc.name}-{org.name}", kind="chaincode", org=org.name, command=cmd,
        cwd=str(layout.root), env={"PYTHONUNBUFFERED": "1", **{
            f"GRIDLEDGER_{role.upper()}_CHANNEL": name
            for role, name in (channels or {}).items()}},
        ports=(org.chaincode_server.port + index,),
    )  # fmt: skip


def admin_env(bins: FabricBinaries, layout: Layout, org: Organisation) -> dict[str, str]:
    """Environment for the ``peer`` CLI acting as the organisation's admin on its peer."""
    return {
        "FABRIC_CFG_PATH": str(peer_config_dir(bins, layout, org)),
        # The invoke result ("Chaincode invoke successful. result: ...") is an INFO line.
        "FABRIC_LOGGING_SPEC": "warning:chaincodeCmd=info",
        "CORE_PEER_LOCALMSPID": org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(layout.msp(org.name, "Admin")),
        "CORE_PEER_ADDRESS": org.peer.address,
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_ROOTCERT_FILE": str(layout.ca_cert(org.name)),
        "CORE_PEER_TLS_CLIENTCERT_FILE": str(layout.tls(org.name, "Admin") / "server.crt"),
        "CORE_PEER_TLS_CLIENTKEY_FILE": str(layout.tls(org.name, "Admin") / "server.key"),
    }


def remove_node_data(layout: Layout, process: str) -> None:
    shutil.rmtree(layout.node(process), ignore_errors=True)
