"""Run GridLedger contracts as a Fabric chaincode-as-a-service server.

    python -m gridledger.chaincode --address 127.0.0.1:9999 \\
        --chaincode-id health_1.0:<hash> --contracts health \\
        --tls-cert server.crt --tls-key server.key [--client-ca peer-client-ca.crt]

Flags fall back to the standard ccaas environment variables: CHAINCODE_SERVER_ADDRESS,
CHAINCODE_ID, CHAINCODE_TLS_DISABLED, CHAINCODE_TLS_CERT, CHAINCODE_TLS_KEY and
CHAINCODE_CLIENT_CA_CERT (file paths). TLS is required unless explicitly disabled.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from .code_identity import code_digest
from .shim import ChaincodeServer, Contract, ContractRouter, ServerConfig, TLSConfig

log = logging.getLogger("gridledger.chaincode")

_TRUE = {"1", "true", "yes", "on"}


def build_parser() -> argparse.ArgumentParser:
    """Command-line options; every default comes from the environment, if set."""
    p = argparse.ArgumentParser(
        prog="python -m gridledger.chaincode",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--address", help="listen address host:port [CHAINCODE_SERVER_ADDRESS]")
    p.add_argument("--chaincode-id", help="package id from `peer lifecycle` [CHAINCODE_ID]")
    p.add_argument(
        "--contracts",
        default="health",
        help="comma-separated contract packages (a dotted name: any module exporting "
             "CONTRACTS); the first is the default",
    )
    p.add_argument("--tls-cert", type=Path, help="server certificate PEM [CHAINCODE_TLS_CERT]")
    p.add_argument("--tls-key", type=Path, help="server key PEM [CHAINCODE_TLS_KEY]")
    p.add_argument(
        "--client-ca",
        type=Path,
        help="CA of the peer's client cert: require mutual TLS [CHAINCODE_CLIENT_CA_CERT]",
    )
    p.add_argument(
        "--tls-disabled",
        action="store_true",
        help="serve plaintext (development only) [CHAINCODE_TLS_DISABLED=true]",
    )
    p.add_argument(
        "--grace", type=float, default=5.0, help="seconds running transactions get on shutdown"
    )
    p.add_argument(
        "--code-sha256",
        help="the code digest the approved package pins: refuse to serve other code "
             "[CHAINCODE_CODE_SHA256]",
    )
    p.add_argument("--print-code-sha256", action="store_true",
                   help="print the digest of the code serving --contracts, and exit")
    p.add_argument("--log-level", default="INFO")
    return p


def check_code_identity(pinned: str | None, packages: Sequence[str]) -> None:
    """Refuse (SystemExit) to serve code other than what the approved package pins."""
    if not pinned:
        return
    running = code_digest(packages)
    if running != pinned:
        raise SystemExit(
            f"code identity mismatch: the approved package pins code {pinned[:16]}..., this "
            f"server would run {running[:16]}... ({', '.join(packages)}). Refusing to serve: "
            "install and approve a package of this code, or run the code that was approved."
        )


def server_config(args: argparse.Namespace, env: Mapping[str, str]) -> ServerConfig:
    """Merge flags with the ccaas environment; raise SystemExit on missing settings."""
    address = args.address or env.get("CHAINCODE_SERVER_ADDRESS")
    chaincode_id = args.chaincode_id or env.get("CHAINCODE_ID")
    if not address or not chaincode_id:
        raise SystemExit(
            "--address and --chaincode-id (or their CHAINCODE_* variables) are required"
        )
    disabled = args.tls_disabled or env.get("CHAINCODE_TLS_DISABLED", "").lower() in _TRUE
    cert = args.tls_cert or _path(env.get("CHAINCODE_TLS_CERT"))
    key = args.tls_key or _path(env.get("CHAINCODE_TLS_KEY"))
    client_ca = args.client_ca or _path(env.get("CHAINCODE_CLIENT_CA_CERT"))
    if disabled:
        return ServerConfig(address=address, chaincode_id=chaincode_id)
    if not cert or not key:
        raise SystemExit(
            "TLS needs --tls-cert and --tls-key; pass --tls-disabled "
            "(or CHAINCODE_TLS_DISABLED=true) to serve plaintext"
        )
    tls = TLSConfig(
        cert_pem=cert.read_bytes(),
        key_pem=key.read_bytes(),
        client_ca_pem=client_ca.read_bytes() if client_ca else None,
    )
    return ServerConfig(address=address, chaincode_id=chaincode_id, tls=tls)


def load_contracts(packages: Sequence[str]) -> list[Contract]:
    """Instantiate the ``CONTRACTS`` of each chaincode subpackage, in order. A dotted name
    is a module path of its own (an organisation's own contracts, or a test's)."""
    contracts: list[Contract] = []
    for name in packages:
        module = (importlib.import_module(name) if "." in name
                  else importlib.import_module(f".{name}", __package__))
        classes = getattr(module, "CONTRACTS", None)
        if not classes:
            raise SystemExit(f"chaincode package {name!r} defines no CONTRACTS")
        contracts.extend(cls() for cls in classes)
    return contracts


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then stop cleanly."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    packages = [p.strip() for p in args.contracts.split(",") if p.strip()]
    if args.print_code_sha256:
        print(code_digest(packages))
        return 0
    check_code_identity(args.code_sha256 or os.environ.get("CHAINCODE_CODE_SHA256"), packages)
    config = server_config(args, os.environ)
    router = ContractRouter(load_contracts(packages))
    server = ChaincodeServer(config, router)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stop.set())

    server.start()
    log.info("contracts %s (default %s)", ", ".join(router.contract_names), router.default)
    stop.wait()
    log.info("stopping (grace %.1fs)", args.grace)
    server.stop(args.grace)
    return 0


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


if __name__ == "__main__":
    sys.exit(main())
