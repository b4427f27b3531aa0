"""metering chaincode contracts."""
