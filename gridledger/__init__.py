"""GridLedger: a Hyperledger Fabric consortium for electricity data."""
