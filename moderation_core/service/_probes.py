"""Readiness: can this process answer checks right now?

``/readyz`` asks, at most once per ``READY_TTL`` seconds (concurrent probes share one
round), each HTTP provider's host for any HTTP answer, Redis for a PING when
``redis_url`` is set, and every check another module adds (the store's). A provider
is "reachable" when its host answers HTTP at all, even 404: that proves DNS, TLS and
the route without spending vendor quota or credentials on a moderation call.
Providers without HTTP (local) are always ready.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import httpx

from moderation_core._async import AsyncModerator
from moderation_core._provider import HttpProviderConfig, Provider
from moderation_core._state import redis_client_options

__all__ = ["READY_TTL", "Readiness", "ReadinessCheck", "provider_checks", "redis_check"]

READY_TTL = 5.0  # seconds a readiness answer is reused
PROBE_TIMEOUT = 2.0  # seconds: a host slower than this to answer anything is not ready

# A named check: None when fine, else a short reason with no secret in it.
ReadinessCheck = Callable[[], Awaitable[str | None]]


def provider_origin(provider: Provider[Any]) -> str | None:
    """Where a provider sends requests: its ``base_url`` property (the region's host
    resolved), else its config's ``base_url``; None when it does not say."""
    url = getattr(provider, "base_url", None) or getattr(provider.config, "base_url", None)
    if not isinstance(url, str):
        return None
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}/"


@attrs.define
class Readiness:
    """The named checks and the last answer; ``clock`` is injectable for tests."""

    checks: dict[str, ReadinessCheck] = attrs.field(factory=dict)
    clock: Callable[[], float] = time.monotonic
    ttl: float = READY_TTL
    _last: tuple[float, Mapping[str, str | None]] | None = None
    _round: asyncio.Task[Mapping[str, str | None]] | None = None

    def add(self, name: str, check: ReadinessCheck) -> None:
        """Another module's check (e.g. ``"store"``), run with the others."""
        self.checks[name] = check

    async def status(self) -> Mapping[str, str | None]:
        """Each check's name and its problem (None: ready)."""
        now = self.clock()
        if self._last is not None and now - self._last[0] < self.ttl:
            return self._last[1]
        if self._round is None or self._round.done():
            self._round = asyncio.ensure_future(self._run_all())
        answer = await asyncio.shield(self._round)
        self._last = (self.clock(), answer)
        return answer

    async def _run_all(self) -> Mapping[str, str | None]:
        names = list(self.checks)
        found = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        return dict(zip(names, found, strict=True))

    @staticmethod
    async def _run(check: ReadinessCheck) -> str | None:
        try:
            return await asyncio.wait_for(check(), PROBE_TIMEOUT + 1)
        except TimeoutError:
            return "no answer in time"
        except Exception as exc:  # a probe must answer, never fail the endpoint
            return f"probe failed ({type(exc).__name__})"


def provider_checks(
    moderator: AsyncModerator, client: httpx.AsyncClient
) -> dict[str, ReadinessCheck]:
    checks: dict[str, ReadinessCheck] = {}
    for provider in moderator.providers:
        origin = (
            provider_origin(provider) if isinstance(provider.config, HttpProviderConfig) else None
        )
        if origin is not None:
            checks[f"provider:{provider.name}"] = _http_probe(client, origin)
    return checks


def _http_probe(client: httpx.AsyncClient, origin: str) -> ReadinessCheck:
    async def probe() -> str | None:
        try:
            await client.get(origin, timeout=PROBE_TIMEOUT)
        except httpx.HTTPError as exc:
            # The class only: a transport error's text can quote the URL.
            return f"unreachable ({type(exc).__name__})"
        return None

    return probe


def redis_check(url: str) -> tuple[ReadinessCheck, Callable[[], Awaitable[None]]]:
    """A PING check for ``url`` and the function that closes its client."""
    import redis.asyncio  # noqa: PLC0415 - only with redis_url

    client: Any = redis.asyncio.Redis.from_url(url, **redis_client_options(asynchronous=True))

    async def ping() -> str | None:
        try:
            await client.ping()
        except (redis.RedisError, OSError) as exc:
            return f"no answer to PING ({type(exc).__name__})"
        return None

    async def close() -> None:
        await client.aclose()

    return ping, close
