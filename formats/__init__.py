"""Formats every GridLedger component shares: one home, no dependencies on our other code.

Chaincode, clients, the meter bridge, the portal, benches and tests agree on these bytes
and names. Every module here imports only the standard library and well-kept third-party
packages (``cryptography``), never another GridLedger package, and reports bad input as
:class:`FormatError`, a plain :class:`ValueError`: each caller translates it at its own
boundary (the chaincode into a 400 response, the bridge into a refused reading).

- :mod:`.errors`      ``FormatError``
- :mod:`.canonical`   canonical JSON (the bytes endorsers agree on)
- :mod:`.ids`         the identifier rule (meters, customers, tariffs, ...)
- :mod:`.numbers`     integer ranges (no floats near money or energy)
- :mod:`.utc`         the UTC instant format ``YYYY-MM-DDTHH:MM:SSZ``
- :mod:`.reading`     the canonical reading a meter signs, and its signature
- :mod:`.events`      chaincode event names
- :mod:`.ca_attributes`  Fabric CA attributes inside an X.509 certificate
"""
