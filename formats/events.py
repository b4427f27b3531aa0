"""Names of the chaincode events that clients, the bridge and the portal listen for."""

from __future__ import annotations

# chaincode `metering`, contract metering
READINGS_PROCESSED = "ReadingsProcessed"  # per SubmitReadings batch: accepted, refused, signals
ALARM = "Alarm"  # a standalone signed alarm (fire, flood, gas)
# chaincode `metering`, contract wattcoin
WATTCOIN_MINTED = "WattcoinMinted"
WATTCOIN_TRANSFERRED = "WattcoinTransferred"
# chaincode `health`
HEALTH_PUT = "HealthPut"
