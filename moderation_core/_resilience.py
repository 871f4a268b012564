"""Per-provider resilience: circuit breaker, rate limiter, in-flight gate and retries.

Each HTTP provider gets a *lane* holding these, built from its ``HttpProviderConfig``.
The state of the breaker and the limiter lives in memory, or in Redis when
``[moderation] redis_url`` is set, so that several processes respect one vendor quota
and see one breaker; while Redis fails, each process keeps its own (``SharedRedis``).
The breaker and the limiter are written once, as step plans (``_steps``): the same
object serves a blocking or an awaiting moderator, whose mode made its locks and Redis
client.

- Retries: stamina, with every wait planned by a backoff hook: the vendor's
  Retry-After when it is a usable number of seconds, else exponential backoff with
  jitter; a wait that would end past the deadline is refused.
- Rate limits: ``limits``' moving window, which never lets more than N requests into
  any one-second window, the first one included (a token bucket that starts full lets
  bucket + rate through in its first second).
- Circuit breaker: written here, in a few lines, because none of the maintained ones
  (pybreaker, aiobreaker, purgatory) does sync and async over one shared Redis state.
- In-flight cap: fixed when ``max_in_flight`` is set, else derived (``ConcurrencyLimit``)
  from the rate limit and the latency each response shows, as Netflix's
  concurrency-limits does; written here because no maintained Python port of it gates
  both threads and tasks.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs
import httpx
import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
import limits.strategies
import stamina

from ._errors import ProviderError, ProviderUnavailable, RateLimited
from ._state import SharedRedis
from ._steps import Gate, Mode, Step, Steps, single

if TYPE_CHECKING:
    from ._provider import HttpProviderConfig

__all__ = [
    "AsyncPooledTransport",
    "Breaker",
    "BreakerSettings",
    "BreakerState",
    "ConcurrencyLimit",
    "Lane",
    "Limiter",
    "Pace",
    "PooledTransport",
    "backoff_hook",
    "pooled_transport",
    "rate_item",
]

Clock = Callable[[], float]
P = TypeVar("P")

# Codes of errors raised here, not by a vendor.
CIRCUIT_OPEN: Final = "circuit_open"
LOCAL_RATE_LIMIT: Final = "local_rate_limit"


@attrs.define(kw_only=True)
class BreakerSettings:
    """``breaker = { ... }`` in a provider's table. The defaults are close to the
    Tencent Cloud SDK's breaker: open after 5 failures in a row, or when 75% of at
    least ``min_calls`` calls in a ``window`` failed; stay open ``open_for`` seconds,
    then let one probe through."""

    failures: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    failure_ratio: float = attrs.field(
        default=0.75, validator=[attrs.validators.gt(0), attrs.validators.le(1)]
    )
    min_calls: int = attrs.field(default=20, validator=attrs.validators.ge(1))
    window: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    open_for: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))


@attrs.define
class BreakerState:
    """What a breaker remembers: counts in the current window, and whether it is open
    (since ``opened_at``) with a half-open probe out (since ``probe_at``)."""

    consecutive: int = 0
    calls: int = 0
    failed: int = 0
    window_start: float = 0.0
    open: int = 0
    opened_at: float = 0.0
    probing: int = 0
    probe_at: float = 0.0

    def to_redis(self) -> dict[str, str]:
        return {k: repr(v) for k, v in attrs.asdict(self).items()}

    @classmethod
    def from_redis(cls, data: dict[Any, Any]) -> BreakerState:
        """The state stored in Redis; a fresh (closed) state when what is stored there
        does not read as one: a check never fails because Redis held junk."""
        fields = {f.name: f.type for f in attrs.fields(cls)}
        values: dict[str, Any] = {}
        try:
            for key, raw in data.items():
                name = key.decode() if isinstance(key, bytes) else str(key)
                if name in fields:
                    text = raw.decode() if isinstance(raw, bytes) else str(raw)
                    number = float(text)
                    if not math.isfinite(number):
                        raise ValueError(name)
                    values[name] = int(number) if fields[name] in ("int", int) else number
        except (UnicodeDecodeError, ValueError):
            return cls()
        return cls(**values)


def breaker_allows(state: BreakerState, now: float, settings: BreakerSettings) -> bool:
    """Whether a call may go out; marks a half-open probe as taken."""
    if not state.open:
        return True
    if now - state.opened_at < settings.open_for:
        return False
    # Half-open: one probe at a time; a probe that never reports back frees the slot
    # after another open period.
    if state.probing and now - state.probe_at < settings.open_for:
        return False
    state.probing, state.probe_at = 1, now
    return True


def breaker_record(state: BreakerState, now: float, settings: BreakerSettings, ok: bool) -> None:
    if now - state.window_start >= settings.window:
        state.window_start, state.calls, state.failed = now, 0, 0
    state.calls += 1
    if ok:
        state.consecutive = state.open = state.probing = 0
        return
    state.failed += 1
    state.consecutive += 1
    too_many = state.consecutive >= settings.failures
    too_often = (
        state.calls >= settings.min_calls and state.failed / state.calls >= settings.failure_ratio
    )
    if state.probing or too_many or too_often:  # a failed probe re-opens at once
        state.open, state.opened_at, state.probing = 1, now, 0


def counts_against_breaker(error: ProviderError) -> bool:
    # The limiter deals with rate limits; every other whole-request failure counts.
    return not isinstance(error, RateLimited)


def _open_error(provider: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        "circuit open after repeated failures; skipped without a request",
        provider=provider,
        code=CIRCUIT_OPEN,
    )


class Breaker:
    """The breaker of one provider. ``before`` and ``after`` are plans: in memory they
    take no step, with Redis they read and write the shared state."""

    def __init__(
        self,
        provider: str,
        settings: BreakerSettings,
        shared: SharedRedis | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self._shared = shared
        self._key = f"moderation_core:breaker:{provider}"
        self._clock = time.time if shared is not None else clock  # shared state needs wall time
        self._state = BreakerState()  # in this process: without Redis, or while it is down
        self._lock = threading.Lock()  # for _state: held for no IO, so in either mode
        self._ttl = int(settings.window + settings.open_for) * 2

    def before(self) -> Iterable[Step]:
        """Let a call go out, or raise ProviderUnavailable (circuit open). The steps to
        ``yield from``: none in memory (no generator on the hot path), Redis's with it."""
        if self._shared is None:
            if not self._allows_here():
                raise _open_error(self.provider)
            return ()
        return self._before_shared(self._shared)

    def after(self, ok: bool) -> Iterable[Step]:
        """Record how a call that went out ended (steps as for ``before``)."""
        if self._shared is None:
            self._record_here(ok)
            return ()
        return self._shared.attempt(
            functools.partial(self._record_shared, ok), functools.partial(self._record_here, ok)
        )

    def _before_shared(self, shared: SharedRedis) -> Steps[None]:
        if not (yield from shared.attempt(self._allows_shared, self._allows_here)):
            raise _open_error(self.provider)

    def _allows(self, state: BreakerState) -> tuple[bool, bool]:
        """Whether a call may go out, and whether asking changed the state."""
        if not state.open:  # closed (nearly always): allowed, and asking changes nothing
            return True, False
        before = attrs.evolve(state)
        allowed = breaker_allows(state, self._clock(), self.settings)
        return allowed, state != before

    def _allows_here(self) -> bool:
        with self._lock:
            return self._allows(self._state)[0]

    def _record_here(self, ok: bool) -> None:
        with self._lock:
            breaker_record(self._state, self._clock(), self.settings, ok)

    def _load(self) -> Steps[BreakerState]:
        assert self._shared is not None  # noqa: S101 - only called with Redis
        stored = yield functools.partial(self._shared.client.hgetall, self._key)
        return BreakerState.from_redis(stored)

    def _allows_shared(self) -> Steps[bool]:
        state = yield from self._load()
        allowed, changed = self._allows(state)
        if changed:
            yield from self._store(state)
        return allowed

    def _record_shared(self, ok: bool) -> Steps[None]:
        state = yield from self._load()
        breaker_record(state, self._clock(), self.settings, ok)
        yield from self._store(state)

    def _store(self, state: BreakerState) -> Steps[None]:
        # Last writer wins between processes: a breaker only needs to be roughly
        # shared, and a lost update costs at most one extra call.
        assert self._shared is not None  # noqa: S101 - only called with Redis
        pipe = self._shared.client.pipeline()
        pipe.hset(self._key, mapping=state.to_redis())
        pipe.expire(self._key, self._ttl)
        yield pipe.execute


def rate_item(per_second: float) -> limits.RateLimitItem:
    """``rate_limit`` requests/s as a ``limits`` item (below 1/s, per minute)."""
    if per_second >= 1:
        return limits.RateLimitItemPerSecond(math.floor(per_second))
    return limits.RateLimitItemPerMinute(max(1, math.floor(per_second * 60)))


def _waited_too_long(provider: str, per_second: float, max_wait: float) -> RateLimited:
    return RateLimited(
        f"local rate limit of {per_second:g} requests/s: no slot within {max_wait:g} s",
        provider=provider,
        code=LOCAL_RATE_LIMIT,
        retry_after=None,
    )


class Pace:
    """Spaces one process's requests ``1/rate`` seconds apart, letting at most
    ``burst`` go back to back (GCRA). ``limits`` counts whole one-second windows, so on
    its own it lets a window's slots go out in one burst, and jitter on the way turns a
    burst into an over-limit second at the vendor (measured here: 201-203 seen against a
    195/s limit). A few lines, as no limiter library paces both sync and async callers.

    Twice: ``reserve`` plans each caller's sleep, and ``claim``, as it wakes, checks
    the sends themselves keep the pace. Planned slots are up to ``max_wait`` ahead, so
    a stall (a busy event loop, the GIL, a loaded machine) would otherwise wake every
    caller whose slot passed meanwhile at once, a burst the moving window lets through
    (a second's count stays under the limit) and the vendor's count does not.

    When the vendor refuses a request for rate anyway (``slow_down``), the pace keeps
    ``PUSHBACK_KEEP`` of itself, at most once a second, and regains
    ``PUSHBACK_RECOVERY`` of the rate each second after: headroom where the vendor
    counts differently (when a request arrives, or is answered, on a clock of its own)
    and only while it says so."""

    def __init__(self, per_second: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._base = 1.0 / per_second  # the spacing at the full rate
        self._share = 1.0  # of the rate, just after the last slow_down
        self._cut_at = -math.inf
        self._tolerance = (max(1, burst) - 1) * self._base
        self._due = 0.0  # when the next request is due at the steady pace
        self._sent = 0.0  # the same, from the sends claimed (GCRA's TAT)
        self._clock = clock
        self._lock = threading.Lock()

    def reserve(self, max_wait: float) -> float | None:
        """Seconds to wait for this caller's turn, or None if that is over max_wait."""
        with self._lock:
            now = self._clock()
            due = max(self._due, now)
            wait = max(0.0, due - self._tolerance - now)
            if wait > max_wait:
                return None
            self._due = due + self._spacing(now)
            return wait

    def claim(self) -> float:
        """As a caller is about to send: 0 (the send counted) when the sends so far
        keep the pace, else the seconds to wait before claiming again."""
        with self._lock:
            now = self._clock()
            wait = self._sent - self._tolerance - now
            if wait > 0:
                return wait
            self._sent = max(self._sent, now) + self._spacing(now)
            return 0.0

    def slow_down(self) -> None:
        """The vendor refused a request for rate: keep ``PUSHBACK_KEEP`` of the pace
        (not again within ``PUSHBACK_EVERY``: one crowded second refuses many)."""
        with self._lock:
            now = self._clock()
            if now - self._cut_at < PUSHBACK_EVERY:
                return
            self._share = max(PUSHBACK_FLOOR, self._current_share(now) * PUSHBACK_KEEP)
            self._cut_at = now

    def _current_share(self, now: float) -> float:
        return min(1.0, self._share + PUSHBACK_RECOVERY * (now - self._cut_at))

    def _spacing(self, now: float) -> float:
        if self._share >= 1.0:
            return self._base
        share = self._current_share(now)
        if share >= 1.0:
            self._share = 1.0  # recovered
        return self._base / share

    def ready_in(self, max_wait: float) -> float:
        """Seconds until the next caller's turn, reserving nothing: 0 when it is now,
        or when it is over max_wait (that caller is refused at once, not held)."""
        with self._lock:
            now = self._clock()
            wait = max(0.0, max(self._due, now) - self._tolerance - now)
            return wait if wait <= max_wait else 0.0


# After a vendor's own rate refusal: the pace kept (at most once per PUSHBACK_EVERY
# seconds, never below PUSHBACK_FLOOR of the rate), and the share of the rate regained
# each second after (back to the full rate in 5 s from one cut).
PUSHBACK_KEEP: Final = 0.95
PUSHBACK_EVERY: Final = 1.0
PUSHBACK_FLOOR: Final = 0.5
PUSHBACK_RECOVERY: Final = 0.01


def default_burst(per_second: float) -> int:
    """Back-to-back requests allowed by default: two. Measured against a 195/s limit:
    a burst of 5% of the rate let a vendor second reach 202; a burst of one (strictly
    even spacing) lost a quarter of the rate to oversleeping; two kept both."""
    return min(2, max(1, math.floor(per_second)))


# limits builds its Redis client from a URL; handed the moderator's connection pool it
# only reads the scheme, so the pool's timeouts, health and credentials apply.
_POOLED_URL: Final = "redis://"


def _shared_window(shared: SharedRedis, mode: Mode) -> Any:
    """A moving window in Redis, through the moderator's client of ``mode``."""
    pool = shared.client.connection_pool
    if mode.asynchronous:
        return limits.aio.strategies.MovingWindowRateLimiter(
            limits.aio.storage.RedisStorage(
                f"async+{_POOLED_URL}",
                implementation="redispy",
                key_prefix="moderation_core",
                connection_pool=pool,
            )
        )
    return limits.strategies.MovingWindowRateLimiter(
        limits.storage.RedisStorage(_POOLED_URL, connection_pool=pool, key_prefix="moderation_core")
    )


class Limiter:
    """A moving-window limit for one provider; ``acquire`` waits up to ``max_wait``
    seconds for a slot, then raises RateLimited. With Redis the window is shared; while
    Redis is down (or without it), this process keeps its own, in memory: no IO, so a
    plain call in either mode."""

    def __init__(
        self,
        provider: str,
        per_second: float,
        max_wait: float,
        shared: SharedRedis | None,
        mode: Mode,
        burst: int | None = None,
    ) -> None:
        self.provider = provider
        self.per_second = per_second
        self.max_wait = max_wait
        self._item = rate_item(per_second)
        self._key = f"provider:{provider}"
        self._pace = Pace(per_second, burst or default_burst(per_second))
        self._mode = mode
        self._shared = shared
        self._local = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())
        self._remote = _shared_window(shared, mode) if shared is not None else None
        self._queue = mode.lock()

    def acquire(self, deadline: float | None = None) -> Steps[None]:
        """Wait for a slot: at most ``max_wait`` seconds, and never past ``deadline``
        (a ``time.monotonic()`` value: the check's own)."""
        budget = self._budget(deadline)
        give_up = time.monotonic() + budget
        delay = self._pace.reserve(budget)
        if delay is None:
            raise self._refused()
        if delay > 0:
            yield functools.partial(self._mode.sleep, delay)
        # Sent at its turn, not as planned: callers that woke together after a stall
        # go out spaced (see Pace), never past the budget.
        while (late := self._pace.claim()) > 0:
            if time.monotonic() + late > give_up:
                raise self._refused()
            yield functools.partial(self._mode.sleep, late)
        if (yield from self._hit()):
            return
        # Waiters poll one at a time (first come, first served): no herd waking
        # together, so a granted slot is used at once.
        if budget <= 0 or not (
            yield functools.partial(self._mode.acquire_within, self._queue, budget)
        ):
            raise self._refused()
        try:
            while not (yield from self._hit()):
                wait = max(0.001, (yield from self._reset_time()) - time.time())
                if time.monotonic() + wait > give_up:
                    raise self._refused()
                yield functools.partial(self._mode.sleep, wait)
        finally:
            self._queue.release()

    def pushback(self) -> None:
        """The vendor refused a request for rate: this process slows its pace a while
        (see ``Pace``); the moving window keeps its limit."""
        self._pace.slow_down()

    def ready_in(self) -> float:
        """Seconds before this process's pace lets the next request out (0: now, or a
        wait over ``max_wait``, which ``acquire`` refuses at once). Reserves nothing:
        a batcher holds a batch open for company that long, as the request would only
        wait in ``acquire`` (the shared window in Redis is not read: no IO here)."""
        return self._pace.ready_in(self.max_wait)

    def _hit(self) -> Steps[bool]:
        hit = functools.partial(self._local.hit, self._item, self._key)
        if self._remote is None or self._shared is None:
            return hit()
        remote = functools.partial(self._remote.hit, self._item, self._key)
        allowed: bool = yield from self._shared.attempt(functools.partial(single, remote), hit)
        return allowed

    def _reset_time(self) -> Steps[float]:
        stats = functools.partial(self._local.get_window_stats, self._item, self._key)
        if self._remote is None or self._shared is None:
            return stats().reset_time
        remote = functools.partial(self._remote.get_window_stats, self._item, self._key)
        window = yield from self._shared.attempt(functools.partial(single, remote), stats)
        return float(window.reset_time)

    def _budget(self, deadline: float | None) -> float:
        if deadline is None:
            return self.max_wait
        return max(0.0, min(self.max_wait, deadline - time.monotonic()))

    def _refused(self) -> RateLimited:
        return _waited_too_long(self.provider, self.per_second, self.max_wait)


# -- the in-flight cap ----------------------------------------------------------------

# Never fewer in flight than this: what loopback measurements put in httpcore's
# efficient range (PERFORMANCE.md), and the fixed cap before it was derived.
MIN_IN_FLIGHT: Final = 8
# Never more: past this httpcore's pool scans cost more CPU than any vendor answers.
MAX_IN_FLIGHT: Final = 256
# In flight beyond what Little's law needs (rate x latency): answers come back
# unevenly, and a request waiting for the rate limiter holds its slot meanwhile.
HEADROOM: Final = 1.5
# Latency this many times the no-load latency means requests queue somewhere (the
# vendor, the network, this process's CPU): fewer in flight.
TOLERANCE: Final = 2.0
SMOOTHING: Final = 0.2  # weight of each new latency in the moving average (~10 answers)
BACKOFF: Final = 0.9  # the cap kept when the vendor pushes back
# The no-load latency is the least seen in the last one or two periods of this many
# answers at light load (no more in flight than MIN_IN_FLIGHT). Only light-load answers
# count: under a steady heavy load every answer has queued, and a baseline learned from
# them would drift up with the queue and let the cap grow without end.
BASELINE_ANSWERS: Final = 200
# Without a rate limit, the cap grows by one only while the requests it queues are
# few: ``cap x (1 - no-load latency / average latency)`` (TCP Vegas' estimate, as in
# Netflix's VegasLimit) at most this x log10(cap), Vegas' alpha. A vendor whose
# latency holds grows the cap; a client whose own CPU (or a busy machine) is the queue
# does not, where the tolerance alone let noise push the cap to 70-130 on loopback.
QUEUE_ALLOWANCE: Final = 3.0
SETTLING: Final = 2 * MIN_IN_FLIGHT  # light-load answers before that growth begins


class ConcurrencyLimit:
    """How many requests one provider may have in flight, derived from what its answers
    show (AIMD with a latency gradient, after Netflix's concurrency-limits):

    - while the cap is in use (half of it or more) and the average latency stays
      within ``TOLERANCE`` x the no-load latency (the least seen lately at light load),
      more in flight means more answers per second: each answer raises the cap to the
      ceiling below when there is a rate limit, else by one while the requests it
      queues by Vegas' estimate stay within ``QUEUE_ALLOWANCE`` x log10(cap);
    - cut in proportion when the average latency climbs past that (requests queue), and
      to ``BACKOFF`` of itself when the vendor pushes back (rate limited, unavailable);
      at most once per round trip, as one congestion shows in many answers;
    - always within [``MIN_IN_FLIGHT``, ceiling]: the ceiling is what the rate limit
      can use by Little's law, ``rate_limit x latency x HEADROOM + burst``, so the cap
      never binds below the rate limit and never runs far past it (without a rate
      limit, ``MAX_IN_FLIGHT``; the latency gradient governs).

    Plain arithmetic under a lock; fed by the driver, which times each send
    (``observe``), so a test drives it with latencies of its choosing."""

    def __init__(
        self, rate_limit: float | None, burst: int = 0, clock: Clock = time.perf_counter
    ) -> None:
        self.rate_limit = rate_limit or None
        self.burst = burst
        self.clock = clock  # what the driver times answers with
        self.limit = MIN_IN_FLIGHT
        self.latency: float | None = None  # moving average of answers' latency, seconds
        self._least = (math.inf, math.inf)  # least latency in the last and this period
        self._light = 0  # answers at light load
        self._hold = 0  # answers still to come from before the last cut
        self._lock = threading.Lock()

    @property
    def baseline(self) -> float:
        """The no-load latency: the least seen at light load in the last one or two
        periods (infinite until an answer came at light load)."""
        return min(self._least)

    def ceiling(self) -> int:
        """The most the rate limit can use at the average latency (see the class)."""
        if self.rate_limit is None:
            return MAX_IN_FLIGHT
        if self.latency is None:
            return MIN_IN_FLIGHT
        need = math.ceil(self.rate_limit * self.latency * HEADROOM) + self.burst
        return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, need))

    def observe(self, latency: float, in_flight: int) -> int:
        """An answer came ``latency`` seconds after its request went out, with
        ``in_flight`` requests out (itself included); returns the new cap."""
        with self._lock:
            self._learn(max(0.0, latency), in_flight)
            ceiling = self.ceiling()
            if self._hold:
                self._hold -= 1
            elif self.latency is not None and self.latency > TOLERANCE * self.baseline:
                self._cut(max(0.5, TOLERANCE * self.baseline / self.latency))
            elif 2 * in_flight >= self.limit:
                # In use while latency holds: with a rate limit, all it can use at once
                # (a round trip saved per doubling); without one, a step at a time while
                # few queue.
                if self.rate_limit is not None:
                    self.limit = ceiling
                else:
                    queued, allowance = self._queued(), QUEUE_ALLOWANCE * math.log10(self.limit)
                    if queued <= allowance:
                        self.limit += 1
                    elif math.isfinite(queued) and queued > 2 * allowance:
                        self.limit -= 1  # Vegas' beta: a queue that grew, one step back
            self.limit = max(MIN_IN_FLIGHT, min(self.limit, ceiling))
            return self.limit

    def pushback(self) -> int:
        """The vendor refused or failed a request for load; returns the new cap."""
        with self._lock:
            if not self._hold:
                self._cut(BACKOFF)
            return self.limit

    def _learn(self, latency: float, in_flight: int) -> None:
        average = self.latency
        self.latency = latency if average is None else average + SMOOTHING * (latency - average)
        if in_flight > MIN_IN_FLIGHT:
            return
        last, this = self._least
        self._light += 1
        if self._light % BASELINE_ANSWERS == 0:
            # A new period: a vendor whose latency rose for good is judged against its
            # new normal once the cuts have brought the load down to light.
            last, this = this, math.inf
        self._least = (last, min(this, latency))

    def _queued(self) -> float:
        """Requests the cap queues by Vegas' estimate: the share of the average latency
        above the no-load latency, times the cap. Infinite (no growth) until two round
        trips at the floor (``SETTLING`` light-load answers) set the no-load latency:
        the first round trip opens the connections, and a no-load latency learned from
        it alone would let the cap grow until warm answers queued to match it."""
        baseline, latency = self.baseline, self.latency
        if latency is None or self._light < SETTLING:
            return math.inf
        return self.limit * max(0.0, 1.0 - baseline / latency) if latency > 0 else 0.0

    def _cut(self, keep: float) -> None:
        self.limit = max(MIN_IN_FLIGHT, math.floor(self.limit * keep))
        self._hold = self.limit  # about one round trip of answers


class _ThreadGate:
    """Threads' requests in flight, up to a cap that may change while they wait."""

    def __init__(self, limit: ConcurrencyLimit) -> None:
        self.limit = limit
        self.busy = 0
        # The lock itself where no thread waits (a C call; the Condition's are Python).
        self._lock = threading.Lock()
        self._free = threading.Condition(self._lock)
        self._waiting = 0

    def acquire(self) -> None:
        with self._lock:
            while self.busy >= self.limit.limit:
                self._waiting += 1
                try:
                    self._free.wait()
                finally:
                    self._waiting -= 1
            self.busy += 1

    def release(self) -> None:
        with self._lock:
            self.busy -= 1
            if self._waiting:
                # The cap may have grown since the last release: wake as many as fit.
                self._free.notify(max(1, self.limit.limit - self.busy))

    def answered(self, sent_at: float) -> None:
        """An answer came to a request sent at ``sent_at`` (``limit.clock``)."""
        limit = self.limit
        limit.observe(limit.clock() - sent_at, self.busy)

    def out(self) -> int:
        """Calls through the gate now (each has at most one request out)."""
        return self.busy


class _TaskGate:
    """Tasks' requests in flight, up to a cap that may change; first come, first
    served (asyncio.Semaphore has a fixed size)."""

    def __init__(self, limit: ConcurrencyLimit) -> None:
        self.limit = limit
        self.busy = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        if not self._waiters and self.busy < self.limit.limit:
            self.busy += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted as it was cancelled: the slot goes to the next
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.busy -= 1
        while self._waiters and self.busy < self.limit.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.busy += 1
                waiter.set_result(None)

    def answered(self, sent_at: float) -> None:
        """An answer came to a request sent at ``sent_at`` (``limit.clock``)."""
        limit = self.limit
        limit.observe(limit.clock() - sent_at, self.busy)

    def out(self) -> int:
        """Calls through the gate now (each has at most one request out)."""
        return self.busy


# What times a provider's answers for its derived cap: its gate (the driver reads the
# gate's ``limit.clock`` as a request goes out and calls ``answered`` with it when the
# answer is in; waits for the gate or the rate limiter are not timed).
Timer = _ThreadGate | _TaskGate


# -- connection pools -----------------------------------------------------------------

# Connections per httpcore pool. httpcore 1.0 walks every connection of a pool, and for
# each idle one all of them again, each time it assigns a request or takes a response
# back (quadratic in the pool's size); its async backend also asks every connection's
# socket whether it is readable through anyio's typed attributes. Profiled against a
# vendor 200 ms away: one AsyncClient pool past ~50 connections spent the event loop on
# that bookkeeping, its latency climbed to seconds and throughput fell to a third of
# what 40 connections did. Pools of this size side by side keep the cost per request
# flat, whatever the in-flight cap.
POOL_SIZE: Final = 16


class _Pools(Generic[P]):
    """Which of several pools a request goes to: the first with room (fewer than
    ``POOL_SIZE`` requests out), so a light load keeps reusing the first pool's warm
    connections; when all are full, the least busy. The first pool is made at once,
    the others on first use.

    ``in_flight``, when given, bounds the requests out from above (the provider's gate:
    each call it lets through has at most one request out). While it is within one
    pool, the first pool takes the request with no bookkeeping (``light``): a
    sequential caller or a light load pays nothing for the pools it does not need.
    Those uncounted requests are then charged to the first pool in ``take`` (at most
    ``in_flight`` less the counted ones), so no pool is ever given more than
    ``POOL_SIZE``."""

    def __init__(
        self, make: Callable[[], P], count: int, in_flight: Callable[[], int] | None = None
    ) -> None:
        self._make = make
        self.pools: list[P] = [make()]
        self.busy: list[int] = [0]
        self._count = count
        self._in_flight = in_flight
        self._lock = threading.Lock()  # held for no IO, so in either mode

    def light(self) -> bool:
        """Whether every request out, this one included, fits in the first pool."""
        in_flight = self._in_flight
        return in_flight is not None and in_flight() <= POOL_SIZE

    def take(self) -> int:
        with self._lock:
            busy = self.busy
            # Requests that went out uncounted (``light``) can only be in the first.
            uncounted = 0
            if self._in_flight is not None:
                uncounted = max(0, self._in_flight() - 1 - sum(busy))
            index = next(
                (i for i, out in enumerate(busy) if out + (uncounted if i == 0 else 0) < POOL_SIZE),
                None,
            )
            if index is None:
                if len(busy) < self._count:
                    self.pools.append(self._make())
                    busy.append(0)
                    index = len(busy) - 1
                else:
                    index = busy.index(min(busy))
            busy[index] += 1
            return index

    def give(self, index: int) -> None:
        with self._lock:
            self.busy[index] -= 1


def _pool_count(size: int) -> int:
    return max(1, math.ceil(size / POOL_SIZE))


def _pool_limits() -> httpx.Limits:
    return httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE)


class _Released(httpx.SyncByteStream):
    """A response's body that hands its pool slot back once closed."""

    def __init__(self, stream: httpx.SyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class _AsyncReleased(httpx.AsyncByteStream):
    """A response's body that hands its pool slot back once closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class PooledTransport(httpx.BaseTransport):
    """httpx's own transport, as several pools of ``POOL_SIZE`` connections holding
    ``size`` in all (see ``POOL_SIZE``); verify, certificates and proxies from the
    environment as httpx's default. ``in_flight`` bounds the requests out (see
    ``_Pools``): within one pool, the first takes them with no bookkeeping."""

    def __init__(self, size: int, in_flight: Callable[[], int] | None = None) -> None:
        context = httpx.create_ssl_context()  # one for all the pools: each costs ~40 ms

        def make() -> httpx.HTTPTransport:
            return httpx.HTTPTransport(verify=context, limits=_pool_limits())

        self._pools = _Pools(make, _pool_count(size), in_flight)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pools = self._pools
        if pools.light():
            return pools.pools[0].handle_request(request)
        index = pools.take()
        try:
            response = pools.pools[index].handle_request(request)
        except BaseException:
            pools.give(index)
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)  # noqa: S101 - httpx's own
        response.stream = _Released(response.stream, functools.partial(pools.give, index))
        return response

    def close(self) -> None:
        for pool in self._pools.pools:
            pool.close()


class AsyncPooledTransport(httpx.AsyncBaseTransport):
    """``PooledTransport`` for an ``httpx.AsyncClient``."""

    def __init__(self, size: int, in_flight: Callable[[], int] | None = None) -> None:
        context = httpx.create_ssl_context()

        def make() -> httpx.AsyncHTTPTransport:
            return httpx.AsyncHTTPTransport(verify=context, limits=_pool_limits())

        self._pools = _Pools(make, _pool_count(size), in_flight)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pools = self._pools
        if pools.light():
            return await pools.pools[0].handle_async_request(request)
        index = pools.take()
        try:
            response = await pools.pools[index].handle_async_request(request)
        except BaseException:
            pools.give(index)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)  # noqa: S101 - httpx's own
        response.stream = _AsyncReleased(response.stream, functools.partial(pools.give, index))
        return response

    async def aclose(self) -> None:
        for pool in self._pools.pools:
            await pool.aclose()


def pooled_transport(
    size: int, asynchronous: bool, in_flight: Callable[[], int] | None = None
) -> Any:
    """The transport for a provider's client that lets ``size`` requests out at once,
    of the mode's kind (``PooledTransport`` or ``AsyncPooledTransport``): None
    (httpx's default, one pool) when one pool of ``POOL_SIZE`` holds them.
    ``in_flight``: the gate's count of calls out, if it has one (see ``_Pools``)."""
    if size <= POOL_SIZE:
        return None
    kind = AsyncPooledTransport if asynchronous else PooledTransport
    return kind(size, in_flight)


def pushed_back(error: ProviderError) -> bool:
    """Whether a failed request says the vendor is overloaded: it refused for rate
    (not this process's own limiter) or was unavailable (not a skip by the breaker)."""
    if isinstance(error, RateLimited):
        return error.code != LOCAL_RATE_LIMIT
    return isinstance(error, ProviderUnavailable) and error.code != CIRCUIT_OPEN


@attrs.frozen
class Lane:
    """One HTTP provider's breaker, limiter, in-flight gate, retry count and timeout,
    from its config's typed keys. ``max_in_flight`` is the most the gate ever lets out
    (the connection pool's size); ``concurrency`` is the derived cap, None when the
    config fixes ``max_in_flight``; ``timer`` (its gate) times the answers that feed
    it, and counts the calls out (``in_flight``, which spares the pools bookkeeping)."""

    breaker: Breaker
    limiter: Limiter | None
    gate: Gate
    retries: int
    timeout: float
    max_in_flight: int
    concurrency: ConcurrencyLimit | None = None
    timer: Timer | None = None

    @property
    def in_flight(self) -> Callable[[], int] | None:
        """The count of calls out through the gate, when it keeps one (a derived
        cap's gate; see ``_Pools``), else None."""
        return None if self.timer is None else self.timer.out

    @classmethod
    def build(
        cls, provider: str, config: HttpProviderConfig, shared: SharedRedis | None, mode: Mode
    ) -> Lane:
        rate = config.rate_limit
        limiter = (
            Limiter(provider, rate, config.max_wait, shared, mode, config.rate_burst)
            if rate
            else None
        )
        breaker = Breaker(provider, config.breaker, shared)
        if config.max_in_flight is not None:  # the config's own cap wins
            size = config.max_in_flight
            return cls(breaker, limiter, mode.semaphore(size), config.retries, config.timeout, size)
        burst = (config.rate_burst or default_burst(rate)) if rate else 0
        concurrency = ConcurrencyLimit(rate, burst)
        gate = _TaskGate(concurrency) if mode.asynchronous else _ThreadGate(concurrency)
        return cls(
            breaker,
            limiter,
            gate,
            config.retries,
            config.timeout,
            MAX_IN_FLIGHT,
            concurrency,
            gate,
        )

    def pushed_back(self, error: ProviderError) -> None:
        """Tell the derived cap about a failed request (a fixed cap ignores it), and
        the limiter about the vendor's own rate refusal."""
        if self.concurrency is not None and pushed_back(error):
            self.concurrency.pushback()
        if self.limiter is not None and isinstance(error, RateLimited) and pushed_back(error):
            self.limiter.pushback()


WAIT_INITIAL: Final = 0.05  # seconds before the first retry, doubling each time
WAIT_MAX: Final = 2.0
WAIT_JITTER: Final = 0.1


def usable_retry_after(value: object) -> float | None:
    """A Retry-After to honour: a finite, non-negative number of seconds, else None
    (absent). A provider may hand on whatever the vendor sent (nan, inf, -1), and
    nan or a negative wait breaks the sleep it reaches."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def backoff_hook(
    deadline: float, clock: Clock = time.monotonic
) -> Callable[[Exception], bool | float]:
    """stamina's ``on=``: retry only retryable provider errors; wait what the vendor's
    Retry-After says, or back off exponentially with jitter; never plan a wait that
    ends past the check's deadline (stamina's own timeout only stops retries once the
    time is up, after a wait that may already have outlived it)."""
    failures = 0

    def decide(exc: Exception) -> bool | float:
        nonlocal failures
        if not isinstance(exc, ProviderError) or not exc.retryable:
            return False
        failures += 1
        wait = usable_retry_after(exc.retry_after) if isinstance(exc, RateLimited) else None
        if wait is None:
            backoff = WAIT_INITIAL * 2 ** min(failures - 1, 16)
            wait = min(WAIT_MAX, backoff + random.uniform(0, WAIT_JITTER))  # noqa: S311 - jitter
        if clock() + wait >= deadline:
            return False  # give up now: the next provider or fail_mode answers in time
        return wait

    return decide


def retrying(retries: int, deadline: float) -> Any:
    """The attempts for one job: ``retries`` more after the first, within the deadline;
    every wait is planned by ``backoff_hook``."""
    return stamina.retry_context(
        on=backoff_hook(deadline),
        attempts=retries + 1,
        timeout=max(0.001, deadline - time.monotonic()),
    )
