import hashlib

from fabric_protos.common import common_pb2

from gridledger.clients.blocks import data_hash, decode_block, header_hash
from gridledger.clients.events import ChaincodeEvent, FileCheckpoint


def _block(number, prev, envelopes, flags):
    block = common_pb2.Block()
    block.header.number = number
    block.header.previous_hash = prev
    block.data.data.extend(envelopes)
    block.header.data_hash = data_hash(envelopes)
    block.metadata.metadata.extend([b"", b"", bytes(flags), b"", b""])
    return block


def _envelope(txid):
    ch = common_pb2.ChannelHeader(type=common_pb2.ENDORSER_TRANSACTION, channel_id="energy",
                                  tx_id=txid)
    payload = common_pb2.Payload(header=common_pb2.Header(channel_header=ch.SerializeToString()))
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


def test_header_hash_is_der_of_number_and_hashes():
    # DER by hand for a small block: SEQUENCE { INTEGER 5, OCTET STRING(32), OCTET STRING(32) }
    prev, data = b"\x01" * 32, b"\x02" * 32
    der = b"\x30\x47" + b"\x02\x01\x05" + b"\x04\x20" + prev + b"\x04\x20" + data
    assert header_hash(5, prev, data) == hashlib.sha256(der).digest()
    # Numbers with the top bit set need a leading zero byte to stay positive.
    der128 = b"\x30\x48" + b"\x02\x02\x00\x80" + b"\x04\x20" + prev + b"\x04\x20" + data
    assert header_hash(128, prev, data) == hashlib.sha256(der128).digest()


def test_decoded_block_lists_transactions_with_codes_and_detects_tampering():
    envs = [_envelope("a"), _envelope("b")]
    block = _block(7, b"\x09" * 32, envs, [0, 11])
    decoded = decode_block(block)
    assert decoded.number == 7
    assert [(t.transaction_id, t.validation_code) for t in decoded.transactions] == [
        ("a", "VALID"), ("b", "MVCC_READ_CONFLICT")]
    assert decoded.data_hash_matches
    block.data.data[1] = _envelope("forged")
    assert not decode_block(block).data_hash_matches


def test_garbage_envelope_is_listed_not_fatal():
    block = _block(1, b"", [b"\xff\xff\xff"], [0])
    assert decode_block(block).transactions[0].type == "UNDECODABLE"


def test_file_checkpoint_survives_reopen(tmp_path):
    path = tmp_path / "cp.json"
    cp = FileCheckpoint(path)
    assert cp.block_number is None
    cp.checkpoint_event(ChaincodeEvent(12, "tx9", "metering", "ReadingsProcessed", b"{}"))
    again = FileCheckpoint(path)
    assert (again.block_number, again.transaction_id) == (12, "tx9")
    again.checkpoint_block(12)
    assert (FileCheckpoint(path).block_number, FileCheckpoint(path).transaction_id) == (13, "")
