import copy
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from gridledger.network.topology import DEFAULT_TOPOLOGY, TopologyError, load, parse

RAW = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())


def test_default_topology_has_three_organisations_with_distinct_ports():
    topo = load()
    assert [o.msp_id for o in topo.organisations] == ["UtilityMSP", "RegulatorMSP", "AggregatorMSP"]
    assert topo.channel == "energy"
    assert topo.channels == ("energy", "market")
    # Per organisation: CA 2, peer 3, orderer 3, and one server per chaincode.
    assert len(topo.ports()) == 3 * (8 + len(topo.chaincodes))


def test_port_offset_shifts_every_port():
    base, shifted = load(), load(port_offset=1000)
    assert sorted(p + 1000 for p in base.ports()) == sorted(shifted.ports())
    assert shifted.org("utility").peer.address == "127.0.1.1:8151"
    assert base.fingerprint() != shifted.fingerprint()


def test_org_lookup_by_name_or_msp_and_a_clear_error_for_an_unknown_one():
    topo = load()
    assert topo.org("RegulatorMSP") is topo.org("regulator")
    with pytest.raises(TopologyError, match=r"no organisation 'grid'.*utility"):
        topo.org("grid")


def test_a_port_given_twice_is_refused_naming_both_owners():
    raw = copy.deepcopy(RAW)
    raw["organisations"][1]["peer"]["port"] = raw["organisations"][0]["peer"]["port"]
    with pytest.raises(TopologyError, match=r"port 7151 is given to both peer0-utility"):
        parse(raw)


def test_a_missing_field_names_where_it_is_missing():
    raw = copy.deepcopy(RAW)
    del raw["organisations"][2]["orderer"]["admin_port"]
    expected = r"organisations\[2\]\.orderer: missing field 'admin_port'"
    with pytest.raises(TopologyError, match=expected):
        parse(raw)


def test_a_port_out_of_range_is_refused():
    raw = copy.deepcopy(RAW)
    raw["organisations"][0]["ca"]["port"] = 70000
    with pytest.raises(TopologyError, match="not a usable TCP port"):
        parse(raw)


def test_unreadable_files_give_the_path(tmp_path: Path):
    with pytest.raises(TopologyError, match="not found"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(TopologyError, match="not valid YAML"):
        load(bad)


def test_adding_a_chaincode_keeps_the_fingerprint_but_moving_a_node_does_not():
    raw = copy.deepcopy(RAW)
    raw["chaincodes"] = raw["chaincodes"][:1]
    fewer = parse(raw)
    assert fewer.fingerprint() == load().fingerprint()
    raw["organisations"][0]["peer"]["port"] = 7199
    assert parse(raw).fingerprint() != load().fingerprint()


def test_an_error_names_the_file_the_place_and_the_bad_value(tmp_path: Path):
    raw = copy.deepcopy(RAW)
    raw["organisations"][1]["peer"]["port"] = "7251"
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(raw))
    place = r"organisations\[1\]\.peer\.port"
    expected = rf"^{re.escape(str(path))}: {place}: input should be a valid integer, got '7251'$"
    with pytest.raises(TopologyError, match=expected):
        load(path)


def test_every_problem_is_reported_each_on_its_own_line_with_the_file(tmp_path: Path):
    raw = copy.deepcopy(RAW)
    del raw["organisations"][0]["msp_id"]
    raw["chaincodes"][1]["sequence"] = 0
    raw["channels"] = ["Energy", "market"]
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(TopologyError) as err:
        load(path)
    lines = str(err.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert sorted(line.removeprefix(f"{path}: ").split(":")[0] for line in lines) == [
        "chaincodes[1].sequence", "channels[0]", "organisations[0]",
    ]  # fmt: skip
    assert "organisations[0]: missing field 'msp_id'" in str(err.value)
    assert "'Energy' is not a Fabric channel name" in str(err.value)


def test_a_port_pushed_out_of_range_by_the_offset_says_so():
    raw = copy.deepcopy(RAW)
    raw["organisations"][0]["ca"]["port"] = 65000
    expected = (r"organisations\[0\]\.ca\.port: 65000 is not a usable TCP port "
                r"\(shifted by the port offset 1000: 66000\)")
    with pytest.raises(TopologyError, match=expected):
        parse(raw, port_offset=1000)


def test_a_file_that_is_not_a_mapping_is_refused():
    with pytest.raises(TopologyError, match=r"^topology: should be a mapping of fields, got \[\]"):
        parse([])
    raw = copy.deepcopy(RAW)
    raw["organisations"] = None
    with pytest.raises(TopologyError, match=r"^organisations: should be a list, got None$"):
        parse(raw)


def test_a_numeric_version_is_kept_as_its_text():
    raw = copy.deepcopy(RAW)
    raw["chaincodes"][0]["version"] = 2
    assert parse(raw).chaincode("health").version == "2"


def test_topology_errors_are_network_errors_and_value_errors():
    from gridledger.errors import GridLedgerError
    from gridledger.network.errors import NetworkError

    assert issubclass(TopologyError, NetworkError) and issubclass(TopologyError, ValueError)
    assert issubclass(NetworkError, GridLedgerError)


def test_the_default_topology_is_read_once_and_is_the_shipped_file():
    from gridledger.network.topology import default_topology

    assert default_topology() is default_topology()
    assert default_topology() == load()


# -- channels ---------------------------------------------------------------------------------


def test_each_chaincode_is_on_its_channels_health_on_both():
    topo = load()
    on = {cc.name: cc.channels for cc in topo.chaincodes}
    assert on == {"health": ("energy", "market"), "metering": ("energy",), "market": ("market",)}
    assert [cc.name for cc in topo.chaincodes_on("energy")] == ["health", "metering"]
    assert [cc.name for cc in topo.chaincodes_on("market")] == ["health", "market"]
    market = topo.chaincode("market")
    assert market.contracts == ("market",) and market.collections == ()
    assert market.endorsement_policy == topo.chaincode("metering").endorsement_policy


def test_a_chaincode_without_channels_is_on_the_main_channel_only():
    raw = copy.deepcopy(RAW)
    del raw["chaincodes"][0]["channels"]
    assert parse(raw).chaincode("health").channels == ("energy",)


def test_a_chaincode_on_a_channel_the_topology_lacks_is_refused_naming_it():
    raw = copy.deepcopy(RAW)
    raw["chaincodes"][2]["channels"] = ["market", "trading"]
    expected = (r"^chaincodes\[2\]\.channels: 'trading' is not a channel of this topology "
                r"\(channels: energy, market\)")
    with pytest.raises(TopologyError, match=expected):
        parse(raw)


def test_a_channel_named_twice_is_refused():
    raw = copy.deepcopy(RAW)
    raw["channels"] = ["energy", "market", "energy"]
    with pytest.raises(TopologyError, match=r"^channels: channel 'energy' is named more than once"):
        parse(raw)
    raw = copy.deepcopy(RAW)
    raw["chaincodes"][0]["channels"] = ["market", "market"]
    with pytest.raises(TopologyError, match=r"^chaincodes\[0\]\.channels: channel 'market'"):
        parse(raw)


def test_the_one_channel_key_of_older_files_is_still_read():
    raw = copy.deepcopy(RAW)
    del raw["channels"]
    raw["channel"] = "energy"
    for cc in raw["chaincodes"]:
        cc.pop("channels")
    topo = parse(raw)
    assert topo.channels == ("energy",) and topo.channel == "energy"
    assert {cc.channels for cc in topo.chaincodes} == {("energy",)}


def test_both_channel_keys_or_neither_is_refused():
    raw = copy.deepcopy(RAW)
    raw["channel"] = "energy"
    with pytest.raises(TopologyError, match=r"both `channel` and `channels` are given"):
        parse(raw)
    del raw["channel"], raw["channels"]
    with pytest.raises(TopologyError, match=r"missing field 'channels'"):
        parse(raw)


def test_the_fingerprint_covers_the_channels_and_knows_a_network_they_grew_from():
    two = load()
    raw = copy.deepcopy(RAW)
    del raw["channels"]
    raw["channel"] = "energy"
    for cc in raw["chaincodes"]:
        cc.pop("channels")
    one = parse(raw)
    assert one.fingerprint() != two.fingerprint()
    # The one-channel digest is the one state directories were made with before `channels`.
    assert two.grown_from(one.fingerprint()) == ("market",)
    assert two.grown_from(two.fingerprint()) is None  # nothing added
    reordered = replace(two, channels=("market", "energy"))
    assert reordered.fingerprint() != two.fingerprint()
    assert two.grown_from(replace(two, channels=("market",)).fingerprint()) is None
    moved = copy.deepcopy(RAW)
    moved["organisations"][0]["peer"]["port"] = 7199
    assert two.grown_from(replace(parse(moved), channels=("energy",)).fingerprint()) is None
