"""`gridledger access`: tables made for owners, and private arguments kept out of blocks."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gridledger.cli import cli
from gridledger.clients.access import amended, private_call
from gridledger.formats.access import dact_commitment, validate_dact


def test_dact_new_prints_a_valid_table_with_a_fresh_salt():
    args = ["access", "dact", "new", "--device", "AGG-GW-1", "--resource", "R-1",
            "--requester-msp", "AggregatorMSP", "--purpose", "vpp-forecasting",
            "--not-after", "2027-01-01T00:00:00Z"]
    first, second = (CliRunner().invoke(cli, args) for _ in range(2))
    assert first.exit_code == 0, first.output
    table = validate_dact(json.loads(first.output))
    assert table["requester"] == {"kind": "organisation", "mspId": "AggregatorMSP"}
    assert table["ownerInfo"] == "if-several" and table["version"] == 1
    assert json.loads(second.output)["salt"] != table["salt"]
    nxt = amended(table, purpose="vpp-dispatch")
    assert nxt["version"] == 2 and dact_commitment(nxt) != dact_commitment(table)


def test_an_identity_requester_needs_its_certificate():
    res = CliRunner().invoke(cli, ["access", "dact", "new", "--device", "d", "--resource", "r",
                                   "--requester-kind", "identity", "--requester-msp", "A",
                                   "--purpose", "p", "--not-after", "2027-01-01T00:00:00Z"])
    assert res.exit_code != 0 and "--requester-cert" in res.output


def test_tables_and_requests_travel_in_the_transient_map():
    args, transient = private_call("Certify", ('{"dact":{}}',))
    assert args == () and json.loads(transient["args"]) == ['{"dact":{}}']
    args, transient = private_call("RegisterDact", ("{}",))
    assert args == () and len(transient["salt"]) == 32
    assert private_call("Access", ("tok-1",)) == (("tok-1",), None)
