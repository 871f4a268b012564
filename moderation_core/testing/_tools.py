"""Small tools for testing a provider: an emulator over real HTTP, a clock moved by
hand, and a transport that keeps every exchange."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import httpx

from moderation_core._provider import Emulator
from moderation_core._serve import serving

__all__ = ["Clock", "Exchange", "RecordingTransport", "serve"]


@contextmanager
def serve(emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve an emulator over real HTTP for a ``with`` block, yielding its base URL
    (``http://127.0.0.1:PORT``; port 0 picks a free one) to use as ``base_url``."""
    with serving(emulator, host, port) as server:
        yield server.url


class Clock:
    """A clock that moves only when told: ``clock()`` reads it, ``advance(seconds)``
    moves it, ``clock.now = t`` sets it. It starts at a plausible Unix time, since
    signatures and tokens carry wall-clock times."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@attrs.frozen
class Exchange:
    """One request a transport sent and the response it got, both bodies read; the
    response is None when the transport raised instead (a refused connection)."""

    request: httpx.Request
    response: httpx.Response | None


Inner = httpx.BaseTransport | httpx.AsyncBaseTransport


def _transport(inner: Inner | Emulator) -> Inner:
    if isinstance(inner, httpx.BaseTransport | httpx.AsyncBaseTransport):
        return inner
    return httpx.MockTransport(inner)


class RecordingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Wraps a transport, or an emulator (served through ``httpx.MockTransport``), and
    keeps every request with its response in ``exchanges``. Works for ``Moderator``
    and ``AsyncModerator`` alike when what it wraps does."""

    def __init__(self, inner: Inner | Emulator) -> None:
        self.inner = _transport(inner)
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()  # a sync Moderator sends from many threads

    @property
    def requests(self) -> list[httpx.Request]:
        with self._lock:
            return [exchange.request for exchange in self.exchanges]

    def paths(self) -> list[str]:
        """The URL path of every request, in order."""
        return [request.url.path for request in self.requests]

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.inner, httpx.BaseTransport):
            raise TypeError(f"{self.inner!r} is an async transport; use it with AsyncModerator")
        request.read()
        try:
            response = self.inner.handle_request(request)
            response.read()
        except BaseException:
            self._keep(request, None)
            raise
        self._keep(request, response)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.inner, httpx.AsyncBaseTransport):
            raise TypeError(f"{self.inner!r} is a sync transport; use it with Moderator")
        await request.aread()
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        except BaseException:
            self._keep(request, None)
            raise
        self._keep(request, response)
        return response

    def _keep(self, request: httpx.Request, response: httpx.Response | None) -> None:
        with self._lock:
            self.exchanges.append(Exchange(request, response))

    def close(self) -> None:
        if isinstance(self.inner, httpx.BaseTransport):
            self.inner.close()

    async def aclose(self) -> None:
        if isinstance(self.inner, httpx.AsyncBaseTransport):
            await self.inner.aclose()
