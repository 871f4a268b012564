"""The verdict cache (``[moderation.cache]``): a repeated content is answered without a
vendor call, and concurrent checks of one uncached content share one call.

A verdict is kept under a key that covers everything that can change a vendor's
answer: the content's type and value (or, with ``normalize``, the local engine's key
view of a text), the scene, and the provider chain and strategy (``chain_fingerprint``).
Only clean answers are kept: no PENDING (a webhook settles it later), no ``fail_mode``
verdict, no failover. A verdict read back says ``cached=True`` and keeps the
``request_id`` of the call that answered; with ``normalize`` its keywords and mask are
found again in the text actually checked, or the entry is not used.

Entries live in an in-process LRU (``size`` entries) and, with ``redis_url``, in Redis
too, where every process sharing it reads them. Redis errors degrade to the in-process
LRU through ``SharedRedis.attempt``, like the rest of the shared state.

Single flight: the first check of an uncached key in a process *leads* (an in-process
flight the others wait on); with Redis it also takes a short lock, and leaders in
other processes poll for the entry instead of calling. A waiter gives up after half
of its check's deadline, or as soon as the lock is gone with no entry (its holder
died, or its answer was not cacheable), and calls the vendor itself.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, Final

import attrs

from ._config import CacheSettings, Config
from ._errors import ModerationError
from ._json_form import verdict_from_dict, verdict_to_dict
from ._masking import mask_spans
from ._model import Content, ContentType, Decision, Secret, Verdict

# The one seam to the normalizer: the key view the local engine matches on.
from ._normalize import key_view, mapped_key_view
from ._state import SharedRedis, redis_steps
from ._steps import Mode, Steps

__all__ = ["VerdictCache", "cacheable", "carried", "chain_fingerprint"]

Results = list[Verdict | ModerationError]
Ask = Callable[[list[Content]], Steps[Results]]
Clock = Callable[[], float]

_FORMAT: Final = "v1"  # bump when the key or the stored form changes
# A lock outlives a dead holder by at most this long; a live one finishes sooner or
# lets one more process call (a duplicate call, never a wrong answer).
LOCK_SECONDS: Final = 3.0
_FIRST_POLL: Final = 0.002
_LONGEST_POLL: Final = 0.05
# Deletes the lock only if it is still ours (it may have expired and been re-taken).
_RELEASE: Final = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


def chain_fingerprint(config: Config) -> str:
    """What the answer depends on besides the content and scene: the strategy and each
    provider's name, type and settings in order (credentials left out: a new key
    changes no answer, and its hash has no business in Redis)."""
    chain = [
        config.moderation.strategy,
        config.moderation.long_text,
        str(config.base_dir),
        *(
            [name, {k: v for k, v in config.providers[name].items() if not isinstance(v, Secret)}]
            for name in config.order
        ),
    ]
    text = json.dumps(chain, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cacheable(result: Verdict | ModerationError) -> bool:
    """A clean answer: a verdict some provider gave on its first try, final (not
    PENDING), not decided by fail_mode, not served from the cache already."""
    return (
        isinstance(result, Verdict)
        and result.decision is not Decision.PENDING
        and not result.fallback
        and not result.errors
        and not result.prefiltered
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@attrs.frozen(slots=True)
class Entry:
    """A kept verdict (``content_id`` cleared) and a digest of the exact text it was
    given for, which tells an exact hit from a normalized one."""

    verdict: Verdict
    digest: str

    def dumps(self) -> str:
        raw = self.verdict.raw
        try:
            raw_json = json.dumps(raw, ensure_ascii=False) if raw is not None else None
        except (TypeError, ValueError):
            raw_json = None  # a payload JSON cannot hold stays in this process only
        form = {"verdict": verdict_to_dict(self.verdict), "digest": self.digest}
        if raw_json is not None:
            form["raw"] = raw_json
        return json.dumps(form, ensure_ascii=False)

    @classmethod
    def loads(cls, text: str | bytes) -> Entry | None:
        try:
            form = json.loads(text)
            verdict = verdict_from_dict(form["verdict"])
            raw = form.get("raw")
            if raw is not None:
                verdict = attrs.evolve(verdict, raw=json.loads(raw))
            return cls(verdict, str(form["digest"]))
        except (ValueError, KeyError, TypeError, ModerationError):
            return None  # an entry from another version: a miss, never a wrong answer


def carried(entry: Entry, content: Content, normalized: bool) -> Verdict | None:
    """The entry's verdict for ``content``: marked cached, with the content's id, and
    with ``normalize`` its keywords and mask found again in this text (None when they
    cannot be: the entry is then not used)."""
    verdict = attrs.evolve(entry.verdict, cached=True, content_id=content.id)
    if not normalized or content.type is not ContentType.TEXT:
        return verdict
    text = content.value
    if _digest(text) == entry.digest:
        return verdict
    if not verdict.keywords:
        # A mask with no keywords (a vendor's own masked text) belongs to the other text.
        return verdict if verdict.masked_text is None else None
    key, origin = mapped_key_view(text)
    spans: list[tuple[int, int]] = []
    keywords: list[str] = []
    for keyword in verdict.keywords:
        found = _spans(key, origin, key_view(keyword))
        if not found:
            return None
        spans.extend(found)
        keywords.append(text[found[0][0] : found[0][1]])
    return attrs.evolve(
        verdict,
        keywords=tuple(dict.fromkeys(keywords)),
        masked_text=mask_spans(text, spans),
    )


def _spans(key: str, origin: Sequence[int], term: str) -> list[tuple[int, int]]:
    """Where ``term`` (a key view) occurs in the key view ``key``, in the original text."""
    spans = []
    at = key.find(term) if term else -1
    while at != -1:
        spans.append((origin[at], origin[at + len(term) - 1] + 1))
        at = key.find(term, at + 1)
    return spans


class _Memory:
    """The in-process LRU with expiry. Hand-written: a few lines over OrderedDict, and
    the project's dependencies have no TTL cache."""

    def __init__(self, size: int, clock: Clock) -> None:
        self._size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, Entry]] = OrderedDict()

    def get(self, key: str) -> Entry | None:
        with self._lock:
            kept = self._entries.get(key)
            if kept is None:
                return None
            if kept[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return kept[1]

    def put(self, key: str, entry: Entry, ttl: float) -> None:
        if self._size == 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + ttl, entry)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class _Flight:
    """One in-process call others wait on: ``done`` is a ``threading.Event`` or an
    ``asyncio.Event`` by mode; ``entry`` is its cacheable answer, if any."""

    __slots__ = ("done", "entry")

    def __init__(self, asynchronous: bool) -> None:
        self.done: Any = asyncio.Event() if asynchronous else threading.Event()
        self.entry: Entry | None = None


def _wait_blocking(flight: _Flight, timeout: float) -> bool:
    return bool(flight.done.wait(max(0.0, timeout)))


async def _wait_awaiting(flight: _Flight, timeout: float) -> bool:
    try:
        async with asyncio.timeout(max(0.0, timeout)):
            await flight.done.wait()
    except TimeoutError:
        return False
    return True


class VerdictCache:
    """Verdicts by key, in this process and (with ``shared``) in Redis, with single
    flight. ``verdicts`` is a step plan: it runs in either mode."""

    def __init__(
        self,
        settings: CacheSettings,
        chain: str,
        *,
        mode: Mode,
        shared: SharedRedis | None = None,
        prefix: str = "moderation",
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.memory = _Memory(settings.size, clock or time.time)
        self._chain = chain
        self._mode = mode
        self._shared = shared
        self._prefix = f"{prefix}:cache:{_FORMAT}:"
        self._flights: dict[str, _Flight] = {}
        self._flights_lock = threading.Lock()
        self._wait = _wait_awaiting if mode.asynchronous else _wait_blocking
        self._token = uuid.uuid4().hex  # this moderator's locks

    # -- keys ------------------------------------------------------------------------

    def key(self, content: Content, scene: str | None) -> str:
        value = content.value
        if self.settings.normalize and content.type is ContentType.TEXT:
            # A text with nothing left after normalizing (emoji only) keys on itself.
            value = key_view(value) or value
        parts = (self._chain, "" if scene is None else f"s:{scene}", content.type.value, value)
        return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()

    # -- the plan --------------------------------------------------------------------

    def verdicts(
        self, contents: list[Content], scene: str | None, deadline: float, ask: Ask
    ) -> Steps[Results]:
        """Each content's verdict: from the cache, from a concurrent call, or from
        ``ask`` (the route to the vendors), whose clean answers are kept."""
        keys = [self.key(c, scene) for c in contents]
        found = self._from_memory(keys, contents)
        missing = [i for i, v in enumerate(found) if v is None]
        if missing and self._shared is not None:
            yield from self._from_redis(self._shared, keys, contents, missing, found)
            missing = [i for i in missing if found[i] is None]
        results: dict[int, Verdict | ModerationError] = {
            i: v for i, v in enumerate(found) if v is not None
        }
        if missing:
            yield from self._missing(keys, contents, missing, deadline, ask, results)
        return [results[i] for i in range(len(contents))]

    def _missing(
        self,
        keys: list[str],
        contents: list[Content],
        missing: list[int],
        deadline: float,
        ask: Ask,
        results: dict[int, Verdict | ModerationError],
    ) -> Steps[None]:
        lead, twins, waits = self._take_flights(keys, missing)
        # Waits end by half the check's deadline, leaving the rest for a call of one's own.
        give_up = time.monotonic() + max(0.0, deadline - time.monotonic()) / 2
        try:
            yield from self._lead(keys, contents, list(lead), ask, give_up, results)
        finally:
            self._land(keys, lead, contents, results)
        alone: list[int] = []
        for i, j in twins:
            self._carry_or(alone, results, i, lead[j].entry, contents[i])
        for i, flight in waits:
            landed = yield functools.partial(self._wait, flight, give_up - time.monotonic())
            self._carry_or(alone, results, i, flight.entry if landed else None, contents[i])
        if alone:
            yield from self._ask(keys, contents, alone, ask, results)

    def _carry_or(
        self,
        alone: list[int],
        results: dict[int, Verdict | ModerationError],
        index: int,
        entry: Entry | None,
        content: Content,
    ) -> None:
        verdict = None if entry is None else self._use(entry, content)
        if verdict is None:
            alone.append(index)
        else:
            results[index] = verdict

    def _ask(
        self,
        keys: list[str],
        contents: list[Content],
        indexes: list[int],
        ask: Ask,
        results: dict[int, Verdict | ModerationError],
    ) -> Steps[None]:
        """Ask the vendors for these contents, keep the clean answers (in this process,
        then in Redis)."""
        answers = yield from ask([contents[i] for i in indexes])
        kept: list[tuple[str, Entry]] = []
        for i, answer in zip(indexes, answers, strict=True):
            results[i] = answer
            entry = self._entry(answer, contents[i])
            if entry is not None:
                self.memory.put(keys[i], entry, self.settings.ttl)
                kept.append((keys[i], entry))
        if kept and self._shared is not None:
            yield from self._store(self._shared, kept)

    # -- reading ---------------------------------------------------------------------

    def _from_memory(self, keys: list[str], contents: list[Content]) -> list[Verdict | None]:
        found: list[Verdict | None] = []
        for key, content in zip(keys, contents, strict=True):
            entry = self.memory.get(key)
            found.append(None if entry is None else self._use(entry, content))
        return found

    def _use(self, entry: Entry, content: Content) -> Verdict | None:
        return carried(entry, content, self.settings.normalize)

    @staticmethod
    def _entry(answer: Verdict | ModerationError, content: Content) -> Entry | None:
        if not isinstance(answer, Verdict) or not cacheable(answer):
            return None
        return Entry(attrs.evolve(answer, content_id=None), _digest(content.value))

    def _from_redis(
        self,
        shared: SharedRedis,
        keys: list[str],
        contents: list[Content],
        missing: list[int],
        found: list[Verdict | None],
    ) -> Steps[None]:
        wanted = [self._prefix + keys[i] for i in missing]

        def read() -> Steps[list[Any]]:
            replies = yield from redis_steps(shared.client, _one([("MGET", *wanted)]))
            return list(replies[0])

        values = yield from shared.attempt(read, lambda: [None] * len(wanted))
        for i, value in zip(missing, values, strict=True):
            entry = None if value is None else Entry.loads(value)
            if entry is not None:
                # Kept here for a full ttl (reading Redis's TTL would cost a round trip).
                self.memory.put(keys[i], entry, self.settings.ttl)
                found[i] = self._use(entry, contents[i])

    # -- writing ---------------------------------------------------------------------

    def _store(self, shared: SharedRedis, kept: list[tuple[str, Entry]]) -> Steps[None]:
        ms = max(1, int(self.settings.ttl * 1000))
        commands = [("SET", self._prefix + key, entry.dumps(), "PX", ms) for key, entry in kept]

        def write() -> Steps[None]:
            yield from redis_steps(shared.client, _one(commands))

        yield from shared.attempt(write, lambda: None)  # kept in this process meanwhile

    # -- single flight ---------------------------------------------------------------

    def _take_flights(
        self, keys: list[str], missing: list[int]
    ) -> tuple[dict[int, _Flight], list[tuple[int, int]], list[tuple[int, _Flight]]]:
        """Sort the missing contents: the first of a key not in flight leads (its new
        flight), a repeat within this call is its twin (index, leader's index), a key
        another call in this process is asking for waits on that flight."""
        lead: dict[int, _Flight] = {}
        twins: list[tuple[int, int]] = []
        waits: list[tuple[int, _Flight]] = []
        first: dict[str, int] = {}
        with self._flights_lock:
            for i in missing:
                key = keys[i]
                if key in first:
                    twins.append((i, first[key]))
                    continue
                flight = self._flights.get(key)
                if flight is not None:
                    waits.append((i, flight))
                    continue
                lead[i] = self._flights[key] = _Flight(self._mode.asynchronous)
                first[key] = i
        return lead, twins, waits

    def _land(
        self,
        keys: list[str],
        lead: dict[int, _Flight],
        contents: list[Content],
        results: Mapping[int, Verdict | ModerationError],
    ) -> None:
        """End this call's flights (also when the call failed): waiters wake with the
        answer if it was cacheable, else with none and ask themselves."""
        with self._flights_lock:
            for i, flight in lead.items():
                if self._flights.get(keys[i]) is flight:
                    del self._flights[keys[i]]
        for i, flight in lead.items():
            answer = results.get(i)
            flight.entry = None if answer is None else self._entry(answer, contents[i])
            flight.done.set()

    def _lead(
        self,
        keys: list[str],
        contents: list[Content],
        lead: list[int],
        ask: Ask,
        give_up: float,
        results: dict[int, Verdict | ModerationError],
    ) -> Steps[None]:
        """Ask for the leaders' contents; with Redis, only for those whose lock this
        process took, then wait for the other processes' entries."""
        if not lead:
            return
        locked = yield from self._lock(keys, lead)
        try:
            if locked:
                yield from self._ask(keys, contents, locked, ask, results)
        finally:
            if locked and self._shared is not None:
                yield from self._unlock(self._shared, [keys[i] for i in locked])
        others = [i for i in lead if i not in results]
        if others and self._shared is not None:
            yield from self._poll(self._shared, keys, contents, others, give_up, results)
            alone = [i for i in others if i not in results]
            if alone:
                yield from self._ask(keys, contents, alone, ask, results)

    def _lock(self, keys: list[str], lead: list[int]) -> Steps[list[int]]:
        shared = self._shared
        if shared is None:
            return lead
        ms = int(LOCK_SECONDS * 1000)
        commands = [("SET", self._lock_key(keys[i]), self._token, "NX", "PX", ms) for i in lead]

        def take() -> Steps[list[int]]:
            replies = yield from redis_steps(shared.client, _one(commands))
            return [i for i, reply in zip(lead, replies, strict=True) if reply]

        # Without Redis every process leads alone: one call per process, not one in all.
        return (yield from shared.attempt(take, lambda: lead))

    def _unlock(self, shared: SharedRedis, keys: list[str]) -> Steps[None]:
        commands = [("EVAL", _RELEASE, 1, self._lock_key(k), self._token) for k in keys]

        def release() -> Steps[None]:
            yield from redis_steps(shared.client, _one(commands))

        yield from shared.attempt(release, lambda: None)  # an unreleased lock expires

    def _poll(
        self,
        shared: SharedRedis,
        keys: list[str],
        contents: list[Content],
        waiting: list[int],
        give_up: float,
        results: dict[int, Verdict | ModerationError],
    ) -> Steps[None]:
        """Wait for other processes' entries. An index whose lock is gone with no
        entry, or still held at ``give_up``, stays out of ``results``: its caller asks."""
        pause = _FIRST_POLL
        while waiting and time.monotonic() < give_up:
            yield functools.partial(self._mode.sleep, min(pause, give_up - time.monotonic()))
            pause = min(pause * 2, _LONGEST_POLL)
            commands: list[tuple[Any, ...]] = [("MGET", *(self._prefix + keys[i] for i in waiting))]
            commands += [("EXISTS", self._lock_key(keys[i])) for i in waiting]

            def look(commands: list[tuple[Any, ...]] = commands) -> Steps[list[Any]]:
                return list((yield from redis_steps(shared.client, _one(commands))))

            replies = yield from shared.attempt(look, list)
            if not replies:  # Redis failed: everyone left asks for themselves
                return
            still = []
            for i, value, held in zip(waiting, replies[0], replies[1:], strict=True):
                entry = None if value is None else Entry.loads(value)
                verdict = None if entry is None else self._use(entry, contents[i])
                if entry is not None and verdict is not None:
                    self.memory.put(keys[i], entry, self.settings.ttl)
                    results[i] = verdict
                elif held:
                    still.append(i)
            waiting = still

    def _lock_key(self, key: str) -> str:
        return f"{self._prefix}lock:{key}"


def _one(commands: list[tuple[Any, ...]]) -> Generator[list[tuple[Any, ...]], list[Any], list[Any]]:
    """A Redis plan (``_state.redis_steps``) of one pipeline, answering its replies."""
    replies = yield commands
    return replies
