"""Run a service node: ``python -m gridledger.webui.service_node --store DIR ...``.

It acts on the ledger as ``--identity`` of ``--org`` (an operator of that organisation:
contract access lets operators log servings), through that organisation's peer, and
trusts the CAs of every organisation in the connection profile (and no other MSP). A
holder's proof names this node by that identity's certificate. It listens on
127.0.0.1 unless told otherwise, and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from cryptography import x509
from werkzeug.serving import make_server

from gridledger.clients.session import Session
from gridledger.formats.access import certificate_fingerprint
from gridledger.network.layout import default_state_dir

from .app import Config, create_app
from .ledger import GatewayLedger
from .storage import DiskStore


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gridledger.webui.service_node",
                                description=__doc__)
    p.add_argument("--state-dir", type=Path, default=default_state_dir())
    p.add_argument("--org", default="utility")
    p.add_argument("--identity", default="Admin", help="wallet label of an operator identity")
    p.add_argument("--channel", default="energy")
    p.add_argument("--chaincode", default="metering", help="the chaincode serving access")
    p.add_argument("--store", type=Path, required=True, help="content directory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7480)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    session = Session(args.state_dir, args.org)
    roots = {msp: x509.load_pem_x509_certificates(session.profile.ca(msp).tls_root)
             for msp in session.profile.organizations}
    gateway = session.gateway(args.identity)
    store = DiskStore(args.store)
    # A holder's proof names this node by its certificate: the identity Serve runs as.
    config = Config(msp_id=session.msp_id, roots=roots, served_log=args.store / "served.jsonl",
                    fingerprint=certificate_fingerprint(gateway.identity.certificate),
                    channel=args.channel, chaincode=args.chaincode)
    server = make_server(args.host, args.port, create_app(config, GatewayLedger(
        gateway, args.channel, args.chaincode), store), threaded=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"service node of {session.msp_id} on http://{args.host}:{server.port}", flush=True)
    try:
        server.serve_forever()
    finally:
        gateway.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
