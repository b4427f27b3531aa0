"""Names of the chaincode events that clients, the bridge and the portal listen for."""

from __future__ import annotations

# chaincode `metering`, contract metering
READINGS_PROCESSED = "ReadingsProcessed"  # per SubmitReadings batch: accepted, refused, signals
ALARM = "Alarm"  # a standalone signed alarm (fire, flood, gas)
# chaincode `metering`, contract wattcoin
WATTCOIN_MINTED = "WattcoinMinted"
WATTCOIN_TRANSFERRED = "WattcoinTransferred"
# chaincode `metering`, contract market
MARKET_CLEARED = "MarketCleared"  # an interval's clearing finished: price, volume, trades
MARKET_SETTLED = "MarketSettled"  # an interval's settlement finished: delivered, paid
# chaincode `health`
HEALTH_PUT = "HealthPut"
