"""The public API as a client types it: mypy strict checks every ``assert_type`` here
(``./dev lint``), pytest runs the same lines. Only public names are imported; a change
that narrows or widens a public signature fails here first. (As in hynek's projects'
``tests/typing``.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, assert_type

import httpx
import pluggy
import pytest

from moderation_core import (
    Action,
    AllProvidersFailed,
    AsyncModerator,
    AuthError,
    CheckContext,
    ConfigError,
    Content,
    ContentType,
    Decision,
    InvalidContent,
    Label,
    ModerationError,
    Moderator,
    Mute,
    Outcome,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Verdict,
    hookimpl,
    make_plugin_manager,
    register_plugin,
)
from moderation_core.testing import (
    Clock,
    ConformanceReport,
    Exchange,
    RecordingTransport,
    assert_conforms,
    serve,
)
from moderation_openai.emulator import DEMO_API_KEY, make_emulator

LOCAL = {"providers": {"local": {"type": "local"}}}


def openai_config(base_url: str) -> dict[str, Any]:
    table = {"type": "openai", "api_key": DEMO_API_KEY, "base_url": base_url, "rate_limit": 0}
    return {"providers": {"openai": table}}


# -- checks ----------------------------------------------------------------------------


def test_check_and_check_many() -> None:
    with Moderator() as mod:
        verdict = mod.check("你这个傻逼", scene="Group", sender="u1", receiver="g1")
        assert_type(verdict, Verdict)
        verdicts = mod.check_many(["hello", Content.text("傻逼", id=7)])
        assert_type(verdicts, list[Verdict])
        results = mod.check_many(["hello", "\ud800"], return_exceptions=True)
        assert_type(results, list[Verdict | ModerationError])
    assert verdict.decision is Decision.BLOCK
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.BLOCK]
    assert isinstance(results[0], Verdict)
    assert isinstance(results[1], InvalidContent)


async def test_async_check_and_check_many() -> None:
    async with AsyncModerator() as mod:
        verdict = await mod.check("hello")
        assert_type(verdict, Verdict)
        verdicts = await mod.check_many(["hello"], return_exceptions=False)
        assert_type(verdicts, list[Verdict])
        results = await mod.check_many(["\ud800"], return_exceptions=True)
        assert_type(results, list[Verdict | ModerationError])
    assert verdict == verdicts[0]
    assert isinstance(results[0], InvalidContent)


def test_check_many_takes_any_iterable_of_str_or_content() -> None:
    items: Sequence[Content | str] = ("hello", Content.text("world"))
    with Moderator() as mod:
        assert len(mod.check_many(iter(items))) == 2
        assert len(mod.check_many(content for content in items)) == 2


# -- policy ----------------------------------------------------------------------------


def test_evaluate_and_mutes_on_an_injected_clock() -> None:
    clock = Clock()
    assert_type(clock(), float)
    config = {**LOCAL, "policy": {"blocked_terms": ["刷单"]}}
    with Moderator(config, clock=clock) as mod:
        outcome = mod.evaluate("来刷单", scene="Group", sender="u1")
        assert_type(outcome, Outcome)
        assert_type(outcome.action, Action)
        assert_type(outcome.text, str | None)
        assert_type(outcome.reason, str)
        assert_type(outcome.verdict, Verdict | None)
        mute = mod.mute_sender("u2", duration="1h", reason="spam")
        assert_type(mute, Mute)
        assert_type(mute.until, datetime | None)
        assert_type(mod.muted_senders(), list[Mute])
        muted = mod.evaluate("hello", sender="u2")
        clock.advance(3601)
        unmuted = mod.evaluate(
            Content.from_custom({"msg": {"text": "hi"}}, "msg.text"), sender="u2"
        )
    assert outcome.action is Action.BLOCK
    assert (muted.action, unmuted.action) == (Action.BLOCK, Action.ALLOW)


async def test_async_evaluate() -> None:
    async with AsyncModerator(LOCAL, clock=Clock()) as mod:
        outcome = await mod.evaluate("hello")
        assert_type(outcome, Outcome)
        assert_type(await mod.mute_sender("u1"), Mute)
        assert_type(await mod.unmute_sender("u1"), int)
    assert outcome.action is Action.ALLOW


# -- values ----------------------------------------------------------------------------


def test_content_factories() -> None:
    assert_type(Content.text("hi", id="m-1"), Content)
    assert_type(Content.image("https://cdn.example.com/a.png"), Content)
    assert_type(Content.audio("https://cdn.example.com/a.mp3", id=3), Content)
    assert_type(Content.video("https://cdn.example.com/a.mp4"), Content)
    assert_type(Content.coerce("hi"), Content)
    assert_type(Content.from_custom('{"text": "hi"}', "text|body"), list[Content])
    content = Content.image("https://cdn.example.com/a.png", id=1)
    assert_type(content.type, ContentType)
    assert_type(content.value, str)
    assert_type(content.id, str | int | None)
    assert content.type is ContentType.IMAGE


def test_verdict_fields() -> None:
    verdict = Verdict(Decision.REVIEW, Label.AD, keywords=("wx",), provider="p")
    assert_type(verdict.decision, Decision)
    assert_type(verdict.label, Label)
    assert_type(verdict.sublabel, str | None)
    assert_type(verdict.score, int | None)
    assert_type(verdict.keywords, tuple[str, ...])
    assert_type(verdict.masked_text, str | None)
    assert_type(verdict.provider, str | None)
    assert_type(verdict.request_id, str | None)
    assert_type(verdict.content_id, str | int | None)
    assert_type(verdict.fallback, bool)
    assert_type(verdict.errors, tuple[ProviderError, ...])
    assert_type(verdict.flagged, bool)
    assert_type(verdict.to_dict(), dict[str, Any])
    assert_type(Verdict.from_dict(verdict.to_dict()), Verdict)
    assert Verdict.from_dict(verdict.to_dict()) == verdict


def test_errors() -> None:
    with pytest.raises(ConfigError) as config_error:
        Moderator({"providers": {}})
    assert_type(config_error.value.problems, tuple[str, ...])
    error = RateLimited("slow down", provider="p", code=429, retry_after=1.5)
    assert_type(error.retry_after, float | None)
    assert_type(error.provider, str | None)
    assert_type(error.code, int | str | None)
    assert_type(error.retryable, bool)
    assert isinstance(error, ProviderUnavailable)
    assert not AuthError("no").retryable
    assert not ProtocolError("garbage").retryable
    group = AllProvidersFailed("nobody answered", [error])
    assert_type(group.exceptions, tuple[ProviderError, ...])
    assert isinstance(group, ModerationError)
    with (
        Moderator(openai_config("http://127.0.0.1:9")) as mod,
        pytest.raises(AllProvidersFailed) as failed,
    ):
        mod.check("hello")
    (cause,) = failed.value.exceptions
    assert_type(cause, ProviderError)
    assert cause.provider == "openai"


# -- hooks -----------------------------------------------------------------------------


class Audit:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Decision, str | None]] = []

    @hookimpl
    def check_finished(self, content: Content, verdict: Verdict, context: CheckContext) -> None:
        self.seen.append((content.value, verdict.decision, context.scene))

    @hookimpl
    def policy_rule(
        self, content: Content, verdict: Verdict, context: CheckContext
    ) -> Outcome | None:
        if content.value == "vip":
            return Outcome(Action.ALLOW, content.value, "a VIP", verdict)
        return None


def test_hooks_through_hookimpl() -> None:
    pm = make_plugin_manager()
    assert_type(pm, pluggy.PluginManager)
    audit = Audit()
    register_plugin(pm, audit)
    with Moderator(LOCAL, plugin_manager=pm) as mod:
        mod.check("hello", scene="Group")
        outcome = mod.evaluate("vip")
    assert audit.seen[0] == ("hello", Decision.PASS, "Group")
    assert outcome.reason == "a VIP"


# -- the testing kit -------------------------------------------------------------------


def test_the_testing_kit() -> None:
    recording = RecordingTransport(make_emulator(api_key=DEMO_API_KEY))
    with Moderator(openai_config("http://openai.test"), transport=recording) as mod:
        mod.check("hello")
    assert_type(recording.exchanges, list[Exchange])
    assert_type(recording.requests, list[httpx.Request])
    assert_type(recording.paths(), list[str])
    (exchange,) = recording.exchanges
    assert_type(exchange.response, httpx.Response | None)
    assert recording.paths() == ["/v1/moderations"]
    with serve(make_emulator(api_key=DEMO_API_KEY)) as base_url:
        assert_type(base_url, str)
        with Moderator(openai_config(base_url)) as mod:
            assert mod.check("hello").provider == "openai"
    report = assert_conforms(openai_config("http://openai.test")["providers"]["openai"])
    assert_type(report, ConformanceReport)
    assert_type(report.ok, bool)
    assert report.ok
