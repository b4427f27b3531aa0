"""What every ledger command shares: who acts, on which channel, and how errors print.

Each command acts as one identity (``--identity``) of one organisation (``--org``), found
through the network's state directory (``--state-dir``).  The organisations offered and
the default channel come from the topology (``network/topology.yaml``), read when a
command first needs them rather than when the CLI is imported.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from gridledger.network.layout import default_state_dir
from gridledger.network.topology import default_topology

from .errors import CommitError, GridLedgerError
from .session import Session

console = Console(stderr=True)


class OrganisationName(click.Choice):
    """``--org``: one of the topology's organisation names, checked as a click choice."""

    def __init__(self) -> None:
        # The names are read from the topology on first use (see ``choices``).
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(org.name for org in default_topology().organisations)

    @choices.setter
    def choices(self, _value: Any) -> None:
        # click.Choice assigns its choices in __init__; ours come from the topology.
        pass


def default_org() -> str:
    """The topology's first organisation (the Utility in ours)."""
    return default_topology().organisations[0].name


def default_channel() -> str:
    """The topology's application channel."""
    return default_topology().channel


def default_market_channel() -> str:
    """The topology's market channel (its channel that is not the main one)."""
    channels = getattr(default_topology(), "channels", ())
    return next((c for c in channels if c != default_channel()), "market")


def market_channel_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--market-channel``, by default the topology's market channel."""
    return click.option(
        "--market-channel", default=default_market_channel,
        show_default="the topology's market channel", help="The market's channel.",
    )(fn)  # fmt: skip


def channel_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--channel``, by default the topology's channel."""
    return click.option(
        "--channel", default=default_channel, show_default="the topology's channel",
        help="Application channel.",
    )(fn)  # fmt: skip


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--state-dir, --org, --identity, --json on every command; user errors without traces.

    The command receives a :class:`Session` in place of ``state_dir`` and ``org``.
    """

    @click.option(
        "--state-dir", type=click.Path(path_type=Path), default=default_state_dir,
        show_default=True, help="The network's state directory (env GRIDLEDGER_STATE).",
    )  # fmt: skip
    @click.option("--org", type=OrganisationName(), default=default_org,
                  show_default="the topology's first organisation")
    @click.option("--identity", "label", default="Admin", show_default=True,
                  help="Wallet label (or the organisation's network identity of that name).")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @functools.wraps(fn)
    def wrapper(state_dir: Path, org: str, **kwargs: Any) -> Any:
        try:
            return fn(Session(state_dir, org), **kwargs)
        except GridLedgerError as exc:
            fail(exc)

    return wrapper


def fail(exc: GridLedgerError) -> None:
    """Print ``exc`` as one line and exit: 2 for a failed validation, else 1."""
    click.secho(f"error: {exc}", fg="red", err=True)
    sys.exit(2 if isinstance(exc, CommitError) else 1)


def emit(as_json: bool, data: Any, human: Callable[[], None]) -> None:
    """``data`` as JSON for scripts, or ``human()``'s output for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human()
