"""Strategies, retries, circuit breaking, rate limits, auto-batching, the in-flight
gate, long text and deadlines, against the fake vendor (no timing assertions: counts,
orders and injected clocks)."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pluggy
import pytest
import stamina
from stamina.instrumentation import set_on_retry_hooks

from moderation_core import (
    AllProvidersFailed,
    AsyncModerator,
    AuthError,
    CheckContext,
    Content,
    Decision,
    Label,
    Moderator,
    ProtocolError,
    ProviderUnavailable,
    RateLimited,
    Verdict,
    hookimpl,
)
from moderation_core._batching import Batcher
from moderation_core._resilience import (
    LOCAL_RATE_LIMIT,
    PUSHBACK_KEEP,
    PUSHBACK_RECOVERY,
    WAIT_INITIAL,
    WAIT_JITTER,
    Breaker,
    BreakerSettings,
    BreakerState,
    Lane,
    Limiter,
    Pace,
    backoff_hook,
    breaker_allows,
    breaker_record,
)
from moderation_core._routing import Job, JobOutcome, split_text
from moderation_core._steps import AWAITING, BLOCKING, run_awaiting, run_blocking
from moderation_core.testing import Clock
from tests.fakes import FakeConfig, FakeProvider, FakeVendor, routed
from tests.fakes import fake_providers as config


@pytest.fixture(autouse=True)
def no_backoff_sleep() -> Any:
    # Retries are counted, not timed: stamina's testing mode keeps attempts, drops waits.
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


class Flaky:
    """Answers 503 ``failures`` times, then like FakeVendor; or 429 with Retry-After."""

    def __init__(self, failures: int, status: int = 503, retry_after: str | None = None) -> None:
        self.failures = failures
        self.status = status
        self.retry_after = retry_after
        self.inner = FakeVendor()
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return httpx.Response(self.status, headers=headers, text="busy")
        return self.inner(request)


# -- retries -------------------------------------------------------------------------


def test_retries_retryable_errors_then_answers(plugin_manager: pluggy.PluginManager) -> None:
    vendor = Flaky(failures=2)
    with Moderator(
        config(("a", {"retries": 2})),
        plugin_manager=plugin_manager,
        transport=httpx.MockTransport(vendor),
    ) as mod:
        assert mod.check("hello").provider == "a"
    assert vendor.calls == 3


def test_retries_are_bounded_and_then_fall_back(plugin_manager: pluggy.PluginManager) -> None:
    flaky = Flaky(failures=100)
    with Moderator(
        config(("a", {"retries": 2}), ("b", {})),
        plugin_manager=plugin_manager,
        transport=routed({"a": flaky, "b": FakeVendor()}),
    ) as mod:
        assert mod.check("hello").provider == "b"
    assert flaky.calls == 3


def test_retries_wait_what_the_vendors_retry_after_says(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = Flaky(failures=2, status=429, retry_after="0.05")
    waits: list[float] = []
    cfg = config(("a", {"retries": 3}))
    with (
        stamina.set_testing(False),  # real waits here: the vendor's, which are short
        Moderator(cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)) as mod,
    ):
        set_on_retry_hooks([lambda details: waits.append(details.wait_for)])
        try:
            assert mod.check("hello").provider == "a"
        finally:
            set_on_retry_hooks(None)
    assert vendor.calls == 3
    assert waits == [0.05, 0.05]  # exactly Retry-After, no backoff or jitter added


def test_non_retryable_errors_are_not_retried(plugin_manager: pluggy.PluginManager) -> None:
    vendors = {"a": FakeVendor(garbage=True), "b": FakeVendor()}
    with Moderator(
        config(("a", {"retries": 3}), ("b", {})),
        plugin_manager=plugin_manager,
        transport=routed(vendors),
    ) as mod:
        assert mod.check("hello").provider == "b"
    assert len(vendors["a"].checks) == 1  # a ProtocolError is not worth another try


def test_backoff_hook_honours_retry_after_within_the_deadline() -> None:
    clock = Clock(0.0)
    decide = backoff_hook(deadline=10.0, clock=clock)
    assert decide(RateLimited("slow", retry_after=2.5)) == 2.5
    assert 0 < decide(ProviderUnavailable("down")) <= WAIT_INITIAL * 2 + WAIT_JITTER
    assert decide(ValueError("bug")) is False
    assert decide(AuthError("no")) is False
    assert decide(ProtocolError("garbage")) is False
    # A Retry-After that ends past the deadline: give up now and fall back instead.
    assert backoff_hook(deadline=1.0, clock=clock)(RateLimited("x", retry_after=5)) is False


@pytest.mark.parametrize("retry_after", [math.nan, math.inf, -math.inf, -1.0, "5", True])
def test_backoff_hook_treats_a_retry_after_that_is_no_wait_as_absent(retry_after: Any) -> None:
    decide = backoff_hook(deadline=1000.0, clock=lambda: 0.0)
    wait = decide(RateLimited("slow", retry_after=retry_after))
    # the exponential backoff's first step, as if the vendor had sent no Retry-After
    assert isinstance(wait, float)
    assert WAIT_INITIAL <= wait <= WAIT_INITIAL + WAIT_JITTER


@pytest.mark.parametrize("error", [ProviderUnavailable("down"), RateLimited("x", retry_after=None)])
def test_backoff_hook_never_plans_a_wait_past_the_deadline(error: Exception) -> None:
    clock = Clock(0.0)
    decide = backoff_hook(deadline=1.0, clock=clock)
    waits = []
    while (wait := decide(error)) is not False:
        assert isinstance(wait, float)
        waits.append(wait)
        clock.advance(wait)
    assert waits  # it did back off while there was time
    assert clock() < 1.0  # and every planned wait ended before the deadline


@pytest.mark.parametrize("retry_after", ["nan", "inf", "-1"])
def test_a_bad_retry_after_neither_raises_nor_outlives_the_deadline(
    plugin_manager: pluggy.PluginManager, retry_after: str
) -> None:
    vendor = Flaky(failures=1, status=429, retry_after=retry_after)
    waits: list[float] = []
    cfg = config(("a", {"retries": 2}), deadline=5)
    with (
        stamina.set_testing(False),  # the real wait is what went wrong: ValueError from sleep
        Moderator(cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)) as mod,
    ):
        set_on_retry_hooks([lambda details: waits.append(details.wait_for)])
        try:
            assert mod.check("hello").provider == "a"
        finally:
            set_on_retry_hooks(None)
    assert vendor.calls == 2
    assert len(waits) == 1
    assert WAIT_INITIAL <= waits[0] <= WAIT_INITIAL + WAIT_JITTER  # backoff, as if absent


@pytest.mark.parametrize("retry_after", ["nan", "inf", "-1"])
async def test_a_bad_retry_after_is_absent_for_async_checks_too(
    plugin_manager: pluggy.PluginManager, retry_after: str
) -> None:
    vendor = Flaky(failures=1, status=429, retry_after=retry_after)
    waits: list[float] = []
    cfg = config(("a", {"retries": 2}), deadline=5)
    with stamina.set_testing(False):
        async with AsyncModerator(
            cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
        ) as mod:
            set_on_retry_hooks([lambda details: waits.append(details.wait_for)])
            try:
                # a guard against the old hang, far beyond the check's own deadline
                verdict = await asyncio.wait_for(mod.check("hello"), timeout=30)
            finally:
                set_on_retry_hooks(None)
    assert verdict.provider == "a"
    assert vendor.calls == 2
    assert len(waits) == 1
    assert WAIT_INITIAL <= waits[0] <= WAIT_INITIAL + WAIT_JITTER


async def test_a_retry_after_past_the_deadline_falls_back_at_once(
    plugin_manager: pluggy.PluginManager,
) -> None:
    flaky = Flaky(failures=5, status=429, retry_after="3600")
    cfg = config(("a", {"retries": 3}), ("b", {}), deadline=5)
    with stamina.set_testing(False):
        async with AsyncModerator(
            cfg, plugin_manager=plugin_manager, transport=routed({"a": flaky, "b": FakeVendor()})
        ) as mod:
            verdict = await asyncio.wait_for(mod.check("hello"), timeout=30)
    assert verdict.provider == "b"
    assert flaky.calls == 1  # no wait planned past the deadline: straight to b


# -- circuit breaker -----------------------------------------------------------------


def test_breaker_state_machine() -> None:
    settings = BreakerSettings(failures=3, failure_ratio=0.75, min_calls=4, window=60, open_for=30)
    state = BreakerState()
    for _ in range(2):
        breaker_record(state, 0.0, settings, ok=False)
    assert breaker_allows(state, 1.0, settings)
    breaker_record(state, 1.0, settings, ok=False)  # third in a row: open
    assert not breaker_allows(state, 2.0, settings)
    assert not breaker_allows(state, 30.9, settings)
    assert breaker_allows(state, 31.1, settings)  # half-open: one probe
    assert not breaker_allows(state, 31.2, settings)  # ... and only one
    breaker_record(state, 31.3, settings, ok=False)  # probe failed: open again
    assert not breaker_allows(state, 40.0, settings)
    assert breaker_allows(state, 61.4, settings)
    breaker_record(state, 61.5, settings, ok=True)  # probe succeeded: closed
    assert breaker_allows(state, 61.6, settings)
    assert breaker_allows(state, 61.7, settings)


def test_breaker_opens_on_failure_ratio() -> None:
    settings = BreakerSettings(failures=100, failure_ratio=0.75, min_calls=8, window=60)
    state = BreakerState()
    for n in range(8):
        breaker_record(state, float(n), settings, ok=n % 4 == 0)  # 6 of 8 failed
    assert not breaker_allows(state, 9.0, settings)


def test_open_breaker_skips_the_provider_without_a_request(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendors = {"a": FakeVendor(fail=True), "b": FakeVendor()}
    cfg = config(("a", {"breaker": {"failures": 3}}), ("b", {}))
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        for _ in range(10):
            assert mod.check("hello").provider == "b"
    assert len(vendors["a"].checks) == 3  # then open: no more requests to a
    assert len(vendors["b"].checks) == 10


def test_breaker_uses_an_injected_clock_for_half_open() -> None:
    clock = Clock(0.0)
    breaker = Breaker("a", BreakerSettings(failures=1, open_for=10), clock=clock)
    breaker.after(ok=False)  # in memory: no steps, done when called
    with pytest.raises(ProviderUnavailable, match="circuit open"):
        breaker.before()
    clock.now = 11.0
    breaker.before()  # the probe
    breaker.after(ok=True)
    breaker.before()


# -- rate limits ---------------------------------------------------------------------


def test_rate_limit_wait_beyond_max_wait_is_rate_limited_and_falls_back(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendors = {"a": FakeVendor(), "b": FakeVendor()}
    # 3 a minute, all in one burst: the fourth slot is 20 s away, whatever the machine.
    cfg = config(("a", {"rate_limit": 0.05, "rate_burst": 3, "max_wait": 0}), ("b", {}))
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        providers = [mod.check(f"m{i}").provider for i in range(6)]
    assert providers == ["a", "a", "a", "b", "b", "b"]


def test_rate_limited_error_when_nothing_else_is_left(plugin_manager: pluggy.PluginManager) -> None:
    cfg = config(("a", {"rate_limit": 0.01, "max_wait": 0}))  # one, then none for 100 s
    with Moderator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(FakeVendor())
    ) as mod:
        mod.check("first")
        with pytest.raises(AllProvidersFailed) as caught:
            mod.check("second")
    (error,) = caught.value.exceptions
    assert isinstance(error, RateLimited)
    assert error.code == "local_rate_limit"


# -- strategies ----------------------------------------------------------------------


def test_strictest_returns_the_harshest_verdict(plugin_manager: pluggy.PluginManager) -> None:
    class Harsh(FakeVendor):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            self.checks.append(body)
            return httpx.Response(
                200,
                json={"results": [{"decision": "BLOCK", "label": "PORN"} for _ in body["items"]]},
            )

    vendors = {"a": FakeVendor(), "b": Harsh(), "c": FakeVendor(fail=True)}
    cfg = config(("a", {}), ("b", {}), ("c", {}), strategy="strictest")
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        verdict = mod.check("hello")
    assert (verdict.provider, verdict.decision, verdict.label) == ("b", Decision.BLOCK, Label.PORN)
    assert all(len(v.checks) == 1 for v in vendors.values())  # everyone was asked


def test_strictest_ties_go_to_the_earlier_provider(plugin_manager: pluggy.PluginManager) -> None:
    vendors = {"a": FakeVendor(), "b": FakeVendor()}
    cfg = config(("a", {}), ("b", {}), strategy="strictest")
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        assert mod.check("block this").provider == "a"


async def test_strictest_async_and_all_failed(plugin_manager: pluggy.PluginManager) -> None:
    vendors = {"a": FakeVendor(fail=True), "b": FakeVendor(fail=True)}
    cfg = config(("a", {}), ("b", {}), strategy="strictest")
    async with AsyncModerator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        with pytest.raises(AllProvidersFailed) as caught:
            await mod.check("hello")
    assert [e.provider for e in caught.value.exceptions] == ["a", "b"]


class Disagreements:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Verdict, Verdict]] = []
        self.done = threading.Event()

    @hookimpl
    def shadow_disagreement(
        self, content: Content, verdict: Verdict, shadow: Verdict, context: CheckContext
    ) -> None:
        self.seen.append((content.value, verdict, shadow))
        self.done.set()


class Stricter(FakeVendor):
    """Reviews anything with "maybe" in it, where FakeVendor passes it."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.checks.append(body)
        results = [
            {"decision": "REVIEW", "label": "AD"}
            if "maybe" in t
            else {"decision": "PASS", "label": "NORMAL"}
            for t in body["items"]
        ]
        return httpx.Response(200, json={"results": results})


def test_shadow_reports_disagreements_without_changing_the_answer(
    plugin_manager: pluggy.PluginManager,
) -> None:
    spy = Disagreements()
    plugin_manager.register(spy)
    vendors = {"old": FakeVendor(), "new": Stricter()}
    cfg = config(("old", {}), ("new", {}), strategy="shadow")
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        verdicts = mod.check_many(["hello", "maybe spam"])
    # close() waited for the shadow checks
    assert [v.provider for v in verdicts] == ["old", "old"]
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.PASS]
    assert [(text, v.provider, s.provider, s.decision) for text, v, s in spy.seen] == [
        ("maybe spam", "old", "new", Decision.REVIEW)
    ]
    assert len(vendors["new"].checks) == 2  # batch size 1: one request per content


async def test_shadow_async(plugin_manager: pluggy.PluginManager) -> None:
    spy = Disagreements()
    plugin_manager.register(spy)
    vendors = {"old": FakeVendor(), "new": Stricter()}
    cfg = config(("old", {}), ("new", {}), strategy="shadow")
    async with AsyncModerator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        verdict = await mod.check("maybe spam")
        assert verdict.provider == "old"
    assert [(t, s.provider) for t, _, s in spy.seen] == [("maybe spam", "new")]


# -- auto-batching and the in-flight gate ----------------------------------------------


async def test_concurrent_checks_are_coalesced_into_batches(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {"batch_size": 10}), batch_window=0.05)
    async with AsyncModerator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        texts = [f"m{i}" + (" block" if i % 7 == 0 else "") for i in range(35)]
        verdicts = await asyncio.gather(*(mod.check(t, scene="Group") for t in texts))
    assert [v.decision for v in verdicts] == [
        Decision.BLOCK if i % 7 == 0 else Decision.PASS for i in range(35)
    ]
    assert sorted(len(c["items"]) for c in vendor.checks) == [5, 10, 10, 10]


async def test_only_checks_with_the_same_context_share_a_batch(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {"batch_size": 10}), batch_window=0.05)
    async with AsyncModerator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        await asyncio.gather(*(mod.check(f"m{i}", scene=f"S{i % 2}") for i in range(6)))
    assert sorted((c["scene"], len(c["items"])) for c in vendor.checks) == [("S0", 3), ("S1", 3)]


async def test_batching_off_sends_each_check_alone(plugin_manager: pluggy.PluginManager) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {"batch_size": 10}), batch_window=0)
    async with AsyncModerator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        await asyncio.gather(*(mod.check(f"m{i}") for i in range(5)))
    assert [len(c["items"]) for c in vendor.checks] == [1] * 5


async def test_a_failed_batch_falls_back_for_each_caller(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendors = {"a": FakeVendor(fail=True), "b": FakeVendor()}
    cfg = config(("a", {"batch_size": 10}), ("b", {}), batch_window=0.05)
    async with AsyncModerator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        verdicts = await asyncio.gather(*(mod.check(f"m{i}") for i in range(4)))
    assert {v.provider for v in verdicts} == {"b"}
    assert [len(c["items"]) for c in vendors["a"].checks] == [4]


def one_batch_provider(size: int) -> FakeProvider:
    return FakeProvider("a", FakeConfig(type="fake", batch_size=size))


def batch_job(prov: FakeProvider, text: str) -> Job:
    return Job(prov, [0], [Content.text(text)])


async def batcher_sending_to(
    calls: list[list[str]], size: int, ready: Callable[[], float]
) -> tuple[Batcher, FakeProvider, list[asyncio.Task[None]]]:
    """An async batcher whose window ends at once; its merged calls noted in ``calls``."""
    prov = one_batch_provider(size)
    tasks: list[asyncio.Task[None]] = []

    async def send(job: Job, context: CheckContext, deadline: float) -> JobOutcome:
        calls.append([c.value for c in job.contents])
        return [Verdict(decision=Decision.PASS) for _ in job.contents]

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        tasks.append(asyncio.ensure_future(coro))

    return Batcher(prov, 0.0, send, spawn, ready), prov, tasks


async def test_async_callers_arriving_while_the_limiter_holds_a_batch_ride_along() -> None:
    calls: list[list[str]] = []
    asked = asyncio.Event()

    def ready() -> float:
        asked.set()
        return 1e9  # as good as forever: only a full batch lets it go

    batcher, prov, _ = await batcher_sending_to(calls, 3, ready)
    first = asyncio.ensure_future(batcher.submit(batch_job(prov, "first"), CheckContext(), 1e12))
    await asyncio.wait_for(asked.wait(), 10)  # the window is over, the batch still open
    late = [batcher.submit(batch_job(prov, f"late{n}"), CheckContext(), 1e12) for n in range(2)]
    outcomes = await asyncio.gather(first, *late)
    assert calls == [["first", "late0", "late1"]]
    assert all(isinstance(o, list) and len(o) == 1 for o in outcomes)


@pytest.mark.parametrize(("hold", "deadline"), [(0.0, 1e12), (1e9, 0.0)])
async def test_an_async_batch_goes_alone_without_a_hold_or_past_a_deadline(
    hold: float, deadline: float
) -> None:
    """No wait at the limiter, or a caller whose deadline passed: sent after the window."""
    calls: list[list[str]] = []
    asked: list[float] = []

    def ready() -> float:
        asked.append(hold)
        return hold

    batcher, prov, _ = await batcher_sending_to(calls, 3, ready)
    outcome = await asyncio.wait_for(
        batcher.submit(batch_job(prov, "alone"), CheckContext(), deadline), 10
    )
    assert isinstance(outcome, list)
    assert calls == [["alone"]]
    assert asked == [hold]


async def test_in_flight_gate_caps_concurrent_requests(
    plugin_manager: pluggy.PluginManager,
) -> None:
    state = {"now": 0, "peak": 0}
    full, release = asyncio.Event(), asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        if state["now"] == 3:
            full.set()
        await release.wait()
        state["now"] -= 1
        return FakeVendor()(request)

    async def release_once_the_gate_is_full() -> None:
        await full.wait()
        # Loop turns, not seconds: a leaky gate would let a fourth in meanwhile.
        for _ in range(100):
            await asyncio.sleep(0)
        assert state["now"] == 3
        release.set()

    cfg = config(("a", {"max_in_flight": 3}))
    async with AsyncModerator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(held)
    ) as mod:
        await asyncio.gather(
            *(mod.check(f"m{i}") for i in range(20)), release_once_the_gate_is_full()
        )
    assert state["peak"] == 3


# -- long text -----------------------------------------------------------------------


def test_split_text_chunks_overlap_and_cover_everything() -> None:
    text = "".join(chr(0x4E00 + i % 500) for i in range(1000))  # 3 bytes each
    chunks = split_text(text, max_bytes=300, overlap=40)
    assert all(len(piece.encode()) <= 300 for _, piece in chunks)
    assert chunks[0][0] == 0
    assert chunks[-1][0] + len(chunks[-1][1]) == len(text)
    for (a, pa), (b, _) in itertools.pairwise(chunks):
        assert b == a + len(pa) - 40  # consecutive chunks share exactly the overlap
    rebuilt = "".join(piece if n == 0 else piece[40:] for n, (_, piece) in enumerate(chunks))
    assert rebuilt == text


def test_long_text_is_split_into_one_batch_and_the_harshest_chunk_decides(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    filler = "好" * 300  # 900 bytes
    text = filler + " block " + filler + " review " + filler
    cfg = config(("a", {"max_text_bytes": 600, "batch_size": 10}))
    with Moderator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as mod:
        verdict = mod.check(Content.text(text, id="long-1"))
    (request,) = vendor.checks  # all chunks in one batch request
    assert len(request["items"]) > 1
    assert all(len(chunk.encode()) <= 600 for chunk in request["items"])
    assert verdict.decision is Decision.BLOCK
    assert verdict.content_id == "long-1"
    assert verdict.keywords == ("block",)
    assert verdict.masked_text == text.replace("block", "*****")


def test_long_text_reject_mode_skips_the_provider(plugin_manager: pluggy.PluginManager) -> None:
    vendors = {"small": FakeVendor(), "big": FakeVendor()}
    cfg = config(("small", {"max_text_bytes": 10}), ("big", {}), long_text="reject")
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        assert mod.check("x" * 50).provider == "big"
    assert vendors["small"].checks == []


def test_long_text_overlap_covers_the_longest_local_keyword(tmp_path: Any) -> None:
    lexicon = tmp_path / "long.txt"
    term = "一个很长很长的违规短语" * 5  # 55 characters
    lexicon.write_text(term + "\n", encoding="utf-8")
    mod = Moderator(
        {
            "providers": {
                "local": {"type": "local", "lexicons": [{"path": str(lexicon), "label": "OTHER"}]}
            }
        }
    )
    assert mod._router.overlap == len(term)
    assert Moderator()._router.overlap == 32


# -- fail_mode and deadline ------------------------------------------------------------


def test_fail_mode_verdict_reaches_the_finished_hook(
    plugin_manager: pluggy.PluginManager, recorder: Any
) -> None:
    cfg = config(("a", {}), fail_mode="review")
    with Moderator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(FakeVendor(fail=True))
    ) as mod:
        mod.check("hello")
    ((_, verdict, _),) = recorder.seen
    assert verdict.fallback
    assert verdict.decision is Decision.REVIEW
    assert isinstance(verdict.errors[0], ProviderUnavailable)


def test_a_passed_deadline_stops_retries_and_fallbacks(
    plugin_manager: pluggy.PluginManager,
) -> None:
    fallback = FakeVendor()
    transport = routed({"a": Flaky(failures=100), "b": fallback})
    cfg = config(("a", {"retries": 5}), ("b", {}), deadline=0.000001)
    with (
        Moderator(cfg, plugin_manager=plugin_manager, transport=transport) as mod,
        pytest.raises(AllProvidersFailed) as caught,
    ):
        mod.check("hello")
    assert all("deadline" in str(e) for e in caught.value.exceptions)
    assert fallback.checks == []


def test_pace_spaces_requests_after_a_small_burst() -> None:
    clock = Clock(100.0)
    pace = Pace(per_second=10, burst=3, clock=clock)
    waits = [pace.reserve(max_wait=5) for _ in range(6)]
    # three back to back, then each 0.1 s after the one before
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])
    assert pace.reserve(max_wait=0.35) is None  # the next is 0.4 s away: too long
    clock.advance(10)  # idle: the burst is available again
    assert pace.reserve(max_wait=0) == 0.0


def test_callers_waking_together_after_a_stall_go_out_spaced() -> None:
    """Slots are planned ahead; a stall wakes every caller whose slot passed at once.
    Their sends still keep the pace: the burst, then one interval apart."""
    clock = Clock(100.0)
    pace = Pace(per_second=10, burst=2, clock=clock)
    assert [pace.reserve(max_wait=5) for _ in range(6)] == pytest.approx(
        [0.0, 0.0, 0.1, 0.2, 0.3, 0.4]
    )
    assert [pace.claim(), pace.claim()] == [0.0, 0.0]  # the first two, on time
    clock.advance(1.0)  # a stall: the other four slots have passed
    assert [pace.claim() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.1, 0.1])
    clock.advance(0.1)
    assert [pace.claim(), pace.claim()] == pytest.approx([0.0, 0.1])


def test_callers_on_time_claim_their_planned_slots_at_once() -> None:
    clock = Clock(100.0)
    pace = Pace(per_second=10, burst=2, clock=clock)
    for _ in range(5):
        wait = pace.reserve(max_wait=5)
        assert wait is not None
        clock.advance(wait)
        assert pace.claim() == 0.0


def test_the_limiter_says_how_long_its_next_slot_is_away_without_taking_it() -> None:
    limiter = Limiter("p", 0.01, 500.0, None, BLOCKING, burst=1)  # a slot per 100 s
    assert limiter.ready_in() == 0.0
    run_blocking(limiter.acquire())
    first, again = limiter.ready_in(), limiter.ready_in()
    assert 0 < again <= first <= 100
    # A wait longer than max_wait is refused at once: nothing to hold a batch for.
    assert Limiter("q", 0.01, 5.0, None, BLOCKING, burst=1).ready_in() == 0.0
    refusing = Limiter("q", 0.01, 5.0, None, BLOCKING, burst=1)
    run_blocking(refusing.acquire())
    assert refusing.ready_in() == 0.0


def paced_spacing(pace: Pace, clock: Clock) -> float:
    """The wait between two reservations made one after the other, from idle."""
    clock.advance(1e-9)
    assert pace.reserve(max_wait=5) == 0.0
    second = pace.reserve(max_wait=5)
    assert second is not None
    return second


def test_a_vendor_rate_refusal_slows_the_pace_then_it_recovers() -> None:
    clock = Clock(100.0)
    pace = Pace(per_second=10, burst=1, clock=clock)
    pace.slow_down()
    assert paced_spacing(pace, clock) == pytest.approx(0.1 / PUSHBACK_KEEP)
    clock.advance(2.0)
    share = PUSHBACK_KEEP + 2 * PUSHBACK_RECOVERY
    assert paced_spacing(pace, clock) == pytest.approx(0.1 / share)
    clock.advance(10.0)
    assert paced_spacing(pace, clock) == pytest.approx(0.1)  # back to the full rate


def test_refusals_within_a_second_cut_the_pace_once() -> None:
    clock = Clock(100.0)
    pace = Pace(per_second=10, burst=1, clock=clock)
    pace.slow_down()
    clock.advance(0.5)
    pace.slow_down()  # the same crowded second at the vendor
    share = PUSHBACK_KEEP + 0.5 * PUSHBACK_RECOVERY
    assert paced_spacing(pace, clock) == pytest.approx(0.1 / share)
    clock.advance(0.5)
    pace.slow_down()  # a second on: cut again, from the share regained by then
    share = (PUSHBACK_KEEP + PUSHBACK_RECOVERY) * PUSHBACK_KEEP
    assert paced_spacing(pace, clock) == pytest.approx(0.1 / share)


@pytest.mark.parametrize(("code", "slowed"), [("60007", True), (LOCAL_RATE_LIMIT, False)])
def test_only_the_vendors_own_rate_refusal_slows_the_limiter(code: str, slowed: bool) -> None:
    cuts: list[None] = []
    limiter = Limiter("a", 10, 1.0, None, BLOCKING)
    limiter._pace.slow_down = lambda: cuts.append(None)  # type: ignore[method-assign]
    lane = Lane(Breaker("a", BreakerSettings()), limiter, threading.Lock(), 0, 1.0, 8)
    lane.pushed_back(RateLimited("slow down", provider="a", code=code, retry_after=None))
    lane.pushed_back(ProviderUnavailable("down", provider="a"))
    assert len(cuts) == (1 if slowed else 0)


def test_a_vendor_rate_refusal_reaches_the_limiter(plugin_manager: pluggy.PluginManager) -> None:
    vendors: dict[str, Any] = {"a": Flaky(failures=1, status=429), "b": FakeVendor()}
    cfg = config(("a", {"rate_limit": 10}), ("b", {}))
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        assert mod.check("hello").provider == "b"  # a refused for rate: b answered
        pace = mod._lanes["a"].limiter._pace  # type: ignore[union-attr]
    assert pace._share == pytest.approx(PUSHBACK_KEEP)


def test_paced_requests_fall_back_when_they_cannot_wait(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendors = {"a": FakeVendor(), "b": FakeVendor()}
    # 3 a minute (the moving window lets all three through), paced 20 s apart after a
    # burst of two: the third cannot wait, however fast or slow the machine.
    cfg = config(("a", {"rate_limit": 0.05, "rate_burst": 2, "max_wait": 0}), ("b", {}))
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        providers = [mod.check(f"m{i}").provider for i in range(4)]
    assert providers == ["a", "a", "b", "b"]  # the burst, then paced off to b


def test_a_rate_limit_wait_never_outlives_the_check_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """max_wait is 5 s, but the check has 20 ms left: the limiter refuses at once
    (so fallback or fail_mode answers in time) instead of sleeping past the deadline."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    limiter = Limiter("p", 0.01, 5.0, None, BLOCKING, burst=1)  # the next slot: 100 s on
    run_blocking(limiter.acquire())
    with pytest.raises(RateLimited):
        run_blocking(limiter.acquire(deadline=time.monotonic() + 0.02))
    assert all(wait <= 0.02 for wait in slept)


async def test_an_async_rate_limit_wait_never_outlives_the_check_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def record(wait: float) -> None:
        slept.append(wait)

    monkeypatch.setattr(asyncio, "sleep", record)
    limiter = Limiter("p", 0.01, 5.0, None, AWAITING, burst=1)
    await run_awaiting(limiter.acquire())
    with pytest.raises(RateLimited):
        await run_awaiting(limiter.acquire(deadline=time.monotonic() + 0.02))
    assert all(wait <= 0.02 for wait in slept)


@pytest.mark.parametrize(
    "stored",
    [
        {b"consecutive": b"many"},
        {b"opened_at": b"nan"},
        {b"consecutive": b"\xff\xfe"},
        {b"calls": b"1e400"},
    ],
)
def test_junk_breaker_state_in_redis_reads_as_a_closed_breaker(stored: dict[bytes, bytes]) -> None:
    assert BreakerState.from_redis(stored) == BreakerState()
