"""Start-up settings of ``python -m gridledger.chaincode``."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridledger.chaincode.__main__ import build_parser, load_contracts, server_config


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_ccaas_environment_fills_missing_flags(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_bytes(b"CERT")
    (tmp_path / "k.pem").write_bytes(b"KEY")
    (tmp_path / "ca.pem").write_bytes(b"CA")
    env = {
        "CHAINCODE_SERVER_ADDRESS": "0.0.0.0:9999",
        "CHAINCODE_ID": "health_1.0:abc",
        "CHAINCODE_TLS_CERT": str(tmp_path / "c.pem"),
        "CHAINCODE_TLS_KEY": str(tmp_path / "k.pem"),
        "CHAINCODE_CLIENT_CA_CERT": str(tmp_path / "ca.pem"),
    }
    config = server_config(parse(), env)
    assert (config.address, config.chaincode_id) == ("0.0.0.0:9999", "health_1.0:abc")
    assert config.tls is not None
    assert (config.tls.cert_pem, config.tls.key_pem, config.tls.client_ca_pem) == (
        b"CERT",
        b"KEY",
        b"CA",
    )
    flagged = server_config(parse("--address", "127.0.0.1:1", "--tls-disabled"), env)
    assert flagged.address == "127.0.0.1:1" and flagged.tls is None


def test_tls_is_required_unless_disabled() -> None:
    env = {"CHAINCODE_SERVER_ADDRESS": "a:1", "CHAINCODE_ID": "x"}
    with pytest.raises(SystemExit, match="TLS needs"):
        server_config(parse(), env)
    assert server_config(parse(), {**env, "CHAINCODE_TLS_DISABLED": "TRUE"}).tls is None


def test_address_and_id_are_required() -> None:
    with pytest.raises(SystemExit, match="required"):
        server_config(parse("--tls-disabled"), {})


def test_load_contracts_by_package_name() -> None:
    assert [c.name for c in load_contracts(["health"])] == ["health"]
    with pytest.raises(ModuleNotFoundError):
        load_contracts(["no_such_domain"])


def test_load_contracts_by_module_path() -> None:
    # An organisation may serve contracts of its own (a test serves a member's modified
    # chaincode this way): a dotted name is a module path.
    assert [c.name for c in load_contracts(["gridledger.chaincode.health", "wattcoin"])] == [
        "health", "wattcoin"]
    with pytest.raises(SystemExit, match="defines no CONTRACTS"):
        load_contracts(["gridledger.chaincode.common"])
