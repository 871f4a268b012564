"""Scale-out by config: with ``redis_url`` the rate limit and the circuit breaker are
shared by every Moderator (every process) using that Redis. Runs against the real
Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pluggy
import pytest
import redis

from moderation_core import AllProvidersFailed, AsyncModerator, Moderator, RateLimited
from tests.fakes import FakeVendor


@pytest.fixture
def name(redis_url: str) -> Any:
    """A provider name no other test run uses; its keys are removed afterwards."""
    provider = f"p{uuid.uuid4().hex[:10]}"
    yield provider
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"*{provider}*"):
        client.delete(key)
    client.close()


def shared(redis_url: str, name: str, **table: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": [name], "redis_url": redis_url},
        "providers": {name: {"type": "fake", "base_url": "http://shared.fake", **table}},
    }


def test_two_moderators_share_one_rate_limit(
    plugin_manager: pluggy.PluginManager, redis_url: str, name: str
) -> None:
    vendor = FakeVendor()
    cfg = shared(redis_url, name, rate_limit=5, rate_burst=5, max_wait=0)
    one = Moderator(cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor))
    two = Moderator(cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor))
    with one, two:
        results = [
            (one if i % 2 == 0 else two).check_many([f"m{i}"], return_exceptions=True)[0]
            for i in range(8)
        ]
    outcomes = [
        "limited"
        if isinstance(r, AllProvidersFailed) and isinstance(r.exceptions[0], RateLimited)
        else "ok"
        for r in results
    ]
    # Five slots in the window, taken alternately by two moderators; the rest wait
    # for nothing (max_wait = 0) and are refused.
    assert outcomes == ["ok"] * 5 + ["limited"] * 3
    assert len(vendor.checks) == 5


def test_an_open_breaker_is_seen_by_every_moderator(
    plugin_manager: pluggy.PluginManager, redis_url: str, name: str
) -> None:
    vendor = FakeVendor(fail=True)
    cfg = shared(redis_url, name, breaker={"failures": 2})
    with (
        Moderator(cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)) as one,
        Moderator(cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)) as two,
    ):
        for mod in (one, two):
            with pytest.raises(AllProvidersFailed):
                mod.check("hello")
        assert len(vendor.checks) == 2  # two failures, from two moderators: now open
        with pytest.raises(AllProvidersFailed) as caught:
            one.check("hello")
    assert caught.value.exceptions[0].code == "circuit_open"
    assert len(vendor.checks) == 2


async def test_async_moderators_share_limits_and_breakers(
    plugin_manager: pluggy.PluginManager, redis_url: str, name: str
) -> None:
    vendor = FakeVendor()
    cfg = shared(redis_url, name, rate_limit=4, rate_burst=4, max_wait=0)
    transport = httpx.MockTransport(vendor)
    async with (
        AsyncModerator(cfg, plugin_manager=plugin_manager, transport=transport) as one,
        AsyncModerator(cfg, plugin_manager=plugin_manager, transport=transport) as two,
    ):
        results = await asyncio.gather(
            *(m.check(f"m{i}") for i, m in enumerate([one, two] * 4)), return_exceptions=True
        )
    assert sum(not isinstance(r, Exception) for r in results) == 4
    assert len(vendor.checks) == 4
    # a sync Moderator on the same Redis sees the same window
    with (
        Moderator(cfg, plugin_manager=plugin_manager, transport=transport) as sync,
        pytest.raises(AllProvidersFailed),
    ):
        sync.check("one more")
