"""The only two places a provider's flows meet the network: one sync loop, one async.

Both turn transport failures into ``ProviderUnavailable`` and a provider's parse
failure into ``ProtocolError``, and name only the host (never a URL: Tencent puts the
UserSig in the query string).

Credentials that cost a request (an app token) are fetched by the provider's
``auth_flow`` under a per-provider lock, so concurrent checks share one fetch. A check
flow that finds its credential refused raises ``StaleCredentials``; the driver fetches
once more and re-runs the check once; a second refusal is an ``AuthError``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any

import attrs
import cattrs
import httpx

from ._errors import AuthError, ProtocolError, ProviderError, ProviderUnavailable
from ._model import CheckContext, Content
from ._provider import ItemResult, Provider, StaleCredentials

__all__ = ["AuthGate", "run_async", "run_sync"]

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


def _checked(results: list[ItemResult], expected: int, provider: str) -> list[ItemResult]:
    if len(results) != expected:
        raise ProtocolError(
            f"provider returned {len(results)} results for {expected} contents",
            provider=provider,
        )
    for result in results:
        if isinstance(result, ProviderError) and result.provider is None:
            result.provider = provider
    return results


def _bounded(request: httpx.Request, timeout: float, deadline: float | None) -> httpx.Request:
    """Give the request the provider's timeout (a request built by hand has none, and
    ``Client.send`` does not add the client's), capped at what is left of the check's
    deadline."""
    timeouts = request.extensions.get("timeout")
    if timeouts is None:
        timeouts = httpx.Timeout(timeout).as_dict()
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProviderUnavailable("the check's deadline passed before this request")
        timeouts = {k: left if v is None or v > left else v for k, v in timeouts.items()}
    request.extensions["timeout"] = timeouts
    return request


@attrs.frozen
class _Failed:
    """What a flow run ended with instead of a value: the error the driver raises."""

    error: Exception


def _failure(exc: Exception, provider: str) -> _Failed:
    if isinstance(exc, ProviderError):
        if exc.provider is None:
            exc.provider = provider
        return _Failed(exc)
    if isinstance(exc, RecursionError):
        # A body like b"[" * 1000 makes json and cattrs recurse until Python gives up.
        return _Failed(
            ProtocolError("the vendor's answer is nested too deeply to read", provider=provider)
        )
    if isinstance(exc, _PARSE_ERRORS):
        return _Failed(_parse_error(exc, provider))
    return _Failed(exc)  # StaleCredentials: run_sync/run_async act on it


def _raised(failed: _Failed) -> Exception:
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


def _run_sync(
    flow: _AnyFlow,
    client: httpx.Client | None,
    provider: str,
    before_send: Callable[[], None] | None,
    deadline: float | None,
    timeout: float,
) -> Any:
    request: httpx.Request | None = None
    response: httpx.Response | None = None
    try:
        request = next(flow)
        if client is None:
            raise RuntimeError(f"provider {provider} sent a request but has no HTTP client")
        while True:
            if before_send is not None:
                before_send()
            try:
                response = client.send(_bounded(request, timeout, deadline))
            except httpx.HTTPError as exc:
                return _Failed(_transport_error(exc, request, provider))
            request, response = flow.send(response), None
    except StopIteration as done:
        return done.value
    except _MAPPED as exc:
        return _failure(exc, provider)
    finally:
        # This frame may be on a traceback: leave no request (its URL) in its locals.
        request = response = None
        flow.close()


def _drive_sync(
    flow: _AnyFlow,
    client: httpx.Client | None,
    provider: str,
    before_send: Callable[[], None] | None = None,
    deadline: float | None = None,
    timeout: float = 10.0,
) -> Any:
    outcome = _run_sync(flow, client, provider, before_send, deadline, timeout)
    if isinstance(outcome, _Failed):
        raise _raised(outcome)
    return outcome


async def _run_async(
    flow: _AnyFlow,
    client: httpx.AsyncClient | None,
    provider: str,
    before_send: Callable[[], Awaitable[None]] | None,
    deadline: float | None,
    timeout: float,
) -> Any:
    request: httpx.Request | None = None
    response: httpx.Response | None = None
    try:
        request = next(flow)
        if client is None:
            raise RuntimeError(f"provider {provider} sent a request but has no HTTP client")
        while True:
            if before_send is not None:
                await before_send()
            try:
                response = await client.send(_bounded(request, timeout, deadline))
            except httpx.HTTPError as exc:
                return _Failed(_transport_error(exc, request, provider))
            request, response = flow.send(response), None
    except StopIteration as done:
        return done.value
    except _MAPPED as exc:
        return _failure(exc, provider)
    finally:
        request = response = None
        flow.close()


async def _drive_async(
    flow: _AnyFlow,
    client: httpx.AsyncClient | None,
    provider: str,
    before_send: Callable[[], Awaitable[None]] | None = None,
    deadline: float | None = None,
    timeout: float = 10.0,
) -> Any:
    outcome = await _run_async(flow, client, provider, before_send, deadline, timeout)
    if isinstance(outcome, _Failed):
        raise _raised(outcome)
    return outcome


def _refused(provider: Provider[Any], exc: StaleCredentials) -> AuthError:
    return AuthError(
        f"credentials refused again after a refresh: {exc}", provider=provider.name, code=exc.code
    )


class AuthGate:
    """One credential fetch at a time for one provider. A caller that waited while a
    fetch failed gets that fetch's error instead of trying again itself, so a vendor
    that cannot issue tokens costs one timeout, not one per waiting check."""

    def __init__(self, lock: threading.Lock | asyncio.Lock) -> None:
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


def run_sync(
    provider: Provider[Any],
    contents: Sequence[Content],
    context: CheckContext,
    client: httpx.Client | None,
    gate: AuthGate,
    before_send: Callable[[], None] | None = None,
    deadline: float | None = None,
) -> list[ItemResult]:
    """Check contents with one provider: credentials first if needed, then its flow.
    ``before_send`` runs before every request (the rate limiter); ``deadline``
    (monotonic seconds) caps every request's timeout."""
    for attempt in (1, 2):
        if provider.auth_flow() is not None:
            waited_for = gate.first_relevant()
            with gate.lock:  # type: ignore[union-attr]  # one fetch at a time
                if (shared := gate.shared_failure(waited_for)) is not None:
                    raise shared
                auth = provider.auth_flow()  # whoever waited may find it done
                if auth is not None:
                    number = gate.begin()
                    try:
                        _drive_sync(
                            auth, client, provider.name, before_send, deadline, provider.timeout
                        )
                    except ProviderError as exc:
                        gate.end(number, exc)
                        raise
                    gate.end(number, None)
        try:
            flow = provider.flow(contents, context)
            results = _drive_sync(
                flow, client, provider.name, before_send, deadline, provider.timeout
            )
        except StaleCredentials as exc:
            if attempt == 2:
                raise _refused(provider, exc) from None
            continue
        return _checked(results, len(contents), provider.name)
    raise AssertionError("unreachable")  # pragma: no cover


async def run_async(
    provider: Provider[Any],
    contents: Sequence[Content],
    context: CheckContext,
    client: httpx.AsyncClient | None,
    gate: AuthGate,
    before_send: Callable[[], Awaitable[None]] | None = None,
    deadline: float | None = None,
) -> list[ItemResult]:
    """The same as ``run_sync``, awaiting an async client."""
    for attempt in (1, 2):
        if provider.auth_flow() is not None:
            waited_for = gate.first_relevant()
            async with gate.lock:  # type: ignore[union-attr]
                if (shared := gate.shared_failure(waited_for)) is not None:
                    raise shared
                auth = provider.auth_flow()
                if auth is not None:
                    number = gate.begin()
                    try:
                        await _drive_async(
                            auth, client, provider.name, before_send, deadline, provider.timeout
                        )
                    except ProviderError as exc:
                        gate.end(number, exc)
                        raise
                    gate.end(number, None)
        try:
            flow = provider.flow(contents, context)
            results = await _drive_async(
                flow, client, provider.name, before_send, deadline, provider.timeout
            )
        except StaleCredentials as exc:
            if attempt == 2:
                raise _refused(provider, exc) from None
            continue
        return _checked(results, len(contents), provider.name)
    raise AssertionError("unreachable")  # pragma: no cover
