"""Everything a moderator does that is not IO, once for ``Moderator`` and ``AsyncModerator``.

Building providers from config, validating contents, routing by the configured
strategy (``_routing.STRATEGIES``), masking, fail_mode, the hooks, serving the policy's
requests - and every public operation, written as a step plan (``_steps``): ``check``,
``check_many``, ``evaluate`` and the mute calls are the plans ``_check``,
``_check_many``, ... here, which ``Moderator`` runs blocking and ``AsyncModerator``
awaits. Each provider's call is a plan too: deadline, breaker, in-flight gate, the
provider's flow (``_drivers``), the breaker's result. What differs between the modes
is only how a list of jobs runs (one after another, or concurrently), retries, work
left in the background, and closing (``_sync``, ``_async``).

Around each HTTP provider's calls sits its lane (``_resilience``): circuit breaker,
retries, rate limiter and an in-flight gate, built from its ``HttpProviderConfig``. A
provider whose config is not one sends no requests.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import gc
import logging
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
    Generic,
    Literal,
    Protocol,
    Self,
    TypeVar,
    overload,
)

import attrs
import httpx
import pluggy

from ._cache import VerdictCache, chain_fingerprint
from ._config import DEFAULT_CONFIG, Config, config_error, load_config
from ._drivers import AuthGate, Connection, provider_steps
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
from ._policy import ContextCheck, Mute, Policy, PolicyFlow, PolicyRequest, VendorCheck
from ._provider import Capabilities, HttpProviderConfig, Provider
from ._redact import redact_query_params
from ._resilience import Lane, counts_against_breaker, pooled_transport
from ._routing import (
    STRATEGIES,
    Answer,
    BackgroundRoute,
    Job,
    JobOutcome,
    Router,
    disagreements,
    no_background,
    report,
)
from ._state import SharedRedis, StateStore
from ._steps import Mode, Steps

if TYPE_CHECKING:
    from .store import Store, StoredCheck
    from .store._audit import Auditor, Tally

__all__ = ["BaseModerator", "CheckInput", "ConfigSource"]

log = logging.getLogger("moderation_core")

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | Config
CheckInput = Content | str
Clock = Callable[[], float]
Results = list[Verdict | ModerationError]
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)
ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)
R = TypeVar("R")
B = TypeVar("B")

# Batches at least this large, checked with no HTTP provider, run with the cyclic
# garbage collector paused (see _collector_paused), by a moderator that pauses it.
_PAUSE_GC_AT = 10_000
_FAIL_DECISIONS = {"allow": Decision.PASS, "review": Decision.REVIEW, "block": Decision.BLOCK}
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


_NO_CONTEXT: Final = CheckContext()


def _context(scene: str | None, sender: str | None, receiver: str | None) -> CheckContext:
    """The check's context; the one empty context when none is given (most checks),
    without making and validating a new one."""
    if scene is None and sender is None and receiver is None:
        return _NO_CONTEXT
    return CheckContext(scene, sender, receiver)


def _unlimited_text(caps: Capabilities) -> bool:
    return caps.max_text_bytes is None and caps.max_text_chars is None


def _text_limits(caps: Capabilities) -> str:
    """A provider's text limits in words, for a refusal: "500 bytes", "10000 characters"."""
    limits = [f"{caps.max_text_bytes} bytes"] if caps.max_text_bytes is not None else []
    if caps.max_text_chars is not None:
        limits.append(f"{caps.max_text_chars} characters")
    return " and ".join(limits) or "none"


class Evaluable(Protocol):
    """A message for ``_evaluate_many``: its contents and context (the worker's
    ``WorkMessage``)."""

    @property
    def contents(self) -> Sequence[CheckInput]: ...
    @property
    def scene(self) -> str | None: ...
    @property
    def sender(self) -> str | None: ...
    @property
    def receiver(self) -> str | None: ...


@attrs.frozen
class Raised:
    """What serving a plan raised, in place of its value (``_run_plans``)."""

    error: Exception


@attrs.define
class _Evaluation:
    """One message's policy flow in ``_evaluate_many``, with what the store records
    of it (``tally`` None: no store)."""

    flow: PolicyFlow[Outcome]
    context: CheckContext
    message: Any = None
    tally: Tally | None = None
    started: float = 0.0


class BaseModerator(abc.ABC, Generic[TransportT, ClientT]):
    """The moderator without its mode: ``Moderator`` and ``AsyncModerator`` add how
    jobs run and what closing waits for."""

    _mode: ClassVar[Mode]
    # Whether a large check_many with no HTTP provider pauses the cyclic collector:
    # only when the call has the process to itself (blocking).
    _pauses_collector: ClassVar[bool] = False
    # Characters of text up to which a job for a provider that sends no requests runs
    # inside the calling plan (None: any size); beyond it, as the mode runs jobs.
    _inline_chars: ClassVar[int | None] = None

    def __init__(
        self,
        config: ConfigSource | None = None,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        transport: TransportT | None = None,
        clock: Clock | None = None,
        store: Store | None = None,
    ) -> None:
        """``transport`` replaces the network for every HTTP provider (tests, the
        emulators); ``clock`` is the wall clock of policy state - mute expiry, the
        ``mute`` and ``context`` windows - and of the verdict cache's expiry
        (``time.time``; a test passes one it moves by hand). Deadlines, breakers and
        limiters keep the monotonic clock. ``store`` keeps the audit log (docs/store.md)
        instead of the one ``[store]`` opens; the caller closes it."""
        self.config = load_config(DEFAULT_CONFIG if config is None else config)
        self._settings = self.config.moderation
        self._pm = plugin_manager if plugin_manager is not None else default_plugin_manager()
        self._transport: TransportT | None = transport
        self._providers = self._build_providers()
        redact_query_params(n for p in self._providers for n in p.secret_query_params)
        split = self._settings.long_text == "split"
        # Chunks overlap by the longest keyword any local lexicon knows, at least 32.
        longest = max((int(getattr(p, "longest_keyword", 0)) for p in self._providers), default=0)
        self._router = Router(split_long_text=split, overlap=max(MIN_OVERLAP, longest))
        self._strategy = STRATEGIES[self._settings.strategy]
        # Types some provider takes whatever their size: no per-item check needed.
        self._unlimited_types = frozenset(
            kind
            for p in self._providers
            for kind in p.capabilities.content_types
            if kind is not ContentType.TEXT or split or _unlimited_text(p.capabilities)
        )
        # Providers whose last call failed: a WARNING marks the start of each streak.
        self._failing: set[str] = set()
        self._finished_hook = self._pm.hook.check_finished
        self._shadow_hook = self._pm.hook.shadow_disagreement
        self._redis = self._shared_redis()
        self._lanes = {
            p.name: Lane.build(p.name, p.config, self._redis, self._mode)
            for p in self._providers
            if isinstance(p.config, HttpProviderConfig)
        }
        self._auth_gates = {p.name: AuthGate(self._mode.lock()) for p in self._providers}
        self._clients: dict[str, ClientT] = {}
        # A batcher per batch-capable provider, of the mode's kind, made on first use.
        self._batchers: dict[str, Any] = {}
        self._policy = Policy(self.config, self._pm, clock=clock)  # [policy]
        self._state = StateStore(self._policy.redis_prefix, self._redis)
        self._cache = self._verdict_cache(clock)  # [moderation.cache]
        self._prefilter = self._prefilter_provider()  # [moderation] prefilter
        self._audit, self._owns_store = self._auditor(store)  # [store] (S1's store hook)

    def _build_providers(self) -> tuple[Provider[Any], ...]:
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
        return tuple(providers)

    def _shared_redis(self) -> SharedRedis | None:
        """The moderator's Redis client and its health, shared by its limiters, breakers
        and policy state (None without ``redis_url``)."""
        url = self._settings.redis_url
        if not url:
            return None
        return SharedRedis.connect(
            url, asynchronous=self._mode.asynchronous, on_change=shared_state_hook(self._pm)
        )

    def _verdict_cache(self, clock: Clock | None) -> VerdictCache | None:
        settings = self._settings.cache
        if settings is None:
            return None
        return VerdictCache(
            settings,
            chain_fingerprint(self.config),
            mode=self._mode,
            shared=self._redis,
            prefix=self._policy.redis_prefix,
            clock=clock,
        )

    def _prefilter_provider(self) -> Provider[Any] | None:
        """The local engine that pre-filters: the first configured ``local`` provider
        (its lexicons and allow-list), else a default one named "local"."""
        if self._settings.prefilter != "local":
            return None
        for provider in self._providers:
            if provider.provider_type == "local":
                return provider
        local = provider_registry(self._pm).get("local")
        where = self.config.where("moderation")
        provider = local.from_config(
            "local", {"type": "local"}, where, base_dir=self.config.base_dir
        )
        self._auth_gates.setdefault(provider.name, AuthGate(self._mode.lock()))
        return provider

    # -- the store's hook (docs/store.md): one audit record per check and evaluate ----

    def _auditor(self, store: Store | None) -> tuple[Auditor | None, bool]:
        """The audit log's recorder: for ``store``, else for the ``[store]`` table's
        store (opened here, closed with the moderator), else none."""
        owned = False
        if store is None:
            if not self.config.store:
                return None, False
            from .store import Store, store_settings  # noqa: PLC0415 - the optional store extra

            settings = store_settings(self.config)
            if settings is None:
                return None, False
            store = Store.open(settings, base_dir=self.config.base_dir)
            owned = True
        from .store._audit import Auditor  # noqa: PLC0415 - the optional store extra

        return Auditor(store, frozenset(self._lanes)), owned

    @property
    def store(self) -> Store | None:
        """The store keeping this moderator's audit log, or None."""
        return None if self._audit is None else self._audit.store

    def _stored(self, check_id: str) -> StoredCheck | None:
        if self._audit is None:
            raise ConfigError(
                "this moderator has no store: add a [store] table to the config "
                "(docs/store.md) or pass store="
            )
        return self._audit.store.result(check_id)

    def _close_store(self) -> None:
        if self._audit is not None and self._owns_store:
            self._audit.store.close()

    def _audited_check(
        self, items: Sequence[CheckInput], context: CheckContext, return_exceptions: bool
    ) -> Steps[Results]:
        """``check``/``check_many`` with a store: every content checked is recorded."""
        assert self._audit is not None  # noqa: S101 - called only with a store
        started = time.perf_counter()
        if not return_exceptions:
            contents: list[Content | None] = list(self._prepare(items))
            results = yield from self._verdicts(contents, context)  # type: ignore[arg-type]
        else:
            results = yield from self._each(items, context, True)
            contents = [
                None if isinstance(r, InvalidContent) else Content.coerce(item)
                for item, r in zip(items, results, strict=True)
            ]
        return self._audit.checked(contents, results, context, started)

    def _audited_evaluate(
        self, message: CheckInput | Iterable[CheckInput], context: CheckContext
    ) -> Steps[Outcome]:
        assert self._audit is not None  # noqa: S101 - called only with a store
        from .store._audit import Tally, message_contents  # noqa: PLC0415 - beside its use

        started = time.perf_counter()
        if not isinstance(message, str | Content | list | tuple):
            message = list(message)  # read twice: by policy and for the record
        tally = Tally()  # the vendor items its checks paid for
        flow = self._audit.counting(self._policy.evaluate(message, context), tally)
        try:
            outcome = yield from self._served(flow)
        except (AllProvidersFailed, ProviderError) as exc:
            self._audit.evaluated(message_contents(message), exc, context, started, tally)
            raise
        audited = self._audit.evaluated(message_contents(message), outcome, context, started, tally)
        return outcome if audited is None else audited

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

    # -- the public operations, as plans (each mode runs them) ----------------------

    def _check(
        self,
        item: CheckInput,
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
    ) -> Steps[Verdict]:
        """Check one text (a str) or Content; raises AllProvidersFailed if no provider
        could answer (unless ``fail_mode`` says otherwise)."""
        context = _context(scene, sender, receiver)
        if self._audit is not None:  # the store's hook
            return self._single((yield from self._audited_check((item,), context, False)))
        return self._single((yield from self._verdicts(self._prepare((item,)), context)))

    @overload
    def _check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[False] = ...,
    ) -> Steps[list[Verdict]]: ...
    @overload
    def _check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = ...,
        sender: str | None = ...,
        receiver: str | None = ...,
        return_exceptions: Literal[True],
    ) -> Steps[Results]: ...
    def _check_many(
        self,
        items: Iterable[CheckInput],
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
        return_exceptions: bool = False,
    ) -> Steps[list[Any]]:
        """One Verdict per input, in input order, whatever the vendors' batch limits.
        With ``return_exceptions=True`` an item no provider could check holds its
        AllProvidersFailed, and an invalid item its InvalidContent ("item N: ..."),
        instead of raising it; without, the first such error is raised."""
        items = items if isinstance(items, list | tuple) else list(items)
        if self._audit is not None:  # the store's hook
            context = _context(scene, sender, receiver)
            results = yield from self._audited_check(items, context, return_exceptions)
            return self._many(results, return_exceptions)
        context = _context(scene, sender, receiver)
        if self._pauses_collector and len(items) >= _PAUSE_GC_AT and not self._lanes:
            with _collector_paused(True):
                return (yield from self._each(items, context, return_exceptions))
        return (yield from self._each(items, context, return_exceptions))

    def _evaluate(
        self,
        message: CheckInput | Iterable[CheckInput],
        *,
        scene: str | None = None,
        sender: str | None = None,
        receiver: str | None = None,
    ) -> Steps[Outcome]:
        """Apply the ``[policy]`` to one message (a str, a Content, or several contents,
        e.g. ``Content.from_custom(...)``): an Outcome with the action, the text that may
        be delivered, the reason and the verdict (see docs/policy.md)."""
        context = _context(scene, sender, receiver)
        if self._audit is not None:  # the store's hook
            return self._audited_evaluate(message, context)
        return self._served(self._policy.evaluate(message, context))

    def _evaluate_many(self, messages: Sequence[Evaluable]) -> Steps[list[Outcome | Exception]]:
        """``evaluate`` for many messages at once (``moderation worker`` hands it what
        one fetch brought): each message's outcome, or the exception its own evaluate
        would have raised, in order. Their policy flows run side by side, and the vendor
        checks they ask for at the same step go out together, one list per context, as
        ``check_many`` would send them: one route and full vendor batches, where
        ``evaluate`` plans and calls once per message. A message's error is its own."""
        runs: list[_Evaluation | None] = []
        results: list[Outcome | Exception | None] = []
        for message in messages:
            try:
                context = _context(message.scene, message.sender, message.receiver)
                runs.append(self._evaluation(message.contents, context))
                results.append(None)
            except Exception as exc:  # a context that is not valid Unicode, say
                runs.append(None)
                results.append(exc)
        replies: dict[int, Any] = {i: None for i, run in enumerate(runs) if run is not None}
        while replies:
            requests: dict[int, PolicyRequest] = {}
            for i, reply in replies.items():
                run = runs[i]
                assert run is not None  # noqa: S101 - replies holds the running ones
                try:
                    requests[i] = run.flow.send(reply)
                except StopIteration as done:
                    results[i] = self._evaluated(run, done.value)
                except Exception as exc:
                    results[i] = self._evaluated(run, exc)
            replies = {}
            checks: dict[CheckContext, dict[int, list[Content]]] = {}
            others: dict[int, PolicyRequest] = {}
            for i, request in requests.items():
                if isinstance(request, VendorCheck):
                    checks.setdefault(request.context, {})[i] = request.contents
                else:
                    others[i] = request
            # State in Redis, and vendors, are asked at once (a round trip for all rather
            # than one each); state in memory and the local engine answer in turn, no IO.
            shared = self._redis is not None
            if others:
                plans = [self._serve(r) for r in others.values()]
                served = yield from self._at_once(plans, together=shared)
                for i, answer in zip(others, served, strict=True):
                    if isinstance(answer, Raised):
                        results[i] = self._evaluated(runs[i], answer.error, close=True)
                    else:
                        replies[i] = answer
            if checks:
                # One list per context (the vendor takes one per request): messages of
                # different senders are checked side by side, not one after another.
                plans = [self._checked_together(list(a.values()), c) for c, a in checks.items()]
                checked = yield from self._at_once(plans, together=shared or bool(self._lanes))
                for asked, answers in zip(checks.values(), checked, strict=True):
                    if isinstance(answers, Raised):
                        for i in asked:
                            results[i] = self._evaluated(runs[i], answers.error, close=True)
                    else:
                        replies.update(zip(asked, answers, strict=True))
        return [r for r in results if r is not None]

    def _at_once(self, plans: list[Steps[Any]], *, together: bool) -> Steps[list[Any]]:
        """Each plan's value, or ``Raised`` with what it raised: run as one step by the
        mode (``_run_plans``: awaited at once) when ``together``, else in turn here."""
        if together and len(plans) > 1:
            answers: list[Any] = yield functools.partial(self._run_plans, plans)
            return answers
        done: list[Any] = []
        for plan in plans:
            try:
                done.append((yield from plan))
            except Exception as exc:
                done.append(Raised(exc))
        return done

    def _evaluation(
        self, message: CheckInput | Iterable[CheckInput], context: CheckContext
    ) -> _Evaluation:
        """One message's policy flow, counted for the store when there is one (as in
        ``_audited_evaluate``)."""
        if self._audit is None:
            return _Evaluation(self._policy.evaluate(message, context), context)
        from .store._audit import Tally  # noqa: PLC0415 - beside its use, as above

        if not isinstance(message, str | Content | list | tuple):
            message = list(message)  # read twice: by policy and for the record
        tally = Tally()
        flow = self._audit.counting(self._policy.evaluate(message, context), tally)
        return _Evaluation(flow, context, message, tally, time.perf_counter())

    def _evaluated(
        self, run: _Evaluation | None, result: Outcome | Exception, *, close: bool = False
    ) -> Outcome | Exception:
        """A message's outcome or error, recorded as ``_audited_evaluate`` records it."""
        assert run is not None  # noqa: S101 - only running evaluations end
        if close:
            run.flow.close()
        audit = self._audit
        if audit is None or run.tally is None:
            return result
        from .store._audit import message_contents  # noqa: PLC0415 - beside its use, as above

        if isinstance(result, Outcome):
            recorded = audit.evaluated(
                message_contents(run.message), result, run.context, run.started, run.tally
            )
            return result if recorded is None else recorded
        if isinstance(result, AllProvidersFailed | ProviderError):
            audit.evaluated(
                message_contents(run.message), result, run.context, run.started, run.tally
            )
        return result

    def _checked_together(
        self, asked: list[list[Content]], context: CheckContext
    ) -> Steps[list[Results]]:
        """The verdicts of several messages' contents of one context, from one list of
        checks; each message's as its own check would give them. Should any content be
        refused, each message is checked on its own (a refusal names the item's index in
        its own message)."""
        try:
            contents = self._prepare([c for message in asked for c in message])
        except InvalidContent:
            each: list[Results] = []
            for message in asked:
                each.append((yield from self._each(message, context, True)))  # noqa: PERF401 - a yield
            return each
        answers = yield from self._verdicts(contents, context)
        split: list[Results] = []
        start = 0
        for message in asked:
            split.append(answers[start : start + len(message)])
            start += len(message)
        return split

    def _mute_sender(
        self,
        sender: str,
        *,
        scene: str | None = None,
        duration: float | str | None = None,
        reason: str | None = None,
    ) -> Steps[Mute]:
        """Mute a sender in one scene (None: every scene) for ``duration`` (seconds or
        "24h", at most 100 years; None: until unmuted): ``evaluate`` blocks them without
        asking a vendor. A bad duration, or a sender, scene or reason that is not a str
        of valid Unicode, is InvalidContent."""
        return self._served(self._policy.mute(sender, scene, duration, reason))

    def _unmute_sender(self, sender: str, *, scene: str | None = None) -> Steps[int]:
        """Lift the sender's mute in ``scene``, or all of theirs when scene is None;
        returns how many were lifted."""
        return self._served(self._policy.unmute(sender, scene))

    def _muted_senders(self, *, scene: str | None = None) -> Steps[list[Mute]]:
        """The senders muted now: every mute, or those recorded for ``scene``."""
        return self._served(self._policy.muted(scene))

    # -- checks ----------------------------------------------------------------------

    def _each(
        self,
        items: Sequence[CheckInput],
        context: CheckContext,
        return_exceptions: bool,
    ) -> Steps[Results]:
        """The plan for every item's verdict. Not itself a plan, so the common case
        (valid contents, errors returned) adds no generator around ``_verdicts``."""
        try:
            contents = self._prepare(items)
        except InvalidContent:
            if not return_exceptions:
                raise
            return self._each_in_place(items, context)
        if return_exceptions:
            return self._verdicts(contents, context)  # what _many would hand back
        return self._all_verdicts(contents, context)

    def _all_verdicts(self, contents: list[Content], context: CheckContext) -> Steps[Results]:
        return self._many((yield from self._verdicts(contents, context)), False)

    def _each_in_place(self, items: Sequence[CheckInput], context: CheckContext) -> Steps[Results]:
        prepared = self._prepare_each(items)
        results = yield from self._verdicts(self._valid(prepared), context)
        return self._in_place(prepared, results)

    def _verdicts(self, contents: list[Content], context: CheckContext) -> Steps[Results]:
        """Each content's verdict: blocked by the local pre-filter, from the verdict
        cache, or from the configured strategy (``_asked``)."""
        if self._cache is None and self._prefilter is None:
            return self._asked(contents, context)  # no extra generator on the hot path
        return self._filtered_or_cached(contents, context)

    def _filtered_or_cached(self, contents: list[Content], context: CheckContext) -> Steps[Results]:
        deadline = time.monotonic() + self._settings.deadline
        final: list[Verdict | ModerationError | None] = [None] * len(contents)
        if self._prefilter is not None:
            yield from self._prefiltered(contents, context, final)
        todo = [i for i, v in enumerate(final) if v is None]
        if todo:
            rest = [contents[i] for i in todo]
            ask = functools.partial(self._asked, context=context, deadline=deadline)
            if self._cache is None:
                answers = yield from ask(rest)
            else:
                answers = yield from self._cache.verdicts(rest, context.scene, deadline, ask)
            for i, answer in zip(todo, answers, strict=True):
                final[i] = answer
        results: Results = [v for v in final if v is not None]
        # Routed verdicts went to the check_finished hook in _route; these did not.
        unrouted = [
            i
            for i, v in enumerate(results)
            if isinstance(v, Verdict) and (v.cached or v.prefiltered)
        ]
        if unrouted:
            report(
                self._finished_hook,
                [contents[i] for i in unrouted],
                [results[i] for i in unrouted],
                context,
            )
        return results

    def _prefiltered(
        self,
        contents: list[Content],
        context: CheckContext,
        final: list[Verdict | ModerationError | None],
    ) -> Steps[None]:
        """Mark in ``final`` the contents the local engine BLOCKs: no vendor is asked
        about them (it could only agree or be lenient). Anything else, or a local
        failure, leaves the content to the vendors."""
        local = self._prefilter
        if local is None:
            return
        taken = [i for i, c in enumerate(contents) if local.capabilities.accepts(c)]
        if not taken:
            return
        outcome = yield from provider_steps(
            local, [contents[i] for i in taken], context, self._auth_gates[local.name], None
        )
        if isinstance(outcome, ProviderError):
            return
        for i, result in zip(taken, outcome, strict=True):
            if isinstance(result, Verdict) and result.decision is Decision.BLOCK:
                final[i] = attrs.evolve(result, prefiltered=True)

    def _asked(
        self, contents: list[Content], context: CheckContext, deadline: float | None = None
    ) -> Steps[Results]:
        """The configured strategy's verdicts; its background routes, if any, left to
        run once the caller has them."""
        route = self._route(contents, context)
        if self._strategy.background is no_background:
            return self._driven(route, context, deadline)  # no plan around the route's
        return self._with_background(contents, context, route, deadline)

    def _with_background(
        self,
        contents: list[Content],
        context: CheckContext,
        route: Generator[list[Job], list[JobOutcome], Results],
        deadline: float | None,
    ) -> Steps[Results]:
        final: Results = yield from self._driven(route, context, deadline)
        background = self._strategy.background(self._router, contents, final, self._providers)
        if background:
            self._in_background(self._compared(contents, final, background, context))
        return final

    def _verdict_with(self, only: str, item: CheckInput, context: CheckContext) -> Steps[Verdict]:
        """``check`` by one named provider (policy's merged-context check)."""
        route = self._route(self._prepare((item,)), context, self._pick((only,)))
        return self._single((yield from self._driven(route, context)))

    def _route(
        self,
        contents: list[Content],
        context: CheckContext,
        providers: tuple[Provider[Any], ...] | None = None,
    ) -> Generator[list[Job], list[JobOutcome], Results]:
        """The configured strategy's deciding route (a fallback over ``providers``
        when named), then the finishing touches: masks from keywords, fail_mode, and
        the finished-check hook."""
        if providers is None:
            answers = yield from self._strategy.decide(self._router, contents, self._providers)
        else:
            answers = yield from self._router.fallback(contents, providers)
        final = [
            self._final(content, answer) for content, answer in zip(contents, answers, strict=True)
        ]
        report(self._finished_hook, contents, final, context)
        return final

    def _driven(
        self,
        route: Generator[list[Job], list[JobOutcome], R],
        context: CheckContext,
        deadline: float | None = None,
    ) -> Steps[R]:
        """A route run to its answer within the check's deadline (from now, unless
        given): each list of jobs it asks for is one step (the mode runs the jobs one
        after another, or at once), unless the plan runs them itself (``_inline``)."""
        if deadline is None:
            deadline = time.monotonic() + self._settings.deadline
        outcomes: list[JobOutcome] | None = None
        while True:
            try:
                jobs = next(route) if outcomes is None else route.send(outcomes)
            except StopIteration as done:
                answer: R = done.value
                return answer
            if self._inline(jobs):
                ran = []
                for job in jobs:
                    outcome = yield from self._inline_job(job, context, deadline)
                    ran.append(outcome)
            else:
                ran = yield functools.partial(self._run_jobs, jobs, context, deadline)
            outcomes = self._note_outcomes(jobs, ran)

    def _inline(self, jobs: list[Job]) -> bool:
        """Whether the jobs run inside the plan, one after another, rather than as a step
        the mode runs (``_run_jobs``): the same plans, without a step, a runner and a
        task or two per job. So is every job that needs nothing else of the mode - no
        retries (the mode sleeps between them), no batcher, no worker thread for a long
        text (more than the mode's ``_inline_chars``) - when the mode would run them one
        after another anyway: a blocking moderator always, an async one when there is
        a single job or none of them sends a request (nothing to wait for at once)."""
        lanes = self._lanes
        most = self._inline_chars
        alone = len(jobs) == 1 or not self._mode.asynchronous
        for job in jobs:
            lane = lanes.get(job.provider.name)
            if lane is not None:
                if not alone or lane.retries or self._batchable(job, lane):
                    return False
            elif most is not None:
                size = 0
                for content in job.contents:
                    size += len(content.value)
                if size > most:
                    return False
        return True

    def _inline_job(self, job: Job, context: CheckContext, deadline: float) -> Steps[JobOutcome]:
        """The plan for one job's outcome, run inside the calling plan (see ``_inline``)."""
        lane = self._lanes.get(job.provider.name)
        if lane is None:
            return self._unlaned(job, context)
        return self._inline_attempt(job, context, lane, deadline)

    def _inline_attempt(
        self, job: Job, context: CheckContext, lane: Lane, deadline: float
    ) -> Steps[JobOutcome]:
        try:
            return (yield from self._attempt(job, context, lane, deadline))
        except ProviderError as exc:
            return exc

    def _compared(
        self,
        contents: list[Content],
        final: Results,
        background: list[BackgroundRoute],
        context: CheckContext,
    ) -> Steps[None]:
        for planned in background:
            try:
                answers = yield from self._driven(planned.route, context)
                self._compare(contents, final, planned.indexes, answers, context)
            except Exception:  # a background check must never hurt the caller
                log.exception("shadow check failed")

    def _compare(
        self,
        contents: list[Content],
        final: Results,
        indexes: list[int],
        answers: list[Answer],
        context: CheckContext,
    ) -> None:
        found = disagreements([contents[i] for i in indexes], [final[i] for i in indexes], answers)
        for content, verdict, shadow in found:
            self._shadow_hook(content=content, verdict=verdict, shadow=shadow, context=context)

    # -- one provider call -----------------------------------------------------------

    def _unlaned(
        self, job: Job, context: CheckContext, gate: AuthGate | None = None
    ) -> Steps[JobOutcome]:
        """A call to a provider that sends no requests: nothing to limit, break, batch
        or retry."""
        provider = job.provider
        gate = self._auth_gates[provider.name] if gate is None else gate
        return provider_steps(provider, job.contents, context, gate, None)

    def _attempt(
        self, job: Job, context: CheckContext, lane: Lane, deadline: float
    ) -> Steps[JobOutcome]:
        """One try of an HTTP provider's call: deadline, breaker, in-flight gate, the
        call, the breaker's record. Raises the ProviderError (for the retries)."""
        provider = job.provider
        if time.monotonic() >= deadline:
            raise ProviderUnavailable("the check's deadline passed", provider=provider.name)
        yield from lane.breaker.before()
        client = self._client(provider, lane)
        via = Connection(client, lane.timeout, lane.limiter, deadline, lane.timer)
        yield lane.gate.acquire
        try:
            outcome = yield from provider_steps(
                provider, job.contents, context, self._auth_gates[provider.name], via
            )
        finally:
            lane.gate.release()
        if isinstance(outcome, ProviderError):
            lane.pushed_back(outcome)
            if counts_against_breaker(outcome):
                yield from lane.breaker.after(ok=False)
            raise outcome
        yield from lane.breaker.after(ok=True)
        return outcome

    def _batchable(self, job: Job, lane: Lane) -> bool:
        """Whether a job may wait to share a batch request with concurrent checks:
        batching is on, the provider batches, and the job is a caller's few whole
        contents (not a long text's chunks) with room left in a batch."""
        caps = job.provider.capabilities
        return (
            self._settings.batch_window > 0
            and caps.batch_size > 1
            and job.offsets is None
            and len(job.contents) < caps.batch_size
            and all(c.type in caps.batch_types for c in job.contents)
        )

    def _batcher(self, job: Job, make: Callable[[Provider[Any], float], B]) -> B:
        """The one batcher of the job's provider, made by ``make(provider,
        batch_window)`` on first use; setdefault is atomic, so threads racing here all
        get the one batcher."""
        name = job.provider.name
        batcher: B | None = self._batchers.get(name)
        if batcher is None:
            made = make(job.provider, self._settings.batch_window)
            batcher = self._batchers.setdefault(name, made)
        return batcher

    def _client(self, provider: Provider[Any], lane: Lane) -> ClientT:
        client = self._clients.get(provider.name)
        if client is None:
            # The lane's gate keeps in-flight requests low; a pool no larger than the
            # gate ever lets out keeps httpcore's per-request scan of its connections
            # short (the driver times each answer for a derived in-flight cap).
            size = lane.max_in_flight
            transport = self._transport
            if transport is None:  # past one small pool: several (_resilience.POOL_SIZE)
                transport = pooled_transport(size, self._mode.asynchronous, lane.in_flight)
            client = self._clients[provider.name] = self._open_client(
                timeout=lane.timeout,
                transport=transport,
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            )
        return client

    # -- policy's requests -----------------------------------------------------------

    def _served(self, flow: PolicyFlow[R]) -> Steps[R]:
        """Run a policy flow, serving each request it yields."""
        reply: Any = None
        while True:
            try:
                request = flow.send(reply)
            except StopIteration as done:
                answer: R = done.value
                return answer
            reply = yield from self._serve(request)

    def _serve(self, request: PolicyRequest) -> Steps[Any]:
        """The plan that answers one request (no plan of its own around it)."""
        if isinstance(request, VendorCheck):
            return self._each(request.contents, request.context, True)
        if isinstance(request, ContextCheck):
            return self._context_checked(request)
        return self._state.apply(request)

    def _context_checked(self, request: ContextCheck) -> Steps[Verdict | None]:
        try:
            return (yield from self._verdict_with(request.provider, request.text, request.context))
        except ModerationError as exc:
            log.warning("context check with %s failed: %s", request.provider, exc)
            return None

    # -- contents in, verdicts out (no IO) -------------------------------------------

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
    def _in_place(prepared: list[Content | InvalidContent], results: Results) -> Results:
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
        limits = ", ".join(f"{p.name}: {_text_limits(p.capabilities)}" for p in takers)
        return (
            f"text of {size} UTF-8 bytes is over every provider's limit ({limits}; it has "
            f"{len(content.value)} characters) "
            'and long_text = "reject"'
        )

    def _pick(self, only: Iterable[str]) -> tuple[Provider[Any], ...]:
        wanted = set(only)
        picked = tuple(p for p in self._providers if p.name in wanted)
        missing = wanted.difference(p.name for p in picked)
        if missing:
            raise ConfigError(f"no configured provider named {', '.join(sorted(missing))}")
        return picked

    def _final(self, content: Content, answer: Answer) -> Verdict | ModerationError:
        if isinstance(answer, Verdict):
            return self._masked(content, answer)
        return self._all_failed(answer, content.id)

    @staticmethod
    def _masked(content: Content, verdict: Verdict) -> Verdict:
        """The verdict with a mask when the vendor gave keywords but no masked text."""
        if verdict.keywords and verdict.masked_text is None and content.type is ContentType.TEXT:
            return attrs.evolve(verdict, masked_text=mask_keywords(content.value, verdict.keywords))
        return verdict

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

    @staticmethod
    def _single(results: Results) -> Verdict:
        (result,) = results
        if isinstance(result, ModerationError):
            raise result
        return result

    @staticmethod
    def _many(results: Results, return_exceptions: bool) -> Results:
        if not return_exceptions:
            failed = [r for r in results if isinstance(r, ModerationError)]
            if failed:
                raise failed[0]
        return results

    def _close_providers(self) -> None:
        for provider in self._providers:
            provider.close()

    # -- what each mode does ---------------------------------------------------------

    @abc.abstractmethod
    def _run_jobs(self, jobs: list[Job], context: CheckContext, deadline: float) -> Any:
        """A step: every job's outcome, in order (blocking: a list; async: awaitable)."""

    @abc.abstractmethod
    def _run_plans(self, plans: list[Steps[Any]]) -> Any:
        """A step: every plan's value, or ``Raised`` with what it raised, in order
        (blocking: one after another; async: at once)."""

    @abc.abstractmethod
    def _in_background(self, steps: Steps[None]) -> None:
        """Run a plan after the caller has its answer (shadow checks)."""

    @abc.abstractmethod
    def _open_client(self, **options: Any) -> ClientT:
        """A new HTTP client of this mode."""
