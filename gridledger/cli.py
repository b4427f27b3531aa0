"""The `gridledger` command."""

from __future__ import annotations

import logging

import click

from gridledger.clients.access_cli import COMMANDS as ACCESS_COMMANDS
from gridledger.clients.cli import COMMANDS as CLIENT_COMMANDS
from gridledger.clients.cli import NETWORK_COMMANDS as CLIENT_NETWORK_COMMANDS
from gridledger.clients.market_cli import COMMANDS as MARKET_COMMANDS
from gridledger.clients.metering_cli import COMMANDS as METERING_COMMANDS
from gridledger.demo import demo
from gridledger.meter_bridge.cli import COMMANDS as BRIDGE_COMMANDS
from gridledger.network.cli import network
from gridledger.network.member_cli import COMMANDS as MEMBER_COMMANDS
from gridledger.webui.portal.cli import portal


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    """GridLedger: a Hyperledger Fabric consortium for electricity data."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)


# `network revoke` uses the clients (a CA client, a wallet): it joins the network group
# here, at the top, because gridledger.network imports nothing above itself.
for command in CLIENT_NETWORK_COMMANDS:
    network.add_command(command)
cli.add_command(network)
for command in MEMBER_COMMANDS:
    cli.add_command(command)
for command in (*CLIENT_COMMANDS, *METERING_COMMANDS, *ACCESS_COMMANDS, *MARKET_COMMANDS,
                *BRIDGE_COMMANDS, demo):
    cli.add_command(command)
cli.add_command(portal)


def main() -> None:
    """Entry point of the ``gridledger`` command."""
    cli()
