"""Policy state shared through a real Redis: two moderators (sync and async) see the
same mutes and conversations. Needs Redis on 127.0.0.1:6379 (or
MODERATION_TEST_REDIS_URL); skipped without it, except under CI=true where a missing
Redis fails the run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pluggy
import pytest
import redis

from moderation_core import Action
from moderation_core.testing import Clock
from tests.fakes import FakeVendor
from tests.test_policy import build, call, close, fake_config

REDIS_URL = os.environ.get("MODERATION_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        client.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL}, and CI=true needs it: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    """A namespace of this test's own, deleted afterwards."""
    name = f"moderation_core:test:{uuid.uuid4().hex}"
    yield name
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)


def shared(prefix: str, policy: dict[str, Any]) -> dict[str, Any]:
    config = fake_config({**policy, "redis_prefix": prefix})
    config["moderation"]["redis_url"] = REDIS_URL
    return config


MUTE = {"mute": {"after": 2, "within": "1h", "for": "24h"}}


@pytest.mark.parametrize("kinds", [("sync", "sync"), ("async", "sync"), ("sync", "async")])
async def test_two_moderators_share_mutes_through_redis(
    kinds: tuple[str, str], prefix: str, plugin_manager: pluggy.PluginManager, client: redis.Redis
) -> None:
    clock = Clock()
    vendor = FakeVendor()
    one = build(kinds[0], shared(prefix, MUTE), plugin_manager, vendor, clock)
    two = build(kinds[1], shared(prefix, MUTE), plugin_manager, vendor, clock)
    await call(one.evaluate("a block here", scene="Group", sender="u1"))
    second = await call(two.evaluate("block again", scene="Group", sender="u1"))
    assert "now muted in scene Group" in second.reason  # the count is shared too

    sent = len(vendor.checks)
    muted = await call(one.evaluate("hello", scene="Group", sender="u1"))
    assert muted.action is Action.BLOCK
    assert "muted in scene Group" in muted.reason
    assert len(vendor.checks) == sent
    (listed,) = await call(two.muted_senders())
    assert (listed.sender, listed.scene) == ("u1", "Group")
    # Nothing outlives its window.
    assert 0 < client.pttl(f"{prefix}:mute:Group:u1") <= 86400 * 1000

    assert await call(two.unmute_sender("u1")) == 1
    assert (await call(one.evaluate("hello", scene="Group", sender="u1"))).action is Action.ALLOW

    await call(one.mute_sender("u 2:x", duration="1h", reason="by hand"))
    assert (await call(two.evaluate("hello", scene="C2C", sender="u 2:x"))).action is Action.BLOCK
    clock.advance(3601)  # expired, whatever Redis's TTL says
    assert (await call(two.evaluate("hello", scene="C2C", sender="u 2:x"))).action is Action.ALLOW
    assert await call(one.muted_senders()) == []
    await close(one)
    await close(two)


@pytest.mark.parametrize("kinds", [("sync", "sync"), ("async", "async"), ("sync", "async")])
async def test_context_is_shared_through_redis(
    kinds: tuple[str, str], prefix: str, plugin_manager: pluggy.PluginManager, client: redis.Redis
) -> None:
    policy = {"context": {"messages": 3, "within": "60s"}}
    one = build(kinds[0], shared(prefix, policy), plugin_manager, FakeVendor())
    two = build(kinds[1], shared(prefix, policy), plugin_manager, FakeVendor())
    where = {"scene": "Group", "sender": "u1", "receiver": "g1"}
    await call(one.evaluate("电话 138", **where))
    await call(two.evaluate("0013", **where))
    caught = await call(one.evaluate("8000", **where))
    assert caught.action is Action.REVIEW
    assert caught.reason.startswith("context: the last 3 messages joined")
    (key,) = client.scan_iter(match=f"{prefix}:recent:*")
    assert client.llen(key) == 2  # the last messages - 1, for the next merge
    assert 0 < client.pttl(key) <= 60_000
    await close(one)
    await close(two)
