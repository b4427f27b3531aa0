"""Plausibility: backwards or impossibly fast registers make a reading suspect, not lost."""

from __future__ import annotations

from typing import Any

from gridledger.meter_bridge.plausibility import Limits, check, problems


def reading(seq: int, end: str, imp: int, exp: int = 0, **extra: Any) -> dict[str, Any]:
    return {"meterId": "m-1", "seq": seq, "intervalEnd": end, "importWh": imp,
            "exportWh": exp, "voltageDv": 2300, "currentMa": 1000, "powerW": 230, **extra}


PREV = reading(1, "2025-03-01T10:00:00Z", 1_000_000, 500)
LIMITS = Limits(max_power_w=10_000, slack_wh=10)   # 15 min at 10 kW: 2500 Wh + 10


def test_normal_growth_is_fine() -> None:
    nxt = reading(2, "2025-03-01T10:15:00Z", 1_002_510, 500)
    assert check(PREV, nxt, LIMITS) == (nxt, [])
    assert "quality" not in nxt


def test_first_reading_has_nothing_to_compare() -> None:
    assert problems(None, PREV, LIMITS) == []


def test_backwards_register_is_suspect() -> None:
    nxt = reading(2, "2025-03-01T10:15:00Z", 999_000, 500)
    marked, found = check(PREV, nxt, LIMITS)
    assert marked["quality"] == "suspect"
    assert found == ["importWh went backwards by 1000 Wh (1000000 -> 999000)"]
    assert {k: v for k, v in marked.items() if k != "quality"} == nxt   # values untouched


def test_jump_beyond_max_power_times_elapsed_is_suspect() -> None:
    nxt = reading(2, "2025-03-01T10:15:00Z", 1_002_511, 500)
    marked, found = check(PREV, nxt, LIMITS)
    assert marked["quality"] == "suspect"
    assert "importWh jumped 2511 Wh in 900 s (at most 2510 Wh at 10000 W)" in found


def test_export_is_checked_too_and_limit_is_configurable() -> None:
    nxt = reading(2, "2025-03-01T11:00:00Z", 1_000_000, 20_000)
    assert check(PREV, nxt, LIMITS)[0]["quality"] == "suspect"
    assert check(PREV, nxt, Limits(max_power_w=25_000))[1] == []


def test_time_not_advancing_and_absurd_instant_values() -> None:
    same = reading(2, "2025-03-01T10:00:00Z", 1_000_000, 500)
    assert any("not after" in p for p in problems(PREV, same, LIMITS))
    wild = reading(2, "2025-03-01T10:15:00Z", 1_000_000, 500, voltageDv=9000, powerW=-60_000)
    found = problems(PREV, wild, LIMITS)
    assert any("voltage 900.0 V" in p for p in found)
    assert any("power -60000 W" in p for p in found)


def test_an_existing_quality_becomes_suspect() -> None:
    nxt = reading(2, "2025-03-01T10:15:00Z", 1, 500, quality="estimated")
    assert check(PREV, nxt, LIMITS)[0]["quality"] == "suspect"
