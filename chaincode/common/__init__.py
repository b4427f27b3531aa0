"""Plumbing every GridLedger contract package shares (no domain rules in here).

- :mod:`.keys`       ledger key layout: ``prefix~part~part``, exact prefix ranges
- :mod:`.overlay`    ``Overlay``, one transaction's read-your-own-writes view of state;
                     ``dump_json`` / ``load_json`` for ledger values
- :mod:`.amounts`    integer rounding for money and energy (``div_round``)
- :mod:`.arguments`  parsing of string arguments into integers, refusing with 400
- :mod:`.callers`    who is calling: organisation MSPs, operator or customer

These modules import only the shim and :mod:`gridledger.formats`, never a contract
package, so ``metering``, ``wattcoin`` and the contracts to come can all build on them.
"""
