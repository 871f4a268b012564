"""The provider conformance check: what every provider owes the core, checked against
the provider's own emulator through the public ``Moderator`` and ``AsyncModerator``.

Each check is one function taking the run's shared state and returning a
``CheckResult``; ``check_provider`` runs them all and never raises for a provider
that misbehaves (it reports), so one report shows every problem at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import attrs
import httpx
import pluggy

from moderation_core._async import AsyncModerator
from moderation_core._config import looks_like_credential_key
from moderation_core._errors import (
    AllProvidersFailed,
    AuthError,
    ModerationError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from moderation_core._model import Content, ContentType, Decision, Secret, Verdict
from moderation_core._plugins import (
    default_plugin_manager,
    hookimpl,
    make_plugin_manager,
    provider_registry,
    register_plugin,
)
from moderation_core._provider import Capabilities, Emulator, HttpProviderConfig, Provider
from moderation_core._redact import _spellings, scrub_secrets
from moderation_core._sync import Moderator

from ._tools import RecordingTransport

__all__ = [
    "DEFAULT_SAMPLES",
    "CheckResult",
    "ConformanceReport",
    "assert_conforms",
    "check_provider",
]

# Texts that some emulator flags and some passes: the built-in emulators' and the
# example plugin's. A plugin whose emulator judges them all alike passes its own.
DEFAULT_SAMPLES = ("hello", "you idiot", "buy now", "傻逼", "加我微信 abc123", "stupid")
NAME = "under_test"  # the provider's name in the configs the check builds
_MEDIA_URLS = {
    ContentType.IMAGE: "https://example.com/conformance.png",
    ContentType.AUDIO: "https://example.com/conformance.mp3",
    ContentType.VIDEO: "https://example.com/conformance.mp4",
}
_NO_HTTP = "credential refresh and answers to faults"
_MIN_SECRET = 6  # shorter values match ordinary text by chance

Outcome = Literal["passed", "failed", "skipped"]
Result = Verdict | ModerationError


@attrs.frozen
class CheckResult:
    """One conformance check: ``outcome`` and, unless it passed, why."""

    name: str
    outcome: Outcome
    detail: str = ""


@attrs.frozen
class ConformanceReport:
    """Every check's result; ``ok`` when none failed. ``str(report)`` is one line a
    check, for a test's failure message."""

    provider_type: str
    results: tuple[CheckResult, ...]

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.outcome == "failed")

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        lines = [f"conformance of provider type {self.provider_type!r}:"]
        for result in self.results:
            detail = f": {result.detail}" if result.detail else ""
            lines.append(f"  {result.outcome.upper():7} {result.name}{detail}")
        return "\n".join(lines)


# -- the fake vendor the checks talk to --------------------------------------------------


class _Vendor:
    """The emulator, replaceable mid-run: a fresh one knows none of the credentials
    the last one issued, which is what a vendor expiring a token looks like."""

    def __init__(self, factory: Callable[[], Emulator]) -> None:
        self.factory = factory
        self.current = factory()
        self.fresh_each_request = False
        self.fault: _Fault | None = None

    def renew(self) -> None:
        self.current = self.factory()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.fresh_each_request:
            self.renew()
        if self.fault is not None:
            return self.fault.answer(self, request)
        return self.current(request)


@attrs.frozen
class _Fault:
    name: str
    answer: Callable[[_Vendor, httpx.Request], httpx.Response]
    expected: type[ProviderError] = ProviderError


def _status(code: int, **kwargs: Any) -> Callable[[_Vendor, httpx.Request], httpx.Response]:
    return lambda _vendor, _request: httpx.Response(code, **kwargs)


def _truncated(vendor: _Vendor, request: httpx.Request) -> httpx.Response:
    real = vendor.current(request)
    return httpx.Response(
        real.status_code, headers={"Content-Type": "application/json"}, content=real.content[:-1]
    )


def _raising(
    error: type[httpx.TransportError],
) -> Callable[[_Vendor, httpx.Request], httpx.Response]:
    def answer(_vendor: _Vendor, request: httpx.Request) -> httpx.Response:
        raise error("injected by the conformance check", request=request)

    return answer


_FAULTS = (
    _Fault("HTTP 500", _status(500, text="internal error"), ProviderUnavailable),
    _Fault("HTTP 502", _status(502, text="bad gateway"), ProviderUnavailable),
    _Fault("HTTP 503", _status(503, text="unavailable"), ProviderUnavailable),
    _Fault(
        "HTTP 429",
        _status(429, headers={"Retry-After": "1"}, json={"error": "slow down"}),
        RateLimited,
    ),
    _Fault("HTTP 401", _status(401, json={"error": "unauthorized"})),
    _Fault("HTTP 404", _status(404, text="not found")),
    _Fault("a body that is not JSON", _status(200, text="<html>oops</html>")),
    _Fault("an empty body", _status(200, content=b"")),
    _Fault("JSON null", _status(200, content=b"null")),
    _Fault("an empty JSON object", _status(200, json={})),
    _Fault("an empty JSON list", _status(200, json=[])),
    _Fault("a truncated answer", _truncated),
    _Fault("a refused connection", _raising(httpx.ConnectError), ProviderUnavailable),
    _Fault("a read timeout", _raising(httpx.ReadTimeout), ProviderUnavailable),
)


class _Registers:
    """A plugin registering one provider class, for a check run before installing it."""

    def __init__(self, provider_class: type[Provider[Any]]) -> None:
        self.provider_class = provider_class

    @hookimpl
    def register_providers(self, registry: Any) -> None:
        registry.add(self.provider_class)


# -- what the checks share ---------------------------------------------------------------


class _LogTexts(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(f"{record.name}: {record.getMessage()} {record.exc_text or ''}")


@attrs.define
class _Run:
    table: dict[str, Any]
    plugin_manager: pluggy.PluginManager
    factory: Callable[[], Emulator] | None
    samples: tuple[str, ...]
    item_error: str | None
    seen_errors: list[BaseException] = attrs.field(factory=list)
    seen_requests: list[httpx.Request] = attrs.field(factory=list)
    reprs: list[str] = attrs.field(factory=list)

    def config(self) -> dict[str, Any]:
        return {
            "moderation": {"providers": [NAME], "strategy": "fallback", "fail_mode": "raise"},
            "providers": {NAME: self.table},
        }

    @contextmanager
    def moderator(self, vendor: _Vendor | None = None) -> Iterator[Moderator]:
        transport = RecordingTransport(vendor) if vendor is not None else None
        try:
            with Moderator(
                self.config(), plugin_manager=self.plugin_manager, transport=transport
            ) as mod:
                provider = mod.providers[0]
                self.reprs += [repr(provider), repr(provider.config), repr(provider.describe())]
                yield mod
        finally:
            if transport is not None:
                self.seen_requests += transport.requests

    def vendor(self) -> _Vendor | None:
        return _Vendor(self.factory) if self.factory is not None else None

    def check(self, mod: Moderator, item: str | Content) -> Result:
        try:
            return mod.check(item)
        except ModerationError as exc:
            self.seen_errors.append(exc)
            return exc

    def check_many(self, mod: Moderator, items: Sequence[Content]) -> list[Result]:
        results = mod.check_many(items, return_exceptions=True)
        self.seen_errors += [r for r in results if isinstance(r, BaseException)]
        return results


def _judgement(result: Result) -> tuple[Decision, str] | str:
    if isinstance(result, Verdict):
        return (result.decision, result.label.value)
    return f"{type(result).__name__}: {result}"


def _provider_errors(result: Result) -> tuple[ProviderError, ...] | None:
    if isinstance(result, AllProvidersFailed):
        return result.exceptions
    return None


# -- the checks --------------------------------------------------------------------------


def _check_capabilities(run: _Run) -> CheckResult:
    name = "capabilities are a stable Capabilities and describe() is plain data"
    with run.moderator(run.vendor()) as mod:
        provider = mod.providers[0]
        caps = provider.capabilities
        problems = []
        if not isinstance(caps, Capabilities):
            return CheckResult(name, "failed", f"capabilities is a {type(caps).__name__}")
        if provider.capabilities != caps:
            problems.append("capabilities changes between reads")
        if not caps.content_types:
            problems.append("content_types is empty")
        if caps.batch_size < 1:
            problems.append(f"batch_size is {caps.batch_size}")
        problems += [
            f"{field} holds types outside content_types"
            for field in ("batch_types", "deferred_types")
            if not getattr(caps, field) <= caps.content_types
        ]
        try:
            json.dumps(dict(provider.describe()))
        except (TypeError, ValueError) as exc:
            problems.append(f"describe() is not JSON-serializable ({exc})")
    return CheckResult(name, "failed" if problems else "passed", "; ".join(problems))


def _check_content_types(run: _Run) -> CheckResult:
    name = "every declared content type gets a verdict; deferred ones are PENDING"
    problems = []
    with run.moderator(run.vendor()) as mod:
        caps = mod.providers[0].capabilities
        items: list[Content] = []
        for kind in sorted(caps.content_types, key=lambda k: k.value):
            if kind is ContentType.TEXT:
                items.append(Content.text(run.samples[0]))
                if caps.max_text_bytes is not None:
                    items.append(Content.text("a" * caps.max_text_bytes))
                items += _text_at_char_limit(caps)
            else:
                items.append(Content(kind, _MEDIA_URLS[kind]))
        for item in items:
            result = run.check(mod, item)
            size = f"{len(item.value.encode())} bytes"
            if item.type is ContentType.TEXT:
                size = f"{len(item.value)} characters, {size}"
            what = f"{item.type.value} of {size}"
            if not isinstance(result, Verdict):
                problems.append(f"{what}: {_judgement(result)}")
            elif item.type in caps.deferred_types and result.decision is not Decision.PENDING:
                problems.append(f"{what} is a deferred type but got {result.decision.value}")
            elif result.decision is Decision.PENDING and not result.request_id:
                problems.append(f"{what}: PENDING without a request_id to match the webhook")
    return CheckResult(name, "failed" if problems else "passed", "; ".join(problems))


def _text_at_char_limit(caps: Capabilities) -> list[Content]:
    """A text of exactly ``max_text_chars``, when declared: Chinese if the byte limit
    allows it (a vendor counting bytes where the provider declares characters then
    fails it), else ASCII; none when the byte limit is the tighter even for ASCII."""
    if caps.max_text_chars is None:
        return []
    for char in ("字", "a"):
        text = Content.text(char * caps.max_text_chars)
        if caps.accepts(text):
            return [text]
    return []


def _check_batch_order(run: _Run) -> CheckResult:
    name = "a batch answers each content in place, as it would alone"
    with run.moderator(run.vendor()) as mod:
        caps = mod.providers[0].capabilities
        alone = {text: _judgement(run.check(mod, text)) for text in run.samples}
        if len(set(map(str, alone.values()))) < 2:
            return CheckResult(
                name,
                "failed",
                f"the samples all got {next(iter(alone.values()))}; pass samples= that the "
                "emulator judges differently",
            )
        # Longer than one batch, in an order unlike the samples'.
        count = max(min(caps.batch_size + 1, 64), 2 * len(run.samples))
        texts = [run.samples[(i * 7 + 3) % len(run.samples)] for i in range(count)]
        items = [Content.text(text, id=f"item-{i}") for i, text in enumerate(texts)]
        results = run.check_many(mod, items)
    problems = []
    for item, result in zip(items, results, strict=True):
        if not isinstance(result, Verdict):
            problems.append(f"{item.id}: {_judgement(result)}")
        elif _judgement(result) != alone[item.value]:
            problems.append(f"{item.id} got {_judgement(result)}, alone {alone[item.value]}")
        elif (result.content_id, result.provider) != (item.id, NAME):
            problems.append(f"{item.id} came back as {result.content_id!r} from {result.provider}")
    return CheckResult(name, "failed" if problems else "passed", "; ".join(problems[:5]))


def _check_item_error(run: _Run) -> CheckResult:
    name = "a per-item error is a ProviderError in its own place"
    if run.item_error is None:
        return CheckResult(name, "skipped", "pass item_error= a text the emulator fails alone")
    with run.moderator(run.vendor()) as mod:
        texts = [run.samples[0], run.item_error, run.samples[0]]
        items = [Content.text(text, id=i) for i, text in enumerate(texts)]
        results = run.check_many(mod, items)
    problems = []
    errors = _provider_errors(results[1])
    if errors is None or not all(e.provider == NAME for e in errors):
        problems.append(f"the failing item got {_judgement(results[1])}")
    for index in (0, 2):
        result = results[index]
        if not isinstance(result, Verdict) or result.content_id != index:
            problems.append(f"item {index} next to it got {_judgement(result)}")
    return CheckResult(name, "failed" if problems else "passed", "; ".join(problems))


def _check_credentials(run: _Run, factory: Callable[[], Emulator]) -> CheckResult:
    name = "a refused credential is fetched again once; refused twice is an AuthError"
    vendor = _Vendor(factory)
    transport = RecordingTransport(vendor)
    with Moderator(run.config(), plugin_manager=run.plugin_manager, transport=transport) as mod:
        provider = mod.providers[0]
        if not provider.needs_credentials():
            return CheckResult(name, "skipped", "needs_credentials() is False before any check")
        first = run.check(mod, run.samples[0])
        if not isinstance(first, Verdict) or provider.needs_credentials():
            return CheckResult(name, "failed", f"the first check got {_judgement(first)}")
        transport.clear()
        run.check(mod, run.samples[0])
        usual = len(transport.exchanges)
        vendor.renew()  # forgets the credential the provider holds
        transport.clear()
        again = run.check(mod, run.samples[0])
        refreshed = len(transport.exchanges)
        run.seen_requests += transport.requests
        vendor.fresh_each_request = True  # refuses every credential
        refused = run.check(mod, run.samples[0])
    if not isinstance(again, Verdict):
        return CheckResult(name, "failed", f"after a refusal the check got {_judgement(again)}")
    if refreshed <= usual:
        return CheckResult(name, "failed", "the emulator's refusal went unnoticed")
    errors = _provider_errors(refused)
    if errors is None or not all(isinstance(e, AuthError) for e in errors):
        return CheckResult(name, "failed", f"refused twice, the check got {_judgement(refused)}")
    return CheckResult(name, "passed")


def _check_faults(run: _Run, factory: Callable[[], Emulator]) -> list[CheckResult]:
    results = []
    for fault in _FAULTS:
        name = f"{fault.name} is a {fault.expected.__name__}, never a verdict"
        vendor = _Vendor(factory)
        with run.moderator(vendor) as mod:
            vendor.fault = fault
            result = run.check(mod, run.samples[0])
        errors = _provider_errors(result)
        if isinstance(result, Verdict):
            detail = f"fails open: answered {_judgement(result)}"
        elif errors is None:
            detail = f"raised {_judgement(result)}"
        elif not all(isinstance(e, fault.expected) and e.provider == NAME for e in errors):
            detail = "got " + ", ".join(f"{type(e).__name__}: {e}" for e in errors)
        else:
            detail = ""
        results.append(CheckResult(name, "failed" if detail else "passed", detail))
    return results


def _check_async(run: _Run) -> CheckResult:
    name = "AsyncModerator gives the verdicts Moderator gives"
    with run.moderator(run.vendor()) as mod:
        items = [Content.text(text, id=i) for i, text in enumerate(run.samples)]
        expected = [_judgement(r) for r in run.check_many(mod, items)]
    vendor = run.vendor()
    transport = RecordingTransport(vendor) if vendor is not None else None

    async def check_async() -> list[Result]:
        async with AsyncModerator(
            run.config(), plugin_manager=run.plugin_manager, transport=transport
        ) as amod:
            return await amod.check_many(items, return_exceptions=True)

    # In a thread of its own: the caller may already run an event loop (an async test).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        got = [_judgement(r) for r in pool.submit(asyncio.run, check_async()).result()]
    if transport is not None:
        run.seen_requests += transport.requests
    if got != expected:
        return CheckResult(name, "failed", f"async {got}, sync {expected}")
    return CheckResult(name, "passed")


# -- secrets -----------------------------------------------------------------------------


def _config_secrets(value: object, depth: int = 0) -> Iterator[str]:
    cls = type(value)
    if isinstance(value, Secret):
        yield value.get()
    elif attrs.has(cls) and depth < 8:
        for field in attrs.fields(cls):
            yield from _config_secrets(getattr(value, field.name), depth + 1)


def _traffic_secrets(requests: Sequence[httpx.Request], query_params: Sequence[str]) -> set[str]:
    found = set()
    for request in requests:
        authorization = request.headers.get("Authorization")
        if authorization:
            found |= {authorization, authorization.split()[-1]}
        found |= {v for k, v in request.url.params.multi_items() if k in query_params}
    return found


def _exception_texts(exc: BaseException, seen: set[int]) -> Iterator[str]:
    if id(exc) in seen:
        return
    seen.add(id(exc))
    yield from (str(exc), repr(exc), *map(repr, exc.args), *getattr(exc, "__notes__", ()))
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            yield from _exception_texts(linked, seen)
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _exception_texts(inner, seen)


def _secrets(run: _Run, provider: Provider[Any]) -> set[str]:
    """Every credential the run could leak: the config's and the ones it sent."""
    table = {v for k, v in run.table.items() if looks_like_credential_key(k) and isinstance(v, str)}
    found = (
        table
        | set(_config_secrets(provider.config))
        | _traffic_secrets(run.seen_requests, provider.secret_query_params)
    )
    return {s for s in found if len(s) >= _MIN_SECRET}


def _check_secrets(run: _Run, secrets: set[str], logs: Sequence[str]) -> CheckResult:
    name = "no secret in a repr, a log line or an exception"
    seen: set[int] = set()
    sinks = {
        "a repr": run.reprs,
        "a log line": logs,
        "an exception": [t for e in run.seen_errors for t in _exception_texts(e, seen)],
    }
    spellings = {form for secret in secrets for form in _spellings(secret)}
    for where, texts in sinks.items():
        for text in texts:
            if any(form in text for form in spellings):
                return CheckResult(name, "failed", f"a secret is in {where}: {text[:200]}")
    return CheckResult(name, "passed", "" if secrets else "no secret found to look for")


@contextmanager
def _captured_logs() -> Iterator[list[str]]:
    handler = _LogTexts()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.texts
    finally:
        root.setLevel(level)
        root.removeHandler(handler)


# -- the entry point ---------------------------------------------------------------------


def check_provider(
    config: Mapping[str, Any],
    *,
    emulator: Callable[[], Emulator] | None = None,
    samples: Sequence[str] = DEFAULT_SAMPLES,
    item_error: str | None = None,
    provider_class: type[Provider[Any]] | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
) -> ConformanceReport:
    """Check a provider against its emulator and report every finding.

    ``config`` is the provider's table (``{"type": "acme", "api_key": "demo-key"}``).
    ``emulator`` makes a fresh fake vendor (default: the provider class's
    ``emulator_factory()``); an HTTP provider without one fails the check.
    ``samples`` are texts the emulator judges in at least two different ways;
    ``item_error`` a text it fails on its own inside a batch (else that check is
    skipped). The provider class comes from ``provider_class`` or the plugins
    installed (``plugin_manager``, default: the process-wide one).
    """
    if provider_class is not None:
        pm = make_plugin_manager(load_entrypoints=False)
        register_plugin(pm, _Registers(provider_class))
    else:
        pm = plugin_manager if plugin_manager is not None else default_plugin_manager()
        provider_class = provider_registry(pm).get(str(config.get("type")))
    kind = provider_class.provider_type
    table = dict(config)
    factory = None
    if issubclass(provider_class.config_class, HttpProviderConfig):
        table.setdefault("rate_limit", 0)  # no pacing: the check sends a few hundred requests
        factory = emulator or _default_factory(provider_class)
        if factory is None:
            failed = CheckResult(
                "an HTTP provider comes with an emulator",
                "failed",
                "set emulator_factory on the class or pass emulator=",
            )
            return ConformanceReport(kind, (failed,))
    provider = provider_class.from_config(NAME, table, "<conformance>")
    run = _Run(table, pm, factory, tuple(samples), item_error)
    with _captured_logs() as logs:
        results = [
            _check_capabilities(run),
            _check_content_types(run),
            _check_batch_order(run),
            _check_item_error(run),
        ]
        if factory is None:
            results.append(CheckResult(_NO_HTTP, "skipped", "not an HTTP provider"))
        else:
            results += [_check_credentials(run, factory), *_check_faults(run, factory)]
        results.append(_check_async(run))
    secrets = _secrets(run, provider)
    results.append(_check_secrets(run, secrets, logs))
    # The report is printed by tests: it quotes errors, never the secrets in them.
    shown = [attrs.evolve(r, detail=scrub_secrets(r.detail, secrets)) for r in results]
    return ConformanceReport(kind, tuple(shown))


def assert_conforms(config: Mapping[str, Any], **options: Any) -> ConformanceReport:
    """``check_provider`` for a test: raises AssertionError with the whole report when
    a check failed, else returns it."""
    report = check_provider(config, **options)
    if not report.ok:
        raise AssertionError(str(report))
    return report


def _default_factory(provider_class: type[Provider[Any]]) -> Callable[[], Emulator] | None:
    return provider_class.emulator_factory
