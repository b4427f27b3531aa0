"""The configuration and profile models' errors: place, problem and bad value, in one wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridledger.meter_bridge.config import parse_config
from gridledger.meter_bridge.errors import ConfigError, ProfileError
from gridledger.meter_bridge.profiles import parse_profile

METERS = [{"id": "m1", "modbus": "tcp://127.0.0.1:5020", "unit": 1, "profile": "gridledger-sim"}]
SOURCE = Path("/etc/bridge.yaml")


def test_every_config_mistake_is_reported_on_its_own_line_with_its_value() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"meters": METERS, "poll": {"interval": "fast", "retries": -1},
                      "send": {"max_age": True}, "http": {"host": "localhost"}}, SOURCE)
    assert str(err.value).splitlines() == [
        "/etc/bridge.yaml: poll.interval: must be a number >= 1, got 'fast'",
        "/etc/bridge.yaml: poll.retries: must be an integer >= 0, got -1",
        "/etc/bridge.yaml: send.max_age: must be a number >= 0, got True",
        "/etc/bridge.yaml: http.host: must be an IP address, got 'localhost'",
    ]


def test_config_sections_left_empty_take_their_defaults() -> None:
    config = parse_config({"meters": METERS, "poll": None, "log": {"level": "debug"}}, SOURCE)
    assert config.poll.interval == 900 and config.log_level == "DEBUG"
    assert config.ledger.channel is None        # the ledger's default: the topology's
    assert parse_config({"meters": METERS, "ledger": {"channel": "grid"}},
                        SOURCE).ledger.channel == "grid"


@pytest.mark.parametrize(("meters", "message"), [
    ("m1", "meters: must be a list, got 'm1'"),
    ([{"id": "a", "line": "/dev/x"}, {"id": "b"}],
     "meters[1]: give meter 'b' exactly one of modbus (with unit and profile) or line"),
])
def test_meter_entries_are_named_by_index(meters: object, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^/etc/bridge\.yaml: ") as err:
        parse_config({"meters": meters}, SOURCE)
    assert message in str(err.value)


PROFILE = """\
name: m
status: verified
quantities:
  voltage: {address: 0, type: uint16, unit: V}
  current: {address: 1, type: uint16, unit: A}
  active_power: {address: 2, type: int16, unit: W}
  import_energy: {address: 3, type: uint32, unit: Wh}
"""


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("type: int16", "type: int16, word_order: big, status: maybe",
     "6: quantities.active_power.status: must be one of verified, assumed, got 'maybe'"),
    ("address: 1,", "address: true,",
     "5: quantities.current.address: must be an integer from 0 to 65535, got True"),
    ("status: verified", "status: verified\nserial: {baudrate: 9601}",
     "3: serial.baudrate: must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, "
     "115200, got 9601"),
    ("status: verified", "status: verified\nmax_gap: 500",
     "3: max_gap: must be an integer from 0 to 120, got 500"),
    ("name: m", "name: '  '", "1: name: must be a non-empty string, got '  '"),
])
def test_profile_errors_name_line_field_and_value(old: str, new: str, expected: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse_profile(PROFILE.replace(old, new, 1), "p.yaml")
    assert str(err.value) == f"p.yaml:{expected}"


def test_a_profile_function_must_be_a_number_not_a_boolean() -> None:
    text = PROFILE + "  relay: {address: 0, function: true}\n"
    with pytest.raises(ProfileError, match=r"p\.yaml:8: quantities\.relay\.function: must be "
                                           r"one of 1, got True"):
        parse_profile(text, "p.yaml")


def test_a_recursive_alias_is_refused_not_followed() -> None:
    with pytest.raises(ProfileError, match="recursive YAML alias"):
        parse_profile("&a\nname: m\nstatus: verified\nloop: *a\n", "p.yaml")
