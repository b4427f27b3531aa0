"""The code digest a ccaas package pins: stable for the same code, different for other."""

from __future__ import annotations

import pytest

from gridledger.chaincode.__main__ import check_code_identity
from gridledger.chaincode.code_identity import code_digest


def test_the_same_code_gives_the_same_digest_and_other_code_another():
    ours = code_digest(["health"])
    assert ours == code_digest(["metering", "wattcoin"])  # the whole package is hashed
    assert len(ours) == 64
    with_test_module = code_digest(["health", "tests.unit.chaincode.test_code_identity"])
    assert with_test_module != ours


def test_a_server_refuses_to_serve_code_other_than_the_pinned():
    check_code_identity(None, ["health"])  # nothing pinned: nothing to check
    check_code_identity(code_digest(["health"]), ["health"])
    with pytest.raises(SystemExit, match="code identity mismatch"):
        check_code_identity("0" * 64, ["health"])


def test_an_unknown_contract_module_is_an_error_not_a_digest():
    with pytest.raises(ValueError, match="not importable"):
        code_digest(["no_such_package.contracts"])
