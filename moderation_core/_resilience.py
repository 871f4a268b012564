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
"""

from __future__ import annotations

import functools
import math
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import attrs
import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
import limits.strategies
import stamina

from ._errors import ProviderError, ProviderUnavailable, RateLimited
from ._state import SharedRedis
from ._steps import Gate, Mode, Steps, single

if TYPE_CHECKING:
    from ._provider import HttpProviderConfig

__all__ = [
    "Breaker",
    "BreakerSettings",
    "BreakerState",
    "Lane",
    "Limiter",
    "Pace",
    "backoff_hook",
    "rate_item",
]

Clock = Callable[[], float]


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
        code="circuit_open",
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

    def before(self) -> Steps[None]:
        """Let a call go out, or raise ProviderUnavailable (circuit open)."""
        if self._shared is None:
            allowed = self._allows_here()
        else:
            allowed = yield from self._shared.attempt(self._allows_shared, self._allows_here)
        if not allowed:
            raise _open_error(self.provider)

    def after(self, ok: bool) -> Steps[None]:
        """Record how a call that went out ended."""
        if self._shared is None:
            self._record_here(ok)
            return
        yield from self._shared.attempt(
            functools.partial(self._record_shared, ok), functools.partial(self._record_here, ok)
        )

    def _allows(self, state: BreakerState) -> tuple[bool, bool]:
        """Whether a call may go out, and whether asking changed the state."""
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
        code="local_rate_limit",
        retry_after=None,
    )


class Pace:
    """Spaces one process's requests ``1/rate`` seconds apart, letting at most
    ``burst`` go back to back (GCRA). ``limits`` counts whole one-second windows, so on
    its own it lets a window's slots go out in one burst, and jitter on the way turns a
    burst into an over-limit second at the vendor (measured here: 201-203 seen against a
    195/s limit). A few lines, as no limiter library paces both sync and async callers."""

    def __init__(self, per_second: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._interval = 1.0 / per_second
        self._tolerance = (max(1, burst) - 1) * self._interval
        self._due = 0.0  # when the next request is due at the steady pace
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
            self._due = due + self._interval
            return wait


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


@attrs.frozen
class Lane:
    """One HTTP provider's breaker, limiter, in-flight gate, retry count and timeout,
    from its config's typed keys."""

    breaker: Breaker
    limiter: Limiter | None
    gate: Gate
    retries: int
    timeout: float
    max_in_flight: int

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
        return cls(
            breaker=Breaker(provider, config.breaker, shared),
            limiter=limiter,
            gate=mode.semaphore(config.max_in_flight),
            retries=config.retries,
            timeout=config.timeout,
            max_in_flight=config.max_in_flight,
        )


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
