import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gridledger.clients.identity import Identity, IdentityError
from gridledger.clients.signing import P256_ORDER, load_private_key, private_key_signer, to_low_s


def test_signatures_are_low_s_and_verify(key):
    sign = private_key_signer(key)
    for i in range(64):  # about half of raw ECDSA signatures are high-S
        msg = f"message {i}".encode()
        sig = sign(msg)
        _, s = decode_dss_signature(sig)
        assert s <= P256_ORDER // 2
        key.public_key().verify(sig, msg, ec.ECDSA(hashes.SHA256()))


def test_high_s_is_folded(key):
    msg = b"x"
    while True:
        raw = key.sign(msg, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(raw)
        if s > P256_ORDER // 2:
            break
    folded = to_low_s(raw)
    assert decode_dss_signature(folded) == (r, P256_ORDER - s)
    key.public_key().verify(folded, msg, ec.ECDSA(hashes.SHA256()))


def test_non_p256_keys_are_refused():
    with pytest.raises(IdentityError, match="P-256"):
        private_key_signer(ec.generate_private_key(ec.SECP384R1()))


def test_garbage_key_and_certificate_are_clear_errors():
    with pytest.raises(IdentityError, match="PEM private key"):
        load_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(IdentityError, match=r"X\.509"):
        Identity("UtilityMSP", b"not a certificate")
    with pytest.raises(IdentityError, match="MSP ID"):
        Identity("", b"")


def test_identity_serializes_msp_and_certificate(identity):
    from fabric_protos.msp import identities_pb2

    sid = identities_pb2.SerializedIdentity.FromString(identity.serialize())
    assert sid.mspid == "UtilityMSP"
    assert sid.id_bytes == identity.certificate
    assert identity.name == "meter-reader"
