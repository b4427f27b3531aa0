"""``gridledger portal``: run an organisation's portal, and set up its accounts.

    gridledger portal run --org utility            # http://127.0.1.1:7180/
    gridledger portal add-operator --org regulator alice --password-file pw.txt
    gridledger portal add-account --org utility bob --identity demo-DEMO-CUST-1
    gridledger portal signup-code --org utility C-1001
    gridledger portal check --org utility          # one integrity run, printed
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path

import click

from gridledger.errors import GridLedgerError
from gridledger.network.layout import default_state_dir, open_layout

# The portal's own modules (SQLAlchemy, Flask, Alembic) are imported by the commands that
# need them, so `gridledger` starts as fast as before for every other command.

ORGS = click.Choice(["utility", "regulator", "aggregator"])


def _state(fn):
    fn = click.option("--state-dir", type=click.Path(path_type=Path),
                      default=default_state_dir, show_default=True,
                      help="The network's state directory (env GRIDLEDGER_STATE).")(fn)
    return click.option("--org", type=ORGS, default="utility", show_default=True,
                        help="Whose portal.")(fn)


def _password(password_file: Path | None) -> tuple[str, bool]:
    from .provision import new_password

    if password_file is None:
        return new_password(), True
    text = password_file.read_text().strip()
    if not text:
        raise click.BadParameter("the file is empty", param_hint="--password-file")
    return text, False


@click.group("portal")
def portal() -> None:
    """The organisation's web portal over its ledger mirror."""


@portal.command("run")
@_state
@click.option("--port", type=int, default=None, help="Default: the peer's port + 29.")
@click.option("--database-url", default=None,
              help="SQLAlchemy URL (postgresql+psycopg://...); default SQLite in the "
                   "portal's data directory.")
@click.option("--integrity-interval", type=float, default=None, show_default=True,
              help="Seconds between integrity checks (default 60).")
@click.option("--tls-cert", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--tls-key", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--threads", default=8, show_default=True, help="Request threads.")
@click.option("--service-node", default=None, metavar="URL",
              help="The organisation's shared-data service node (webui/service_node), for "
                   "customers' profiles.")
def run(org: str, state_dir: Path, port: int | None, database_url: str | None,
        integrity_interval: float | None, tls_cert: Path | None, tls_key: Path | None,
        threads: int, service_node: str | None) -> None:
    """Serve ORG's portal on its organisation's address until SIGTERM/SIGINT."""
    from . import create_app
    from .provision import config_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s "
                                                   "%(message)s")
    if bool(tls_cert) != bool(tls_key):
        raise click.BadParameter("give both --tls-cert and --tls-key, or neither")
    try:
        config = config_for(state_dir, org, port=port, database_url=database_url,
                            integrity_interval=integrity_interval, tls=bool(tls_cert),
                            links={"service_node": service_node} if service_node else None)
        app = create_app(config)
    except (GridLedgerError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    services = app.extensions["portal"]
    services.start()
    scheme = "https" if tls_cert else "http"
    click.echo(f"portal of {config.msp_id} on {scheme}://{config.host}:{config.port}/ "
               f"(mirror {config.url.split('://')[0]}, data {config.data_dir})", err=True)
    try:
        if tls_cert:
            from werkzeug.serving import make_server

            server = make_server(config.host, config.port, app, threaded=True,
                                 ssl_context=(str(tls_cert), str(tls_key)))
            stop = server.shutdown
        else:
            from waitress.server import create_server

            server = create_server(app, host=config.host, port=config.port, threads=threads,
                                   ident="gridledger-portal")
            stop = server.close
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: threading.Thread(target=stop).start())
        with contextlib.suppress(OSError):  # closed by the signal handler
            server.serve_forever() if tls_cert else server.run()
    finally:
        services.stop()
    sys.exit(0)


@portal.command("add-operator")
@_state
@click.argument("username")
@click.option("--password-file", type=click.Path(exists=True, path_type=Path))
def add_operator(org: str, state_dir: Path, username: str, password_file: Path | None) -> None:
    """A new operator of ORG: an identity with gridledger.operator=true from ORG's CA."""
    from .accounts import AccountError
    from .provision import config_for, ensure_operator
    from .services import build_services

    password, made = _password(password_file)
    services = build_services(config_for(state_dir, org))
    try:
        if not ensure_operator(services, username, password):
            raise click.ClickException(f"{username} exists already")
    except (AccountError, GridLedgerError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.mirror.close()
    click.echo(f"operator {username} of {org}" + (f", password {password}" if made else ""))


@portal.command("add-account")
@_state
@click.argument("username")
@click.option("--identity", required=True,
              help="A wallet label (or network identity such as Admin) to sign in as.")
@click.option("--password-file", type=click.Path(exists=True, path_type=Path))
def add_account(org: str, state_dir: Path, username: str, identity: str,
                password_file: Path | None) -> None:
    """An account for an identity that exists already (its key is imported, encrypted)."""
    from .accounts import AccountError
    from .provision import config_for, ensure_imported
    from .services import build_services

    layout = open_layout(state_dir)
    msp = layout.wallet / identity / "msp"
    if not msp.is_dir():
        msp = layout.msp(org, identity)
    if not msp.is_dir():
        raise click.ClickException(f"no identity {identity!r} in {layout.wallet} or "
                                   f"{layout.org(org)}")
    password, made = _password(password_file)
    services = build_services(config_for(state_dir, org))
    try:
        if not ensure_imported(services, username, password, msp):
            raise click.ClickException(f"{username} exists already")
    except (AccountError, GridLedgerError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.mirror.close()
    click.echo(f"account {username} ({identity}) at {org}" +
               (f", password {password}" if made else ""))


@portal.command("signup-code")
@_state
@click.argument("customer_id")
@click.option("--days", default=14, show_default=True)
def signup_code(org: str, state_dir: Path, customer_id: str, days: int) -> None:
    """A single-use sign-up code for CUSTOMER_ID (the Utility's portal)."""
    from .accounts import AccountError
    from .provision import config_for
    from .services import build_services

    services = build_services(config_for(state_dir, org))
    try:
        click.echo(services.accounts.issue_signup_code(customer_id, "cli", days))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.mirror.close()


@portal.command("check")
@_state
@click.option("--full", is_flag=True, help="Compare every block with the ledger.")
def check(org: str, state_dir: Path, full: bool) -> None:
    """One integrity run over ORG's mirror; exit 1 when it finds problems."""
    from .provision import config_for
    from .services import build_services

    services = build_services(config_for(state_dir, org))
    try:
        results = services.integrity.run(full=full)
    finally:
        services.mirror.close()
    bad = 0
    for r in results:
        click.echo(f"{r.group:7} blocks {r.blocks:6} rows {r.rows:8} problems "
                   f"{len(r.problems)}{'' if r.complete else ' (partial: ' + r.detail + ')'}")
        for p in r.problems:
            bad += 1
            click.echo(f"  {p.kind}: {p.channel or '-'} block {p.block_number} tx "
                       f"{p.tx_id or p.tx_index} customer {p.customer_id or '-'}: {p.detail}")
    sys.exit(1 if bad else 0)


COMMANDS = (portal,)
