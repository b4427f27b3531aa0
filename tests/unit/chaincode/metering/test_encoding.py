"""The canonical reading encoding and signatures (hypothesis properties + refusals)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.formats.errors import FormatError
from gridledger.formats.reading import (
    QUALITIES,
    decode_signature,
    encode_reading,
    sign,
    validate_reading,
    verify_signature,
)

from ..support import answer_to
from .helpers import Meter

KEY = ec.generate_private_key(ec.SECP256R1())
ids = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
naturals = st.integers(min_value=0, max_value=2**53 - 1)
readings = st.fixed_dictionaries(
    {
        "meterId": ids,
        "seq": st.integers(min_value=1, max_value=2**53 - 1),
        "intervalEnd": st.datetimes(
            min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)
        ).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
        "importWh": naturals,
        "exportWh": naturals,
        "voltageDv": naturals,
        "currentMa": naturals,
        "powerW": st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1),
    },
    optional={
        "quality": st.sampled_from(QUALITIES),
        "alarms": st.sets(st.sampled_from(["fire", "flood", "gas"]), min_size=1).map(sorted),
    },
)


def test_spec_example_bytes() -> None:
    body = {"meterId": "EPM-0001", "seq": 7, "intervalEnd": "2025-03-01T10:15:00Z",
            "importWh": 1234567, "exportWh": 0, "voltageDv": 2301, "currentMa": 5120,
            "powerW": 1100}
    assert encode_reading(body) == (
        b'{"currentMa":5120,"exportWh":0,"importWh":1234567,"intervalEnd":"2025-03-01T10:15:00Z",'
        b'"meterId":"EPM-0001","powerW":1100,"seq":7,"voltageDv":2301}'
    )


@given(readings)
def test_round_trip_and_stability(reading: dict) -> None:
    encoded = encode_reading(reading)
    assert json.loads(encoded) == reading
    # Member order of the input never changes the bytes.
    shuffled = dict(reversed(list(reading.items())))
    assert encode_reading(shuffled) == encoded
    assert encode_reading(json.loads(encoded)) == encoded
    assert b" " not in encoded and encoded.isascii()


@settings(max_examples=40)
@given(readings, st.data())
def test_signature_verifies_only_the_exact_bytes(reading: dict, data: st.DataObject) -> None:
    encoded = encode_reading(reading)
    der = decode_signature(sign(KEY, encoded))
    pem = Meter("x", "y").pem  # another key
    own_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert verify_signature(own_pem, "P-256", encoded, der)
    assert not verify_signature(pem, "P-256", encoded, der)
    i = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    flipped = bytearray(encoded)
    flipped[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    assert not verify_signature(own_pem, "P-256", bytes(flipped), der)
    assert not verify_signature(own_pem, "P-256", encoded + b" ", der)


def test_secp256k1_meters_sign_too() -> None:
    meter = Meter("k1", "c", curve="secp256k1")
    item = meter.reading(dt.datetime(2025, 1, 1), 5)
    der = base64.b64decode(item["signature"])
    assert verify_signature(meter.pem, "secp256k1", encode_reading(item["reading"]), der)
    with pytest.raises(FormatError, match="not an EC key on P-256"):
        verify_signature(meter.pem, "P-256", b"x", der)


def _good() -> dict:
    return {"meterId": "m", "seq": 1, "intervalEnd": "2025-03-01T10:15:00Z", "importWh": 1,
            "exportWh": 0, "voltageDv": 2301, "currentMa": 1, "powerW": 1}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"importWh": 1.5}, "importWh must be an integer"),
        ({"importWh": True}, "importWh must be an integer"),
        ({"exportWh": -1}, "exportWh must be in"),
        ({"seq": 0}, "seq must be in"),
        ({"intervalEnd": "2025-03-01T10:15:00+07:00"}, "RFC 3339 UTC"),
        ({"intervalEnd": "2025-03-01T10:15:00.5Z"}, "RFC 3339 UTC"),
        ({"intervalEnd": "2025-02-30T10:15:00Z"}, "not a valid date"),
        ({"meterId": "a~b"}, "meterId must be"),
        ({"quality": "good"}, "quality must be one of"),
        ({"alarms": ["gas", "fire"]}, "alarms must be"),
        ({"alarms": []}, "alarms must be"),
        ({"extra": 1}, "unknown member"),
        ({"importWh": 2**53}, "importWh must be in"),
    ],
)
def test_invalid_readings_are_refused(change: dict, fragment: str) -> None:
    with pytest.raises(FormatError, match=fragment) as info:
        validate_reading({**_good(), **change})
    assert answer_to(info.value).status == 400


def test_missing_member_and_bad_base64() -> None:
    body = _good()
    del body["powerW"]
    with pytest.raises(FormatError, match="lacks powerW"):
        validate_reading(body)
    with pytest.raises(FormatError, match="base64"):
        decode_signature("not base64!")
