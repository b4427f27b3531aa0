"""The GridLedger portal: each organisation's Flask application over its own ledger mirror.

    app = create_app({"org": "utility", "msp_id": "UtilityMSP", "data_dir": "...",
                      "state_dir": "~/.local/state/gridledger"})

One blueprint per role (:mod:`.customer`, :mod:`.utility`, :mod:`.regulator`,
:mod:`.aggregator`), plus :mod:`.auth`, :mod:`.explorer`, :mod:`.integrity_views` and the
JSON API (:mod:`.api`). Pages and API read the mirror; writes go through the gateway as
the signed-in person (:mod:`.ledger`). Who may open what: :mod:`.access`. Nothing is
created at import time: every app has its own services (:mod:`.services`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PortalConfig", "Services", "create_app"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so `gridledger portal --help` (and every other command of the
    # `gridledger` CLI, which imports .cli) does not import Flask and SQLAlchemy.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "PortalConfig":
        from .config import PortalConfig

        return PortalConfig
    if name == "Services":
        from .services import Services

        return Services
    raise AttributeError(name)
