"""The verdict cache (``[moderation.cache]``): keys, expiry, what is never kept, the
normalized key, sharing through Redis, and single flight in threads, tasks and across
moderators. Concurrency is arranged with events and counts, never sleeps or timings."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Generator
from typing import Any

import httpx
import pluggy
import pytest
import redis

from moderation_core import AsyncModerator, Content, Decision, Moderator, Verdict
from moderation_core import _cache as cache_module
from moderation_core._cache import VerdictCache, cacheable, chain_fingerprint
from moderation_core._config import load_config
from tests.fakes import Clock, FakeVendor, Recorder


def config(
    *names: str,
    cache: dict[str, Any] | None = None,
    prefix: str | None = None,
    redis_url: str | None = None,
    **moderation: Any,
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "providers": list(names or ("a",)),
        "cache": {} if cache is None else cache,
        "batch_window": 0,
        **moderation,
    }
    if redis_url is not None:
        settings["redis_url"] = redis_url
    table: dict[str, Any] = {
        "moderation": settings,
        "providers": {name: {"type": "fake"} for name in names or ("a",)},
    }
    if prefix is not None:
        table["policy"] = {"redis_prefix": prefix}
    return table


def items(vendor: FakeVendor) -> int:
    """Billable items: every text the vendor was asked about."""
    return sum(len(check["items"]) for check in vendor.checks)


def transport(vendor: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(vendor)


@pytest.fixture
def prefix(redis_url: str) -> Generator[str, None, None]:
    """A Redis prefix of this test's own, removed afterwards."""
    name = f"test-cache-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


# -- hits, marks and keys ----------------------------------------------------------------


def test_a_repeat_is_answered_from_the_cache_and_says_so(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    with Moderator(config(), plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        first = mod.check("please block me")
        again = mod.check(Content.text("please block me", id="m-2"))
    assert items(vendor) == 1
    assert not first.cached
    assert again.cached
    assert again.content_id == "m-2"
    assert (again.decision, again.label, again.keywords) == (
        first.decision,
        first.label,
        first.keywords,
    )
    assert again.to_dict()["cached"] is True


def test_the_original_request_id_is_kept(plugin_manager: pluggy.PluginManager) -> None:
    from moderation_tencent_chat.emulator import make_emulator  # noqa: PLC0415

    table = {
        "type": "tencent_chat",
        "sdkappid": 1400000000,
        "identifier": "admin",
        "secret_key": "x" * 32,
        "base_url": "http://tencent.test",
    }
    cfg = {"moderation": {"cache": {}, "batch_window": 0}, "providers": {"t": table}}
    emulator = make_emulator(secret_key="x" * 32)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(emulator)) as mod:
        first = mod.check("加我微信 hello")
        again = mod.check("加我微信 hello")
    assert first.request_id
    assert again.cached
    assert again.request_id == first.request_id


def test_a_new_scene_is_a_miss(plugin_manager: pluggy.PluginManager, vendor: FakeVendor) -> None:
    with Moderator(config(), plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        mod.check("hello", scene="Group")
        assert mod.check("hello", scene="Group").cached
        assert not mod.check("hello", scene="C2C").cached
        assert not mod.check("hello").cached
    assert items(vendor) == 3


def test_content_type_is_part_of_the_key(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    url = "https://example.com/a.png"
    with Moderator(config(), plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        mod.check(url)
        assert not mod.check(Content.image(url)).cached
        assert mod.check(Content.image(url)).cached


def test_the_provider_chain_and_strategy_change_the_key() -> None:
    one = load_config(config("a"))
    two = load_config(config("a", "b"))
    strictest = load_config(config("a", "b", strategy="strictest"))
    other_timeout = load_config(config("a") | {"providers": {"a": {"type": "fake", "timeout": 3}}})
    prints = {chain_fingerprint(c) for c in (one, two, strictest, other_timeout)}
    assert len(prints) == 4


def test_credentials_are_not_part_of_the_key() -> None:
    base = config("a")
    one = base | {"providers": {"a": {"type": "fake", "api_key": "k-one"}}}
    two = base | {"providers": {"a": {"type": "fake", "api_key": "k-two"}}}
    tencent = {
        "type": "tencent_chat",
        "sdkappid": 1400000000,
        "identifier": "admin",
        "audit_name": "C2C",
    }
    three = {"moderation": {}, "providers": {"t": {**tencent, "secret_key": "s" * 32}}}
    four = {"moderation": {}, "providers": {"t": {**tencent, "secret_key": "t" * 32}}}
    assert chain_fingerprint(load_config(three)) == chain_fingerprint(load_config(four))
    del one, two  # FakeConfig has no credential: the Tencent pair is the real check


def test_a_changed_provider_chain_misses_in_a_shared_redis(
    plugin_manager: pluggy.PluginManager, redis_url: str, prefix: str
) -> None:
    vendors = {"a": FakeVendor(), "b": FakeVendor()}

    def handle(request: httpx.Request) -> httpx.Response:
        return vendors[request.url.host.removesuffix(".fake")](request)

    shared: dict[str, Any] = {"prefix": prefix, "redis_url": redis_url}
    with Moderator(
        config("a", **shared), plugin_manager=plugin_manager, transport=transport(handle)
    ) as one:
        one.check("hello")
    with Moderator(
        config("a", **shared), plugin_manager=plugin_manager, transport=transport(handle)
    ) as same:
        assert same.check("hello").cached
    with Moderator(
        config("a", "b", **shared), plugin_manager=plugin_manager, transport=transport(handle)
    ) as two:
        assert not two.check("hello").cached
    assert items(vendors["a"]) == 2


# -- expiry and what is never kept -----------------------------------------------------


def test_entries_expire_after_ttl(plugin_manager: pluggy.PluginManager, vendor: FakeVendor) -> None:
    clock = Clock()
    cfg = config(cache={"ttl": 60})
    with Moderator(
        cfg, plugin_manager=plugin_manager, transport=transport(vendor), clock=clock
    ) as mod:
        mod.check("hello")
        clock.advance(59.9)
        assert mod.check("hello").cached
        clock.advance(0.2)
        assert not mod.check("hello").cached
    assert items(vendor) == 2


def test_the_lru_keeps_size_entries(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    with Moderator(
        config(cache={"size": 2}), plugin_manager=plugin_manager, transport=transport(vendor)
    ) as mod:
        mod.check_many(["one", "two"])
        assert mod.check("one").cached  # "one" is now the most recent
        mod.check("three")  # drops "two"
        assert mod.check("one").cached
        assert not mod.check("two").cached


def test_errors_and_fail_mode_verdicts_are_never_cached(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor(fail=True)
    cfg = config(fail_mode="review")
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        assert mod.check("hello").fallback
        vendor.fail = False
        answered = mod.check("hello")
        assert not answered.fallback
        assert not answered.cached
        assert mod.check("hello").cached
    assert len(vendor.checks) == 2  # the failed call, the answer; the repeat was cached


def test_item_errors_are_not_cached(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    with Moderator(config(), plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        results = mod.check_many(["item-fail", "item-fail"], return_exceptions=True)
        assert all(not isinstance(r, Verdict) for r in results)
        mod.check_many(["item-fail"], return_exceptions=True)
    assert items(vendor) == 3  # no single flight for an answer that may not be kept


def test_pending_failover_and_fallback_verdicts_are_not_cacheable() -> None:
    assert cacheable(Verdict(decision=Decision.PASS))
    assert not cacheable(Verdict(decision=Decision.PENDING))
    assert not cacheable(Verdict(decision=Decision.BLOCK, fallback=True))
    assert not cacheable(Verdict(decision=Decision.BLOCK, prefiltered=True))
    from moderation_core import ProviderUnavailable  # noqa: PLC0415

    failed_over = Verdict(decision=Decision.PASS, errors=(ProviderUnavailable("x", provider="a"),))
    assert not cacheable(failed_over)


def test_cache_hits_reach_the_check_finished_hook(
    plugin_manager: pluggy.PluginManager, recorder: Recorder, vendor: FakeVendor
) -> None:
    with Moderator(config(), plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        mod.check("hello")
        mod.check("hello")
    assert [v.cached for _, v, _ in recorder.seen] == [False, True]


# -- normalize -------------------------------------------------------------------------


def test_normalize_keys_on_the_normalized_text_and_remasks_the_actual_one(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    cfg = config(cache={"normalize": True})
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        first = mod.check("please block me")
        variant = mod.check("please Ｂ l o c k me 😀")
        exact = mod.check("please block me")
    assert items(vendor) == 1
    assert first.masked_text == "please ***** me"
    assert variant.cached
    assert variant.keywords == ("Ｂ l o c k",)
    assert variant.masked_text == "please ********* me 😀"
    assert exact.masked_text == first.masked_text


def test_without_normalize_a_variant_is_a_miss(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    with Moderator(config(), plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        mod.check("please block me")
        assert not mod.check("please Ｂlock me").cached


def test_an_emoji_only_text_keys_on_itself(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    cfg = config(cache={"normalize": True})
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        mod.check("😀")
        assert not mod.check("🍆").cached
        assert mod.check("😀").cached


# -- Redis -----------------------------------------------------------------------------


def test_two_moderators_share_verdicts_through_redis(
    plugin_manager: pluggy.PluginManager, redis_url: str, prefix: str, vendor: FakeVendor
) -> None:
    cfg = config(prefix=prefix, redis_url=redis_url)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(vendor)) as one:
        first = one.check("please block me")
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(vendor)) as two:
        again = two.check("please block me")
    assert items(vendor) == 1
    assert again.cached
    assert (again.decision, again.keywords, again.masked_text) == (
        first.decision,
        first.keywords,
        first.masked_text,
    )
    assert again.raw == first.raw


async def test_async_moderators_share_through_redis(
    plugin_manager: pluggy.PluginManager, redis_url: str, prefix: str, vendor: FakeVendor
) -> None:
    cfg = config(prefix=prefix, redis_url=redis_url)
    async with AsyncModerator(
        cfg, plugin_manager=plugin_manager, transport=transport(vendor)
    ) as one:
        await one.check("hello")
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(vendor)) as two:
        assert two.check("hello").cached
    assert items(vendor) == 1


def test_redis_entries_carry_the_ttl(
    plugin_manager: pluggy.PluginManager, redis_url: str, prefix: str, vendor: FakeVendor
) -> None:
    cfg = config(prefix=prefix, redis_url=redis_url, cache={"ttl": 120})
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        mod.check("hello")
    client = redis.Redis.from_url(redis_url)
    (key,) = [k for k in client.scan_iter(f"{prefix}:cache:*") if b":lock:" not in k]
    assert 0 < client.pttl(key) <= 120_000
    client.close()


def test_a_dead_redis_degrades_to_the_in_process_cache(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    cfg = config(redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        assert not mod.check("hello").cached
        assert mod.check("hello").cached
    assert items(vendor) == 1


# -- single flight ---------------------------------------------------------------------


class Gated:
    """A vendor that holds every request until ``release`` is set."""

    def __init__(self) -> None:
        self.vendor = FakeVendor()
        self.arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrived.set()
        assert self.release.wait(30)
        return self.vendor(request)


class Waiters:
    """Counts the checks waiting on another's flight (wraps the cache's wait step)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.count = 0
        self.changed = threading.Condition()
        original = getattr(cache_module, name)

        def counted(*args: Any) -> Any:
            with self.changed:
                self.count += 1
                self.changed.notify_all()
            return original(*args)

        monkeypatch.setattr(cache_module, name, counted)

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.count >= count, timeout=30)


def test_fifty_threads_share_one_vendor_call(
    plugin_manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiters = Waiters(monkeypatch, "_wait_blocking")
    gated = Gated()
    results: list[Verdict | None] = [None] * 50
    with Moderator(config(), plugin_manager=plugin_manager, transport=transport(gated)) as mod:

        def run(n: int) -> None:
            results[n] = mod.check(Content.text("please block me", id=n))

        threads = [threading.Thread(target=run, args=(n,)) for n in range(50)]
        for thread in threads:
            thread.start()
        waiters.wait_for(49)
        gated.release.set()
        for thread in threads:
            thread.join()
    assert items(gated.vendor) == 1
    assert all(r is not None and r.decision is Decision.BLOCK for r in results)
    assert sorted(int(r.content_id or 0) for r in results if r is not None) == list(range(50))
    assert sum(1 for r in results if r is not None and not r.cached) == 1


async def test_fifty_tasks_share_one_vendor_call(
    plugin_manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiters = Waiters(monkeypatch, "_wait_awaiting")
    vendor = FakeVendor()
    release = asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return vendor(request)

    async with AsyncModerator(
        config(), plugin_manager=plugin_manager, transport=httpx.MockTransport(handle)
    ) as mod:
        checks = [asyncio.ensure_future(mod.check(Content.text("hi", id=n))) for n in range(50)]
        while waiters.count < 49:
            await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(*checks)
    assert items(vendor) == 1
    assert [r.content_id for r in results] == list(range(50))
    assert sum(1 for r in results if not r.cached) == 1


def test_repeats_within_one_check_many_are_asked_once(
    plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    with Moderator(config(), plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        results = mod.check_many([Content.text("same", id=n) for n in range(5)])
    assert items(vendor) == 1
    assert [r.content_id for r in results] == list(range(5))
    assert [r.cached for r in results] == [False, True, True, True, True]


def test_a_failed_leader_leaves_waiters_to_ask_themselves(
    plugin_manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiters = Waiters(monkeypatch, "_wait_blocking")
    gated = Gated()
    gated.vendor.fail = True
    cfg = config(fail_mode="review")
    results: list[Verdict | None] = [None] * 3
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(gated)) as mod:

        def run(n: int) -> None:
            results[n] = mod.check("hello")

        threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        waiters.wait_for(2)
        gated.release.set()
        for thread in threads:
            thread.join()
    assert len(gated.vendor.checks) == 3
    assert all(r is not None and r.fallback for r in results)


def test_a_leader_in_another_process_is_waited_for(
    plugin_manager: pluggy.PluginManager,
    redis_url: str,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gated = Gated()
    polling = threading.Event()
    original = VerdictCache._poll

    def poll(self: VerdictCache, *args: Any) -> Any:
        polling.set()
        return (yield from original(self, *args))

    monkeypatch.setattr(VerdictCache, "_poll", poll)
    cfg = config(prefix=prefix, redis_url=redis_url)
    with (
        Moderator(cfg, plugin_manager=plugin_manager, transport=transport(gated)) as one,
        Moderator(cfg, plugin_manager=plugin_manager, transport=transport(gated)) as two,
    ):
        got: dict[str, Verdict] = {}
        first = threading.Thread(target=lambda: got.setdefault("one", one.check("hello")))
        first.start()
        assert gated.arrived.wait(30)  # one holds the lock and is asking the vendor
        second = threading.Thread(target=lambda: got.setdefault("two", two.check("hello")))
        second.start()
        assert polling.wait(30)
        gated.release.set()
        first.join()
        second.join()
    assert items(gated.vendor) == 1
    assert got["two"].cached
    assert not got["one"].cached


def test_a_dead_lock_holder_is_not_waited_for_past_its_lock(
    plugin_manager: pluggy.PluginManager, redis_url: str, prefix: str, vendor: FakeVendor
) -> None:
    cfg = config(prefix=prefix, redis_url=redis_url)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport(vendor)) as mod:
        assert mod._cache is not None
        key = mod._cache.key(Content.text("hello"), None)
        client = redis.Redis.from_url(redis_url)
        # A holder that took the lock and died: it expires, nobody writes the entry.
        client.set(mod._cache._lock_key(key), "someone-dead", px=100)
        client.close()
        verdict = mod.check("hello")
    assert not verdict.cached
    assert items(vendor) == 1
