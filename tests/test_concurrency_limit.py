"""The derived in-flight cap: driven with latencies of the test's choosing (no clock
is read, so no timing assertions), then the gates that apply it and the driver's
timing that feeds it, in both modes, and the connection pools behind them."""

from __future__ import annotations

import asyncio
import math
import random
import threading
from typing import Any

import httpx
import pluggy
import pytest

from moderation_core import AsyncModerator, Moderator, RateLimited
from moderation_core._errors import ProviderUnavailable
from moderation_core._resilience import (
    CIRCUIT_OPEN,
    HEADROOM,
    LOCAL_RATE_LIMIT,
    MAX_IN_FLIGHT,
    MIN_IN_FLIGHT,
    POOL_SIZE,
    SETTLING,
    AsyncPooledTransport,
    ConcurrencyLimit,
    PooledTransport,
    _Pools,
    _TaskGate,
    pooled_transport,
    pushed_back,
)
from moderation_core._serve import serving
from tests.fakes import FakeVendor

RATE = 195.0
BURST = 2


def settle(limit: ConcurrencyLimit, latency: float, answers: int = 2000) -> int:
    """Answers of one latency while the cap is in full use; the cap they leave."""
    for _ in range(answers):
        limit.observe(latency, in_flight=limit.limit)
    return limit.limit


def little(latency: float) -> int:
    """What the rate limit can use at this latency, with the headroom and burst."""
    return max(MIN_IN_FLIGHT, math.ceil(RATE * latency * HEADROOM) + BURST)


@pytest.mark.parametrize("latency", [0.02, 0.08, 0.2, 0.5])
def test_a_far_vendor_gets_what_its_rate_limit_can_use_by_littles_law(latency: float) -> None:
    limit = ConcurrencyLimit(RATE, BURST)
    assert limit.limit == MIN_IN_FLIGHT
    assert settle(limit, latency) == little(latency)
    # Never binding below the rate limit: in flight / latency covers it.
    assert limit.limit / latency >= RATE


def test_the_cap_follows_the_latency_down_and_up() -> None:
    limit = ConcurrencyLimit(RATE, BURST)
    assert settle(limit, 0.2) == little(0.2)
    assert settle(limit, 0.08) == little(0.08)  # the ceiling comes down with it
    assert settle(limit, 0.2, answers=5000) == little(0.2)  # a slower normal is learned


def test_an_unused_cap_does_not_grow() -> None:
    limit = ConcurrencyLimit(RATE, BURST)
    for _ in range(1000):
        limit.observe(0.08, in_flight=1)
    assert limit.limit == MIN_IN_FLIGHT


def test_each_answer_in_full_use_adds_one_once_two_round_trips_set_the_no_load_latency() -> None:
    limit = ConcurrencyLimit(None)
    # The first round trip at the floor opens connections: its answers alone would
    # set too high a no-load latency.
    settling = [limit.observe(0.08, in_flight=limit.limit) for _ in range(SETTLING - 1)]
    assert settling == [MIN_IN_FLIGHT] * (SETTLING - 1)
    assert [limit.observe(0.08, in_flight=limit.limit) for _ in range(3)] == [9, 10, 11]


def test_without_a_rate_limit_a_slow_first_round_trip_does_not_grow_the_cap() -> None:
    # Cold connections answer in 30 ms, warm ones in 1 ms, then latency climbs with
    # what is in flight (a CPU-bound client): the cap stays near the floor.
    limit = ConcurrencyLimit(None)
    for _ in range(MIN_IN_FLIGHT):
        limit.observe(0.03, in_flight=MIN_IN_FLIGHT)
    caps = [limit.observe(0.001 * limit.limit / 4, in_flight=limit.limit) for _ in range(2000)]
    assert max(caps) <= 2 * MIN_IN_FLIGHT


def test_without_a_rate_limit_latency_alone_governs_up_to_the_bound() -> None:
    limit = ConcurrencyLimit(None)
    assert settle(limit, 0.08) == MAX_IN_FLIGHT


def test_a_vendor_that_queues_past_some_concurrency_holds_the_cap_near_it() -> None:
    # Answers in 80 ms up to 64 in flight; beyond, the vendor queues and latency grows
    # in proportion. The cap settles between that point and TOLERANCE times it.
    limit = ConcurrencyLimit(None)
    caps = []
    for _ in range(5000):
        latency = 0.08 * max(1.0, limit.limit / 64)
        caps.append(limit.observe(latency, in_flight=limit.limit))
    assert min(caps[-1000:]) >= 64
    assert max(caps[-1000:]) <= 2 * 64 + 2


def test_a_cpu_bound_client_stays_at_the_floor() -> None:
    # Loopback: the vendor answers at once and the client's own CPU is the queue, so
    # the i-th of n requests sent together comes back after i ms. More in flight only
    # makes every answer later: the cap stays where httpcore is efficient.
    limit = ConcurrencyLimit(None)
    for _ in range(500):
        out = limit.limit
        for i in range(1, out + 1):
            limit.observe(0.001 * i, in_flight=out - i + 1)
    assert limit.limit == MIN_IN_FLIGHT


def jittered(limit: ConcurrencyLimit, least: float, spread: float, answers: int = 3000) -> int:
    """Answers in full use whose latency jitters between least and least x (1 + spread),
    whatever is in flight (a seeded draw: the same every run); the cap they leave."""
    draw = random.Random(7)
    for _ in range(answers):
        limit.observe(least * (1 + spread * draw.random()), in_flight=limit.limit)
    return limit.limit


def test_without_a_rate_limit_noisy_latency_keeps_the_cap_low() -> None:
    # Loopback on a busy machine: answers in 1-2.2 ms (1.6 ms on average). Within the
    # tolerance of twice the no-load latency, so never cut for it (one step per answer
    # took the cap to MAX_IN_FLIGHT); Vegas' estimate sees a queue and holds it low.
    assert MIN_IN_FLIGHT <= jittered(ConcurrencyLimit(None), 0.001, 1.2) <= 3 * MIN_IN_FLIGHT


def test_without_a_rate_limit_a_far_vendor_with_steady_latency_still_grows() -> None:
    assert jittered(ConcurrencyLimit(None), 0.08, 0.04) >= MAX_IN_FLIGHT // 2


def test_climbing_latency_cuts_the_cap_in_proportion_once_per_round_trip() -> None:
    limit = ConcurrencyLimit(RATE, BURST)
    start = settle(limit, 0.2)
    assert start == little(0.2)
    # A congestion: latency jumps to six times the no-load latency.
    caps = [limit.observe(1.2, in_flight=limit.limit) for _ in range(200)]
    first_cut = next(c for c in caps if c < start)
    assert first_cut >= start // 2  # at most halved by one cut
    # Held for a round trip (one answer per request out) after each cut.
    cut_at = caps.index(first_cut)
    assert caps[cut_at : cut_at + first_cut] == [first_cut] * first_cut
    assert min(caps) >= MIN_IN_FLIGHT


def test_pushback_keeps_ninety_percent_once_per_round_trip() -> None:
    limit = ConcurrencyLimit(RATE, BURST)
    start = settle(limit, 0.2)
    after = limit.pushback()
    assert after == math.floor(start * 0.9)
    assert limit.pushback() == after  # the same congestion, seen again
    for _ in range(after):
        limit.observe(0.2, in_flight=1)  # a round trip of answers
    assert limit.pushback() == math.floor(after * 0.9)


def test_pushback_never_goes_below_the_floor() -> None:
    limit = ConcurrencyLimit(RATE, BURST)
    for _ in range(50):
        limit.pushback()
        for _ in range(limit.limit):
            limit.observe(0.08, in_flight=1)
    assert limit.limit == MIN_IN_FLIGHT


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (RateLimited("vendor said slow down", code=60007, retry_after=None), True),
        (RateLimited("no local slot", code=LOCAL_RATE_LIMIT, retry_after=None), False),
        (ProviderUnavailable("503"), True),
        (ProviderUnavailable("skipped", code=CIRCUIT_OPEN), False),
    ],
)
def test_what_counts_as_the_vendor_pushing_back(error: Any, counts: bool) -> None:
    assert pushed_back(error) is counts


# -- the gates and the driver's timing in a moderator -------------------------------------


def config(**table: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": ["a"], "batch_window": 0},
        "providers": {"a": {"type": "fake", "rate_limit": 0, **table}},
    }


class Ticks:
    """A clock that moves only when the vendor answers."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_answers_feed_the_cap_with_the_latency_they_took(
    plugin_manager: pluggy.PluginManager,
) -> None:
    clock, vendor = Ticks(), FakeVendor()

    def far(request: httpx.Request) -> httpx.Response:
        clock.now += 0.08
        return vendor(request)

    cfg = config(rate_limit=RATE, rate_burst=BURST)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(far)) as mod:
        concurrency = mod._lanes["a"].concurrency
        assert concurrency is not None
        concurrency.clock = clock
        for n in range(20):
            mod.check(f"m{n}")
    assert concurrency.latency == pytest.approx(0.08)
    assert concurrency.ceiling() == little(0.08)


def test_an_explicit_max_in_flight_wins(plugin_manager: pluggy.PluginManager) -> None:
    with Moderator(config(max_in_flight=3), plugin_manager=plugin_manager) as mod:
        lane = mod._lanes["a"]
    assert lane.concurrency is None
    assert lane.max_in_flight == 3
    assert lane.timer is None
    assert lane.in_flight is None


def test_a_vendor_rate_limit_answer_cuts_the_cap(plugin_manager: pluggy.PluginManager) -> None:
    clock = Ticks()

    def refusing(request: httpx.Request) -> httpx.Response:
        clock.now += 0.2
        return httpx.Response(429)

    cfg = config(rate_limit=RATE)
    transport = httpx.MockTransport(refusing)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport) as mod:
        concurrency = mod._lanes["a"].concurrency
        assert concurrency is not None
        concurrency.clock = clock
        start = settle(concurrency, 0.2)
        with pytest.raises(Exception, match="every provider failed"):
            mod.check("hello")
    assert concurrency.limit == math.floor(start * 0.9)


def test_threads_get_as_many_requests_out_as_the_derived_cap(
    plugin_manager: pluggy.PluginManager,
) -> None:
    lock = threading.Condition()
    state = {"in": 0, "peak": 0, "open": False}

    def held(request: httpx.Request) -> httpx.Response:
        with lock:
            state["in"] += 1
            state["peak"] = max(state["peak"], state["in"])
            lock.notify_all()
            lock.wait_for(lambda: state["open"])
            state["in"] -= 1
        return FakeVendor()(request)

    cfg = config(rate_limit=RATE, rate_burst=BURST, max_wait=30)
    transport = httpx.MockTransport(held)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=transport) as mod:
        concurrency = mod._lanes["a"].concurrency
        assert concurrency is not None
        cap = settle(concurrency, 0.08)
        assert cap > MIN_IN_FLIGHT
        threads = [threading.Thread(target=mod.check, args=(f"m{n}",)) for n in range(cap + 10)]
        for thread in threads:
            thread.start()
        with lock:
            assert lock.wait_for(lambda: state["in"] == cap, timeout=60)
            state["open"] = True
            lock.notify_all()
        for thread in threads:
            thread.join()
    assert state["peak"] == cap


async def test_tasks_get_as_many_requests_out_as_the_derived_cap(
    plugin_manager: pluggy.PluginManager,
) -> None:
    state = {"in": 0, "peak": 0}
    full, release = asyncio.Event(), asyncio.Event()
    cap = 0

    async def held(request: httpx.Request) -> httpx.Response:
        state["in"] += 1
        state["peak"] = max(state["peak"], state["in"])
        if state["in"] == cap:
            full.set()
        await release.wait()
        state["in"] -= 1
        return FakeVendor()(request)

    cfg = config(rate_limit=RATE, rate_burst=BURST, max_wait=30)
    transport = httpx.MockTransport(held)
    async with AsyncModerator(cfg, plugin_manager=plugin_manager, transport=transport) as mod:
        concurrency = mod._lanes["a"].concurrency
        assert concurrency is not None
        cap = settle(concurrency, 0.08)
        checks = asyncio.gather(*(mod.check(f"m{n}") for n in range(cap + 10)))
        await full.wait()
        release.set()
        await checks
    assert state["peak"] == cap


async def test_a_cancelled_waiter_leaves_no_slot_taken() -> None:
    gate = _TaskGate(ConcurrencyLimit(None))
    for _ in range(MIN_IN_FLIGHT):
        await gate.acquire()
    waiting = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)  # it queues
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert gate.busy == MIN_IN_FLIGHT
    # Granted and cancelled before it ran: the slot is handed on, not lost.
    granted = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    gate.release()
    granted.cancel()
    with pytest.raises(asyncio.CancelledError):
        await granted
    assert gate.busy == MIN_IN_FLIGHT - 1


# -- the connection pools -----------------------------------------------------------------


def test_a_light_load_keeps_to_the_first_pool() -> None:
    pools: _Pools[object] = _Pools(object, count=4)
    for _ in range(50):
        pools.give(pools.take())
    assert len(pools.pools) == 1  # one pool, its connections kept warm


def test_a_pool_fills_before_the_next_opens_and_the_least_busy_takes_the_overflow() -> None:
    pools: _Pools[object] = _Pools(object, count=2)
    taken = [pools.take() for _ in range(2 * POOL_SIZE)]
    assert taken == [0] * POOL_SIZE + [1] * POOL_SIZE
    pools.give(1)
    assert pools.take() == 1  # all full: the least busy
    assert pools.busy == [POOL_SIZE, POOL_SIZE]
    assert len(pools.pools) == 2


def test_within_one_pool_a_counted_gate_spares_the_bookkeeping() -> None:
    out = [POOL_SIZE]
    pools: _Pools[object] = _Pools(object, count=4, in_flight=lambda: out[0])
    assert pools.light()  # the first pool holds every request out, this one included
    out[0] = POOL_SIZE + 1
    assert not pools.light()
    assert not _Pools(object, count=4).light()  # no count to go by: always counted


def test_requests_sent_uncounted_are_charged_to_the_first_pool() -> None:
    out = [POOL_SIZE + 1]  # POOL_SIZE went out uncounted, and this one
    pools: _Pools[object] = _Pools(object, count=3, in_flight=lambda: out[0])
    assert pools.take() == 1  # the first pool may be full
    out[0] += 1
    assert pools.take() == 1
    assert pools.busy == [0, 2]
    out[0] = 3  # the uncounted ones came back; two counted still out
    assert pools.take() == 0


def test_sequential_checks_with_a_derived_cap_keep_to_one_pool_uncounted(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    with serving(vendor) as server:
        cfg = config(base_url=server.url)
        with Moderator(cfg, plugin_manager=plugin_manager) as mod:
            for n in range(5):
                mod.check(f"m{n}")
            transport = mod._clients["a"]._transport
            assert isinstance(transport, PooledTransport)
            assert transport._pools.busy == [0]
            assert len(transport._pools.pools) == 1
    assert len(vendor.checks) == 5


async def test_tasks_with_a_derived_cap_past_one_pool_free_every_slot(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    with serving(vendor) as server:
        cfg = config(base_url=server.url)
        async with AsyncModerator(cfg, plugin_manager=plugin_manager) as mod:
            concurrency = mod._lanes["a"].concurrency
            assert concurrency is not None
            concurrency.limit = 3 * POOL_SIZE  # as if grown: more than one pool's worth
            await asyncio.gather(*(mod.check(f"m{n}") for n in range(100)))
            transport = mod._clients["a"]._transport
            assert isinstance(transport, AsyncPooledTransport)
            assert transport._pools.busy == [0] * len(transport._pools.pools)
    assert len(vendor.checks) == 100


@pytest.mark.parametrize(("size", "pools"), [(1, None), (POOL_SIZE, None), (POOL_SIZE + 1, 2)])
def test_one_small_pool_is_httpx_default_and_more_are_split(size: int, pools: int | None) -> None:
    for asynchronous in (False, True):
        transport = pooled_transport(size, asynchronous)
        if pools is None:
            assert transport is None
        else:
            kind = AsyncPooledTransport if asynchronous else PooledTransport
            assert isinstance(transport, kind)
            assert transport._pools._count == pools


def test_a_moderator_past_one_pool_spreads_threads_over_pools_and_frees_every_slot(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    with serving(vendor) as server:
        cfg = config(max_in_flight=3 * POOL_SIZE, base_url=server.url)
        with Moderator(cfg, plugin_manager=plugin_manager) as mod:
            threads = [threading.Thread(target=mod.check, args=(f"m{n}",)) for n in range(100)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            transport = mod._clients["a"]._transport
            assert isinstance(transport, PooledTransport)
            assert 1 <= len(transport._pools.pools) <= 3
            assert transport._pools.busy == [0] * len(transport._pools.pools)
            assert mod.check("last").decision is not None
    assert len(vendor.checks) == 101


async def test_tasks_past_one_pool_spread_over_pools_and_free_every_slot(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    with serving(vendor) as server:
        cfg = config(max_in_flight=3 * POOL_SIZE, base_url=server.url)
        async with AsyncModerator(cfg, plugin_manager=plugin_manager) as mod:
            await asyncio.gather(*(mod.check(f"m{n}") for n in range(100)))
            transport = mod._clients["a"]._transport
            assert isinstance(transport, AsyncPooledTransport)
            assert 1 <= len(transport._pools.pools) <= 3
            assert transport._pools.busy == [0] * len(transport._pools.pools)
    assert len(vendor.checks) == 100


def test_a_failed_connection_frees_its_slot(plugin_manager: pluggy.PluginManager) -> None:
    with serving(FakeVendor()) as server:
        url = server.url  # a port nothing listens on once the server stops
    cfg = config(max_in_flight=2 * POOL_SIZE, base_url=url, retries=0)
    cfg["moderation"]["fail_mode"] = "review"
    with Moderator(cfg, plugin_manager=plugin_manager) as mod:
        for n in range(3):
            assert mod.check(f"m{n}").fallback
        transport = mod._clients["a"]._transport
        assert isinstance(transport, PooledTransport)
        assert transport._pools.busy == [0]
