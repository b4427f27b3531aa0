"""The `gridledger` command."""

from __future__ import annotations

import logging

import click

from gridledger.clients.cli import COMMANDS as CLIENT_COMMANDS
from gridledger.clients.metering_cli import COMMANDS as METERING_COMMANDS
from gridledger.meter_bridge.cli import COMMANDS as BRIDGE_COMMANDS
from gridledger.network.cli import network


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    """GridLedger: a Hyperledger Fabric consortium for electricity data."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)


cli.add_command(network)
for command in (*CLIENT_COMMANDS, *METERING_COMMANDS, *BRIDGE_COMMANDS):
    cli.add_command(command)


def main() -> None:
    cli()
