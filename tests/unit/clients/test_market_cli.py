"""The market's command line keeps a participant's key on the participant's side:
``market sign`` signs offline (no network, no operator) and the relay commands take the
signed file only (reviewer finding: a relay holding the key can sign anything)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from gridledger.cli import cli
from gridledger.clients.market import MarketKey
from gridledger.clients.market_cli import market, vpp
from gridledger.formats.market import message_bytes, open_signed, verifies


def _key(tmp_path: Path) -> tuple[MarketKey, Path]:
    key = MarketKey.generate("p-" + "a1" * 12)
    path = tmp_path / "key.json"
    key.save(path)
    return key, path


def test_sign_writes_a_message_the_participants_key_verifies(tmp_path: Path) -> None:
    key, path = _key(tmp_path)
    out = tmp_path / "bid.json"
    res = CliRunner().invoke(cli, ["market", "sign", "--key", str(path), "-o", str(out),
                                   "bid", "mkt.20260101T1000Z", "1500", "1200",
                                   "--order-id", "b-1"])
    assert res.exit_code == 0, res.output
    envelope = json.loads(out.read_text())
    message, raw, signature = open_signed(envelope, "bid")
    assert raw == message_bytes(message) and verifies(key.public_pem, raw, signature)
    assert message == {"action": "bid", "pseudonym": key.pseudonym,
                       "intervalId": "mkt.20260101T1000Z", "orderId": "b-1",
                       "quantityWh": 1500, "pricePerKwh": 1200}


def test_every_action_a_participant_signs_has_a_sign_command(tmp_path: Path) -> None:
    _, path = _key(tmp_path)
    runner = CliRunner()
    cases = {
        "offer": ["iv.20260101T1000Z", "100", "900"], "cancel": ["iv.20260101T1000Z", "o"],
        "deposit": ["10"], "withdraw": ["10"], "retire": [],
        "vpp-join": ["vpp-x", "3000", "1000"], "vpp-leave": ["vpp-x"],
        "standing-offer": ["so-1", "*", "1200", "500", "iv.20260101T1000Z",
                           "iv.20260101T1100Z"],
        "accept": ["so-1", "iv.20260101T1000Z", "500"], "withdraw-offer": ["so-1"],
    }
    for action, args in cases.items():
        res = runner.invoke(cli, ["market", "sign", "--key", str(path), action, *args])
        assert res.exit_code == 0, (action, res.output)
        assert json.loads(res.output)["message"]["action"] == action


def test_no_relay_command_takes_a_participants_key() -> None:
    def commands(group: click.Group):  # type: ignore[no-untyped-def]
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                if name != "sign":
                    yield from commands(command)
            else:
                yield name, command

    relays = dict(commands(market)) | {f"vpp {n}": c for n, c in commands(vpp)}
    assert {"offer", "bid", "cancel", "deposit", "withdraw", "retire", "enrol",
            "standing-offer", "accept", "withdraw-offer", "vpp enrol", "vpp leave"} <= set(
        relays)
    for name, command in relays.items():
        assert "key_file" not in {p.name for p in command.params}, name


def test_a_relay_refuses_a_file_that_is_no_signed_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    res = CliRunner().invoke(cli, ["market", "bid", str(bad), "--state-dir",
                                   str(tmp_path)])
    assert res.exit_code != 0 and "market sign" in res.output
