"""chaincode"""
