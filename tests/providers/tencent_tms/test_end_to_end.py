"""The whole path: config dict -> Moderator -> HTTP -> emulator, in-process and over real
HTTP, sync and async; and the three strategies across an old provider (tencent_chat)
and this one, each through its own emulator."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import pluggy
import pytest

from moderation_core import (
    AsyncModerator,
    AuthError,
    CheckContext,
    Content,
    Decision,
    Emulator,
    Label,
    Moderator,
    Verdict,
    hookimpl,
    make_plugin_manager,
    register_plugin,
)
from moderation_core.testing import Clock, serve
from tests.providers.tencent_chat import helpers as chat

from .helpers import config, emulator, provider, table

MIXED: list[Content | str] = [
    "今天天气不错",
    "你这个傻逼",
    Content.image("https://cdn.example.com/bikini_1.jpg", id="img-1"),
    "加我微信 abc",
]


def _assert_mixed(verdicts: Sequence[Verdict]) -> None:
    clean, abuse, sexy, ad = verdicts
    assert (clean.decision, clean.label) == (Decision.PASS, Label.NORMAL)
    assert (abuse.decision, abuse.label, abuse.masked_text) == (
        Decision.BLOCK,
        Label.ABUSE,
        "你这个**",
    )
    assert (sexy.decision, sexy.label, sexy.content_id) == (Decision.REVIEW, Label.SEXY, "img-1")
    assert (ad.label, ad.masked_text) == (Label.AD, "**** abc")


def test_through_mock_transport() -> None:
    emu = emulator()
    with Moderator.from_config(config(), transport=httpx.MockTransport(emu)) as mod:
        _assert_mixed(mod.check_many(MIXED, scene="Group", sender="u1", receiver="g1"))
    assert emu.requests == 4  # one content per request


async def test_async_through_mock_transport() -> None:
    transport = httpx.MockTransport(emulator())
    async with AsyncModerator.from_config(config(), transport=transport) as mod:
        _assert_mixed(await mod.check_many(MIXED, scene="Group"))


def test_over_real_http() -> None:
    with serve(emulator()) as url, Moderator.from_config(config(base_url=url)) as mod:
        _assert_mixed(mod.check_many(MIXED))


async def test_async_over_real_http() -> None:
    with serve(emulator()) as url:
        async with AsyncModerator.from_config(config(base_url=url)) as mod:
            verdicts = await asyncio.gather(*(mod.check(f"hello {i}") for i in range(20)))
            batch = await mod.check_many(MIXED)
    assert all(v.decision is Decision.PASS for v in verdicts)
    _assert_mixed(batch)


def test_a_signature_older_than_five_minutes_says_the_clock_is_off() -> None:
    clock = Clock(now=1_700_000_000)
    prov = provider(clock)
    with httpx.Client(transport=httpx.MockTransport(emulator(clock=clock))) as client:
        flow = prov.flow([Content.text("hello")], CheckContext())
        request = next(flow)
        clock.advance(301)  # the vendor's clock now runs ahead of the signature
        with pytest.raises(AuthError, match="clock is off"):
            flow.send(client.send(request))


# -- strategies across an old provider and this one ----------------------------------


def _both(
    strategy: str, order: tuple[str, str], tms: Emulator, chat_emu: Emulator
) -> dict[str, Any]:
    def route(request: httpx.Request) -> httpx.Response:
        return (tms if request.url.host == "tms.test" else chat_emu)(request)

    return {
        "config": {
            "moderation": {"providers": list(order), "strategy": strategy, "fail_mode": "raise"},
            "providers": {"tms": table(), "chat": chat.table()},
        },
        "transport": httpx.MockTransport(route),
    }


def test_fallback_moves_on_errors_either_way() -> None:
    down = emulator(fault="InternalError")
    setup = _both("fallback", ("tms", "chat"), down, chat.emulator())
    with Moderator.from_config(setup["config"], transport=setup["transport"]) as mod:
        verdict = mod.check("你这个傻逼")
    assert (verdict.provider, verdict.decision, verdict.failed_over) == (
        "chat",
        Decision.BLOCK,
        True,
    )
    setup = _both("fallback", ("chat", "tms"), emulator(), chat.emulator(fault="http502"))
    with Moderator.from_config(setup["config"], transport=setup["transport"]) as mod:
        verdict = mod.check("你这个傻逼")
    assert (verdict.provider, verdict.label) == ("tms", Label.ABUSE)


def test_strictest_takes_the_harsher_of_old_and_new() -> None:
    setup = _both("strictest", ("chat", "tms"), emulator(), chat.emulator())
    with Moderator.from_config(setup["config"], transport=setup["transport"]) as mod:
        flagged = mod.check("spam-test")  # only the TMS emulator flags it
        clean = mod.check("hello")
    assert (flagged.provider, flagged.decision, flagged.vendor_label) == (
        "tms",
        Decision.REVIEW,
        "Spam",
    )
    assert clean.decision is Decision.PASS


class _Disagreements:
    def __init__(self) -> None:
        self.seen: list[tuple[Verdict, Verdict]] = []
        self.done = threading.Event()

    @hookimpl
    def shadow_disagreement(
        self, content: Content, verdict: Verdict, shadow: Verdict, context: CheckContext
    ) -> None:
        self.seen.append((verdict, shadow))
        self.done.set()


def test_shadow_reports_the_new_provider_disagreeing() -> None:
    pm: pluggy.PluginManager = make_plugin_manager()
    recorder = _Disagreements()
    register_plugin(pm, recorder)
    setup = _both("shadow", ("chat", "tms"), emulator(), chat.emulator())
    with Moderator(setup["config"], transport=setup["transport"], plugin_manager=pm) as mod:
        verdict = mod.check("spam-test")
        assert recorder.done.wait(10)
    assert (verdict.provider, verdict.decision) == ("chat", Decision.PASS)
    ((decided, shadow),) = recorder.seen
    assert (decided.provider, shadow.provider, shadow.decision) == ("chat", "tms", Decision.REVIEW)


def test_switching_vendor_is_one_type_line_and_the_credentials() -> None:
    old = {"providers": {"main": chat.table()}}
    new = {"providers": {"main": table()}}
    transports = {
        "old": httpx.MockTransport(chat.emulator()),
        "new": httpx.MockTransport(emulator()),
    }
    results = {}
    for name, cfg in (("old", old), ("new", new)):
        with Moderator.from_config(cfg, transport=transports[name]) as mod:
            results[name] = mod.check("你这个傻逼")
    assert {(v.decision, v.label, v.provider) for v in results.values()} == {
        (Decision.BLOCK, Label.ABUSE, "main")
    }
