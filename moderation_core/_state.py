"""Policy state: mutes, recent blocks per sender, recent messages per conversation.

State changes are small operation objects (``GetMutes``, ``RecordBlock``, ...). Two
stores apply them: ``MemoryState`` in this process (bounded, LRU), and ``RedisState``,
shared by every process that names the same Redis. ``RedisState`` writes each operation
once, as a plan that yields batches of Redis commands (run as one MULTI/EXEC pipeline)
and receives their replies, so the sync and the async client drive the same code.
``StateStore`` is the one a moderator owns: Redis while it answers, else memory.

Times are seconds from the policy's clock, carried in each operation; Redis keys also
get TTLs so nothing outlives its window.

``SharedRedis`` is one moderator's Redis client and its health, shared by every user of
that client (this policy state, the rate limiters, the circuit breakers). Each tries
Redis through ``attempt`` (a step plan, ``_steps``) and falls back to its in-process
form when Redis fails: a Redis outage degrades moderation to per-process state, it
never stops it.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias, TypeVar
from urllib.parse import quote, unquote, urlsplit

import attrs

from ._steps import Steps

__all__ = [
    "AnyOp",
    "GetMutes",
    "ListMutes",
    "MemoryState",
    "Mute",
    "Recent",
    "RecordBlock",
    "RedisState",
    "Remember",
    "SetMute",
    "SharedRedis",
    "StateStore",
    "Unmute",
    "redis_steps",
]

log = logging.getLogger("moderation_core.state")

MAX_ENTRIES: Final = 10_000  # senders or conversations kept in memory, least recent dropped
_EVERY_SCENE: Final = "*"  # quote() escapes a literal "*", so this never names a scene


@attrs.frozen
class Mute:
    """A muted sender: in ``scene`` (None: every scene) until ``until`` (None: until
    unmuted), and why."""

    sender: str
    scene: str | None
    until: datetime | None
    reason: str

    @property
    def expires(self) -> float | None:
        return None if self.until is None else self.until.timestamp()

    def active(self, now: float) -> bool:
        return self.until is None or self.until.timestamp() > now


def mute_at(sender: str, scene: str | None, until: float | None, reason: str) -> Mute:
    when = None if until is None else datetime.fromtimestamp(until, UTC)
    return Mute(sender=sender, scene=scene, until=when, reason=reason)


# -- operations ----------------------------------------------------------------------


@attrs.frozen
class GetMutes:
    """The active mutes of ``sender`` that apply in ``scene`` (its own and every-scene)."""

    sender: str
    scene: str | None
    now: float


@attrs.frozen
class ListMutes:
    """Every active mute, or those recorded for one scene."""

    scene: str | None
    now: float


@attrs.frozen
class SetMute:
    """Mute a sender (and forget the blocks that led there)."""

    mute: Mute
    now: float


@attrs.frozen
class Unmute:
    """Lift the sender's mute in ``scene``, or every mute of theirs when scene is None.
    Answers how many were lifted."""

    sender: str
    scene: str | None
    now: float


@attrs.frozen
class RecordBlock:
    """Count a BLOCK for the sender in the scene; answers the blocks within the window."""

    sender: str
    scene: str | None
    within: float
    now: float


@attrs.frozen
class Recent:
    """The conversation's last ``keep`` messages within the window, oldest first."""

    conversation: tuple[str, ...]
    keep: int
    within: float
    now: float


@attrs.frozen
class Remember:
    """Add a delivered message to the conversation."""

    conversation: tuple[str, ...]
    text: str
    keep: int
    within: float
    now: float


AnyOp: TypeAlias = GetMutes | ListMutes | SetMute | Unmute | RecordBlock | Recent | Remember


# -- in memory -----------------------------------------------------------------------


class MemoryState:
    """State for one process: thread-safe, and bounded (LRU) for blocks and context."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._max = max_entries
        self._mutes: dict[tuple[str | None, str], Mute] = {}
        self._blocks: OrderedDict[tuple[str | None, str], deque[float]] = OrderedDict()
        self._recent: OrderedDict[tuple[str, ...], deque[tuple[float, str]]] = OrderedDict()

    def apply(self, op: AnyOp) -> Any:
        with self._lock:
            return self._apply(op)

    def _apply(self, op: AnyOp) -> Any:
        match op:
            case GetMutes(sender, scene, now):
                scopes = {scene, None}
                return [
                    m
                    for (s, who), m in self._mutes.items()
                    if who == sender and s in scopes and m.active(now)
                ]
            case ListMutes(scene, now):
                self._mutes = {k: m for k, m in self._mutes.items() if m.active(now)}
                return [m for m in self._mutes.values() if scene is None or m.scene == scene]
            case SetMute(mute, now):
                self._mutes[(mute.scene, mute.sender)] = mute
                self._blocks.pop((mute.scene, mute.sender), None)
                return None
            case Unmute(sender, scene, now):
                keys = [
                    k
                    for k, m in self._mutes.items()
                    if k[1] == sender and (scene is None or k[0] == scene) and m.active(now)
                ]
                for key in keys:
                    del self._mutes[key]
                return len(keys)
            case RecordBlock(sender, scene, within, now):
                times = _touch(self._blocks, (scene, sender), deque, self._max)
                times.append(now)
                while times and times[0] <= now - within:
                    times.popleft()
                return len(times)
            case Recent(conversation, keep, within, now):
                kept = self._recent.get(conversation)
                if kept is None:
                    return []
                return [text for t, text in list(kept)[-keep:] if t > now - within]
            case Remember(conversation, text, keep, within, now):
                messages = _touch(self._recent, conversation, deque, self._max)
                messages.append((now, text))
                while len(messages) > keep or (messages and messages[0][0] <= now - within):
                    messages.popleft()
                return None
        raise TypeError(f"unknown state operation {op!r}")  # pragma: no cover


def _touch(table: OrderedDict[Any, Any], key: Any, factory: Any, limit: int) -> Any:
    """The entry for key, made most recent (created if missing; the oldest dropped)."""
    entry = table.get(key)
    if entry is None:
        entry = table[key] = factory()
        if len(table) > limit:
            table.popitem(last=False)
    else:
        table.move_to_end(key)
    return entry


# -- in Redis ------------------------------------------------------------------------

Command: TypeAlias = tuple[Any, ...]
Plan: TypeAlias = Generator[list[Command], list[Any], Any]


def _q(part: str | None) -> str:
    return _EVERY_SCENE if part is None else quote(part, safe="")


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisState:
    """State in Redis under ``prefix``: a string per mute (with its expiry as TTL), a
    sorted set of block times per sender and scene, a list per conversation."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _mute_key(self, scene: str | None, sender: str) -> str:
        return f"{self.prefix}:mute:{_q(scene)}:{_q(sender)}"

    def _blocks_key(self, scene: str | None, sender: str) -> str:
        return f"{self.prefix}:blocks:{_q(scene)}:{_q(sender)}"

    def _recent_key(self, conversation: tuple[str, ...]) -> str:
        return f"{self.prefix}:recent:" + ":".join(_q(p) for p in conversation)

    def plan(self, op: AnyOp) -> Plan:
        match op:
            case GetMutes(sender, scene, now):
                keys = [self._mute_key(s, sender) for s in dict.fromkeys((scene, None))]
                (values,) = yield [("MGET", *keys)]
                return [m for m in map(_load_mute, values) if m is not None and m.active(now)]
            case ListMutes(scene, now):
                pattern = f"{self.prefix}:mute:{_q(scene) if scene is not None else '*'}:*"
                keys = yield from self._scan(pattern)
                if not keys:
                    return []
                (values,) = yield [("MGET", *keys)]
                return [m for m in map(_load_mute, values) if m is not None and m.active(now)]
            case SetMute(mute, now):
                key = self._mute_key(mute.scene, mute.sender)
                ttl = () if mute.expires is None else ("PX", _ms(mute.expires - now))
                yield [
                    ("SET", key, _dump_mute(mute), *ttl),
                    ("DEL", self._blocks_key(mute.scene, mute.sender)),
                ]
                return None
            case Unmute(sender, scene, now):
                if scene is not None:
                    keys = [self._mute_key(scene, sender)]
                else:
                    keys = yield from self._scan(f"{self.prefix}:mute:*:{_q(sender)}")
                if not keys:
                    return 0
                (values, _deleted) = yield [("MGET", *keys), ("DEL", *keys)]
                return sum(1 for m in map(_load_mute, values) if m is not None and m.active(now))
            case RecordBlock(sender, scene, within, now):
                key = self._blocks_key(scene, sender)
                member = f"{now!r}:{uuid.uuid4().hex[:12]}"
                replies = yield [
                    ("ZADD", key, now, member),
                    ("ZREMRANGEBYSCORE", key, "-inf", now - within),
                    ("ZCARD", key),
                    ("PEXPIRE", key, _ms(within)),
                ]
                return int(replies[2])
            case Recent(conversation, keep, within, now):
                (values,) = yield [("LRANGE", self._recent_key(conversation), -keep, -1)]
                messages = [json.loads(v) for v in values]
                return [text for t, text in messages if t > now - within]
            case Remember(conversation, text, keep, within, now):
                key = self._recent_key(conversation)
                yield [
                    ("RPUSH", key, json.dumps([now, text], ensure_ascii=False)),
                    ("LTRIM", key, -keep, -1),
                    ("PEXPIRE", key, _ms(within)),
                ]
                return None
        raise TypeError(f"unknown state operation {op!r}")  # pragma: no cover

    def _scan(self, pattern: str) -> Generator[list[Command], list[Any], list[Any]]:
        keys: list[Any] = []
        cursor: Any = 0
        while True:
            (reply,) = yield [("SCAN", cursor, "MATCH", pattern, "COUNT", 500)]
            cursor, found = reply
            keys.extend(found)
            if int(cursor) == 0:
                return list(dict.fromkeys(keys))


def _dump_mute(mute: Mute) -> str:
    return json.dumps(
        {"sender": mute.sender, "scene": mute.scene, "until": mute.expires, "reason": mute.reason},
        ensure_ascii=False,
    )


def _load_mute(value: bytes | str | None) -> Mute | None:
    if value is None:
        return None
    data = json.loads(value)
    return mute_at(data["sender"], data["scene"], data["until"], data["reason"])


def redis_steps(client: Any, plan: Plan) -> Steps[Any]:
    """Run a plan on a Redis client of either mode (``redis.Redis`` or
    ``redis.asyncio.Redis``): each batch is one MULTI/EXEC pipeline, whose commands
    queue without IO in both; only ``execute`` is a step."""
    replies: list[Any] | None = None
    try:
        while True:
            batch = next(plan) if replies is None else plan.send(replies)
            pipe = client.pipeline(transaction=True)
            for command in batch:
                pipe.execute_command(*command)
            replies = list((yield pipe.execute))
    except StopIteration as done:
        return done.value


# -- Redis health --------------------------------------------------------------------

T = TypeVar("T")
HealthHook: TypeAlias = Callable[[bool, str], None]

# After a Redis error, in-process state for this long; then the next call asks Redis
# again (one caller per cool-down, so a dead Redis costs one timeout per cool-down).
OUTAGE_COOL_DOWN: Final = 10.0
# A healthy Redis answers in milliseconds; a black-holed one must not hold a check.
REDIS_CONNECT_TIMEOUT: Final = 0.5
REDIS_READ_TIMEOUT: Final = 0.5


def redis_client_options(asynchronous: bool) -> dict[str, Any]:
    """Options for the Redis clients the core creates: short timeouts, and one retry
    at once (it reconnects a pooled connection that a Redis restart left stale;
    redis-py's default of ten retries with backoff would stall a check for seconds)."""
    from redis.backoff import NoBackoff  # noqa: PLC0415 - only with redis_url

    if asynchronous:
        from redis.asyncio.retry import Retry as AsyncRetry  # noqa: PLC0415

        retry: Any = AsyncRetry(NoBackoff(), 1)
    else:
        from redis.retry import Retry  # noqa: PLC0415

        retry = Retry(NoBackoff(), 1)
    return {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "socket_timeout": REDIS_READ_TIMEOUT,
        "retry": retry,
    }


def _redis_errors() -> tuple[type[BaseException], ...]:
    """What a failing Redis raises through redis-py or ``limits``: RedisError (refused,
    reset, timeout, READONLY, ...), OSError from the socket, StorageError if wrapped."""
    import limits.errors  # noqa: PLC0415 - only with redis_url
    import redis.exceptions  # noqa: PLC0415

    return (redis.exceptions.RedisError, OSError, limits.errors.StorageError)


class SharedRedis:
    """One moderator's Redis client and whether Redis answers.

    On a Redis error every user falls back to in-process state for ``cool_down``
    seconds; then one call asks Redis again, and its success ends the outage. An
    outage is logged once (WARNING) and its end once (INFO), counted in ``outages``
    and reported to ``on_change`` (the ``shared_state_changed`` hook). While Redis
    answers, ``run`` adds no round trip and takes no lock."""

    def __init__(
        self,
        client: Any,
        url: str,
        *,
        on_change: HealthHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        cool_down: float = OUTAGE_COOL_DOWN,
    ) -> None:
        self.client = client
        self.cool_down = cool_down
        self.outages = 0
        self._where = _server_of(url)
        self._secrets = _secrets_of(url)
        self._errors = _redis_errors()
        self._on_change = on_change
        self.clock = clock  # injectable: tests move through cool-downs without sleeping
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._ask_at = 0.0  # while down: when Redis may be asked again

    @classmethod
    def connect(
        cls, url: str, *, asynchronous: bool, on_change: HealthHook | None = None
    ) -> SharedRedis:
        """A client for ``url`` (no connection yet) with the core's timeouts."""
        options = redis_client_options(asynchronous)
        if asynchronous:
            import redis.asyncio  # noqa: PLC0415 - only with redis_url

            client: Any = redis.asyncio.Redis.from_url(url, **options)
        else:
            import redis  # noqa: PLC0415 - only with redis_url

            client = redis.Redis.from_url(url, **options)
        return cls(client, url, on_change=on_change)

    @property
    def degraded(self) -> bool:
        """Whether state is in-process now because Redis failed."""
        return self._down_since is not None

    def attempt(self, shared: Callable[[], Steps[T]], local: Callable[[], T]) -> Steps[T]:
        """``shared()`` (a plan that uses Redis) while Redis answers, else ``local()``."""
        if self._may_ask():
            try:
                result = yield from shared()
            except self._errors as exc:
                error = exc
            else:
                self._answered()
                return result
            self._failed(error)  # outside the except: nothing logged chains the Redis error
        return local()

    def _may_ask(self) -> bool:
        if self._down_since is None:
            return True
        with self._lock:
            if self._down_since is None:
                return True
            now = self.clock()
            if now < self._ask_at:
                return False
            self._ask_at = now + self.cool_down  # this caller probes; the others wait
            return True

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            now = self.clock()
            self._ask_at = now + self.cool_down
            if self._down_since is not None:
                return  # the same outage
            self._down_since = now
            self.outages += 1
        reason = self._describe(exc)
        log.warning(
            "Redis at %s failed (%s): limits, breakers, mutes and context are per process "
            "until it answers again (asked every %g s)",
            self._where,
            reason,
            self.cool_down,
        )
        self._notify(False, reason)

    def _answered(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            down_for = self.clock() - self._down_since
            self._down_since = None
        reason = f"answers again after {down_for:.1f} s"
        log.info("Redis at %s %s: shared state is back", self._where, reason)
        self._notify(True, reason)

    def _notify(self, healthy: bool, reason: str) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(healthy, reason)
        except Exception:  # an observer must not turn a Redis outage into a failed check
            log.exception("shared_state_changed hook failed")

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text[:300]


class StateStore:
    """Where one moderator keeps policy state: in Redis under ``prefix`` while its
    shared Redis answers, in this process otherwise (and without ``redis_url``)."""

    def __init__(self, prefix: str, shared: SharedRedis | None) -> None:
        self.memory = MemoryState()
        self.redis = RedisState(prefix)
        self._shared = shared

    def apply(self, op: AnyOp) -> Steps[Any]:
        """The operation's answer (a plan: with Redis, it takes steps)."""
        local = functools.partial(self.memory.apply, op)
        shared = self._shared
        if shared is None:
            return local()
        in_redis = functools.partial(redis_steps, shared.client, self.redis.plan(op))
        return (yield from shared.attempt(in_redis, local))


def _server_of(url: str) -> str:
    """host:port/db of a Redis URL, without its credentials, for log lines."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return parts.path
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the configured redis_url"
    return f"{host}{port}{parts.path}"


def _secrets_of(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    password = parts.password
    return sorted({password, unquote(password)}, key=len, reverse=True) if password else []
