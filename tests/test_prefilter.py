"""The local pre-filter (``[moderation] prefilter = "local"``): what the local engine
BLOCKs never reaches a vendor, and the verdict says it was decided locally."""

from __future__ import annotations

from typing import Any

import httpx
import pluggy
import pytest

from moderation_core import AsyncModerator, ConfigError, Decision, Label, Moderator
from tests.fakes import FakeVendor, Recorder

BLOCKED = "你这个傻逼"  # in the built-in abuse.block lexicon
CONTACT = "加我微信 abc123456"  # a local rule: REVIEW, not BLOCK


def config(prefilter: str = "local", **extra: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": ["vendor"], "prefilter": prefilter, "batch_window": 0},
        "providers": {"vendor": {"type": "fake"}, **extra},
    }


def test_a_locally_blocked_text_never_reaches_the_vendor(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    with Moderator(
        config(), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        verdict = mod.check(BLOCKED)
    assert vendor.checks == []
    assert verdict.decision is Decision.BLOCK
    assert verdict.label is Label.ABUSE
    assert verdict.prefiltered
    assert verdict.provider == "local"
    assert verdict.masked_text == "你这个**"
    assert verdict.to_dict()["prefiltered"] is True


async def test_async_too(plugin_manager: pluggy.PluginManager, vendor: FakeVendor) -> None:
    async with AsyncModerator(
        config(), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        verdict = await mod.check(BLOCKED)
    assert vendor.checks == []
    assert verdict.prefiltered


def test_anything_else_goes_to_the_vendor(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    with Moderator(
        config(), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        results = mod.check_many(["hello", BLOCKED, CONTACT, "https://x.test/a.png"])
    assert [item for check in vendor.checks for item in check["items"]] == [
        "hello",
        CONTACT,
        "https://x.test/a.png",
    ]
    assert [r.prefiltered for r in results] == [False, True, False, False]
    assert [r.provider for r in results] == ["vendor", "local", "vendor", "vendor"]


def test_off_by_default(plugin_manager: pluggy.PluginManager, vendor: FakeVendor) -> None:
    cfg = config()
    del cfg["moderation"]["prefilter"]
    with Moderator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        verdict = mod.check(BLOCKED)
    assert len(vendor.checks) == 1
    assert not verdict.prefiltered


def test_a_configured_local_provider_is_the_prefilter(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    # Its allow-list applies: an allowed term is not blocked locally.
    cfg = config(mine={"type": "local", "allow": ["傻逼"]})
    cfg["moderation"]["providers"] = ["vendor", "mine"]
    with Moderator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        assert not mod.check(BLOCKED).prefiltered
        verdict = mod.check("滚出中国")
    assert verdict.prefiltered
    assert verdict.provider == "mine"
    assert len(vendor.checks) == 1


def test_prefiltered_verdicts_reach_the_hook_and_are_not_cached(
    plugin_manager: pluggy.PluginManager, recorder: Recorder, vendor: FakeVendor
) -> None:
    cfg = config()
    cfg["moderation"]["cache"] = {}
    with Moderator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        first = mod.check(BLOCKED)
        again = mod.check(BLOCKED)
    assert first.prefiltered
    assert again.prefiltered
    assert not again.cached
    assert [v.prefiltered for _, v, _ in recorder.seen] == [True, True]


def test_evaluate_uses_it(plugin_manager: pluggy.PluginManager, vendor: FakeVendor) -> None:
    with Moderator(
        config(), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        outcome = mod.evaluate(BLOCKED)
    assert outcome.verdict is not None
    assert outcome.verdict.prefiltered
    assert vendor.checks == []


def test_an_unknown_prefilter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="prefilter must be one of off, local"):
        Moderator(config(prefilter="remote"))
