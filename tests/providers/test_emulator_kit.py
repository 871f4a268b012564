"""moderation_core.testing's emulator plumbing: FixedWindow, FaultQueue, parse_options,
and a chat platform's CallbackPlatform and TriggerEndpoint; every name it exports is
documented in docs/plugins.md's testing section."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import moderation_core.testing
from moderation_core.testing import (
    TRIGGER_PATH,
    CallbackPlatform,
    FaultQueue,
    FixedWindow,
    TriggerEndpoint,
    int_option,
    parse_options,
)

PLUGINS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


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
    with pytest.raises(TypeError, match="unknown platform option 'rpm'"):
        parse_options({"rpm": 1}, parsers, emulator="Acme", label="platform option")


def test_every_testing_name_is_documented() -> None:
    page = PLUGINS.read_text(encoding="utf-8")
    section = page[page.index("## Testing a provider") : page.index("## Reference")]
    missing = [n for n in moderation_core.testing.__all__ if not re.search(rf"\b{n}\b", section)]
    assert missing == []


@attrs.frozen
class Sent:
    request: httpx.Request


class Platform(CallbackPlatform[Sent, str]):
    def obey(self, sent: Sent, response: httpx.Response) -> str:
        return f"obeyed {response.json()['verdict']}"

    def fall_back(self, sent: Sent, why: str, answer: Mapping[str, Any] | None = None) -> str:
        return f"fell back: {why}"


def platform(handler: Any) -> Platform:
    return Platform(
        "http://hooks.test/im",
        timeout=1.0,
        transport=httpx.MockTransport(handler),
        async_transport=httpx.MockTransport(handler),
    )


def sent() -> Sent:
    return Sent(httpx.Request("POST", "http://hooks.test/im", json={"text": "hi"}))


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("no answer", request=request)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (lambda r: httpx.Response(200, json={"verdict": "pass"}), "obeyed pass"),
        (lambda r: httpx.Response(503), "fell back: http 503"),
        (timeout, "fell back: timeout"),
        (refused, "fell back: connection"),
    ],
)
async def test_a_callback_is_obeyed_or_falls_back_alike_sync_and_async(
    handler: Any, expected: str
) -> None:
    played = platform(handler)
    try:
        assert played.post(sent()) == expected
        assert await played.apost(sent()) == expected
    finally:
        played.close()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_a_platform_refuses_a_wait_that_is_not_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        Platform("http://hooks.test/im", timeout=bad)


class Trigger(TriggerEndpoint[str]):
    def read_order(self, order: object) -> str:
        if not isinstance(order, dict) or not isinstance(order.get("text"), str):
            raise ValueError("give text")
        return str(order["text"])

    def carry_out(self, order: str) -> Mapping[str, Any]:
        return {"sent": order}


def test_the_trigger_endpoint_answers_orders_and_passes_the_rest_on() -> None:
    vendor = Trigger(lambda request: httpx.Response(200, json={"vendor": request.url.path}))
    with httpx.Client(transport=httpx.MockTransport(vendor), base_url="http://x.test") as client:
        assert client.post(TRIGGER_PATH, json={"text": "hi"}).json() == {"sent": "hi"}
        assert client.post(TRIGGER_PATH, json={"text": 1}).json() == {"error": "give text"}
        assert client.post(TRIGGER_PATH, content=b"{").status_code == 400
        assert client.get(TRIGGER_PATH).status_code == 405
        assert client.post("/v1/check").json() == {"vendor": "/v1/check"}
