"""wattcoin chaincode contracts."""
