"""Device profiles: the shipped ones load; every mistake names its file, line and field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gridledger.meter_bridge.decode import read_plan
from gridledger.meter_bridge.errors import ProfileError
from gridledger.meter_bridge.profiles import (
    builtin_profile,
    builtin_profiles,
    load_profile,
    parse_profile,
    resolve_profile,
)

GOOD = """\
name: test-meter
status: verified
defaults:
  function: 4
  type: float32
quantities:
  voltage: {address: 0, unit: V}
  current: {address: 2, unit: A}
  active_power: {address: 4, unit: kW}
  import_energy: {address: 6, unit: kWh, word_order: little}
  relay: {address: 3, function: 1, invert: true}
"""


def test_shipped_profiles_load() -> None:
    assert builtin_profiles() == ["eastron-sdm630", "ge-epm5500p", "gridledger-sim"]
    for name in builtin_profiles():
        profile = builtin_profile(name)
        assert profile.name == name
        assert {"import_energy", "voltage", "current", "active_power"} <= set(profile.registers)


def test_sdm630_map_is_the_published_one() -> None:
    p = builtin_profile("eastron-sdm630")
    where = {q: (s.function, s.address, s.datatype, s.word_order) for q, s in p.registers.items()}
    assert where == {
        "voltage": (4, 0x00, "float32", "big"),
        "current": (4, 0x06, "float32", "big"),
        "active_power": (4, 0x34, "float32", "big"),
        "import_energy": (4, 0x48, "float32", "big"),
        "export_energy": (4, 0x4A, "float32", "big"),
    }
    assert p.registers["import_energy"].factor == Decimal(1000)   # kWh -> Wh
    assert p.assumed() == ["active_power"]


def test_epm5500p_says_it_is_assumed() -> None:
    p = builtin_profile("ge-epm5500p")
    assert p.status == "assumed"
    assert set(p.assumed()) == set(p.registers) | set(p.bits)
    assert "GEK-113043" in p.source


def test_good_profile_fields_and_defaults() -> None:
    p = parse_profile(GOOD, "good.yaml")
    v = p.registers["voltage"]
    assert (v.function, v.datatype, v.word_order, v.unit, v.factor) == (4, "float32", "big", "V",
                                                                         Decimal(10))
    assert p.registers["import_energy"].word_order == "little"
    assert p.registers["active_power"].factor == Decimal(1000)
    assert p.bits["relay"].invert is True
    assert "export_energy" not in p.registers      # optional: exportWh will be 0
    assert p.registers["voltage"].line == 7


def test_scale_keeps_the_written_decimal() -> None:
    p = parse_profile(GOOD.replace("{address: 0, unit: V}", "{address: 0, unit: V, scale: 0.1}"))
    assert p.registers["voltage"].factor == Decimal("1.0")


BROKEN = [
    # (replace this, with this, expected line, expected field, words in the message)
    ("type: float32", "type: float33", 5, "defaults.type", "must be one of"),
    ("{address: 2, unit: A}", "{address: 2, unit: Amp}", 8, "quantities.current.unit", "Amp"),
    ("{address: 4, unit: kW}", "{address: -4, unit: kW}", 9, "quantities.active_power.address",
     "integer from 0 to 65535"),
    ("{address: 4, unit: kW}", "{address: 4, unit: kW, scale: 0}", 9,
     "quantities.active_power.scale", "non-zero"),
    ("{address: 4, unit: kW}", "{address: 4, unit: kW, scale: ten}", 9,
     "quantities.active_power.scale", "number"),
    ("{address: 4, unit: kW}", "{address: 4, unit: kW, colour: red}", 9,
     "quantities.active_power.colour", "unknown field"),
    ("word_order: little", "word_order: middle", 10, "quantities.import_energy.word_order",
     "big, little"),
    ("relay: {address: 3, function: 1, invert: true}",
     "relay: {address: 3, function: 2, invert: true}", 11, "quantities.relay.function",
     "must be one of 1"),
    ("relay: {address: 3, function: 1, invert: true}",
     "relay: {address: 3, function: 1, invert: maybe}", 11, "quantities.relay.invert",
     "true or false"),
    ("  voltage: {address: 0, unit: V}\n", "  voltage: {address: 0, unit: V}\n  volts: 1\n",
     8, "quantities.volts", "unknown field"),
    ("  voltage: {address: 0, unit: V}\n", "", 6, "quantities", "missing required quantity"),
    ("status: verified", "status: probably", 2, "status", "verified, partial, assumed"),
    ("  current: {address: 2, unit: A}\n",
     "  current: {address: 2, unit: A}\n  current: {address: 2, unit: A}\n", 9,
     "quantities.current", "appears twice"),
    ("{address: 0, unit: V}", "{address: 65535, unit: V}", 7, "quantities.voltage.address",
     "runs past"),
    ("{address: 0, unit: V}", "[0, V]", 7, "quantities.voltage", "mapping"),
    ("{address: 0, unit: V}", "{address: 0, unit: V", 8, "yaml", "expected"),
]


@pytest.mark.parametrize(("old", "new", "line", "field", "words"), BROKEN)
def test_broken_profile_names_file_line_and_field(old: str, new: str, line: int, field: str,
                                                  words: str) -> None:
    assert old in GOOD
    with pytest.raises(ProfileError) as caught:
        parse_profile(GOOD.replace(old, new, 1), "meters/broken.yaml")
    err = caught.value
    assert (err.source, err.line, err.field) == ("meters/broken.yaml", line, field)
    assert words in err.message
    assert str(err).startswith(f"meters/broken.yaml:{line}: {field}: ")


def test_missing_required_field_at_top() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile("status: verified\nquantities: {}\n", "x.yaml")
    assert (caught.value.line, caught.value.field) == (1, "profile")
    assert "'name'" in caught.value.message


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ProfileError, match=r"empty\.yaml:1: profile: file is empty"):
        load_profile(empty)
    with pytest.raises(ProfileError, match=r"missing\.yaml: file: cannot read"):
        load_profile(tmp_path / "missing.yaml")
    with pytest.raises(ProfileError, match="no such built-in profile"):
        builtin_profile("nope")


def test_a_profile_file_on_disk_is_found_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    assert resolve_profile(str(path)).name == "test-meter"
    path.write_text(GOOD.replace("unit: A}", "unit: Q}"))
    with pytest.raises(ProfileError) as caught:
        resolve_profile(str(path))
    assert caught.value.source == str(path) and caught.value.line == 8


def test_read_plan_groups_contiguous_registers() -> None:
    sim = read_plan(builtin_profile("gridledger-sim"))
    assert [(b.function, b.address, b.count) for b in sim] == [(1, 0, 2), (2, 0, 3), (4, 0, 13)]
    sdm = read_plan(builtin_profile("eastron-sdm630"))
    # Undocumented gaps are not read across (max_gap 0): 0-1, 6-7, 52-53, 72-75.
    assert [(b.address, b.count) for b in sdm] == [(0, 2), (6, 2), (52, 2), (72, 4)]
    gap = parse_profile(GOOD.replace("defaults:", "max_gap: 10\ndefaults:"))
    assert [(b.function, b.address, b.count) for b in read_plan(gap)] == [(1, 3, 1), (4, 0, 8)]
