"""The eager market of tests/integration/rogue_market.py, as a contract list of its own."""

from .rogue_market import EagerMarket

CONTRACTS = (EagerMarket,)
