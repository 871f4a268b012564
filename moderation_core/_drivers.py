"""Where a provider's flows meet the network, written once as a step plan
(``_steps``): ``provider_steps`` yields the HTTP sends, lock takes and rate-limit waits
and the moderator runs it blocking or awaited.

It turns transport failures into ``ProviderUnavailable`` and a provider's parse
failure into ``ProtocolError``, and names only the host (never a URL: Tencent puts the
UserSig in the query string).

Credentials that cost a request (an app token) are fetched by the provider's
``credentials_flow`` under a per-provider lock, so concurrent checks share one fetch. A
check flow that finds its credential refused raises ``StaleCredentials``; the driver
fetches once more and re-runs the check once; a second refusal is an ``AuthError``.

Every verdict a flow returns leaves here stamped with the provider's configured name
and the caller's content id (``_checked``): a provider never has to set them.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import cattrs
import httpx

from ._errors import AuthError, ProtocolError, ProviderError, ProviderUnavailable
from ._model import CheckContext, Content, Verdict
from ._provider import ItemResult, Provider, StaleCredentials
from ._steps import Gate, Steps

if TYPE_CHECKING:
    from ._resilience import Limiter, Timer

__all__ = ["AuthGate", "Connection", "JobOutcome", "provider_steps"]

# A provider call's outcome: one result per content, or the error that failed it all.
JobOutcome = list[ItemResult] | ProviderError
HttpClient = httpx.Client | httpx.AsyncClient

log = logging.getLogger("moderation_core")

# What a provider's parsing raises when a vendor sends a shape it did not expect
# (cattrs' validation errors are ExceptionGroups, not ValueErrors).
_PARSE_ERRORS = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    cattrs.BaseValidationError,
)

_AnyFlow = Generator[httpx.Request, httpx.Response, Any]


def _transport_error(exc: httpx.HTTPError, request: httpx.Request, provider: str) -> ProviderError:
    host = request.url.host or "the vendor"
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailable(f"timed out waiting for {host}", provider=provider)
    return ProviderUnavailable(f"could not reach {host}: {type(exc).__name__}", provider=provider)


def _parse_error(exc: Exception, provider: str) -> ProtocolError:
    # The exception text and its frames may quote the vendor's body or hold the request
    # URL; keep only its kind, in the message and in the log.
    log.debug("provider %s could not parse a response (%s)", provider, type(exc).__name__)
    return ProtocolError(
        f"could not read the vendor's answer ({type(exc).__name__})", provider=provider
    )


def _checked(results: list[ItemResult], contents: Sequence[Content], provider: str) -> JobOutcome:
    """The flow's results, one per content, each stamped with what the core knows and
    a provider need not: the provider's configured name and the caller's content id.
    This is the one place results come back from a provider, so every strategy's
    tie-breaking and shadow comparison can rely on ``Verdict.provider``."""
    if len(results) != len(contents):
        return ProtocolError(
            f"provider returned {len(results)} results for {len(contents)} contents",
            provider=provider,
        )
    stamped: list[ItemResult] | None = None  # a copy, made only if something changes
    for index, result in enumerate(results):
        if isinstance(result, Verdict):
            content_id = contents[index].id
            if result.provider != provider or result.content_id != content_id:
                stamped = list(results) if stamped is None else stamped
                stamped[index] = attrs.evolve(result, provider=provider, content_id=content_id)
        elif isinstance(result, ProviderError) and result.provider is None:
            result.provider = provider
    return results if stamped is None else stamped


@functools.lru_cache(maxsize=64)
def _timeouts(timeout: float) -> dict[str, float | None]:
    """httpx's four timeouts for one number of seconds (made once per provider timeout,
    not per request; read only)."""
    return httpx.Timeout(timeout).as_dict()


def _bounded(request: httpx.Request, timeout: float, deadline: float | None) -> httpx.Request:
    """Give the request the provider's timeout (a request built by hand has none, and
    ``Client.send`` does not add the client's), capped at what is left of the check's
    deadline."""
    timeouts = request.extensions.get("timeout")
    if timeouts is None:
        timeouts = _timeouts(timeout)
        if deadline is None:
            timeouts = dict(timeouts)  # the request's own, not the shared one
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProviderUnavailable("the check's deadline passed before this request")
        timeouts = {k: left if v is None or v > left else v for k, v in timeouts.items()}
    request.extensions["timeout"] = timeouts
    return request


@attrs.frozen
class _Failed:
    """What a flow run ended with instead of a value."""

    error: ProviderError | StaleCredentials


def _failure(exc: Exception, provider: str) -> _Failed:
    if isinstance(exc, ProviderError):
        if exc.provider is None:
            exc.provider = provider
        return _Failed(exc)
    if isinstance(exc, StaleCredentials):
        return _Failed(exc)  # provider_steps refreshes and runs the check again
    if isinstance(exc, RecursionError):
        # A body like b"[" * 1000 makes json and cattrs recurse until Python gives up.
        return _Failed(
            ProtocolError("the vendor's answer is nested too deeply to read", provider=provider)
        )
    return _Failed(_parse_error(exc, provider))


def _raised(failed: _Failed) -> ProviderError | StaleCredentials:
    """The error, cut loose from where it came from. Its traceback holds the frames of
    the provider's flow and its chain the httpx error, both with the request's URL (a
    UserSig in Tencent's query string); error trackers record every frame's locals and
    the whole chain. Messages are secret-free by design, so the message is kept."""
    error = failed.error
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error.with_traceback(None)


# Raised by a flow or the transport and turned into a _Failed; anything else is a bug
# and keeps its traceback.
_MAPPED = (ProviderError, StaleCredentials, RecursionError, *_PARSE_ERRORS)


@attrs.define
class Connection:
    """How an HTTP provider's requests go out: its client, its timeout, its rate
    limiter, the check's deadline (monotonic seconds), which caps every timeout, and
    what times each answer for a derived in-flight cap (``_resilience.Timer``; None for
    a fixed cap). Built for every call, so not frozen: a frozen attrs class takes ~3x
    as long to make."""

    client: HttpClient
    timeout: float
    limiter: Limiter | None
    deadline: float
    timer: Timer | None = None


def _exchange(flow: _AnyFlow, provider: str, via: Connection | None) -> Steps[Any]:
    """Drive one flow: its value, or a _Failed."""
    request: httpx.Request | None = None
    response: httpx.Response | None = None
    try:
        request = next(flow)
        if via is None:
            raise RuntimeError(
                f"provider {provider} sent a request, but only a provider whose config is an "
                "HttpProviderConfig gets an HTTP client"
            )
        timer = via.timer
        while True:
            if via.limiter is not None:
                yield from via.limiter.acquire(via.deadline)
            send = functools.partial(via.client.send, _bounded(request, via.timeout, via.deadline))
            # Timed from here to the answer read: the vendor's latency (and the network's),
            # without waits for the gate or the rate limiter; a failed send is not timed.
            sent_at = 0.0 if timer is None else timer.limit.clock()
            try:
                response = yield send
            except httpx.HTTPError as exc:
                return _Failed(_transport_error(exc, request, provider))
            if timer is not None:
                timer.answered(sent_at)
            request, response = flow.send(response), None
    except StopIteration as done:
        return done.value
    except _MAPPED as exc:
        return _failure(exc, provider)
    finally:
        # This frame may be on a traceback: leave no request (its URL) in its locals.
        request = response = None
        flow.close()


def _offline(flow: _AnyFlow, provider: str) -> Any:
    """``_exchange`` for a provider that sends no requests, as a plain call: its
    flow's value, or a _Failed."""
    try:
        next(flow)
        raise RuntimeError(
            f"provider {provider} sent a request, but only a provider whose config is an "
            "HttpProviderConfig gets an HTTP client"
        )
    except StopIteration as done:
        return done.value
    except _MAPPED as exc:
        return _failure(exc, provider)
    finally:
        flow.close()


def _refused(provider: Provider[Any], exc: StaleCredentials) -> AuthError:
    return AuthError(
        f"credentials refused again after a refresh: {exc}", provider=provider.name, code=exc.code
    )


class AuthGate:
    """One credential fetch at a time for one provider. A caller that waited while a
    fetch failed gets that fetch's error instead of trying again itself, so a vendor
    that cannot issue tokens costs one timeout, not one per waiting check."""

    def __init__(self, lock: Gate) -> None:
        self.lock = lock
        self.started = 0  # fetches begun
        self.fetching = False
        self.failure: tuple[int, ProviderError] | None = None  # (fetch number, error)

    def first_relevant(self) -> int:
        """The first fetch whose outcome a caller arriving now waits for: the one in
        progress, or else the next one."""
        return self.started if self.fetching else self.started + 1

    def shared_failure(self, first_relevant: int) -> ProviderError | None:
        if self.failure is not None and self.failure[0] >= first_relevant:
            return copy.copy(self.failure[1])
        return None

    def begin(self) -> int:
        self.started += 1
        self.fetching = True
        return self.started

    def end(self, number: int, error: ProviderError | None) -> None:
        self.fetching = False
        if error is not None:
            self.failure = (number, error)


def _credentials(
    provider: Provider[Any], gate: AuthGate, via: Connection | None
) -> Steps[ProviderError | None]:
    """Fetch credentials under the provider's lock, unless whoever held it before
    fetched them (or failed to: then their error)."""
    waited_for = gate.first_relevant()
    yield gate.lock.acquire
    try:
        if (shared := gate.shared_failure(waited_for)) is not None:
            return shared
        if not provider.needs_credentials():
            return None
        number = gate.begin()
        outcome = yield from _exchange(provider.credentials_flow(), provider.name, via)
        error = _raised(outcome) if isinstance(outcome, _Failed) else None
        if isinstance(error, StaleCredentials):
            raise error  # from a credentials flow: a provider bug
        gate.end(number, error)
        return error
    finally:
        gate.lock.release()


def provider_steps(
    provider: Provider[Any],
    contents: Sequence[Content],
    context: CheckContext,
    gate: AuthGate,
    via: Connection | None,
) -> Steps[JobOutcome]:
    """Check contents with one provider: credentials first if needed, then its flow.
    Answers the results, or the ProviderError that failed the whole call, cut loose
    from where it came from (see ``_raised``). ``via`` is None for a provider that
    sends no requests."""
    for attempt in (1, 2):
        if provider.needs_credentials():
            failed = yield from _credentials(provider, gate, via)
            if failed is not None:
                return failed
        flow = provider.flow(contents, context)
        if via is None:
            outcome = _offline(flow, provider.name)
        else:
            outcome = yield from _exchange(flow, provider.name, via)
        if not isinstance(outcome, _Failed):
            return _checked(outcome, contents, provider.name)
        error = _raised(outcome)
        if isinstance(error, ProviderError):
            return error
        if attempt == 2:
            return _refused(provider, error)
    raise AssertionError("unreachable")  # pragma: no cover
