"""Webhook replay protection shared by every vendor: a symmetric time window, a stable
dedupe key, and a replay cache that remembers keys for twice the window.

Vendor-neutral and small: a provider's webhook parser calls ``time_window_problem`` on
the vendor's send time (raising its own typed webhook error with the text it returns),
sets ``WebhookEvent.event_id`` to the vendor's delivery id or ``dedupe_key(...)``, and
the app (or the provider) asks a ``ReplayCache`` whether that id is new::

    cache = replay_cache(redis_url, ttl=120)     # 2 x a 60 s window; memory without a URL
    if not cache.first_seen(event.event_id):     # seen within ttl: a replay or a retry
        return ACK                               # acknowledge, do not act twice

``warn_unverified`` logs one WARNING per parser when it runs without a token or secret.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_WEBHOOK_WINDOW",
    "MemoryReplayCache",
    "RedisReplayCache",
    "ReplayCache",
    "dedupe_key",
    "replay_cache",
    "time_window_problem",
    "warn_unverified",
]

log = logging.getLogger("moderation_core.webhooks")

# For a vendor that documents no window: five minutes each way, the common webhook
# tolerance (Stripe, Slack). Tencent documents one minute and uses that.
DEFAULT_WEBHOOK_WINDOW = 300.0
DEFAULT_MAX_ENTRIES = 100_000
# A vendor time is a decimal integer; more digits than this is no time at all, and
# would make int() and the float conversion after it do needless work.
_MAX_TIME_DIGITS = 20
_REDIS_RETRY_SECONDS = 5.0  # after a Redis error, use memory this long before asking again


def time_window_problem(
    sent_at: object,
    *,
    now: float,
    window: float,
    field: str = "timestamp",
    per_second: int = 1,
) -> str | None:
    """Why ``sent_at`` (an int, or a string of decimal digits, in 1/``per_second`` s
    since the epoch: 1000 for milliseconds) is unacceptable, or None when it lies within
    ``window`` seconds of ``now``, before or after: a future time is a replay prepared
    in advance or a clock off, just like an old one. The text names ``field``."""
    if isinstance(sent_at, bool) or not isinstance(sent_at, int | str):
        return f"{field} check failed: {field} is not a Unix time"
    digits = str(sent_at).strip()
    if not digits.isdecimal() or not digits.isascii() or len(digits) > _MAX_TIME_DIGITS:
        return f"{field} check failed: {field} is not a Unix time"
    seconds = int(digits) / per_second
    skew = seconds - now
    if not math.isfinite(skew) or abs(skew) > window:
        when = "in the future" if skew > 0 else "old"
        shown = f"{abs(skew):.0f} s" if abs(skew) < 1e9 else "years"
        return (
            f"{field} check failed: {shown} {when}, outside the {window:g} s window "
            "(a replay, or a clock off)"
        )
    return None


def dedupe_key(provider_type: str, *parts: object) -> str:
    """A stable id for one event: ``"<provider_type>:"`` and the SHA-256 of the parts as
    canonical JSON (sorted keys), for vendors that give no delivery id. The same event
    delivered twice gives the same key; a different request id or content does not."""
    canonical = json.dumps(
        parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{provider_type}:{digest}"


@runtime_checkable
class ReplayCache(Protocol):
    """Remembers event ids for ``ttl`` seconds. Set it to twice the webhook's time
    window: the window is symmetric, so one event is accepted from ``window`` seconds
    before its send time to ``window`` seconds after, and anything outside that span is
    refused by the window already."""

    ttl: float

    def first_seen(self, key: str) -> bool:
        """True the first time ``key`` is offered within ``ttl`` (it is remembered from
        now on); False for a key already seen: a replay or a vendor's retry."""
        ...


def _digest(key: str) -> bytes:
    # Fixed-size entries whatever the vendor's ids look like.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def _check_ttl(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
        raise ValueError(f"ttl must be a positive, finite number of seconds, got {ttl!r}")
    return float(ttl)


class MemoryReplayCache:
    """A ``ReplayCache`` in this process: at most ``max_entries`` keys (the oldest go
    first when full), each for ``ttl`` seconds. Thread-safe."""

    def __init__(
        self,
        ttl: float = DEFAULT_WEBHOOK_WINDOW,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_entries, bool) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive integer, got {max_entries!r}")
        self.ttl = _check_ttl(ttl)
        self.max_entries = max_entries
        self._clock = clock
        # One ttl for all, so insertion order is expiry order: expired keys are at the front.
        self._expiries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiries)

    def __contains__(self, key: object) -> bool:
        """Seen within ``ttl``, without remembering it."""
        if not isinstance(key, str):
            return False
        digest = _digest(key)
        with self._lock:
            self._drop_expired(self._clock())
            return digest in self._expiries

    def first_seen(self, key: str) -> bool:
        digest = _digest(key)
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            if digest in self._expiries:
                return False
            self._expiries[digest] = now + self.ttl
            if len(self._expiries) > self.max_entries:
                self._expiries.popitem(last=False)
            return True

    def _drop_expired(self, now: float) -> None:
        expiries = self._expiries
        while expiries:
            oldest, expires = next(iter(expiries.items()))
            if expires > now:
                return
            del expiries[oldest]


class RedisReplayCache:
    """A ``ReplayCache`` in Redis (``SET key 1 NX PX ttl``), shared by every process of
    the app. ``client`` is a ``redis.Redis``. When Redis fails the cache degrades to a
    ``MemoryReplayCache`` for a few seconds at a time, logging one WARNING per outage;
    a webhook is never refused because Redis was down."""

    def __init__(
        self,
        client: Any,
        ttl: float = DEFAULT_WEBHOOK_WINDOW,
        *,
        prefix: str = "moderation:webhook:",
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = _check_ttl(ttl)
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._fallback = MemoryReplayCache(self.ttl, max_entries=max_entries, clock=clock)
        self._down_until: float | None = None

    def first_seen(self, key: str) -> bool:
        now = self._clock()
        if self._down_until is not None and now < self._down_until:
            return self._fallback.first_seen(key)
        name = self._prefix + _digest(key).hex()
        try:
            stored = self._client.set(name, b"1", nx=True, px=max(1, int(self.ttl * 1000)))
        except Exception as exc:  # any client failure (connection, timeout) degrades alike
            if self._down_until is None:
                log.warning(
                    "webhook replay cache: Redis failed (%s); remembering webhooks in this "
                    "process until it answers again",
                    type(exc).__name__,
                )
            self._down_until = now + _REDIS_RETRY_SECONDS
            return self._fallback.first_seen(key)
        if self._down_until is not None:
            log.info("webhook replay cache: Redis answers again")
            self._down_until = None
        # A key seen only in memory during the outage counts too.
        return bool(stored) and key not in self._fallback


def replay_cache(
    redis_url: str | None = None,
    *,
    ttl: float = DEFAULT_WEBHOOK_WINDOW,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> ReplayCache:
    """A ``RedisReplayCache`` on ``redis_url`` when one is configured, else a
    ``MemoryReplayCache``."""
    if redis_url is None:
        return MemoryReplayCache(ttl, max_entries=max_entries)
    import redis  # noqa: PLC0415 - only with redis_url

    return RedisReplayCache(redis.Redis.from_url(redis_url), ttl, max_entries=max_entries)


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_unverified(logger: logging.Logger, source: str, what: str) -> None:
    """Log one WARNING per ``source`` per process: webhooks are accepted unverified
    because no ``what`` (token or secret) is configured."""
    with _warned_lock:
        if source in _warned:
            return
        _warned.add(source)
    logger.warning(
        "%s: no %s configured, so webhook requests are accepted without checking who sent "
        "them; configure one",
        source,
        what,
    )
