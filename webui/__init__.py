"""webui: the people-facing side of GridLedger.

- :mod:`.portal`: each organisation's Flask portal (customers, operators, regulator,
  aggregator; explorer, integrity, JSON API), ``gridledger portal run --org ORG``;
- :mod:`.mirror`: the ledger mirror the portal reads (blocks with the organisation's
  private data into SQL, sealed, checked against the ledger);
- :mod:`.service_node`: the shared-data service node (seed 001).

Browser libraries (Chart.js) are installed at set-up into ``webui/node_modules`` from
``package-lock.json`` (``webui/setup.sh``, run by ``make``).
"""
