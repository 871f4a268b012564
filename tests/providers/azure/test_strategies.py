"""Issue 12, "Done when": strategies fallback, strictest and shadow across an old
provider (tencent_chat) and the new one (azure_content_safety), each answering through
its own emulator; and one config switched between them by its type line and
credentials.

    text                   azure                   tencent_chat
    "hello"                PASS                    PASS
    "you idiot"            REVIEW HATE             BLOCK ABUSE
    "kill them"            BLOCK VIOLENCE          PASS
    "加我微信"              PASS                    REVIEW AD
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from moderation_azure.emulator import AzureEmulator
from moderation_core import (
    AsyncModerator,
    CheckContext,
    Content,
    Decision,
    Label,
    Moderator,
    ProviderError,
    Verdict,
    hookimpl,
    make_plugin_manager,
    register_plugin,
)
from moderation_core.testing import RecordingTransport
from moderation_tencent_chat.emulator import DEMO_SDKAPPID, DEMO_SECRET_KEY, make_emulator

from .helpers import HOST, emulator, table

TEXTS = ["hello", "you idiot", "kill them", "加我微信"]
TENCENT_URL = "http://tencent-chat.test"


def tencent_table() -> dict[str, Any]:
    return {
        "type": "tencent_chat",
        "sdkappid": DEMO_SDKAPPID,
        "identifier": "admin",
        "secret_key": DEMO_SECRET_KEY,
        "base_url": TENCENT_URL,
    }


class Vendors:
    """Both emulators behind one transport, chosen by host; each records its requests."""

    def __init__(self, azure: AzureEmulator | None = None, **tencent: Any) -> None:
        self.azure = RecordingTransport(azure or emulator())
        self.tencent = RecordingTransport(make_emulator(**tencent))

    def transport(self) -> httpx.MockTransport:
        def route(request: httpx.Request) -> httpx.Response:
            vendor = self.azure if request.url.host == HOST else self.tencent
            return vendor.handle_request(request)

        return httpx.MockTransport(route)

    def async_transport(self) -> httpx.MockTransport:
        async def route(request: httpx.Request) -> httpx.Response:
            vendor = self.azure if request.url.host == HOST else self.tencent
            return await vendor.handle_async_request(request)

        return httpx.MockTransport(route)


def config(order: tuple[str, str], strategy: str, **azure: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": list(order), "strategy": strategy},
        "providers": {"azure": table(**azure), "tencent": tencent_table()},
    }


def summary(verdicts: list[Verdict]) -> list[tuple[str | None, Decision, Label]]:
    return [(v.provider, v.decision, v.label) for v in verdicts]


AZURE = [
    ("azure", Decision.PASS, Label.NORMAL),
    ("azure", Decision.REVIEW, Label.HATE),
    ("azure", Decision.BLOCK, Label.VIOLENCE),
    ("azure", Decision.PASS, Label.NORMAL),
]
TENCENT = [
    ("tencent", Decision.PASS, Label.NORMAL),
    ("tencent", Decision.BLOCK, Label.ABUSE),
    ("tencent", Decision.PASS, Label.NORMAL),
    ("tencent", Decision.REVIEW, Label.AD),
]


def test_fallback_the_first_provider_answers_while_it_works() -> None:
    vendors = Vendors()
    with Moderator(config(("azure", "tencent"), "fallback"), transport=vendors.transport()) as mod:
        assert summary(mod.check_many(TEXTS)) == AZURE
    assert not vendors.tencent.requests


@pytest.mark.parametrize("fault", ["busy", "rate_limit", "auth", "garbage"])
def test_fallback_from_azure_to_tencent_on_an_error(fault: str) -> None:
    vendors = Vendors(emulator(fault=fault))
    with Moderator(config(("azure", "tencent"), "fallback"), transport=vendors.transport()) as mod:
        verdicts = mod.check_many(TEXTS)
    assert summary(verdicts) == TENCENT
    assert all(isinstance(v.errors[0], ProviderError) for v in verdicts)
    assert {e.provider for v in verdicts for e in v.errors} == {"azure"}


async def test_fallback_async_from_tencent_to_azure() -> None:
    vendors = Vendors(fault="http503")
    async with AsyncModerator(
        config(("tencent", "azure"), "fallback"), transport=vendors.async_transport()
    ) as mod:
        verdicts = [await mod.check(text) for text in TEXTS]
    assert summary(verdicts) == AZURE


def test_strictest_asks_both_and_the_harshest_verdict_wins() -> None:
    vendors = Vendors()
    with Moderator(config(("azure", "tencent"), "strictest"), transport=vendors.transport()) as mod:
        verdicts = mod.check_many(TEXTS)
    assert summary(verdicts) == [
        ("azure", Decision.PASS, Label.NORMAL),  # a tie goes to the earlier provider
        ("tencent", Decision.BLOCK, Label.ABUSE),
        ("azure", Decision.BLOCK, Label.VIOLENCE),
        ("tencent", Decision.REVIEW, Label.AD),
    ]


class Disagreements:
    def __init__(self) -> None:
        self.seen: dict[str, tuple[str | None, str | None]] = {}
        self._lock = threading.Lock()

    @hookimpl
    def shadow_disagreement(
        self, content: Content, verdict: Verdict, shadow: Verdict, context: CheckContext
    ) -> None:
        with self._lock:
            self.seen[content.value] = (verdict.provider, shadow.provider)


def test_shadow_tencent_decides_and_azure_is_compared() -> None:
    spy = Disagreements()
    manager = make_plugin_manager()
    register_plugin(manager, spy, name="disagreements")
    vendors = Vendors()
    with Moderator(
        config(("tencent", "azure"), "shadow"),
        transport=vendors.transport(),
        plugin_manager=manager,
    ) as mod:
        assert summary(mod.check_many(TEXTS)) == TENCENT
    # close() waited for the background checks: every text disagreed but "hello".
    assert spy.seen == dict.fromkeys(TEXTS[1:], ("tencent", "azure"))
    assert len(vendors.azure.requests) == 4


@pytest.mark.parametrize(
    ("provider_table", "blocked"),
    [(table(), ["kill them"]), (tencent_table(), ["you idiot"])],
    ids=["azure_content_safety", "tencent_chat"],
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
