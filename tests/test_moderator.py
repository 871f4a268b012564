"""Moderator and AsyncModerator through the public API, against a fake vendor."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import httpx
import pluggy
import pytest

from moderation_core import (
    AllProvidersFailed,
    AsyncModerator,
    AuthError,
    Content,
    Decision,
    InvalidContent,
    Label,
    Moderator,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    Verdict,
)
from tests.fakes import FakeVendor, Recorder, routed
from tests.fakes import fake_providers as config


def test_no_config_means_the_local_provider_alone() -> None:
    with Moderator() as mod:
        (provider,) = mod.providers
        assert provider.name == "local"
        assert provider.provider_type == "local"
        verdict = mod.check("hello there")
    assert verdict.decision is Decision.PASS
    assert verdict.provider == "local"


def test_check_many_returns_one_verdict_per_input_in_order(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    texts = [f"message {i}" + (" block" if i % 3 == 0 else "") for i in range(23)]
    items: list[Content | str] = [Content.text(t, id=f"m-{i}") for i, t in enumerate(texts)]
    with Moderator(
        config(("a", {"batch_size": 5})),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(vendor),
    ) as mod:
        verdicts = mod.check_many(items)
    assert [v.content_id for v in verdicts] == [f"m-{i}" for i in range(23)]
    assert [v.decision for v in verdicts] == [
        Decision.BLOCK if i % 3 == 0 else Decision.PASS for i in range(23)
    ]
    # 23 items, batches of 5: the vendor saw 5 requests of sizes 5,5,5,5,3.
    assert [len(c["items"]) for c in vendor.checks] == [5, 5, 5, 5, 3]


def test_core_masks_keywords_when_vendor_sends_no_masked_text(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    with Moderator(
        config(("a", {})), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        verdict = mod.check("please block this, BLOCK it")
    assert verdict.keywords == ("block",)
    assert verdict.masked_text == "please ***** this, ***** it"


def test_fallback_moves_on_only_on_errors(plugin_manager: pluggy.PluginManager) -> None:
    vendors = {"a": FakeVendor(fail=True), "b": FakeVendor()}
    with Moderator(
        config(("a", {}), ("b", {})), plugin_manager=plugin_manager, transport=routed(vendors)
    ) as mod:
        verdict = mod.check("please block")
    assert verdict.provider == "b"
    assert verdict.decision is Decision.BLOCK
    assert len(vendors["a"].checks) == 1


def test_a_block_is_a_result_not_a_reason_to_fall_back(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendors = {"a": FakeVendor(), "b": FakeVendor()}
    with Moderator(
        config(("a", {}), ("b", {})), plugin_manager=plugin_manager, transport=routed(vendors)
    ) as mod:
        verdict = mod.check("block me")
    assert (verdict.provider, verdict.decision) == ("a", Decision.BLOCK)
    assert vendors["b"].checks == []


def test_only_failed_items_move_on(plugin_manager: pluggy.PluginManager) -> None:
    vendors = {"a": FakeVendor(), "b": FakeVendor(item_errors=False)}
    with Moderator(
        config(("a", {"batch_size": 10}), ("b", {"batch_size": 10})),
        plugin_manager=plugin_manager,
        transport=routed(vendors),
    ) as mod:
        verdicts = mod.check_many(["fine", "item-fail here", "review me"])
    assert [v.provider for v in verdicts] == ["a", "b", "a"]
    assert vendors["b"].checks == [{"items": ["item-fail here"], "scene": None}]


def test_capability_routing_skips_providers_that_cannot_take_a_type(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendors = {"texts": FakeVendor(), "media": FakeVendor()}
    with Moderator(
        config(("texts", {"types": ["text"]}), ("media", {"types": ["image"]})),
        plugin_manager=plugin_manager,
        transport=routed(vendors),
    ) as mod:
        text, image = mod.check_many(["hello", Content.image("https://x.test/a.jpg")])
    assert (text.provider, image.provider) == ("texts", "media")


def test_all_providers_failed_holds_each_error_in_order(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendors = {"a": FakeVendor(fail=True), "b": FakeVendor(garbage=True)}
    with (
        Moderator(
            config(("a", {}), ("b", {})), plugin_manager=plugin_manager, transport=routed(vendors)
        ) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    first, second = caught.value.exceptions
    assert isinstance(first, ProviderUnavailable)
    assert first.provider == "a"
    assert first.retryable
    assert isinstance(second, ProtocolError)
    assert second.provider == "b"
    assert not second.retryable


@pytest.mark.parametrize(
    ("fail_mode", "decision"),
    [("review", Decision.REVIEW), ("block", Decision.BLOCK), ("allow", Decision.PASS)],
)
def test_fail_mode_gives_a_flagged_fallback_verdict(
    plugin_manager: pluggy.PluginManager, fail_mode: str, decision: Decision
) -> None:
    with Moderator(
        config(("a", {}), fail_mode=fail_mode),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(FakeVendor(fail=True)),
    ) as mod:
        verdict = mod.check("hello")
    assert verdict.decision is decision
    assert verdict.fallback
    assert verdict.label is Label.UNKNOWN
    assert [type(e) for e in verdict.errors] == [ProviderUnavailable]


def test_check_many_return_exceptions_keeps_good_results(
    plugin_manager: pluggy.PluginManager,
) -> None:
    with Moderator(
        config(("a", {"batch_size": 5})),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(FakeVendor()),
    ) as mod:
        with pytest.raises(AllProvidersFailed):
            mod.check_many(["ok", "item-fail"])
        good, bad = mod.check_many(["ok", "item-fail"], return_exceptions=True)
    assert isinstance(good, Verdict)
    assert isinstance(bad, AllProvidersFailed)
    (error,) = bad.exceptions
    assert (error.provider, error.code) == ("a", 4242)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("", "empty"),
        ("   \n\t", "whitespace"),
        (42, "str or a Content"),
        (None, "str or a Content"),
    ],
)
def test_bad_input_is_rejected_before_any_request(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor, item: Any, message: str
) -> None:
    with Moderator(
        config(("a", {})), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        with pytest.raises(InvalidContent, match=message):
            mod.check(item)
        with pytest.raises(InvalidContent, match=f"item 1: .*{message}"):
            mod.check_many(["fine", item])
    assert vendor.checks == []


def test_a_type_no_provider_takes_is_invalid_content(vendor: FakeVendor) -> None:
    with (
        Moderator() as mod,
        pytest.raises(InvalidContent, match="no configured provider accepts video"),
    ):
        mod.check(Content.video("https://x.test/v.mp4"))


def test_text_over_every_limit_is_invalid_content(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    with (
        Moderator(
            config(("a", {"max_text_bytes": 10}), long_text="reject"),
            plugin_manager=plugin_manager,
            transport=httpx.MockTransport(vendor),
        ) as mod,
        pytest.raises(InvalidContent, match="12 UTF-8 bytes is over every provider's limit"),
    ):
        mod.check("四个汉字")
    assert vendor.checks == []


def test_finished_hook_sees_every_check(
    plugin_manager: pluggy.PluginManager, recorder: Recorder, vendor: FakeVendor
) -> None:
    with Moderator(
        config(("a", {})), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        mod.check_many(["one", "two block"], scene="Group", sender="u1", receiver="g1")
    assert [
        (c.value, v.decision, ctx.scene, ctx.sender, ctx.receiver) for c, v, ctx in recorder.seen
    ] == [
        ("one", Decision.PASS, "Group", "u1", "g1"),
        ("two block", Decision.BLOCK, "Group", "u1", "g1"),
    ]


def test_credentials_are_fetched_once_and_refreshed_once_on_refusal(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor(refuse_tokens=1)
    with Moderator(
        config(("a", {"use_token": True})),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(vendor),
    ) as mod:
        for _ in range(5):
            assert mod.check("hello").decision is Decision.PASS
    # one fetch at start, one after the single refusal
    assert vendor.token_fetches == 2


def test_a_second_refusal_is_an_auth_error(plugin_manager: pluggy.PluginManager) -> None:
    with (
        Moderator(
            config(("a", {"use_token": True})),
            plugin_manager=plugin_manager,
            transport=httpx.MockTransport(FakeVendor(refuse_tokens=2)),
        ) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (error,) = caught.value.exceptions
    assert isinstance(error, AuthError)
    assert error.provider == "a"


async def test_concurrent_async_checks_share_one_credential_fetch(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    async with AsyncModerator(
        config(("a", {"use_token": True})),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(vendor),
    ) as mod:
        verdicts = await asyncio.gather(*(mod.check(f"hello {i}") for i in range(50)))
    assert len(verdicts) == 50
    assert vendor.token_fetches == 1


async def test_a_failed_credential_fetch_is_shared_by_everyone_who_waited(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor(token_fail=True)
    fetching, release = asyncio.Event(), asyncio.Event()

    async def held_vendor(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token" and not release.is_set():
            fetching.set()
            await release.wait()  # held until every other check is queued behind it
        return vendor(request)

    async def release_when_all_wait() -> None:
        await fetching.wait()
        # Loop turns, not seconds: each check runs until it waits for the credentials.
        for _ in range(100):
            await asyncio.sleep(0)
        release.set()

    async with AsyncModerator(
        # A breaker that stays closed, to show a later check does try again.
        config(
            (
                "a",
                {
                    "use_token": True,
                    "max_in_flight": 32,
                    "breaker": {"failures": 99, "min_calls": 99},
                },
            )
        ),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(held_vendor),
    ) as mod:
        *results, _ = await asyncio.gather(
            *(mod.check(f"hello {i}") for i in range(20)),
            release_when_all_wait(),
            return_exceptions=True,
        )
        assert all(isinstance(r, AllProvidersFailed) for r in results)
        assert vendor.token_fetches == 1  # not one per waiting check
        with pytest.raises(AllProvidersFailed):
            await mod.check("later")  # a later check tries again
    assert vendor.token_fetches == 2
    assert vendor.checks == []


def test_transport_errors_become_provider_unavailable_without_the_url(
    plugin_manager: pluggy.PluginManager,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        Moderator(
            config(("a", {"base_url": "http://a.fake/?secret=hunter2"})),
            plugin_manager=plugin_manager,
            transport=httpx.MockTransport(refuse),
        ) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    (error,) = caught.value.exceptions
    assert isinstance(error, ProviderUnavailable)
    assert "a.fake" in str(error)
    assert "hunter2" not in str(error)


# -- parity: the sync and async classes are one API ------------------------------------


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_sync_and_async_expose_the_same_methods_and_signatures() -> None:
    sync, async_ = public_methods(Moderator), public_methods(AsyncModerator)
    assert set(sync) == set(async_)
    for name in sync:
        assert list(sync[name].parameters) == list(async_[name].parameters), name
        if name != "from_config":
            assert inspect.iscoroutinefunction(getattr(AsyncModerator, name)), name


PARITY_INPUTS: list[Content | str] = [
    "今天天气不错",
    "你这个傻逼",
    "加我微信: abc12345",
    Content.text("电话 138-0013-8000", id=7),
    "visit www.example.com",
    "f.u.c.k you",
]


async def test_moderator_and_async_moderator_give_the_same_results() -> None:
    with Moderator() as sync_mod:
        expected = sync_mod.check_many(PARITY_INPUTS, scene="Group")
        singles = [sync_mod.check(item) for item in PARITY_INPUTS]
    async with AsyncModerator() as async_mod:
        got = await async_mod.check_many(PARITY_INPUTS, scene="Group")
        async_singles = [await async_mod.check(item) for item in PARITY_INPUTS]
    assert got == expected
    assert async_singles == singles == expected
    assert {v.decision for v in expected} == {Decision.PASS, Decision.REVIEW, Decision.BLOCK}


async def test_parity_over_http_with_fallback(plugin_manager: pluggy.PluginManager) -> None:
    cfg = config(("a", {"batch_size": 3}), ("b", {"batch_size": 3}))
    texts = ["fine", "item-fail x", "block y", "review z", "ok"]

    def vendors() -> httpx.MockTransport:
        return routed({"a": FakeVendor(), "b": FakeVendor(item_errors=False)})

    with Moderator(cfg, plugin_manager=plugin_manager, transport=vendors()) as mod:
        expected = mod.check_many(texts)
    async with AsyncModerator(cfg, plugin_manager=plugin_manager, transport=vendors()) as amod:
        got = await amod.check_many(texts)
    assert got == expected
    assert [v.provider for v in got] == ["a", "b", "a", "a", "a"]


def test_a_provider_error_is_never_a_pass(plugin_manager: pluggy.PluginManager) -> None:
    with Moderator(
        config(("a", {})),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(FakeVendor(garbage=True)),
    ) as mod:
        results = mod.check_many(["hello"], return_exceptions=True)
    assert isinstance(results[0], AllProvidersFailed)
    assert not isinstance(results[0], Verdict)
    assert isinstance(results[0].exceptions[0], ProviderError)
