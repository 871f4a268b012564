"""The core's plumbing: what it fills in for providers, the strategy table, and the
sync and async moderators driven from one core (issue 10 items 1, 2, 3 and 5)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import httpx
import pluggy
import pytest

from moderation_core import (
    AsyncModerator,
    CheckContext,
    Content,
    Decision,
    Flow,
    ItemResult,
    Moderator,
    Verdict,
    hookimpl,
)
from tests.fakes import FakeProvider, FakeVendor

AnyModerator = Moderator | AsyncModerator


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


def routed(vendors: dict[str, FakeVendor]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        return vendors[request.url.host.removesuffix(".fake")](request)

    return httpx.MockTransport(handle)


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
