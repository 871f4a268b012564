"""Webhook replay protection (issue 9 item 24): the symmetric time window, the dedupe
key, and the replay cache in memory and in a real Redis."""

from __future__ import annotations

import logging
import socket
import uuid

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from moderation_core import (
    DEFAULT_WEBHOOK_WINDOW,
    MemoryReplayCache,
    RedisReplayCache,
    ReplayCache,
    dedupe_key,
    replay_cache,
    time_window_problem,
    warn_unverified,
)
from moderation_core.testing import Clock

NOW = 1_700_000_000.0


# -- the time window ---------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 59, -59, 60, -60])
def test_times_within_the_window_pass(offset: int) -> None:
    assert time_window_problem(int(NOW) + offset, now=NOW, window=60) is None
    assert time_window_problem(str(int(NOW) + offset), now=NOW, window=60) is None


@pytest.mark.parametrize(("offset", "word"), [(-61, "old"), (61, "in the future")])
def test_the_window_is_symmetric(offset: int, word: str) -> None:
    problem = time_window_problem(int(NOW) + offset, now=NOW, window=60, field="RequestTime")
    assert problem is not None
    assert problem.startswith("RequestTime check failed")
    assert word in problem


def test_milliseconds() -> None:
    ms = int(NOW * 1000)
    assert time_window_problem(ms, now=NOW, window=60, per_second=1000) is None
    assert time_window_problem(ms + 120_000, now=NOW, window=60, per_second=1000) is not None


@pytest.mark.parametrize(
    "value",
    ["", "abc", "1e400", "-5", "1.5", "9" * 400, "١٧٠٠٠٠٠٠٠٠", None, True, 1.5, [1], 10**400],
)
def test_unreadable_or_absurd_times_are_a_problem_not_an_exception(value: object) -> None:
    problem = time_window_problem(value, now=NOW, window=60)
    assert problem is not None
    assert "check failed" in problem


@given(st.one_of(st.integers(), st.text(max_size=40), st.floats(), st.none()))
def test_any_value_gives_none_or_a_message(value: object) -> None:
    problem = time_window_problem(value, now=NOW, window=60)
    assert problem is None or isinstance(problem, str)


# -- the dedupe key ----------------------------------------------------------------


def test_dedupe_key_is_stable_and_content_bound() -> None:
    one = dedupe_key("tencent_chat", "req-1", {"b": 2, "a": 1})
    assert one == dedupe_key("tencent_chat", "req-1", {"a": 1, "b": 2})
    assert one.startswith("tencent_chat:")
    assert one != dedupe_key("tencent_chat", "req-2", {"a": 1, "b": 2})
    assert one != dedupe_key("tencent_chat", "req-1", {"a": 1, "b": 3})
    assert one != dedupe_key("huanxin", "req-1", {"a": 1, "b": 2})


def test_dedupe_key_survives_odd_text() -> None:
    assert dedupe_key("x", "\ud800").startswith("x:")


# -- the cache in memory -----------------------------------------------------------


def test_memory_cache_remembers_for_ttl() -> None:
    clock = Clock(0.0)
    cache = MemoryReplayCache(60, clock=clock)
    assert isinstance(cache, ReplayCache)
    assert cache.first_seen("a") is True
    assert cache.first_seen("a") is False
    assert cache.first_seen("b") is True
    clock.now = 59
    assert cache.first_seen("a") is False
    clock.now = 60.5
    assert cache.first_seen("a") is True  # forgotten after ttl: the window refuses older


def test_memory_cache_is_bounded() -> None:
    cache = MemoryReplayCache(60, max_entries=3, clock=Clock(0.0))
    for key in "abcde":
        assert cache.first_seen(key)
    assert len(cache) == 3
    assert "a" not in cache
    assert "e" in cache


def test_memory_cache_forgets_expired_keys() -> None:
    clock = Clock(0.0)
    cache = MemoryReplayCache(10, clock=clock)
    for i in range(100):
        cache.first_seen(str(i))
    clock.now = 11
    cache.first_seen("new")
    assert len(cache) == 1


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), True])
def test_bad_ttl_is_refused(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        MemoryReplayCache(ttl)


def test_factory_without_redis_is_memory() -> None:
    cache = replay_cache(ttl=30)
    assert isinstance(cache, MemoryReplayCache)
    assert cache.ttl == 30
    assert replay_cache().ttl == DEFAULT_WEBHOOK_WINDOW


# -- the cache in Redis ------------------------------------------------------------


def test_redis_cache_is_shared_between_instances() -> None:
    client = redis.Redis(host="127.0.0.1", port=6379)
    prefix = f"test-replay-{uuid.uuid4().hex}:"
    try:
        one = RedisReplayCache(client, 60, prefix=prefix)
        two = RedisReplayCache(client, 60, prefix=prefix)
        assert one.first_seen("event") is True
        assert two.first_seen("event") is False  # another process sees the first one's key
        (name,) = client.keys(prefix + "*")
        assert 0 < client.pttl(name) <= 60_000
    finally:
        for name in client.keys(prefix + "*"):
            client.delete(name)
        client.close()


def test_factory_with_redis_url() -> None:
    cache = replay_cache("redis://127.0.0.1:6379/0", ttl=5)
    assert isinstance(cache, RedisReplayCache)
    key = f"factory-{uuid.uuid4().hex}"
    assert cache.first_seen(key) is True
    assert cache.first_seen(key) is False


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_redis_down_degrades_to_memory_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(0.0)
    client = redis.Redis(
        host="127.0.0.1",
        port=_dead_port(),
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 0),  # the client's own retries would only slow the test
    )
    cache = RedisReplayCache(client, 60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="moderation_core.webhooks"):
        assert cache.first_seen("a") is True
        assert cache.first_seen("a") is False  # still a replay while Redis is away
        clock.now = 10  # past the retry pause: Redis is asked again, fails again
        assert cache.first_seen("b") is True
        assert cache.first_seen("b") is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Redis failed" in warnings[0].getMessage()


def test_unverified_warning_is_logged_once_per_source(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.replay")
    source = f"parser-{uuid.uuid4().hex}"
    with caplog.at_level(logging.WARNING, logger="test.replay"):
        for _ in range(3):
            warn_unverified(logger, source, "webhook token")
        warn_unverified(logger, source + "-other", "callback secret")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "no webhook token configured" in messages[0]
