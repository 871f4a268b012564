"""moderation_core.testing's emulator plumbing: FixedWindow, FaultQueue, parse_options."""

from __future__ import annotations

from typing import Any

import pytest

from moderation_core.testing import FaultQueue, FixedWindow, int_option, parse_options


def test_a_fixed_window_counts_per_window_of_the_clock() -> None:
    window = FixedWindow(2, seconds=10)
    assert [window.admit(t) for t in (100.0, 101.0, 109.9)] == [True, True, False]
    assert window.remaining == 0
    assert window.reset_in(109.5) == pytest.approx(0.5)
    assert window.admit(110.0)
    assert window.remaining == 1


def test_a_window_without_a_limit_admits_everything() -> None:
    window = FixedWindow(None)
    assert all(window.admit(1.0) for _ in range(1000))
    assert window.remaining == 0


def test_faults_injected_come_first_then_the_marker_then_the_standing_one() -> None:
    faults = FaultQueue(("garbage", "html"))
    faults.inject("html", times=2)
    assert [faults.take("garbage", "garbage") for _ in range(2)] == ["html", "html"]
    assert faults.take("garbage", None) == "garbage"
    assert faults.take("not-a-fault", "html") == "html"
    assert faults.take(None) is None


@pytest.mark.parametrize("bad", ["", "none", "bogus"])
def test_injecting_no_fault_or_an_unknown_one_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="fault"):
        FaultQueue(("garbage",)).inject(bad)


def test_options_are_parsed_and_checked() -> None:
    parsers: dict[str, Any] = {"rate_limit": lambda n, v: int_option(n, v, minimum=0)}
    clock = lambda: 0.0  # noqa: E731
    assert parse_options({"rate_limit": "3", "clock": clock}, parsers, emulator="Acme") == {
        "rate_limit": 3,
        "clock": clock,
    }
    with pytest.raises(TypeError, match="unknown Acme emulator option 'rpm'; known: rate_limit"):
        parse_options({"rpm": 1}, parsers, emulator="Acme")
    with pytest.raises(TypeError, match="sleep must be callable"):
        parse_options({"sleep": 1}, parsers, emulator="Acme")
    with pytest.raises(ValueError, match="rate_limit"):
        parse_options({"rate_limit": "-1"}, parsers, emulator="Acme")
