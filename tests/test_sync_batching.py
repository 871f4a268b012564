"""Auto-batching for the blocking ``Moderator``: threads that check at the same time
share batch requests, as ``AsyncModerator``'s tasks do. Batches are filled to the
provider's batch size so that they go out at once: barriers and counts, never sleeps
or timed assertions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import httpx
import pluggy
import pytest

from moderation_core import (
    AllProvidersFailed,
    CheckContext,
    Content,
    Decision,
    Moderator,
    ProviderError,
    ProviderUnavailable,
    Verdict,
    _batching,
)
from moderation_core._batching import ThreadBatcher
from moderation_core._resilience import Limiter
from moderation_core._routing import Job, JobOutcome
from moderation_core.testing import Clock
from tests.fakes import FakeConfig, FakeProvider, FakeVendor

# Long enough that a batch waiting for company never goes out before it is full.
PATIENT = 10.0


def config(*providers: tuple[str, dict[str, Any]], **moderation: Any) -> dict[str, Any]:
    return {
        "moderation": {"providers": [name for name, _ in providers], **moderation},
        "providers": {name: {"type": "fake", **table} for name, table in providers},
    }


def routed(vendors: dict[str, FakeVendor]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        return vendors[request.url.host.removesuffix(".fake")](request)

    return httpx.MockTransport(handle)


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(n)`` in ``count`` threads released together; each one's result or the
    exception it raised, in thread order."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = work(n)
        except BaseException as exc:  # handed to the test to assert on
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def text_of(n: int) -> str:
    return f"m{n}" + (" block" if n % 3 == 0 else "") + (" item-fail" if n == 7 else "")


def test_ten_threads_share_one_batch_request_each_with_its_own_answer(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {"batch_size": 10}), batch_window=PATIENT)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed({"a": vendor})) as mod:
        results = in_threads(10, lambda n: mod.check(text_of(n), scene="Group"))
    (request,) = vendor.checks
    assert sorted(request["items"]) == sorted(text_of(n) for n in range(10))
    assert request["scene"] == "Group"
    for n, result in enumerate(results):
        if n == 7:  # its item failed at the vendor: its own error, nobody else's
            assert isinstance(result, AllProvidersFailed)
            (error,) = result.exceptions
            assert isinstance(error, ProviderError)
            assert error.code == 4242
            continue
        assert isinstance(result, Verdict)
        assert result.decision is (Decision.BLOCK if n % 3 == 0 else Decision.PASS)
        assert result.keywords == (("block",) if n % 3 == 0 else ())


def test_check_many_callers_keep_their_order_inside_a_shared_batch(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {"batch_size": 10}), batch_window=PATIENT)
    lists = [[f"t{n}-{i}" + (" block" if i == 1 else "") for i in range(5)] for n in range(2)]
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed({"a": vendor})) as mod:
        results = in_threads(2, lambda n: mod.check_many([Content.text(t) for t in lists[n]]))
    assert [len(c["items"]) for c in vendor.checks] == [10]
    for texts, verdicts in zip(lists, results, strict=True):
        assert [v.decision for v in verdicts] == [
            Decision.BLOCK if " block" in t else Decision.PASS for t in texts
        ]


def test_a_failed_batch_falls_back_for_each_caller(plugin_manager: pluggy.PluginManager) -> None:
    vendors = {"a": FakeVendor(fail=True), "b": FakeVendor()}
    cfg = config(("a", {"batch_size": 10}), ("b", {}), batch_window=PATIENT)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed(vendors)) as mod:
        results = in_threads(10, lambda n: mod.check(f"m{n}" + (" block" if n == 4 else "")))
    assert [len(c["items"]) for c in vendors["a"].checks] == [10]
    assert len(vendors["b"].checks) == 10  # one each: b takes one content per request
    assert all(isinstance(v, Verdict) and v.provider == "b" for v in results)
    assert [v.decision for v in results] == [
        Decision.BLOCK if n == 4 else Decision.PASS for n in range(10)
    ]


def test_only_checks_with_the_same_context_share_a_batch(
    plugin_manager: pluggy.PluginManager,
) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {"batch_size": 10}), batch_window=PATIENT)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed({"a": vendor})) as mod:
        in_threads(20, lambda n: mod.check(f"m{n}", scene=f"S{n % 2}"))
    assert sorted((c["scene"], len(c["items"])) for c in vendor.checks) == [("S0", 10), ("S1", 10)]
    for check in vendor.checks:
        assert {int(t[1:]) % 2 for t in check["items"]} == {int(check["scene"][1:])}


def test_batching_off_sends_each_thread_alone(plugin_manager: pluggy.PluginManager) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {"batch_size": 10}), batch_window=0)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed({"a": vendor})) as mod:
        in_threads(5, lambda n: mod.check(f"m{n}"))
    assert [len(c["items"]) for c in vendor.checks] == [1] * 5


def test_a_lone_check_goes_out_after_the_window(plugin_manager: pluggy.PluginManager) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {"batch_size": 10}), batch_window=0.001)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed({"a": vendor})) as mod:
        assert mod.check("hello").decision is Decision.PASS
    assert [c["items"] for c in vendor.checks] == [["hello"]]


# -- the batcher on its own: a job that does not fit, and a leader that fails ---------


class Sends:
    """A batcher's ``send``: records each merged call; answers with ``answer``."""

    def __init__(self, answer: Callable[[Job], JobOutcome]) -> None:
        self.answer = answer
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, job: Job, context: CheckContext, deadline: float) -> JobOutcome:
        with self.lock:
            self.calls.append([c.value for c in job.contents])
        return self.answer(job)


def passed(job: Job) -> JobOutcome:
    return [Verdict(decision=Decision.PASS, raw={"text": c.value}) for c in job.contents]


def provider(batch_size: int) -> FakeProvider:
    return FakeProvider("a", FakeConfig(type="fake", batch_size=batch_size))


def job_of(texts: Sequence[str], prov: FakeProvider) -> Job:
    return Job(prov, list(range(len(texts))), [Content.text(t) for t in texts])


def test_a_job_that_does_not_fit_sends_the_gathered_batch_and_starts_the_next() -> None:
    prov = provider(batch_size=10)
    sends = Sends(passed)
    batcher = ThreadBatcher(prov, 0.01, sends)
    context = CheckContext()
    alone = batcher.submit(job_of(["a"] * 6, prov), context, 1e12)  # after the window
    assert isinstance(alone, list)
    assert len(alone) == 6
    in_threads(2, lambda n: batcher.submit(job_of([f"{n}"] * 6, prov), context, 1e12))
    assert sorted(len(c) for c in sends.calls) == [6, 6, 6]


def test_a_whole_request_failure_reaches_every_caller_as_its_outcome() -> None:
    prov = provider(batch_size=3)
    error = ProviderUnavailable("vendor down", provider="a")
    batcher = ThreadBatcher(prov, PATIENT, Sends(lambda job: error))
    outcomes = in_threads(3, lambda n: batcher.submit(job_of([f"{n}"], prov), CheckContext(), 1e12))
    assert outcomes == [error] * 3


def test_a_bug_in_the_merged_call_reaches_every_caller() -> None:
    prov = provider(batch_size=3)

    def broken(job: Job) -> JobOutcome:
        raise RuntimeError("bug")

    batcher = ThreadBatcher(prov, PATIENT, Sends(broken))
    outcomes = in_threads(3, lambda n: batcher.submit(job_of([f"{n}"], prov), CheckContext(), 1e12))
    assert all(isinstance(o, RuntimeError) for o in outcomes)


def test_callers_send_their_own_when_the_leader_is_interrupted() -> None:
    prov = provider(batch_size=3)

    def interrupted_once(job: Job) -> JobOutcome:
        if len(job.contents) == 3:  # the merged call
            raise KeyboardInterrupt
        return passed(job)

    sends = Sends(interrupted_once)
    batcher = ThreadBatcher(prov, PATIENT, sends)
    outcomes = in_threads(3, lambda n: batcher.submit(job_of([f"{n}"], prov), CheckContext(), 1e12))
    assert sum(isinstance(o, KeyboardInterrupt) for o in outcomes) == 1  # the leader's own
    answered = [o for o in outcomes if isinstance(o, list)]
    assert len(answered) == 2
    assert sorted(len(c) for c in sends.calls) == [1, 1, 3]


@pytest.mark.parametrize("size", [1, 10])
def test_jobs_as_large_as_a_batch_are_not_batched(
    plugin_manager: pluggy.PluginManager, size: int
) -> None:
    vendor = FakeVendor()
    cfg = config(("a", {"batch_size": size}), batch_window=PATIENT)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed({"a": vendor})) as mod:
        verdicts = mod.check_many([f"m{i}" for i in range(10)])  # no wait for company
    assert len(verdicts) == 10
    assert [len(c["items"]) for c in vendor.checks] == [size] * (10 // size)


# -- a batch held open while the rate limiter would hold its request ------------------


class Holds:
    """A batcher's ``ready``: the limiter's next slot ``seconds`` away. ``asked`` is set
    once a leader's window is over and it asked."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.asked = threading.Event()
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        self.asked.set()
        return self.seconds


def lead_in_thread(
    batcher: ThreadBatcher, job: Job, deadline: float
) -> tuple[threading.Thread, list[JobOutcome]]:
    outcomes: list[JobOutcome] = []
    thread = threading.Thread(
        target=lambda: outcomes.append(batcher.submit(job, CheckContext(), deadline))
    )
    thread.start()
    return thread, outcomes


def test_callers_arriving_while_the_limiter_holds_a_batch_ride_along() -> None:
    prov = provider(batch_size=3)
    sends = Sends(passed)
    holds = Holds(1e9)  # as good as forever: only a full batch lets it go
    batcher = ThreadBatcher(prov, 0.0, sends, holds)  # the window ends at once
    leader, outcomes = lead_in_thread(batcher, job_of(["first"], prov), 1e12)
    assert holds.asked.wait(PATIENT)  # the window is over, the batch still open
    late = in_threads(2, lambda n: batcher.submit(job_of([f"late{n}"], prov), CheckContext(), 1e12))
    leader.join()
    assert [sorted(c) for c in sends.calls] == [["first", "late0", "late1"]]
    assert holds.calls == 1
    assert [len(o) for o in [*outcomes, *late] if isinstance(o, list)] == [1, 1, 1]


def test_a_batch_goes_after_its_window_when_the_limiter_has_a_slot() -> None:
    prov = provider(batch_size=3)
    sends = Sends(passed)
    holds = Holds(0.0)
    batcher = ThreadBatcher(prov, 0.0, sends, holds)
    batcher.submit(job_of(["alone"], prov), CheckContext(), 1e12)
    assert sends.calls == [["alone"]]
    assert holds.calls == 1


def test_a_batch_is_never_held_past_a_callers_deadline() -> None:
    prov = provider(batch_size=3)
    sends = Sends(passed)
    holds = Holds(1e9)
    batcher = ThreadBatcher(prov, 0.0, sends, holds)
    leader, _ = lead_in_thread(batcher, job_of(["due"], prov), time.monotonic())
    leader.join(PATIENT)  # held, it would wait for company for good
    assert not leader.is_alive()
    assert sends.calls == [["due"]]


def test_a_full_batch_does_not_ask_the_limiter() -> None:
    prov = provider(batch_size=3)
    sends = Sends(passed)
    holds = Holds(1e9)
    batcher = ThreadBatcher(prov, PATIENT, sends, holds)
    in_threads(3, lambda n: batcher.submit(job_of([f"{n}"], prov), CheckContext(), 1e12))
    assert [len(c) for c in sends.calls] == [3]
    assert holds.calls == 0


def test_a_moderator_holds_a_batch_open_while_its_rate_limit_paces_the_request(
    plugin_manager: pluggy.PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests a second, one at a time: the first check goes alone; the next
    batch's window ends while the limiter holds its request half a second, and the two
    checks made meanwhile join it: two requests, not three."""
    asked = threading.Event()
    ready_in = Limiter.ready_in

    def noted(limiter: Limiter) -> float:
        wait = ready_in(limiter)
        if wait > 0:
            asked.set()
        return wait

    monkeypatch.setattr(Limiter, "ready_in", noted)
    vendor = FakeVendor()
    table = {"batch_size": 3, "rate_limit": 2, "rate_burst": 1, "max_wait": 5}
    cfg = config(("a", table), batch_window=0.001)
    with Moderator(cfg, plugin_manager=plugin_manager, transport=routed({"a": vendor})) as mod:
        assert mod.check("first").decision is Decision.PASS
        leader = threading.Thread(target=mod.check, args=("second",))
        leader.start()
        assert asked.wait(PATIENT)
        results = in_threads(2, lambda n: mod.check(f"late{n}"))
        leader.join()
    assert all(isinstance(r, Verdict) for r in results)
    assert [sorted(c["items"]) for c in vendor.checks] == [
        ["first"],
        ["late0", "late1", "second"],
    ]


# -- nobody else coming: every thread that checked lately is already inside -----------


def rounds(batcher: ThreadBatcher, prov: FakeProvider, plan: list[list[int]]) -> list[Any]:
    """Threads that check through ``batcher`` in rounds: ``plan[r][n]`` items for thread
    ``n`` in round ``r`` (0: it sits the round out). Each round starts once the last
    ended; returns whether every thread finished (daemon threads: a batch that waits
    for good leaves them behind and the test fails instead of hanging)."""
    count = len(plan[0])
    start = [threading.Barrier(count) for _ in plan]
    ended = [threading.Barrier(count) for _ in plan]

    def run(n: int) -> None:
        for r, sizes in enumerate(plan):
            start[r].wait()
            if sizes[n]:
                batcher.submit(job_of([f"r{r}t{n}"] * sizes[n], prov), CheckContext(), 1e12)
            ended[r].wait()

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENT)
    return [not thread.is_alive() for thread in threads]


FOREVER = 1e9  # a window no test outlives: only a full batch, or nobody coming, sends


def test_a_batch_goes_once_every_thread_that_checked_lately_is_in_it() -> None:
    prov = provider(batch_size=10)
    sends = Sends(passed)
    batcher = ThreadBatcher(prov, FOREVER, sends)
    # Round 0 fills a batch (4 + 3 + 3); in round 1 the three known threads send one
    # item each, and the third to arrive finds nobody else to wait for.
    assert all(rounds(batcher, prov, [[4, 3, 3], [1, 1, 1]]))
    assert sorted(len(c) for c in sends.calls) == [3, 10]


def test_threads_on_their_first_check_wait_for_company() -> None:
    """Fresh threads may be the first of many: nobody counts as all there is, so their
    batch waits (for good here) until it is full."""
    prov = provider(batch_size=3)
    sends = Sends(passed)
    batcher = ThreadBatcher(prov, FOREVER, sends)
    assert all(rounds(batcher, prov, [[1, 1, 1]]))
    assert [len(c) for c in sends.calls] == [3]


def gathered(batcher: ThreadBatcher, context: CheckContext) -> int:
    """Items in the batch gathering for ``context`` now (0: none)."""
    with batcher._lock:
        batch = batcher._gathering.get(context)
        return 0 if batch is None else batch.count


def test_a_batch_waits_for_a_known_thread_that_is_out() -> None:
    """Three threads fill a batch (known now); then two check again while the third is
    out: it may come, so their batch waits, and its arrival sends all three."""
    prov = provider(batch_size=10)
    sends = Sends(passed)
    batcher = ThreadBatcher(prov, FOREVER, sends)
    context = CheckContext()
    go = [threading.Event() for _ in range(3)]

    def worker(n: int) -> None:
        batcher.submit(job_of([f"warm{n}"] * (4 if n == 0 else 3), prov), context, 1e12)
        go[n].wait(PATIENT)
        batcher.submit(job_of([f"t{n}"], prov), context, 1e12)

    pool = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(3)]
    for thread in pool:
        thread.start()
    go[0].set()
    go[1].set()
    deadline = time.monotonic() + PATIENT
    while gathered(batcher, context) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)  # until both are in the gathering batch
    assert gathered(batcher, context) == 2
    go[2].set()
    for thread in pool:
        thread.join(PATIENT)
    assert not any(thread.is_alive() for thread in pool)
    assert sorted(len(c) for c in sends.calls) == [3, 10]


def test_a_thread_gone_a_while_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(100.0)
    monkeypatch.setattr(_batching, "time", SimpleNamespace(monotonic=clock))
    callers = _batching._Callers()
    assert not callers.enter(1)  # a first check: others may be starting too
    callers.leave(1)
    assert callers.enter(1)  # the only thread that checked lately: nobody else coming
    callers.leave(1)
    callers.enter(2)
    callers.leave(2)
    assert not callers.enter(1)  # thread 2 checked lately and is out: it may come
    callers.leave(1)
    clock.advance(_batching.RECENT + 0.5)
    callers.enter(1)
    callers.leave(1)  # thread 2 is forgotten as 1 leaves
    assert callers.enter(1)


def test_nobody_coming_ends_the_window_but_not_the_limiters_hold() -> None:
    """Two known threads are all there is, so their batch stops waiting out the
    window; the limiter would hold its request, so it stays open, and a thread that
    comes meanwhile (on its first check) rides along."""
    prov = provider(batch_size=10)
    sends = Sends(passed)
    holds = Holds(FOREVER)
    batcher = ThreadBatcher(prov, FOREVER, sends, holds)
    context = CheckContext()
    go = threading.Event()

    def known(n: int) -> None:
        batcher.submit(job_of([f"warm{n}"] * 5, prov), context, 1e12)  # 5 + 5: full
        go.wait(PATIENT)
        batcher.submit(job_of([f"k{n}"], prov), context, 1e12)

    pool = [threading.Thread(target=known, args=(n,), daemon=True) for n in range(2)]
    for thread in pool:
        thread.start()
    go.set()
    assert holds.asked.wait(PATIENT)  # the window ended early; the limiter holds
    newcomer, _ = lead_in_thread(batcher, job_of(["new"] * 8, prov), 1e12)
    for thread in [*pool, newcomer]:
        thread.join(PATIENT)
        assert not thread.is_alive()
    assert sorted(len(c) for c in sends.calls) == [10, 10]
    assert holds.calls == 1
