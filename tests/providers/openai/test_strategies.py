"""Issue 12, "Done when": strategies fallback, strictest and shadow across an old
provider (tencent_chat) and a new one (openai), each answering through its own
emulator; and one config switched between them by its type line and credentials.

The two vendors judge differently, which is what the strategies are for:

    text                   openai                  tencent_chat
    "hello"                PASS                    PASS
    "you idiot"            BLOCK ABUSE             BLOCK ABUSE
    "I want to kill them." BLOCK VIOLENCE          PASS
    "加我微信"              PASS                    REVIEW AD
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import httpx
import pluggy
import pytest

from moderation_core import (
    AllProvidersFailed,
    AsyncModerator,
    CheckContext,
    Content,
    Decision,
    Label,
    Moderator,
    ProviderError,
    ProviderUnavailable,
    Verdict,
    hookimpl,
    make_plugin_manager,
    register_plugin,
)
from moderation_core.testing import RecordingTransport
from moderation_openai.emulator import OpenAIEmulator
from moderation_tencent_chat.emulator import DEMO_SDKAPPID, DEMO_SECRET_KEY, make_emulator

from .helpers import emulator, table

TEXTS = ["hello", "you idiot", "I want to kill them.", "加我微信"]
TENCENT_URL = "http://tencent-chat.test"
OPENAI_HOST = "openai.test"


def tencent_table(**overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": "tencent_chat",
        "sdkappid": DEMO_SDKAPPID,
        "identifier": "admin",
        "secret_key": DEMO_SECRET_KEY,
        "base_url": TENCENT_URL,
    }
    result.update(overrides)
    return result


class Vendors:
    """Both emulators behind one transport, chosen by host; each records its requests."""

    def __init__(self, openai: OpenAIEmulator | None = None, **tencent: Any) -> None:
        self.openai = RecordingTransport(openai or emulator())
        self.tencent = RecordingTransport(make_emulator(**tencent))

    def transport(self) -> httpx.MockTransport:
        def route(request: httpx.Request) -> httpx.Response:
            vendor = self.openai if request.url.host == OPENAI_HOST else self.tencent
            return vendor.handle_request(request)

        return httpx.MockTransport(route)

    def async_transport(self) -> httpx.MockTransport:
        async def route(request: httpx.Request) -> httpx.Response:
            vendor = self.openai if request.url.host == OPENAI_HOST else self.tencent
            return await vendor.handle_async_request(request)

        return httpx.MockTransport(route)


def config(order: tuple[str, str], strategy: str, **openai: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": list(order), "strategy": strategy},
        "providers": {"openai": table(**openai), "tencent": tencent_table()},
    }


def summary(verdicts: list[Verdict]) -> list[tuple[str | None, Decision, Label]]:
    return [(v.provider, v.decision, v.label) for v in verdicts]


# -- fallback --------------------------------------------------------------------------


def test_fallback_the_first_provider_answers_while_it_works() -> None:
    vendors = Vendors()
    with Moderator(config(("openai", "tencent"), "fallback"), transport=vendors.transport()) as mod:
        verdicts = mod.check_many(TEXTS)
    assert summary(verdicts) == [
        ("openai", Decision.PASS, Label.NORMAL),
        ("openai", Decision.BLOCK, Label.ABUSE),
        ("openai", Decision.BLOCK, Label.VIOLENCE),
        ("openai", Decision.PASS, Label.NORMAL),  # a verdict never moves on, only an error
    ]
    assert not vendors.tencent.requests


@pytest.mark.parametrize("fault", ["503", "rate_limit", "quota", "garbage"])
def test_fallback_from_the_new_provider_to_the_old_one_on_an_error(fault: str) -> None:
    vendors = Vendors(emulator(fault=fault, retry_after_ms=1))
    with Moderator(config(("openai", "tencent"), "fallback"), transport=vendors.transport()) as mod:
        verdicts = mod.check_many(TEXTS)
    assert summary(verdicts) == [
        ("tencent", Decision.PASS, Label.NORMAL),
        ("tencent", Decision.BLOCK, Label.ABUSE),
        ("tencent", Decision.PASS, Label.NORMAL),
        ("tencent", Decision.REVIEW, Label.AD),
    ]
    assert all(v.failed_over for v in verdicts)
    assert all(isinstance(v.errors[0], ProviderError) for v in verdicts)
    assert {e.provider for v in verdicts for e in v.errors} == {"openai"}


def test_fallback_from_the_old_provider_to_the_new_one_on_an_error() -> None:
    vendors = Vendors(fault="http503")
    with Moderator(config(("tencent", "openai"), "fallback"), transport=vendors.transport()) as mod:
        verdicts = mod.check_many(TEXTS)
    assert summary(verdicts) == [
        ("openai", Decision.PASS, Label.NORMAL),
        ("openai", Decision.BLOCK, Label.ABUSE),
        ("openai", Decision.BLOCK, Label.VIOLENCE),
        ("openai", Decision.PASS, Label.NORMAL),
    ]
    assert all(isinstance(v.errors[0], ProviderUnavailable) for v in verdicts)


async def test_fallback_async_when_both_fail_names_both() -> None:
    vendors = Vendors(emulator(fault="500"), fault="http500")
    async with AsyncModerator(
        config(("openai", "tencent"), "fallback"), transport=vendors.async_transport()
    ) as mod:
        with pytest.raises(AllProvidersFailed) as caught:
            await mod.check("hello")
    assert [e.provider for e in caught.value.exceptions] == ["openai", "tencent"]


# -- strictest -------------------------------------------------------------------------


def test_strictest_asks_both_and_the_harshest_verdict_wins() -> None:
    vendors = Vendors()
    with Moderator(
        config(("tencent", "openai"), "strictest"), transport=vendors.transport()
    ) as mod:
        verdicts = mod.check_many(TEXTS)
    assert summary(verdicts) == [
        ("tencent", Decision.PASS, Label.NORMAL),  # a tie goes to the earlier provider
        ("tencent", Decision.BLOCK, Label.ABUSE),
        ("openai", Decision.BLOCK, Label.VIOLENCE),  # only the new vendor saw it
        ("tencent", Decision.REVIEW, Label.AD),  # only the old vendor saw it
    ]
    assert vendors.openai.requests
    assert vendors.tencent.requests


async def test_strictest_async_tolerates_one_failing_provider() -> None:
    vendors = Vendors(emulator(fault="503"))
    async with AsyncModerator(
        config(("openai", "tencent"), "strictest"), transport=vendors.async_transport()
    ) as mod:
        verdict = await mod.check("加我微信")
    assert (verdict.provider, verdict.decision, verdict.label) == (
        "tencent",
        Decision.REVIEW,
        Label.AD,
    )
    assert [e.provider for e in verdict.errors] == ["openai"]


# -- shadow ----------------------------------------------------------------------------


class Disagreements:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Verdict, Verdict]] = []
        self._lock = threading.Lock()

    @hookimpl
    def shadow_disagreement(
        self, content: Content, verdict: Verdict, shadow: Verdict, context: CheckContext
    ) -> None:
        with self._lock:
            self.seen.append((content.value, verdict, shadow))

    def by_text(self) -> Mapping[str, tuple[str | None, Decision, str | None, Decision]]:
        return {text: (v.provider, v.decision, s.provider, s.decision) for text, v, s in self.seen}


@pytest.fixture
def spy_manager() -> tuple[pluggy.PluginManager, Disagreements]:
    spy = Disagreements()
    manager = make_plugin_manager()
    register_plugin(manager, spy, name="disagreements")
    return manager, spy


def test_shadow_the_old_provider_decides_and_the_new_one_is_compared(
    spy_manager: tuple[pluggy.PluginManager, Disagreements],
) -> None:
    manager, spy = spy_manager
    vendors = Vendors()
    with Moderator(
        config(("tencent", "openai"), "shadow"),
        transport=vendors.transport(),
        plugin_manager=manager,
    ) as mod:
        verdicts = mod.check_many(TEXTS)
    # close() waited for the background checks
    assert [v.provider for v in verdicts] == ["tencent"] * 4
    assert [v.decision for v in verdicts] == [
        Decision.PASS,
        Decision.BLOCK,
        Decision.PASS,
        Decision.REVIEW,
    ]
    assert spy.by_text() == {
        "I want to kill them.": ("tencent", Decision.PASS, "openai", Decision.BLOCK),
        "加我微信": ("tencent", Decision.REVIEW, "openai", Decision.PASS),
    }
    assert sorted(t for r in vendors.openai.requests for t in _inputs(r)) == sorted(TEXTS)


async def test_shadow_async_the_new_provider_decides_and_the_old_one_is_compared(
    spy_manager: tuple[pluggy.PluginManager, Disagreements],
) -> None:
    manager, spy = spy_manager
    vendors = Vendors()
    async with AsyncModerator(
        config(("openai", "tencent"), "shadow"),
        transport=vendors.async_transport(),
        plugin_manager=manager,
    ) as mod:
        verdicts = [await mod.check(text) for text in TEXTS]
    assert [v.provider for v in verdicts] == ["openai"] * 4
    assert spy.by_text() == {
        "I want to kill them.": ("openai", Decision.BLOCK, "tencent", Decision.PASS),
        "加我微信": ("openai", Decision.PASS, "tencent", Decision.REVIEW),
    }


def _inputs(request: httpx.Request) -> list[str]:
    return list(json.loads(request.content)["input"])


# -- one type line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_table", "blocked"),
    [
        (table(), ["you idiot", "I want to kill them."]),
        (tencent_table(), ["you idiot"]),
    ],
    ids=["openai", "tencent_chat"],
)
def test_one_config_switches_vendor_by_its_type_line_and_credentials(
    provider_table: dict[str, Any], blocked: list[str]
) -> None:
    vendors = Vendors()
    cfg = {"moderation": {"providers": ["main"]}, "providers": {"main": provider_table}}
    with Moderator(cfg, transport=vendors.transport()) as mod:
        verdicts = mod.check_many(TEXTS)
    assert [t for t, v in zip(TEXTS, verdicts, strict=True) if v.decision is Decision.BLOCK] == (
        blocked
    )
    assert {v.provider for v in verdicts} == {"main"}
