"""What a new ledger needs once, after its chaincode is committed and before it is used.

- **customerData's key secret** (``metering:InitKeySecret``): the random value the
  chaincode derives every private key name with, so that no organisation outside the
  collection can compute which key hash in a block is whose (chaincode/README.md,
  "Privacy"). Drawn here, on the Utility's host, and sent only in the transient map to
  the Utility's and the Regulator's peers, which keep it in the collection; it is written
  to no file and no command line.

``gridledger network up`` runs this after bringing the network up; a second run finds
the secret set and changes nothing.  Before it, it waits until the network is usable on
every channel (:func:`wait_for_endorsers`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from .errors import EndorseError
from .metering import Metering
from .session import Session

KEY_SECRET_BYTES = 32
# Just after bring-up a peer's discovery may not know every organisation's peer yet
# (gossip membership takes seconds): the Gateway then answers UNAVAILABLE, "failed to
# find any endorsing peers". Nothing was submitted, so trying again is safe.
DISCOVERY_WAIT_SECONDS = 120.0

T = TypeVar("T")


def initialise(state_dir: Path, channel: str, org: str = "utility") -> list[str]:
    """Do what the ledger still needs, as ``org``'s Admin; the steps done now.

    ``channel`` is the main channel (where ``metering`` runs). First waits until every
    organisation's peer can gather every organisation's endorsement on every channel of
    the connection profile: a network just brought up is not usable before."""
    done = []
    profile = Session(state_dir, org).profile
    channels = [channel, *(c for c in profile.channels if c != channel)]
    wait_for_endorsers(state_dir, channels, profile.organizations)
    with Session(state_dir, org).gateway("Admin") as gateway:
        metering = Metering(gateway.network(channel))
        if _until_endorsable(lambda: metering.init_key_secret(os.urandom(KEY_SECRET_BYTES))):
            done.append("customerData key secret set")
    return done


def wait_for_endorsers(state_dir: Path, channels: str | Sequence[str], msp_ids: list[str],
                       wait: float = DISCOVERY_WAIT_SECONDS) -> None:
    """Until each organisation's Gateway finds every organisation's peer on each of
    ``channels`` (one name, or several): endorse (never submit) ``health`` Ping with all
    of them, through each organisation's own peer. Gossip and discovery are per channel,
    so one channel being ready says nothing of another."""
    names = [channels] if isinstance(channels, str) else list(channels)
    for msp_id in msp_ids:
        with Session(state_dir, msp_id).gateway("Admin") as gateway:
            for channel in names:
                proposal = gateway.network(channel).contract("health").new_proposal(
                    "Ping", endorsing_organizations=msp_ids)
                _until_endorsable(functools.partial(gateway.endorse, proposal), wait)


def _until_endorsable(step: Callable[[], T], wait: float = DISCOVERY_WAIT_SECONDS) -> T:
    """Run ``step``, again while the endorsement fails for a transient reason."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return step()
        except EndorseError as exc:
            if not exc.retryable or time.monotonic() > deadline:
                raise
            time.sleep(1.0)
