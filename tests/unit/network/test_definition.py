"""A member's public definition: what it carries, and the files that are refused before
anything of them is written into a state directory."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gridledger.network.definition import DefinitionError, load
from gridledger.network.layout import Layout

from . import definitions


def _write(tmp_path, text: str):
    path = tmp_path / "def.json"
    path.write_text(text)
    return path


def test_a_definition_round_trips_and_installs_public_certificates_only(tmp_path):
    d = definitions.make("regulator", "127.0.2.1", 7250)
    assert load(_write(tmp_path, d.to_json())) == d
    layout = Layout(tmp_path / "utility")
    d.install(layout)
    written = [p for p in layout.root.rglob("*") if p.is_file()]
    assert written and all(b"PRIVATE KEY" not in p.read_bytes() for p in written)
    assert layout.ca_cert("regulator").read_text() == d.ca_cert
    assert (layout.org_msp("regulator") / "cacerts" / "ca.pem").read_text() == d.ca_cert
    assert (layout.tls("regulator", "orderer0") / "server.crt").read_text() == d.orderer_tls_cert
    assert load(layout.definitions_dir / "regulator.json") == d


def test_a_definition_carrying_a_private_key_is_refused(tmp_path):
    d = definitions.make("regulator")
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    leaked = json.loads(d.to_json()) | {"orderer_tls_key": key}
    with pytest.raises(DefinitionError, match=r"holds a private key.*compromised"):
        load(_write(tmp_path, json.dumps(leaked)))


def test_an_orderer_certificate_not_issued_by_the_organisations_ca_is_refused(tmp_path):
    d, stranger = definitions.make("regulator"), definitions.make("mallory")
    forged = replace(d, orderer_tls_cert=stranger.orderer_tls_cert)
    with pytest.raises(DefinitionError, match="not issued by the organisation's CA"):
        load(_write(tmp_path, forged.to_json()))


def test_a_leaf_certificate_posing_as_the_ca_is_refused(tmp_path):
    d = definitions.make("regulator")
    with pytest.raises(DefinitionError, match="not a CA certificate"):
        load(_write(tmp_path, replace(d, ca_cert=d.orderer_tls_cert).to_json()))


@pytest.mark.parametrize("change, said", [
    ({"format": "something/else"}, "not a GridLedger organisation definition"),
    ({"anchor_peer": {"host": "127.0.2.1"}}, "missing or malformed field"),
    ({"name": "Bad Name"}, "is not lower-case"),
    ({"ca_cert": "-----BEGIN CERTIFICATE-----\nnope\n"}, "does not parse"),
])
def test_malformed_definitions_say_what_is_wrong(tmp_path, change, said):
    data = json.loads(definitions.make("regulator").to_json()) | change
    with pytest.raises(DefinitionError, match=said):
        load(_write(tmp_path, json.dumps(data)))


def test_a_file_that_is_not_json_is_refused_with_its_path(tmp_path):
    with pytest.raises(DefinitionError, match=r"def\.json: not JSON"):
        load(_write(tmp_path, "{not json"))
