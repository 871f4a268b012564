"""The core's plumbing: what it fills in for providers, the strategy table, and the
sync and async moderators driven from one core (issue 10 items 1, 2, 3 and 5)."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import httpx
import pluggy
import pytest

from moderation_core import (
    Action,
    AsyncModerator,
    CheckContext,
    ConfigError,
    Content,
    Decision,
    Flow,
    ItemResult,
    Label,
    Moderator,
    Outcome,
    Verdict,
    hookimpl,
    load_config,
)
from moderation_core._policy import Policy, VendorCheck
from moderation_core._routing import STRATEGIES, Strategy
from moderation_core._state import GetMutes, RecordBlock
from moderation_core._steps import Steps, run_blocking
from tests.fakes import Clock, FakeProvider, FakeVendor, routed

AnyModerator = Moderator | AsyncModerator
MUTE_POLICY = {"mute": {"after": 3, "within": "1h", "for": "24h"}}


class BareProvider(FakeProvider):
    """A plugin provider that leaves ``provider`` and ``content_id`` to the core."""

    provider_type: ClassVar[str] = "bare"

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        results: list[ItemResult] = yield from super().flow(contents, context)
        return [
            attrs.evolve(r, provider=None, content_id=None) if isinstance(r, Verdict) else r
            for r in results
        ]


class BarePlugin:
    @hookimpl
    def register_providers(self, registry: Any) -> None:
        registry.add(BareProvider)


class Disagreements:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Verdict, Verdict]] = []

    @hookimpl
    def shadow_disagreement(
        self, content: Content, verdict: Verdict, shadow: Verdict, context: CheckContext
    ) -> None:
        self.seen.append((content.value, verdict, shadow))


@pytest.fixture
def bare_pm(plugin_manager: pluggy.PluginManager) -> pluggy.PluginManager:
    plugin_manager.register(BarePlugin(), name="bare")
    return plugin_manager


def bare_config(*names: str, **moderation: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": list(names), **moderation},
        "providers": {name: {"type": "bare"} for name in names},
    }


def build(kind: str, config: dict[str, Any], pm: pluggy.PluginManager, transport: Any) -> Any:
    cls = Moderator if kind == "sync" else AsyncModerator
    return cls(config, plugin_manager=pm, transport=transport)


async def call(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# -- item 1: the core fills in what it knows -----------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_the_core_names_the_provider_and_the_content_on_every_verdict(
    kind: str, bare_pm: pluggy.PluginManager
) -> None:
    vendors = {"a": FakeVendor()}
    mod = build(kind, bare_config("a"), bare_pm, routed(vendors))
    verdicts = await call(mod.check_many([Content.text("hello", id="m-1"), "block this"]))
    await call(mod.close())
    assert [(v.provider, v.content_id) for v in verdicts] == [("a", "m-1"), ("a", None)]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_shadow_asks_the_deciding_provider_once_when_the_plugin_names_nobody(
    kind: str, bare_pm: pluggy.PluginManager
) -> None:
    spy = Disagreements()
    bare_pm.register(spy)
    vendors = {"old": FakeVendor(), "new": FakeVendor()}
    mod = build(kind, bare_config("old", "new", strategy="shadow"), bare_pm, routed(vendors))
    verdict = await call(mod.check(Content.text("hello", id=7)))
    await call(mod.close())  # waits for the shadow check
    assert (verdict.provider, verdict.content_id) == ("old", 7)
    assert len(vendors["old"].checks) == 1  # not asked again as its own shadow
    assert len(vendors["new"].checks) == 1
    assert spy.seen == []  # both passed it


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_strictest_ties_go_to_the_earlier_provider_when_the_plugin_names_nobody(
    kind: str, bare_pm: pluggy.PluginManager
) -> None:
    vendors = {"first": FakeVendor(), "second": FakeVendor()}
    cfg = bare_config("first", "second", strategy="strictest")
    mod = build(kind, cfg, bare_pm, routed(vendors))
    verdicts = await call(mod.check_many(["block me", "fine"]))
    await call(mod.close())
    assert [(v.provider, v.decision) for v in verdicts] == [
        ("first", Decision.BLOCK),
        ("first", Decision.PASS),
    ]


def test_a_provider_that_names_itself_wrongly_is_corrected(
    bare_pm: pluggy.PluginManager,
) -> None:
    class Misnamed(FakeProvider):
        provider_type: ClassVar[str] = "misnamed"

        def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
            results: list[ItemResult] = yield from super().flow(contents, context)
            return [
                attrs.evolve(r, provider="fake", content_id="wrong")
                if isinstance(r, Verdict)
                else r
                for r in results
            ]

    class Plugin:
        @hookimpl
        def register_providers(self, registry: Any) -> None:
            registry.add(Misnamed)

    bare_pm.register(Plugin())
    cfg = {"moderation": {"providers": ["x"]}, "providers": {"x": {"type": "misnamed"}}}
    with Moderator(cfg, plugin_manager=bare_pm, transport=routed({"x": FakeVendor()})) as mod:
        verdict = mod.check(Content.text("hello", id=3))
    assert (verdict.provider, verdict.content_id) == ("x", 3)


# -- item 5: strategies are one table ------------------------------------------------


def reverse_strategy() -> Strategy:
    """A strategy defined in one place: fallback, last provider first."""
    return Strategy(
        decide=lambda router, contents, providers: router.fallback(contents, providers[::-1])
    )


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_strategy_added_to_the_table_is_accepted_and_used(
    kind: str, bare_pm: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(STRATEGIES, "reverse", reverse_strategy())
    vendors = {"a": FakeVendor(), "b": FakeVendor()}
    mod = build(kind, bare_config("a", "b", strategy="reverse"), bare_pm, routed(vendors))
    verdict = await call(mod.check("hello"))
    await call(mod.close())
    assert verdict.provider == "b"
    assert (len(vendors["a"].checks), len(vendors["b"].checks)) == (0, 1)


def test_the_config_accepts_exactly_the_table_names() -> None:
    local = {"local": {"type": "local"}}
    for name in STRATEGIES:
        config = load_config({"moderation": {"strategy": name}, "providers": local})
        assert config.moderation.strategy == name
    with pytest.raises(ConfigError) as caught:
        load_config({"moderation": {"strategy": "loudest"}, "providers": local})
    assert f"must be one of {', '.join(STRATEGIES)} (got 'loudest')" in str(caught.value)


def test_shadow_is_an_entry_with_background_routes_and_the_others_have_none() -> None:
    assert STRATEGIES["shadow"].decide is STRATEGIES["fallback"].decide
    assert STRATEGIES["shadow"].background is not STRATEGIES["fallback"].background


# -- item 2: one core, run blocking or awaited -----------------------------------------


def test_both_moderators_present_each_operation_with_its_own_name_doc_and_signature() -> None:
    for name in ("check", "check_many", "evaluate", "mute_sender", "unmute_sender"):
        sync_op, async_op = getattr(Moderator, name), getattr(AsyncModerator, name)
        assert sync_op.__name__ == async_op.__name__ == name
        assert sync_op.__doc__
        assert sync_op.__doc__ == async_op.__doc__
        assert inspect.signature(sync_op) == inspect.signature(async_op)
        assert "Steps" not in str(inspect.signature(sync_op))
    assert str(inspect.signature(Moderator.check).return_annotation) == "Verdict"


def test_a_step_error_is_thrown_into_the_plan_where_it_yielded() -> None:
    seen: list[str] = []

    def failing() -> None:
        raise ValueError("boom")

    def plan() -> Steps[str]:
        try:
            yield failing
        except ValueError as exc:
            seen.append(str(exc))
        answer: str = yield lambda: "second"
        return answer

    assert run_blocking(plan()) == "second"
    assert seen == ["boom"]


async def test_a_cancelled_check_releases_its_in_flight_gate(
    bare_pm: pluggy.PluginManager,
) -> None:
    """max_in_flight = 1: the first check holds the gate until it is cancelled; the
    plan's finally block must give the gate back, or the second check never runs."""
    entered, release = asyncio.Event(), asyncio.Event()
    vendor = FakeVendor()

    async def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["items"] == ["slow"]:
            entered.set()
            await release.wait()
        return vendor(request)

    cfg = {
        "moderation": {"providers": ["a"], "batch_window": 0},
        "providers": {"a": {"type": "bare", "max_in_flight": 1}},
    }
    async with AsyncModerator(
        cfg, plugin_manager=bare_pm, transport=httpx.MockTransport(handler)
    ) as mod:
        first = asyncio.ensure_future(mod.check("slow"))
        await entered.wait()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        verdict = await asyncio.wait_for(mod.check("fast"), timeout=10)
    assert verdict.decision is Decision.PASS


def test_a_provider_without_an_http_config_gets_no_lane(
    bare_pm: pluggy.PluginManager,
) -> None:
    with (
        Moderator(plugin_manager=bare_pm) as local,
        Moderator(bare_config("a"), plugin_manager=bare_pm) as http,
    ):
        assert local.check("hello").provider == "local"  # the local engine: no HTTP
        assert not local._lanes
        assert set(http._lanes) == {"a"}


# -- item 3: policy behind a typed seam ----------------------------------------------


def test_policy_yields_typed_requests_and_never_sees_a_moderator(
    plugin_manager: pluggy.PluginManager,
) -> None:
    clock = Clock()
    cfg = load_config({"providers": {"local": {"type": "local"}}, "policy": MUTE_POLICY})
    policy = Policy(cfg, plugin_manager, clock=clock)
    flow = policy.evaluate("hello", CheckContext(scene="Group", sender="u1"))
    request = next(flow)
    assert request == GetMutes("u1", "Group", clock.now)
    request = flow.send([])
    assert isinstance(request, VendorCheck)
    assert [c.value for c in request.contents] == ["hello"]
    blocked = Verdict(decision=Decision.BLOCK, label=Label.ABUSE, provider="local")
    request = flow.send([blocked])
    assert request == RecordBlock("u1", "Group", 3600.0, clock.now)
    with pytest.raises(StopIteration) as done:
        flow.send(1)
    outcome = done.value.value
    assert isinstance(outcome, Outcome)
    assert outcome.action is Action.BLOCK


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_the_moderator_clock_drives_mute_expiry(
    kind: str, plugin_manager: pluggy.PluginManager
) -> None:
    clock = Clock()
    cls = Moderator if kind == "sync" else AsyncModerator
    mod = cls(plugin_manager=plugin_manager, clock=clock)
    await call(mod.mute_sender("u1", duration="1h"))
    assert (await call(mod.evaluate("hello", sender="u1"))).action is Action.BLOCK
    clock.advance(3601)
    assert (await call(mod.evaluate("hello", sender="u1"))).action is Action.ALLOW
    await call(mod.close())
