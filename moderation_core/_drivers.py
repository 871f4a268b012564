"""The only two places a provider's flow meets the network: one sync loop, one async.

Both turn transport failures into ``ProviderUnavailable`` and a provider's parse
failure into ``ProtocolError``, and name only the host (never a URL: Tencent puts the
UserSig in the query string).
"""

from __future__ import annotations

import logging
import httpx

from ._errors import ProtocolError, ProviderError, ProviderUnavailable
from ._provider import Flow, ItemResult

__all__ = ["drive_async", "drive_sync"]

log = logging.getLogger("moderation_core")

# What a provider's parsing raises when a vendor sends a shape it did not expect.
_PARSE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError)


def _transport_error(exc: httpx.HTTPError, request: httpx.Request, provider: str) -> ProviderError:
    host = request.url.host or "the vendor"
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailable(f"timed out waiting for {host}", provider=provider)
    return ProviderUnavailable(
        f"could not reach {host}: {type(exc).__name__}", provider=provider
    )


def _parse_error(exc: Exception, provider: str) -> ProtocolError:
    # The exception text may quote the vendor's body; keep only its kind in the message.
    log.debug("provider %s could not parse a response", provider, exc_info=exc)
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


def drive_sync(
    flow: Flow, client: httpx.Client | None, provider: str, expected: int
) -> list[ItemResult]:
    """Run a flow to completion with a sync client (made lazily by the caller)."""
    try:
        try:
            request = next(flow)
        except StopIteration as done:
            return _checked(done.value, expected, provider)
        if client is None:
            raise RuntimeError(f"provider {provider} sent a request but has no HTTP client")
        while True:
            try:
                response = client.send(request)
            except httpx.HTTPError as exc:
                raise _transport_error(exc, request, provider) from None
            try:
                request = flow.send(response)
            except StopIteration as done:
                return _checked(done.value, expected, provider)
    except ProviderError as exc:
        if exc.provider is None:
            exc.provider = provider
        raise
    except _PARSE_ERRORS as exc:
        raise _parse_error(exc, provider) from None
    finally:
        flow.close()


async def drive_async(
    flow: Flow, client: httpx.AsyncClient | None, provider: str, expected: int
) -> list[ItemResult]:
    """The same loop as ``drive_sync``, awaiting an async client."""
    try:
        try:
            request = next(flow)
        except StopIteration as done:
            return _checked(done.value, expected, provider)
        if client is None:
            raise RuntimeError(f"provider {provider} sent a request but has no HTTP client")
        while True:
            try:
                response = await client.send(request)
            except httpx.HTTPError as exc:
                raise _transport_error(exc, request, provider) from None
            try:
                request = flow.send(response)
            except StopIteration as done:
                return _checked(done.value, expected, provider)
    except ProviderError as exc:
        if exc.provider is None:
            exc.provider = provider
        raise
    except _PARSE_ERRORS as exc:
        raise _parse_error(exc, provider) from None
    finally:
        flow.close()
