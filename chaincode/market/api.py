"""What the market publishes to other contract packages (chaincode/README.md, "What may
import what"): the energy channel's ``marketlink`` reads the same signed messages."""

from __future__ import annotations

from .signed import read, read_envelope

__all__ = ["read", "read_envelope"]
