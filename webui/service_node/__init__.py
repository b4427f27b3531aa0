"""The shared-data service node (seed 001, Fig. 8, step 7), a small Flask service.

It stores content by hash address (``storage``: on disk by default, behind an interface
an object store could replace), produces consumption profiles from the ledger for their
owners (``profile``), and serves content only to the holder of a valid on-chain token
for that address, on the holder's own signed ProveHolder proposal evaluated by the
node's peer, only content of the token's resource owner, and only after the ledger has
logged the serving (``ledger``: contract ``access``, ProveHolder, ResourceOwner, Serve).
Run: ``python -m gridledger.webui.service_node``.
"""

from .app import Config, create_app
from .storage import ContentStore, DiskStore

__all__ = ["Config", "ContentStore", "DiskStore", "create_app"]
