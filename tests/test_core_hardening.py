"""Issue 9, the core's slice: no bypass on text that is not Unicode, per-item errors in
check_many, visible failovers, typed mute errors, bounded custom payloads, content ids
kept by fail_mode, and the local engine off the event loop for large inputs."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation_core import (
    AllProvidersFailed,
    AsyncModerator,
    CheckContext,
    ConfigError,
    Content,
    ContentType,
    Decision,
    Flow,
    InvalidContent,
    ModerationError,
    Moderator,
    ProviderUnavailable,
    Verdict,
)
from moderation_core._custom import parse_fields
from tests.fakes import FakeVendor, routed
from tests.fakes import fake_providers as config

LONE = json.loads('"hi \\ud800 there"')  # what a JSON client can send: a lone surrogate


# -- item 2: text that is not Unicode never reaches a provider, never PASSes ----------


def test_lone_surrogate_is_invalid_content_in_check_with_fail_mode_allow(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {}), fail_mode="allow")
    cfg["moderation"]["providers"] = ["local", "a"]
    cfg["providers"]["local"] = {"type": "local"}
    with Moderator(cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)) as m:
        with pytest.raises(InvalidContent, match="not valid Unicode"):
            m.check(LONE)
        with pytest.raises(InvalidContent, match=r"item 1: .*not valid Unicode"):
            m.check_many(["fine", LONE])
        with pytest.raises(InvalidContent, match="not valid Unicode"):
            m.evaluate(LONE)
        with pytest.raises(InvalidContent, match="not valid Unicode"):
            m.evaluate(["fine", Content.from_custom({"text": "x"}, None)[0], LONE])
    assert vendor.checks == []  # no provider was asked


def test_lone_surrogate_is_invalid_content_in_every_content_builder() -> None:
    with pytest.raises(InvalidContent):
        Content.text(LONE)
    with pytest.raises(InvalidContent):
        Content.coerce(LONE)
    with pytest.raises(InvalidContent):
        Content(ContentType.IMAGE, "https://x.test/\udfff.jpg")
    with pytest.raises(InvalidContent):
        Content.text("ok", id="id-\ud800")
    with pytest.raises(InvalidContent):
        Content.from_custom('{"IMAuditContentType": "Text", "IMAuditContent": "a\\ud800"}')
    with pytest.raises(InvalidContent):
        Content.from_custom({"data": {"content": LONE}}, "data.content")
    with pytest.raises(InvalidContent):
        Content.from_custom({"anything": LONE})  # checked whole, as text
    # JSON text that is not an object is checked as written: escapes and all, valid.
    (as_written,) = Content.from_custom('"\\udc00 not an object"')
    assert as_written.value == '"\\udc00 not an object"'


@pytest.mark.parametrize("where", ["scene", "sender", "receiver"])
def test_lone_surrogate_in_the_context_is_invalid_content(where: str) -> None:
    not_a_string: Any = 12
    with Moderator() as mod:
        with pytest.raises(InvalidContent, match=where):
            mod.check("hello", **{where: "x\ud800"})
        with pytest.raises(InvalidContent, match=where):
            mod.evaluate("hello", **{where: "x\ud800"})
        with pytest.raises(InvalidContent, match=where):
            mod.check("hello", **{where: not_a_string})


async def test_lone_surrogate_is_invalid_content_async() -> None:
    async with AsyncModerator(LOCAL_FAIL_OPEN) as mod:
        with pytest.raises(InvalidContent):
            await mod.check(LONE)
        with pytest.raises(InvalidContent):
            await mod.check_many([LONE])
        with pytest.raises(InvalidContent):
            await mod.evaluate(LONE)
        with pytest.raises(InvalidContent):
            await mod.check("fine", sender="\udfff")


@settings(max_examples=60, deadline=None)
@given(head=st.text(max_size=20), tail=st.text(max_size=20), code=st.integers(0xD800, 0xDFFF))
def test_any_lone_surrogate_never_passes(head: str, tail: str, code: int) -> None:
    text = head + chr(code) + tail
    mod = _fail_open_local()
    with pytest.raises(InvalidContent):
        mod.check(text)
    (held,) = mod.check_many([text], return_exceptions=True)
    assert isinstance(held, InvalidContent)


LOCAL_FAIL_OPEN = {
    "moderation": {"providers": ["local"], "fail_mode": "allow"},
    "providers": {"local": {"type": "local"}},
}


@functools.cache
def _fail_open_local() -> Moderator:
    return Moderator(LOCAL_FAIL_OPEN)


# -- item 10: one invalid item does not sink the batch -----------------------------


def test_check_many_return_exceptions_holds_each_invalid_item_in_place() -> None:
    items: list[Any] = ["hello", LONE, "   ", 42, Content.text("你这个傻逼", id="x")]
    with Moderator() as mod:
        results = mod.check_many(items, return_exceptions=True)
        assert isinstance(results[0], Verdict)
        assert results[0].decision is Decision.PASS
        assert isinstance(results[4], Verdict)
        assert results[4].decision is Decision.BLOCK
        assert results[4].content_id == "x"
        for index in (1, 2, 3):
            error = results[index]
            assert isinstance(error, InvalidContent)
            assert str(error).startswith(f"item {index}: ")
        with pytest.raises(InvalidContent, match=r"^item 2: "):
            mod.check_many(["a", "b", "  "])


async def test_async_check_many_return_exceptions_holds_each_invalid_item_in_place() -> None:
    async with AsyncModerator() as mod:
        results = await mod.check_many(["hello", LONE, "你这个傻逼"], return_exceptions=True)
        assert [type(r) for r in results] == [Verdict, InvalidContent, Verdict]
        with pytest.raises(InvalidContent, match=r"^item 1: "):
            await mod.check_many(["hello", LONE])


def test_evaluate_never_lets_on_failure_allow_an_invalid_content() -> None:
    # evaluate checks with return_exceptions=True; an invalid content is the caller's
    # mistake, not a provider failure that on_failure = "allow" may let through.
    cfg = {
        "providers": {"fake_img": {"type": "local"}},
        "moderation": {"providers": ["fake_img"]},
        "policy": {"on_failure": "allow"},
    }
    accepts = "item 1: no configured provider accepts image"
    with Moderator(cfg) as mod, pytest.raises(InvalidContent, match=accepts):
        mod.evaluate(["hello", Content.image("https://x.test/a.png")])


# -- item 11: a failover is visible on the verdict and logged once per streak -------


def _failover(plugin_manager: pluggy.PluginManager, primary: FakeVendor) -> Moderator:
    return Moderator(
        config(("a", {}), ("b", {})),
        plugin_manager=plugin_manager,
        transport=routed({"a": primary, "b": FakeVendor()}),
    )


def test_failover_records_which_providers_failed_and_why(
    plugin_manager: pluggy.PluginManager,
) -> None:
    with _failover(plugin_manager, FakeVendor(fail=True)) as mod:
        verdict = mod.check(Content.text("hello", id=3))
        (many,) = mod.check_many(["hello"])
    for v in (verdict, many):
        assert v.provider == "b"
        assert v.fallback is False  # fallback keeps its meaning: fail_mode decided
        assert v.failed_over is True
        (error,) = v.errors
        assert isinstance(error, ProviderUnavailable)
        assert error.provider == "a"
        assert "503" in str(error)
    assert verdict.content_id == 3


def test_a_verdict_with_no_failover_has_no_errors(plugin_manager: pluggy.PluginManager) -> None:
    with _failover(plugin_manager, FakeVendor()) as mod:
        verdict = mod.check("hello")
    assert verdict.provider == "a"
    assert verdict.errors == ()
    assert verdict.failed_over is False


def test_strictest_records_the_providers_that_failed_beside_the_answer(
    plugin_manager: pluggy.PluginManager,
) -> None:
    with Moderator(
        config(("a", {}), ("b", {}), strategy="strictest"),
        plugin_manager=plugin_manager,
        transport=routed({"a": FakeVendor(fail=True), "b": FakeVendor()}),
    ) as mod:
        verdict = mod.check("hello")
    assert verdict.provider == "b"
    assert [e.provider for e in verdict.errors] == ["a"]


def test_one_warning_per_provider_failure_streak(
    plugin_manager: pluggy.PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    primary = FakeVendor(fail=True)
    # Four failures in a row: under the breaker's five, so "a" is asked every time.
    with _failover(plugin_manager, primary) as mod, caplog.at_level(logging.INFO):
        for _ in range(4):
            mod.check("hello")
        primary.fail = False
        mod.check("hello")  # a answers again: the streak ends
        primary.fail = True
        for _ in range(4):
            mod.check("hello")
    assert len(primary.checks) == 9
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("provider a failed" in r.getMessage() for r in warnings)


async def test_failover_is_visible_async(plugin_manager: pluggy.PluginManager) -> None:
    async with AsyncModerator(
        config(("a", {}), ("b", {})),
        plugin_manager=plugin_manager,
        transport=routed({"a": FakeVendor(fail=True), "b": FakeVendor()}),
    ) as mod:
        verdict = await mod.check("hello")
    assert verdict.provider == "b"
    assert [e.provider for e in verdict.errors] == ["a"]


# -- item 13: bad mute durations are typed errors --------------------------------


@pytest.mark.parametrize(
    "duration",
    [
        "soon",
        -5,
        0,
        math.nan,
        math.inf,
        1e300,
        10**400,
        "9" * 400 + "s",
        "99999999999d",
        timedelta.max,
        [1],
    ],
)
def test_a_bad_or_huge_mute_duration_is_invalid_content(duration: Any) -> None:
    with Moderator() as mod:
        with pytest.raises(InvalidContent, match="mute duration"):
            mod.mute_sender("u1", duration=duration)
        assert mod.muted_senders() == []


def test_the_longest_mute_duration_is_accepted() -> None:
    with Moderator() as mod:
        mute = mod.mute_sender("u1", duration="36525d")
    assert mute.until is not None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sender": "u\ud800"},
        {"sender": "u", "scene": "\udc00"},
        {"sender": "u", "reason": "\ud800"},
    ],
)
def test_mute_arguments_that_are_not_unicode_are_invalid_content(kwargs: dict[str, Any]) -> None:
    with Moderator() as mod:
        sender = kwargs.pop("sender")
        with pytest.raises(InvalidContent):
            mod.mute_sender(sender, duration="1h", **kwargs)


async def test_a_bad_mute_duration_is_invalid_content_async() -> None:
    async with AsyncModerator() as mod:
        with pytest.raises(InvalidContent, match="mute duration"):
            await mod.mute_sender("u1", duration="9" * 400 + "s")


def test_a_policy_mute_duration_past_the_limit_is_a_config_error() -> None:
    policy = {"mute": {"after": 1, "within": "1h", "for": "99999999999d"}}
    with pytest.raises(ConfigError, match="at most"):
        Moderator({**LOCAL_FAIL_OPEN, "policy": policy})


# -- item 22: deeply nested custom payloads ------------------------------------------


def _nested_dicts(depth: int) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": "hi"}
    for _ in range(depth):
        payload = {"a": payload}
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        "[" * 1000,
        "[" * 100_000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        b"[" * 1000,
        _nested_dicts(10_000),
    ],
    ids=["brackets-1k", "brackets-100k", "objects-5k", "bytes", "dicts-10k"],
)
def test_deeply_nested_custom_payload_is_invalid_content(payload: Any) -> None:
    with pytest.raises(InvalidContent, match="nested too deeply"):
        Content.from_custom(payload)


def test_deeply_nested_json_inside_a_fixed_field_is_invalid_content() -> None:
    with pytest.raises(InvalidContent, match="nested too deeply"):
        Content.from_custom({"data": "[" * 5000}, "data.content")


def _cpu(work: Callable[[], object], repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return max(best, 1e-6)


def _rejects(payload: str) -> None:
    with pytest.raises(InvalidContent):
        Content.from_custom(payload)


def test_nested_custom_payload_costs_linear_time() -> None:
    small, large = "[" * 200_000, "[" * 1_600_000
    ratio = _cpu(lambda: _rejects(large)) / _cpu(lambda: _rejects(small))
    assert ratio < 24  # 8x the input: linear is ~8 (or less), quadratic would be ~64


# -- item 18 (custom part): the 60-character limit is per key ------------------------


def test_field_path_limit_applies_per_key() -> None:
    first, second = "k" * 60, "v" * 60
    assert parse_fields(f"{first}.{second}|content") == ((first, second), ("content",))
    payload = {first: {second: "hello"}}
    (content,) = Content.from_custom(payload, f"{first}.{second}")
    assert content.value == "hello"
    with pytest.raises(ConfigError, match="61 characters; at most 60"):
        parse_fields("k" * 61)
    with pytest.raises(ConfigError, match="61 characters; at most 60"):
        parse_fields("data." + "k" * 61)


# -- item 23: fail_mode verdicts keep the content id -------------------------------


@pytest.mark.parametrize("fail_mode", ["allow", "review", "block"])
def test_fail_mode_verdicts_keep_the_content_id(
    plugin_manager: pluggy.PluginManager, fail_mode: str
) -> None:
    with Moderator(
        config(("a", {"batch_size": 4}), fail_mode=fail_mode),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(FakeVendor(fail=True)),
    ) as mod:
        one = mod.check(Content.text("hello", id="m-1"))
        many = mod.check_many([Content.text(f"t{i}", id=i) for i in range(6)])
    assert one.fallback
    assert one.content_id == "m-1"
    assert [v.content_id for v in many] == list(range(6))
    assert all(v.fallback for v in many)


async def test_fail_mode_verdicts_keep_the_content_id_async(
    plugin_manager: pluggy.PluginManager,
) -> None:
    async with AsyncModerator(
        config(("a", {}), fail_mode="review"),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(FakeVendor(fail=True)),
    ) as mod:
        verdict = await mod.check(Content.text("hello", id=9))
    assert verdict.fallback
    assert verdict.content_id == 9


def test_fail_mode_off_still_raises(plugin_manager: pluggy.PluginManager) -> None:
    with (
        Moderator(
            config(("a", {})),
            plugin_manager=plugin_manager,
            transport=httpx.MockTransport(FakeVendor(fail=True)),
        ) as mod,
        pytest.raises(AllProvidersFailed),
    ):
        mod.check("hello")


# -- item 1 (core part): the local engine leaves the event loop free for large inputs


async def _ticks_during(work: Callable[[], Any]) -> tuple[int, Any]:
    """How often a concurrent task got the loop while ``work()`` was awaited."""
    ticks = 0
    stop = False

    async def ticker() -> None:
        nonlocal ticks
        while not stop:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0)
    ticks = 0
    result = await work()
    stop = True
    await task
    return ticks, result


async def test_a_large_local_check_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    async with AsyncModerator() as mod:
        (local,) = mod.providers
        flow = local.flow

        def recording_flow(contents: Sequence[Content], context: CheckContext) -> Flow:
            seen.append(threading.get_ident())
            return flow(contents, context)

        monkeypatch.setattr(local, "flow", recording_flow)
        large = ("hello world 你好 a normal chat line. " * 8000) + "你这个傻逼"
        ticks, verdict = await _ticks_during(lambda: mod.check(large))
        assert verdict.decision is Decision.BLOCK
        assert seen == [seen[0]]
        assert seen[0] != threading.get_ident()
        small_ticks, _ = await _ticks_during(lambda: mod.check("hello"))
    assert small_ticks <= 2  # a small check stays on the loop: no thread hop
    assert ticks > 10 * max(small_ticks, 1)  # the loop kept serving during the large one


async def test_a_large_local_batch_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    async with AsyncModerator() as mod:
        (local,) = mod.providers
        flow = local.flow

        def recording_flow(contents: Sequence[Content], context: CheckContext) -> Flow:
            seen.append(threading.get_ident())
            return flow(contents, context)

        monkeypatch.setattr(local, "flow", recording_flow)
        results = await mod.check_many([f"message number {i} " * 10 for i in range(200)])
    assert len(results) == 200
    assert seen
    assert all(ident != threading.get_ident() for ident in seen)


def test_only_moderation_errors_come_out_of_check_for_odd_text() -> None:
    # A smoke of the fuzz property over a few odd shapes (the full fuzz lives elsewhere).
    odd = ["\x00", "\ufeff", "\U0010ffff", "a\u200b" * 50, "\ud83d\ude00", "\udbff\udfff"]
    with Moderator() as mod:
        for text in odd:
            try:
                result = mod.check(text)
            except ModerationError:
                continue
            assert isinstance(result, Verdict)


def test_evaluate_says_a_provider_answered_after_another_failed(
    plugin_manager: pluggy.PluginManager,
) -> None:
    with _failover(plugin_manager, FakeVendor(fail=True)) as mod:
        outcome = mod.evaluate("hello")
    assert outcome.reason == "b (after a: ProviderUnavailable) passed it"


_ITEMS = st.lists(
    st.one_of(
        st.text(max_size=8),
        st.sampled_from(["\ud800", "a\udfff", "   ", "", "你这个傻逼"]),
        st.integers(),
        st.none(),
    ),
    max_size=8,
)


def _checkable(item: object) -> bool:
    if not isinstance(item, str) or item.isspace() or not item:
        return False
    try:
        item.encode()
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(items=_ITEMS)
def test_check_many_return_exceptions_answers_every_item_in_place(items: list[Any]) -> None:
    results = _fail_open_local().check_many(items, return_exceptions=True)
    assert len(results) == len(items)
    for index, (item, result) in enumerate(zip(items, results, strict=True)):
        if _checkable(item):
            assert isinstance(result, Verdict)
            assert not result.fallback
        else:
            assert isinstance(result, InvalidContent)
            assert str(result).startswith(f"item {index}: ")
