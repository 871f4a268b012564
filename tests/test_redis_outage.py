"""A Redis outage degrades shared state to in-process state; it never fails a check.

Each test starts its own redis-server on a spare port, kills it mid-run and restarts
it on the same port: every input still gets its verdict, in order; one WARNING marks
each outage; after the cool-down (an injected clock, no sleeping) state is back in
Redis."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import limits.errors
import pluggy
import pytest
import redis

from moderation_core import Action, AsyncModerator, Decision, Moderator, hookimpl
from moderation_core._state import (
    OUTAGE_COOL_DOWN,
    REDIS_CONNECT_TIMEOUT,
    REDIS_READ_TIMEOUT,
    SharedRedis,
)
from moderation_core._steps import run_awaiting, run_blocking, single
from moderation_core.testing import Clock
from tests.fakes import FakeVendor

STATE_LOG = "moderation_core.state"


def spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server")


class RedisServer:
    """A throwaway redis-server on one port, to kill and start again."""

    def __init__(self) -> None:
        assert REDIS_SERVER is not None
        self.port = spare_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            for _ in range(500):  # up to a few seconds while it binds the port
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return
                threading.Event().wait(0.01)
            raise RuntimeError("redis-server did not start")
        finally:
            client.close()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.kill()


class StateEvents:
    """Records the shared_state_changed hook."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, str]] = []

    @hookimpl
    def shared_state_changed(self, healthy: bool, reason: str) -> None:
        self.seen.append((healthy, reason))


@pytest.fixture
def events(plugin_manager: pluggy.PluginManager) -> StateEvents:
    events = StateEvents()
    plugin_manager.register(events, name="state-events")
    return events


class KillingVendor(FakeVendor):
    """The fake vendor, which kills the Redis server as it answers request number
    ``kill_at``: the outage starts in the middle of a run."""

    def __init__(self, server: RedisServer, kill_at: int) -> None:
        super().__init__()
        self.server = server
        self.kill_at = kill_at

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if len(self.checks) + 1 == self.kill_at:
            self.server.kill()
        return super().__call__(request)


def config(url: str, *, batch_size: int = 1, **moderation: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": ["fake", "local"], "redis_url": url, **moderation},
        "providers": {
            "fake": {
                "type": "fake",
                "base_url": "http://vendor.fake",
                "batch_size": batch_size,
                "rate_limit": 10_000,
                "rate_burst": 10_000,
                "breaker": {"failures": 3},
            },
            "local": {"type": "local"},
        },
        "policy": {
            "mute": {"after": 2, "within": "1h", "for": "1h"},
            "context": {"messages": 3, "within": "60s"},
            "redis_prefix": "outage-test",
        },
    }


def texts(n: int, start: int = 0) -> list[str]:
    """Messages whose verdicts the fake vendor decides by their words."""
    words = ("hello", "a block here", "please review", "fine")
    return [f"{words[i % len(words)]} #{i}" for i in range(start, start + n)]


def expected(batch: list[str]) -> list[Decision]:
    return [
        Decision.BLOCK if "block" in t else Decision.REVIEW if "review" in t else Decision.PASS
        for t in batch
    ]


def outage_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == STATE_LOG and r.levelno >= logging.WARNING]


def run(shared: SharedRedis, call: Callable[[], Any], local: Callable[[], Any]) -> Any:
    return run_blocking(shared.attempt(lambda: single(call), local))


async def run_async(shared: SharedRedis, call: Callable[[], Any], local: Callable[[], Any]) -> Any:
    return await run_awaiting(shared.attempt(lambda: single(call), local))


def shared_of(mod: Moderator | AsyncModerator) -> SharedRedis:
    shared = mod._redis
    assert isinstance(shared, SharedRedis)
    return shared


def test_the_core_gives_its_redis_clients_short_timeouts(
    plugin_manager: pluggy.PluginManager, server: RedisServer
) -> None:
    for cls in (Moderator, AsyncModerator):
        mod = cls(config(server.url), plugin_manager=plugin_manager)
        options = shared_of(mod).client.connection_pool.connection_kwargs
        assert options["socket_connect_timeout"] == REDIS_CONNECT_TIMEOUT
        assert options["socket_timeout"] == REDIS_READ_TIMEOUT
        assert options["retry"].get_retries() <= 1  # redis-py's default is ten, with backoff


def policy_state_works_in_process(mod: Moderator) -> None:
    """evaluate's mutes and context, and the mute calls, with Redis down."""
    where = {"scene": "Group", "sender": "u1", "receiver": "g1"}
    assert mod.evaluate("a block here", **where).action is Action.BLOCK
    second = mod.evaluate("block again", **where)
    assert "now muted" in second.reason
    muted = mod.evaluate("hello", **where)
    assert (muted.action, "is muted" in muted.reason) == (Action.BLOCK, True)
    other = {"scene": "Group", "sender": "u2", "receiver": "g1"}
    for part in ("电话 138", "0013"):
        assert mod.evaluate(part, **other).action is Action.ALLOW
    caught = mod.evaluate("8000", **other)
    assert caught.reason.startswith("context: the last 3 messages joined")
    mute = mod.mute_sender("u3", duration="1h")
    assert mute in mod.muted_senders()


def test_sync_checks_and_evaluate_survive_redis_dying_and_coming_back(
    plugin_manager: pluggy.PluginManager,
    server: RedisServer,
    events: StateEvents,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=STATE_LOG)
    vendor = KillingVendor(server, kill_at=5)
    clock = Clock(1000.0)
    with Moderator(
        config(server.url), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        shared = shared_of(mod)
        shared.clock = clock
        # Healthy: the breaker's state and the rate window live in Redis.
        first = texts(4)
        assert [v.decision for v in mod.check_many(first)] == expected(first)
        client = server.client()
        assert client.exists("moderation_core:breaker:fake")
        assert any(b"provider:fake" in k for k in client.keys("*"))
        client.close()
        assert outage_warnings(caplog) == []

        # Redis dies while the fifth request is out; the run goes on.
        during = texts(40, start=4)
        assert [v.decision for v in mod.check_many(during)] == expected(during)
        singles = texts(8, start=44)
        assert [mod.check(t).decision for t in singles] == expected(singles)
        assert shared.degraded
        assert shared.outages == 1
        policy_state_works_in_process(mod)
        # One WARNING for the whole outage, not one per call; one hook call.
        (warning,) = outage_warnings(caplog)
        assert "127.0.0.1" in warning.getMessage()
        assert [healthy for healthy, _ in events.seen] == [False]

        # Redis is back; within the cool-down nothing asks it yet.
        server.start()
        mod.check("hello")
        assert shared.degraded
        clock.now += OUTAGE_COOL_DOWN
        after = texts(6, start=60)
        assert [v.decision for v in mod.check_many(after)] == expected(after)
        assert not shared.degraded
        assert [healthy for healthy, _ in events.seen] == [False, True]
        # State is in Redis again: a mute set now is visible there.
        mod.mute_sender("back", duration="1h", reason="after the outage")
        client = server.client()
        assert client.exists("outage-test:mute:*:back")
        client.close()

        # A second outage is a second WARNING.
        server.kill()
        assert mod.check("a block here").decision is Decision.BLOCK
        assert mod.evaluate("hello", sender="u9").action is Action.ALLOW
        assert len(outage_warnings(caplog)) == 2
        assert shared.outages == 2


async def test_async_batched_checks_survive_redis_dying_and_coming_back(
    plugin_manager: pluggy.PluginManager,
    server: RedisServer,
    events: StateEvents,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    vendor = KillingVendor(server, kill_at=3)
    clock = Clock(1000.0)
    cfg = config(server.url, batch_size=10, batch_window=0.005)
    async with AsyncModerator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        shared = shared_of(mod)
        shared.clock = clock
        for start in (0, 100, 200):  # healthy, then dying on the third batch, then down
            batch = texts(100, start=start)
            verdicts = await asyncio.gather(*(mod.check(t) for t in batch))
            assert [v.decision for v in verdicts] == expected(batch)
        assert max(len(c["items"]) for c in vendor.checks) > 1  # batching was on
        assert shared.degraded
        assert shared.outages == 1
        where = {"scene": "Group", "sender": "u1", "receiver": "g1"}
        outcomes = [await mod.evaluate(t, **where) for t in ("block", "block", "hello")]
        assert [o.action for o in outcomes] == [Action.BLOCK] * 3
        assert "is muted" in outcomes[2].reason
        assert len(outage_warnings(caplog)) == 1

        server.start()
        clock.now += OUTAGE_COOL_DOWN
        batch = texts(50, start=300)
        verdicts = await asyncio.gather(*(mod.check(t) for t in batch))
        assert [v.decision for v in verdicts] == expected(batch)
        assert not shared.degraded
        await mod.mute_sender("back", duration="1h")
        client = server.client()
        assert client.exists("outage-test:mute:*:back")
        client.close()
        assert [healthy for healthy, _ in events.seen] == [False, True]
    gc.collect()  # an unretrieved task exception is logged when the task is collected
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert len(outage_warnings(caplog)) == 1


def test_a_redis_that_never_answers_costs_one_timeout_per_cool_down(
    plugin_manager: pluggy.PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    # A listening socket that never accepts: connects complete, reads time out.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(100)
        url = f"redis://:s3cret-pass@127.0.0.1:{hole.getsockname()[1]}/0"
        vendor = FakeVendor()
        with Moderator(
            config(url), plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
        ) as mod:
            batch = texts(20)
            assert [mod.check(t).decision for t in batch] == expected(batch)
            assert mod.evaluate("hello", sender="u1").action is Action.ALLOW
            shared = shared_of(mod)
            assert shared.outages == 1
    (warning,) = outage_warnings(caplog)
    assert "Timeout" in warning.getMessage()
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    "error",
    [
        redis.ConnectionError("Error 111 connecting to h:1 (password s3cret)"),
        redis.TimeoutError("Timeout reading from socket"),
        redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
        ConnectionResetError(104, "Connection reset by peer"),
        limits.errors.StorageError(redis.ConnectionError("wrapped")),
    ],
)
def test_shared_redis_asks_once_per_cool_down_and_observers_cannot_fail_a_call(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(1000.0)
    asked: list[str] = []

    def failing() -> str:
        asked.append("redis")
        raise error

    def broken_observer(healthy: bool, reason: str) -> None:
        raise RuntimeError("observer bug")

    shared = SharedRedis(
        None, "redis://:s3cret@h:1/0", on_change=broken_observer, clock=clock, cool_down=5
    )
    assert [run(shared, failing, lambda: "local") for _ in range(5)] == ["local"] * 5
    assert asked == ["redis"]  # one try; then in process, with no round trip
    clock.now += 5
    assert run(shared, failing, lambda: "local") == "local"  # the probe fails: same outage
    assert asked == ["redis", "redis"]
    assert run(shared, failing, lambda: "local") == "local"
    assert asked == ["redis", "redis"]
    clock.now += 5
    assert run(shared, lambda: "redis", lambda: "local") == "redis"
    assert not shared.degraded
    assert shared.outages == 1
    assert len(outage_warnings(caplog)) == 1 + 2  # the outage, and the observer's bug twice
    assert "s3cret" not in caplog.text


async def test_shared_redis_async_falls_back_and_comes_back() -> None:
    clock = Clock(1000.0)
    shared = SharedRedis(None, "redis://h:1/0", clock=clock)

    async def failing() -> str:
        raise redis.ConnectionError("refused")

    async def answering() -> str:
        return "redis"

    assert await run_async(shared, failing, lambda: "local") == "local"
    assert await run_async(shared, answering, lambda: "local") == "local"  # cooling down
    clock.now += OUTAGE_COOL_DOWN
    assert await run_async(shared, answering, lambda: "local") == "redis"
    assert (shared.degraded, shared.outages) == (False, 1)
