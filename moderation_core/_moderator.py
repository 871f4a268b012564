"""Moderator and AsyncModerator: one API over every configured provider.

Everything that does no IO lives in ``_BaseModerator`` and ``_routing``: building
providers from config, validating contents, routing (fallback, strictest, shadow),
chunking to batch and size limits, masking, and the hooks. A route is a generator that
yields lists of jobs and receives their outcomes, so the sync class runs jobs one after
another and the async class runs them concurrently, and the routing logic exists once.

Around each HTTP provider's calls sits its lane (``_resilience``): circuit breaker,
retries, rate limiter and an in-flight gate.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, Self, overload

import attrs
import httpx
import pluggy

from ._config import DEFAULT_CONFIG, Config, config_error, load_config
from ._drivers import AuthGate, run_async, run_sync
from ._errors import (
    AllProvidersFailed,
    ConfigError,
    InvalidContent,
    ModerationError,
    ProviderError,
    ProviderUnavailable,
)
from ._masking import mask_keywords
from ._model import (
    CheckContext,
    Content,
    ContentType,
    Decision,
    Label,
    Outcome,
    Verdict,
    _text_content,
)
from ._plugins import default_plugin_manager, provider_registry, shared_state_hook
from ._policy import Mute, Policy
from ._provider import Provider
from ._redact import redact_query_params
from ._resilience import (
    AsyncBreaker,
    AsyncLimiter,
    Breaker,
    BreakerSettings,
    Limiter,
    counts_against_breaker,
    retrying,
)
from ._routing import Answer, Answers, Job, JobOutcome, Route, Router, disagreements, report
from ._state import SharedRedis

__all__ = ["AsyncModerator", "Moderator"]

log = logging.getLogger("moderation_core")

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | Config
CheckInput = Content | str

# Batches at least this large, checked with no HTTP provider, run with the cyclic
# garbage collector paused (see _collector_paused).
_PAUSE_GC_AT = 10_000
_FAIL_DECISIONS = {"allow": Decision.PASS, "review": Decision.REVIEW, "block": Decision.BLOCK}
# An async job for a provider with no HTTP (the local engine) over more text than this,
# in characters, runs in a worker thread so the event loop keeps serving. Measured: the
# local engine takes ~50 us per KB of chat text and a hop to a thread ~55 us, so below
# this the hop is not worth it, and above it the loop would stall for more than ~1 ms.
OFFLOAD_CHARS = 16_384
MIN_OVERLAP = 32


@contextlib.contextmanager
def _collector_paused(pause: bool) -> Iterator[None]:
    """A large offline batch allocates a Content and often a Verdict per item, and
    CPython's cyclic collector walks them all again at every generation-2 pass
    (measured: 20-30% of the throughput at 200,000 messages). Nothing here creates
    reference cycles, and the pause ends with the call (CPU-bound: no network waits)."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _knob(provider: Provider[Any], name: str, default: Any) -> Any:
    """A resilience setting from the provider's config, or the default for plugins
    whose config does not have it."""
    value = getattr(provider.config, name, None)
    return default if value is None else value


class _BaseModerator:
    def __init__(
        self,
        config: ConfigSource | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = load_config(DEFAULT_CONFIG if config is None else config)
        self._settings = self.config.moderation
        self._pm = plugin_manager if plugin_manager is not None else default_plugin_manager()
        self._transport = transport
        registry = provider_registry(self._pm)
        providers: list[Provider[Any]] = []
        problems: list[str] = []  # every provider table's, reported at once
        for name in self.config.order:
            table = self.config.providers[name]
            where = self.config.where("providers", name)
            try:
                provider_class = registry.get(str(table["type"]))
            except ConfigError as exc:
                problems.append(f"{where}: {exc}")
                continue
            try:
                providers.append(
                    provider_class.from_config(name, table, where, base_dir=self.config.base_dir)
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise config_error(problems)
        self._providers: tuple[Provider[Any], ...] = tuple(providers)
        redact_query_params(n for p in self._providers for n in p.secret_query_params)
        split = self._settings.long_text == "split"
        # Chunks overlap by the longest keyword any local lexicon knows, at least 32.
        longest = max((int(getattr(p, "longest_keyword", 0)) for p in providers), default=0)
        self._router = Router(split_long_text=split, overlap=max(MIN_OVERLAP, longest))
        # Types some provider takes whatever their size: no per-item check needed.
        self._unlimited_types = frozenset(
            kind
            for p in self._providers
            for kind in p.capabilities.content_types
            if kind is not ContentType.TEXT or p.capabilities.max_text_bytes is None or split
        )
        # Providers whose last call failed: a WARNING marks the start of each streak.
        self._failing: set[str] = set()
        self._finished_hook = self._pm.hook.check_finished
        self._shadow_hook = self._pm.hook.shadow_disagreement
        self._policy = Policy(self.config, self._pm)  # [policy]: evaluate and mutes

    @classmethod
    def from_config(cls, source: ConfigSource, **kwargs: Any) -> Self:
        """Build from a TOML path or a dict shaped like the TOML (see docs/config.md)."""
        return cls(source, **kwargs)

    @property
    def providers(self) -> tuple[Provider[Any], ...]:
        """The configured providers, in priority order."""
        return self._providers

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self._providers)
        return f"<{type(self).__name__} providers=[{names}] from {self.config.source}>"

    # -- everything below does no IO ------------------------------------------------

    def _prepare(self, items: Iterable[CheckInput]) -> list[Content]:
        """Contents from the caller's items, each accepted by some provider, or
        InvalidContent naming the first item that is not (before any request)."""
        items = items if isinstance(items, list | tuple) else list(items)
        try:
            contents = [
                _text_content(item) if type(item) is str else Content.coerce(item) for item in items
            ]
        except InvalidContent:
            for index, item in enumerate(items):
                self._prepare_one(index, item)
            raise
        unlimited = self._unlimited_types
        for index, content in enumerate(contents):
            if content.type not in unlimited:
                self._check_accepted(index, content)
        return contents

    def _prepare_one(self, index: int, item: CheckInput) -> Content:
        try:
            content = Content.coerce(item)
        except InvalidContent as exc:
            raise InvalidContent(f"item {index}: {exc}") from None
        if content.type not in self._unlimited_types:
            self._check_accepted(index, content)
        return content

    def _check_accepted(self, index: int, content: Content) -> None:
        if not any(p.capabilities.accepts(content) for p in self._providers):
            raise InvalidContent(f"item {index}: {self._why_unaccepted(content)}")

    def _prepare_each(self, items: Iterable[CheckInput]) -> list[Content | InvalidContent]:
        """Like ``_prepare``, but an item that is not accepted holds its own
        InvalidContent (``check_many(..., return_exceptions=True)``)."""
        prepared: list[Content | InvalidContent] = []
        for index, item in enumerate(items):
            try:
                prepared.append(self._prepare_one(index, item))
            except InvalidContent as exc:
                prepared.append(exc)
        return prepared

    @staticmethod
    def _valid(prepared: list[Content | InvalidContent]) -> list[Content]:
        return [c for c in prepared if isinstance(c, Content)]

    @staticmethod
    def _in_place(
        prepared: list[Content | InvalidContent], results: list[Verdict | ModerationError]
    ) -> list[Verdict | ModerationError]:
        """The results of the valid items, with the invalid items' errors between them."""
        answered = iter(results)
        return [next(answered) if isinstance(c, Content) else c for c in prepared]

    def _why_unaccepted(self, content: Content) -> str:
        takers = [p for p in self._providers if content.type in p.capabilities.content_types]
        if not takers:
            offered = "; ".join(
                f"{p.name}: {', '.join(sorted(t.value for t in p.capabilities.content_types))}"
                for p in self._providers
            )
            return f"no configured provider accepts {content.type.value} content ({offered})"
        size = len(content.value.encode())
        limits = ", ".join(f"{p.name}: {p.capabilities.max_text_bytes}" for p in takers)
        return (
            f"text of {size} UTF-8 bytes is over every provider's limit ({limits} bytes) "
            'and long_text = "reject"'
        )

    def _pick(self, only: Iterable[str] | None) -> tuple[Provider[Any], ...]:
        if only is None:
            return self._providers
        wanted = set(only)
        picked = tuple(p for p in self._providers if p.name in wanted)
        missing = wanted.difference(p.name for p in picked)
        if missing:
            raise ConfigError(f"no configured provider named {', '.join(sorted(missing))}")
        return picked

    def _route(
        self,
        contents: list[Content],
        context: CheckContext,
        providers: tuple[Provider[Any], ...] | None = None,
    ) -> Route:
        """The configured strategy's route, then the finishing touches: masks from
        keywords, the caller's ids, fail_mode, and the finished-check hook."""
        chosen = providers or self._providers
        if self._settings.strategy == "strictest" and providers is None:
            answers = yield from self._router.strictest(contents, chosen)
        else:  # fallback, and shadow's deciding path
            answers = yield from self._router.fallback(contents, chosen)
        final = [
            self._final(content, answer) for content, answer in zip(contents, answers, strict=True)
        ]
        report(self._finished_hook, contents, final, context)
        return final

    def _final(self, content: Content, answer: Answer) -> Verdict | ModerationError:
        if isinstance(answer, Verdict):
            return self._finish(content, answer)
        return self._all_failed(answer, content.id)

    @staticmethod
    def _finish(content: Content, verdict: Verdict) -> Verdict:
        if not verdict.keywords and verdict.content_id == content.id:
            return verdict
        changes: dict[str, Any] = {}
        if verdict.content_id != content.id:
            changes["content_id"] = content.id
        if verdict.keywords and verdict.masked_text is None and content.type is ContentType.TEXT:
            changes["masked_text"] = mask_keywords(content.value, verdict.keywords)
        return attrs.evolve(verdict, **changes) if changes else verdict

    def _all_failed(
        self, errors: list[ProviderError], content_id: str | int | None
    ) -> Verdict | ModerationError:
        tried = ", ".join(f"{e.provider}: {type(e).__name__}" for e in errors) or "none tried"
        failure = AllProvidersFailed(f"every provider failed ({tried})", errors)
        decision = _FAIL_DECISIONS.get(self._settings.fail_mode)
        if decision is None:
            return failure
        return Verdict(
            decision=decision,
            label=Label.UNKNOWN,
            content_id=content_id,
            fallback=True,
            errors=tuple(errors),
        )

    def _shadow_routes(
        self, contents: list[Content], final: list[Verdict | ModerationError]
    ) -> list[tuple[list[int], Answers]]:
        """For shadow: every provider other than the one that decided, on the contents
        it accepts, each as its own single-provider route."""
        routes = []
        for provider in self._providers:
            indexes = [
                i
                for i, (content, verdict) in enumerate(zip(contents, final, strict=True))
                if isinstance(verdict, Verdict)
                and verdict.provider != provider.name
                and content.type in provider.capabilities.content_types
            ]
            if indexes:
                subset = [contents[i] for i in indexes]
                routes.append((indexes, self._router.fallback(subset, (provider,))))
        return routes

    def _compare(
        self,
        contents: list[Content],
        final: list[Verdict | ModerationError],
        indexes: list[int],
        answers: list[Answer],
        context: CheckContext,
    ) -> None:
        found = disagreements([contents[i] for i in indexes], [final[i] for i in indexes], answers)
        for content, verdict, shadow in found:
            self._shadow_hook(content=content, verdict=verdict, shadow=shadow, context=context)

    def _note_outcomes(self, jobs: list[Job], outcomes: list[JobOutcome]) -> list[JobOutcome]:
        """Log one WARNING when a provider starts failing, not one per call, and one
        INFO when it answers again; the outcomes pass through unchanged."""
        for job, outcome in zip(jobs, outcomes, strict=True):
            name = job.provider.name
            if isinstance(outcome, ProviderError):
                if name not in self._failing:
                    self._failing.add(name)
                    log.warning(
                        "provider %s failed (%s); its contents go to the next provider or "
                        "fail_mode until it answers again",
                        name,
                        outcome,
                    )
            elif name in self._failing:
                self._failing.discard(name)
                log.info("provider %s answers again", name)
        return outcomes

    def _deadline(self) -> float:
        return time.monotonic() + self._settings.deadline

    @staticmethod
    def _single(results: list[Verdict | ModerationError]) -> Verdict:
        (result,) = results
        if isinstance(result, ModerationError):
            raise result
        return result

    @staticmethod
    def _many(
        results: list[Verdict | ModerationError], return_exceptions: bool
    ) -> list[Verdict | ModerationError]:
        if not return_exceptions:
            failed = [r for r in results if isinstance(r, ModerationError)]
            if failed:
                raise failed[0]
        return results

    def _redis_url(self) -> str | None:
        return self._settings.redis_url


@attrs.define
class _Lane:
    """One HTTP provider's breaker, limiter, gate and retry count (sync)."""

    breaker: Breaker
    limiter: Limiter | None
    gate: threading.BoundedSemaphore
    retries: int


@attrs.define
class _AsyncLane:
    breaker: AsyncBreaker
    limiter: AsyncLimiter | None
    gate: asyncio.Semaphore
    retries: int


class Moderator(_BaseModerator):
    """Check contents against the configured providers, blocking.

    ``Moderator()`` with no config uses the offline local engine alone.
    """

    def __init__(
        self,
        config: ConfigSource | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(config, plugin_manager=plugin_manager, transport=transport)
        self._clients: dict[str, httpx.Client] = {}
        self._auth_gates = {p.name: AuthGate(threading.Lock()) for p in self._providers}
        self._redis = _shared_redis(self._redis_url(), self._pm, asynchronous=False)
        self._lanes = {p.name: self._lane(p) for p in self._providers if p.uses_http}
        self._shadow_pool: concurrent.futures.ThreadPoolExecutor | None = None

    def _lane(self, provider: Provider[Any]) -> _Lane:
        rate = _knob(provider, "rate_limit", None)
        return _Lane(
            breaker=Breaker(
                provider.name, _knob(provider, "breaker", BreakerSettings()), self._redis
            ),
            limiter=Limiter(
                provider.name,
                rate,
                _knob(provider, "max_wait", 1.0),
                self._redis,
                _knob(provider, "rate_burst", None),
            )
            if rate
            else None,
            gate=threading.BoundedSemaphore(_knob(provider, "max_in_flight", 8)),
            retries=_knob(provider, "retries", 0),
        )

    def check(
        self,
        item: CheckInput,
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
    ) -> Verdict:
        """Check one text (a str) or Content; raises AllProvidersFailed if no provider
        could answer (unless ``fail_mode`` says otherwise)."""
        context = CheckContext(scene, sender, receiver)
        return self._single(self._check(self._prepare((item,)), context))

    @overload
    def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[False] = ...,
    ) -> list[Verdict]: ...
    @overload
    def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[True],
    ) -> list[Verdict | ModerationError]: ...
    def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
        return_exceptions: bool = False,
    ) -> list[Verdict] | list[Verdict | ModerationError]:
        """One Verdict per input, in input order, whatever the vendors' batch limits.
        With ``return_exceptions=True`` an item no provider could check holds its
        AllProvidersFailed, and an invalid item its InvalidContent ("item N: ..."),
        instead of raising it; without, the first such error is raised."""
        context = CheckContext(scene, sender, receiver)
        items = items if isinstance(items, list | tuple) else list(items)
        with _collector_paused(len(items) >= _PAUSE_GC_AT and not self._lanes):
            try:
                contents = self._prepare(items)
            except InvalidContent:
                if not return_exceptions:
                    raise
                prepared = self._prepare_each(items)
                return self._in_place(prepared, self._check(self._valid(prepared), context))
            return self._many(self._check(contents, context), return_exceptions)

    def evaluate(
        self,
        message: CheckInput | Iterable[CheckInput],
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
    ) -> Outcome:
        """Apply the ``[policy]`` to one message (a str, a Content, or several contents,
        e.g. ``Content.from_custom(...)``): an Outcome with the action, the text that may
        be delivered, the reason and the verdict (see docs/policy.md)."""
        flow = self._policy.evaluate(message, CheckContext(scene, sender, receiver))
        return self._policy.run_sync(self, flow)  # type: ignore[no-any-return]

    def mute_sender(
        self,
        sender: str,
        *,
        scene: str | None = None,
        duration: float | str | None = None,
        reason: str | None = None,
    ) -> Mute:
        """Mute a sender in one scene (None: every scene) for ``duration`` (seconds or
        "24h", at most 100 years; None: until unmuted): ``evaluate`` blocks them without
        asking a vendor. A bad duration, or a sender, scene or reason that is not a str
        of valid Unicode, is InvalidContent."""
        flow = self._policy.mute(sender, scene, duration, reason)
        return self._policy.run_sync(self, flow)  # type: ignore[no-any-return]

    def unmute_sender(self, sender: str, *, scene: str | None = None) -> int:
        """Lift the sender's mute in ``scene``, or all of theirs when scene is None;
        returns how many were lifted."""
        return self._policy.run_sync(self, self._policy.unmute(sender, scene))  # type: ignore[no-any-return]

    def muted_senders(self, *, scene: str | None = None) -> list[Mute]:
        """The senders muted now: every mute, or those recorded for ``scene``."""
        return self._policy.run_sync(self, self._policy.muted(scene))  # type: ignore[no-any-return]

    def _check(
        self, contents: list[Content], context: CheckContext
    ) -> list[Verdict | ModerationError]:
        deadline = self._deadline()
        final: list[Verdict | ModerationError] = self._run(
            self._route(contents, context), context, deadline
        )
        if self._settings.strategy == "shadow":
            routes = self._shadow_routes(contents, final)
            if routes:
                if self._shadow_pool is None:
                    self._shadow_pool = concurrent.futures.ThreadPoolExecutor(
                        max_workers=4, thread_name_prefix="moderation-shadow"
                    )
                self._shadow_pool.submit(self._shadow, contents, final, routes, context)
        return final

    def _shadow(
        self,
        contents: list[Content],
        final: list[Verdict | ModerationError],
        routes: list[tuple[list[int], Answers]],
        context: CheckContext,
    ) -> None:
        for indexes, route in routes:
            try:
                answers = self._run(route, context, self._deadline())
                self._compare(contents, final, indexes, answers, context)
            except Exception:  # a shadow must never hurt the caller
                log.exception("shadow check failed")

    def _check_with(self, only: Iterable[str], item: CheckInput, context: CheckContext) -> Verdict:
        """``check`` restricted to the named providers (for policy's own checks, such
        as the merged context, which go to the local engine by default)."""
        route = self._route(self._prepare((item,)), context, self._pick(only))
        return self._single(self._run(route, context, self._deadline()))

    def _run(self, route: Any, context: CheckContext, deadline: float) -> Any:
        try:
            jobs = next(route)
            while True:
                outcomes = [self._run_job(job, context, deadline) for job in jobs]
                jobs = route.send(self._note_outcomes(jobs, outcomes))
        except StopIteration as done:
            return done.value

    def _run_job(self, job: Job, context: CheckContext, deadline: float) -> JobOutcome:
        provider = job.provider
        lane = self._lanes.get(provider.name)
        if lane is None:  # no HTTP: nothing to limit, break or retry
            try:
                return run_sync(
                    provider, job.contents, context, None, self._auth_gates[provider.name]
                )
            except ProviderError as exc:
                return exc
        try:
            if lane.retries == 0:
                return self._attempt(job, context, lane, deadline)
            for attempt in retrying(lane.retries, deadline):
                with attempt:
                    return self._attempt(job, context, lane, deadline)
        except ProviderError as exc:
            return exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, job: Job, context: CheckContext, lane: _Lane, deadline: float) -> JobOutcome:
        provider = job.provider
        if time.monotonic() >= deadline:
            raise ProviderUnavailable("the check's deadline passed", provider=provider.name)
        lane.breaker.before()
        with lane.gate:
            try:
                results = run_sync(
                    provider,
                    job.contents,
                    context,
                    self._client(provider),
                    self._auth_gates[provider.name],
                    functools.partial(lane.limiter.acquire, deadline) if lane.limiter else None,
                    deadline,
                )
            except ProviderError as exc:
                if counts_against_breaker(exc):
                    lane.breaker.after(ok=False)
                raise
        lane.breaker.after(ok=True)
        return results

    def _client(self, provider: Provider[Any]) -> httpx.Client:
        client = self._clients.get(provider.name)
        if client is None:
            transport = (
                self._transport if isinstance(self._transport, httpx.BaseTransport) else None
            )
            size = _knob(provider, "max_in_flight", 8)  # the gate's size is all it needs
            client = httpx.Client(
                timeout=provider.timeout,
                transport=transport,
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            self._clients[provider.name] = client
        return client

    def close(self) -> None:
        """Wait for shadow checks, then close every connection and provider."""
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=True)
            self._shadow_pool = None
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for provider in self._providers:
            provider.close()
        if self._redis is not None:
            self._redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _shared_redis(
    url: str | None, pm: pluggy.PluginManager, *, asynchronous: bool
) -> SharedRedis | None:
    """The moderator's Redis client and its health, shared by its limiters, breakers
    and policy state (None without ``redis_url``)."""
    if not url:
        return None
    return SharedRedis.connect(url, asynchronous=asynchronous, on_change=shared_state_hook(pm))


class _Batcher:
    """Coalesces concurrent single checks bound for one batch-capable provider into
    batch requests: a call waits at most ``window`` seconds for company, and a batch
    goes out as soon as it is full. Only calls with the same context share a request
    (the vendor takes one scene, sender and receiver per request)."""

    def __init__(self, moderator: AsyncModerator, provider: Provider[Any], window: float) -> None:
        self._moderator = moderator
        self._provider = provider
        self._size = provider.capabilities.batch_size
        self._window = window
        self._waiting: dict[CheckContext, list[tuple[Job, float, asyncio.Future[JobOutcome]]]] = {}
        self._timers: dict[CheckContext, asyncio.TimerHandle] = {}

    async def submit(self, job: Job, context: CheckContext, deadline: float) -> JobOutcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[JobOutcome] = loop.create_future()
        waiting = self._waiting.setdefault(context, [])
        waiting.append((job, deadline, future))
        if sum(len(j.contents) for j, _, _ in waiting) >= self._size:
            self._flush(context)
        elif context not in self._timers:
            self._timers[context] = loop.call_later(self._window, self._flush, context)
        return await future

    def _flush(self, context: CheckContext) -> None:
        timer = self._timers.pop(context, None)
        if timer is not None:
            timer.cancel()
        waiting = self._waiting.pop(context, [])
        while waiting:
            taken, count = [], 0
            while waiting and count + len(waiting[0][0].contents) <= self._size:
                entry = waiting.pop(0)
                taken.append(entry)
                count += len(entry[0].contents)
            if not taken:  # one job larger than a batch: send it as it is
                taken.append(waiting.pop(0))
            task = asyncio.ensure_future(self._send(taken, context))
            self._moderator._background.add(task)
            task.add_done_callback(self._moderator._background.discard)

    async def _send(
        self, taken: list[tuple[Job, float, asyncio.Future[JobOutcome]]], context: CheckContext
    ) -> None:
        contents = [c for job, _, _ in taken for c in job.contents]
        merged = Job(self._provider, list(range(len(contents))), contents)
        deadline = min(d for _, d, _ in taken)
        try:
            outcome = await self._moderator._run_job(merged, context, deadline, batch=False)
        except asyncio.CancelledError:
            for _, _, future in taken:
                future.cancel()
            raise
        except Exception as exc:  # _run_job returns provider errors; a bug reaches every caller
            for _, _, future in taken:
                if not future.done():
                    future.set_exception(exc)
            return  # handed on, not raised: nobody awaits this task, asyncio would log it
        start = 0
        for job, _, future in taken:
            n = len(job.contents)
            part = outcome if isinstance(outcome, ProviderError) else outcome[start : start + n]
            start += n
            if not future.done():
                future.set_result(part)


class AsyncModerator(_BaseModerator):
    """The same API as ``Moderator``, awaitable; jobs for different providers or
    batches run concurrently, and concurrent checks bound for a batch-capable provider
    share batch requests."""

    def __init__(
        self,
        config: ConfigSource | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(config, plugin_manager=plugin_manager, transport=transport)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._auth_gates = {p.name: AuthGate(asyncio.Lock()) for p in self._providers}
        self._redis = _shared_redis(self._redis_url(), self._pm, asynchronous=True)
        self._lanes = {p.name: self._lane(p) for p in self._providers if p.uses_http}
        self._batchers: dict[str, _Batcher] = {}
        self._background: set[asyncio.Future[Any]] = set()
        # For no-HTTP jobs run in a worker thread (run_sync takes a threading lock).
        self._thread_gates = {
            p.name: AuthGate(threading.Lock()) for p in self._providers if not p.uses_http
        }

    def _lane(self, provider: Provider[Any]) -> _AsyncLane:
        rate = _knob(provider, "rate_limit", None)
        return _AsyncLane(
            breaker=AsyncBreaker(
                provider.name, _knob(provider, "breaker", BreakerSettings()), self._redis
            ),
            limiter=(
                AsyncLimiter(
                    provider.name,
                    rate,
                    _knob(provider, "max_wait", 1.0),
                    self._redis,
                    _knob(provider, "rate_burst", None),
                )
                if rate
                else None
            ),
            gate=asyncio.Semaphore(_knob(provider, "max_in_flight", 8)),
            retries=_knob(provider, "retries", 0),
        )

    async def check(
        self,
        item: CheckInput,
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
    ) -> Verdict:
        """Check one text (a str) or Content; raises AllProvidersFailed if no provider
        could answer (unless ``fail_mode`` says otherwise)."""
        context = CheckContext(scene, sender, receiver)
        return self._single(await self._check(self._prepare((item,)), context))

    @overload
    async def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[False] = ...,
    ) -> list[Verdict]: ...
    @overload
    async def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[True],
    ) -> list[Verdict | ModerationError]: ...
    async def check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
        return_exceptions: bool = False,
    ) -> list[Verdict] | list[Verdict | ModerationError]:
        """One Verdict per input, in input order, whatever the vendors' batch limits.
        With ``return_exceptions=True`` an item no provider could check holds its
        AllProvidersFailed, and an invalid item its InvalidContent ("item N: ..."),
        instead of raising it; without, the first such error is raised."""
        context = CheckContext(scene, sender, receiver)
        items = items if isinstance(items, list | tuple) else list(items)
        try:
            contents = self._prepare(items)
        except InvalidContent:
            if not return_exceptions:
                raise
            prepared = self._prepare_each(items)
            results = await self._check(self._valid(prepared), context)
            return self._in_place(prepared, results)
        return self._many(await self._check(contents, context), return_exceptions)

    async def evaluate(
        self,
        message: CheckInput | Iterable[CheckInput],
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
    ) -> Outcome:
        """Apply the ``[policy]`` to one message (a str, a Content, or several contents,
        e.g. ``Content.from_custom(...)``): an Outcome with the action, the text that may
        be delivered, the reason and the verdict (see docs/policy.md)."""
        flow = self._policy.evaluate(message, CheckContext(scene, sender, receiver))
        return await self._policy.run_async(self, flow)  # type: ignore[no-any-return]

    async def mute_sender(
        self,
        sender: str,
        *,
        scene: str | None = None,
        duration: float | str | None = None,
        reason: str | None = None,
    ) -> Mute:
        """Mute a sender in one scene (None: every scene) for ``duration`` (seconds or
        "24h", at most 100 years; None: until unmuted): ``evaluate`` blocks them without
        asking a vendor. A bad duration, or a sender, scene or reason that is not a str
        of valid Unicode, is InvalidContent."""
        flow = self._policy.mute(sender, scene, duration, reason)
        return await self._policy.run_async(self, flow)  # type: ignore[no-any-return]

    async def unmute_sender(self, sender: str, *, scene: str | None = None) -> int:
        """Lift the sender's mute in ``scene``, or all of theirs when scene is None;
        returns how many were lifted."""
        flow = self._policy.unmute(sender, scene)
        return await self._policy.run_async(self, flow)  # type: ignore[no-any-return]

    async def muted_senders(self, *, scene: str | None = None) -> list[Mute]:
        """The senders muted now: every mute, or those recorded for ``scene``."""
        return await self._policy.run_async(self, self._policy.muted(scene))  # type: ignore[no-any-return]

    async def _check(
        self, contents: list[Content], context: CheckContext
    ) -> list[Verdict | ModerationError]:
        final: list[Verdict | ModerationError] = await self._run(
            self._route(contents, context), context, self._deadline()
        )
        if self._settings.strategy == "shadow":
            routes = self._shadow_routes(contents, final)
            if routes:
                task = asyncio.ensure_future(self._shadow(contents, final, routes, context))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        return final

    async def _shadow(
        self,
        contents: list[Content],
        final: list[Verdict | ModerationError],
        routes: list[tuple[list[int], Answers]],
        context: CheckContext,
    ) -> None:
        for indexes, route in routes:
            try:
                answers = await self._run(route, context, self._deadline())
                self._compare(contents, final, indexes, answers, context)
            except Exception:  # a shadow must never hurt the caller
                log.exception("shadow check failed")

    async def _check_with(
        self, only: Iterable[str], item: CheckInput, context: CheckContext
    ) -> Verdict:
        """``check`` restricted to the named providers."""
        route = self._route(self._prepare((item,)), context, self._pick(only))
        return self._single(await self._run(route, context, self._deadline()))

    async def _run(self, route: Any, context: CheckContext, deadline: float) -> Any:
        try:
            jobs = next(route)
            while True:
                if len(jobs) == 1:
                    outcomes = [await self._run_job(jobs[0], context, deadline)]
                else:
                    outcomes = list(
                        await asyncio.gather(*(self._run_job(j, context, deadline) for j in jobs))
                    )
                jobs = route.send(self._note_outcomes(jobs, outcomes))
        except StopIteration as done:
            return done.value

    async def _run_job(
        self, job: Job, context: CheckContext, deadline: float, *, batch: bool = True
    ) -> JobOutcome:
        provider = job.provider
        lane = self._lanes.get(provider.name)
        if lane is None:  # no HTTP: nothing to limit, break, batch or retry
            try:
                if sum(len(c.value) for c in job.contents) > OFFLOAD_CHARS:
                    gate = self._thread_gates[provider.name]
                    return await asyncio.to_thread(
                        run_sync, provider, job.contents, context, None, gate
                    )
                return await run_async(
                    provider, job.contents, context, None, self._auth_gates[provider.name]
                )
            except ProviderError as exc:
                return exc
        caps = provider.capabilities
        window = self._settings.batch_window
        if (
            batch
            and window > 0
            and caps.batch_size > 1
            and job.offsets is None
            and len(job.contents) < caps.batch_size
            and all(c.type in caps.batch_types for c in job.contents)
        ):
            batcher = self._batchers.get(provider.name)
            if batcher is None:
                batcher = self._batchers[provider.name] = _Batcher(self, provider, window)
            return await batcher.submit(job, context, deadline)
        try:
            if lane.retries == 0:
                return await self._attempt(job, context, lane, deadline)
            async for attempt in retrying(lane.retries, deadline):
                with attempt:
                    return await self._attempt(job, context, lane, deadline)
        except ProviderError as exc:
            return exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, job: Job, context: CheckContext, lane: _AsyncLane, deadline: float
    ) -> JobOutcome:
        provider = job.provider
        if time.monotonic() >= deadline:
            raise ProviderUnavailable("the check's deadline passed", provider=provider.name)
        await lane.breaker.before()
        async with lane.gate:
            try:
                results = await run_async(
                    provider,
                    job.contents,
                    context,
                    self._client(provider),
                    self._auth_gates[provider.name],
                    functools.partial(lane.limiter.acquire, deadline) if lane.limiter else None,
                    deadline,
                )
            except ProviderError as exc:
                if counts_against_breaker(exc):
                    await lane.breaker.after(ok=False)
                raise
        await lane.breaker.after(ok=True)
        return results

    def _client(self, provider: Provider[Any]) -> httpx.AsyncClient:
        client = self._clients.get(provider.name)
        if client is None:
            transport = (
                self._transport if isinstance(self._transport, httpx.AsyncBaseTransport) else None
            )
            # The lane's gate keeps in-flight requests low; a pool no larger than the
            # gate keeps httpcore's per-request scan of its connections short.
            size = _knob(provider, "max_in_flight", 8)
            client = httpx.AsyncClient(
                timeout=provider.timeout,
                transport=transport,
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
            self._clients[provider.name] = client
        return client

    async def close(self) -> None:
        """Wait for shadow checks and pending batches, then close every connection."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        for provider in self._providers:
            provider.close()
        if self._redis is not None:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
