"""``AsyncModerator``: the core's plans (``_base``) awaited, jobs concurrently."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx

from ._base import BaseModerator, Raised
from ._batching import Batcher
from ._drivers import AuthGate
from ._errors import ProviderError
from ._model import CheckContext
from ._provider import Provider
from ._resilience import retrying
from ._routing import Job, JobOutcome
from ._steps import AWAITING, Mode, Steps, awaiting, run_awaiting, run_blocking

if TYPE_CHECKING:
    from .store import StoredCheck

__all__ = ["AsyncModerator"]

# An async job for a provider with no HTTP (the local engine) over more text than this,
# in characters, runs in a worker thread so the event loop keeps serving. Measured: the
# local engine takes ~50 us per KB of chat text and a hop to a thread ~55 us, so below
# this the hop is not worth it, and above it the loop would stall for more than ~1 ms.
OFFLOAD_CHARS = 16_384


class AsyncModerator(BaseModerator[httpx.AsyncBaseTransport, httpx.AsyncClient]):
    """The same API as ``Moderator``, awaitable; jobs for different providers or
    batches run concurrently, and concurrent checks bound for a batch-capable provider
    share batch requests."""

    _mode: ClassVar[Mode] = AWAITING
    _inline_chars: ClassVar[int | None] = OFFLOAD_CHARS

    # -- checks: a route's jobs at once, single checks batched -------------------

    check = awaiting(BaseModerator._check)
    check_many = awaiting(BaseModerator._check_many)

    def _open_client(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(**options)

    async def _run_jobs(
        self, jobs: list[Job], context: CheckContext, deadline: float
    ) -> list[JobOutcome]:
        if len(jobs) == 1:
            return [await self._run_job(jobs[0], context, deadline)]
        return list(await asyncio.gather(*(self._run_job(j, context, deadline) for j in jobs)))

    async def _run_plans(self, plans: list[Steps[Any]]) -> list[Any]:
        done = await asyncio.gather(*(run_awaiting(p) for p in plans), return_exceptions=True)
        for index, value in enumerate(done):
            if isinstance(value, Exception):
                done[index] = Raised(value)
            elif isinstance(value, BaseException):
                raise value  # cancelled: not a plan's answer
        return done

    async def _run_job(
        self, job: Job, context: CheckContext, deadline: float, *, batch: bool = True
    ) -> JobOutcome:
        lane = self._lanes.get(job.provider.name)
        if lane is None:
            if sum(len(c.value) for c in job.contents) > OFFLOAD_CHARS:
                gate = self._thread_gates[job.provider.name]
                return await asyncio.to_thread(run_blocking, self._unlaned(job, context, gate))
            return await run_awaiting(self._unlaned(job, context))
        if batch and self._batchable(job, lane):
            return await self._batcher(job, self._new_batcher).submit(job, context, deadline)
        try:
            if lane.retries == 0:
                return await run_awaiting(self._attempt(job, context, lane, deadline))
            async for attempt in retrying(lane.retries, deadline):
                with attempt:
                    return await run_awaiting(self._attempt(job, context, lane, deadline))
        except ProviderError as exc:
            return exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _new_batcher(self, provider: Provider[Any], window: float) -> Batcher:
        send = functools.partial(self._run_job, batch=False)
        limiter = self._lanes[provider.name].limiter
        ready = None if limiter is None else limiter.ready_in  # a batch held open meanwhile
        return Batcher(provider, window, send, self._spawn, ready)

    # -- policy ------------------------------------------------------------------

    evaluate = awaiting(BaseModerator._evaluate)
    # What one fetch of ``moderation worker`` brought, evaluated at once (private: the
    # worker's, see ``BaseModerator._evaluate_many``).
    _evaluations = awaiting(BaseModerator._evaluate_many)
    mute_sender = awaiting(BaseModerator._mute_sender)
    unmute_sender = awaiting(BaseModerator._unmute_sender)
    muted_senders = awaiting(BaseModerator._muted_senders)

    # -- the store ---------------------------------------------------------------

    async def result(self, check_id: str) -> StoredCheck | None:
        """The stored check ``check_id`` (a verdict's ``check_id``): pending until the
        vendor's callback turns it final; None when unknown. ConfigError without a
        store; StoreUnavailable when its database does not answer (docs/store.md)."""
        if self._audit is None:
            return self._stored(check_id)  # raises the ConfigError
        return await asyncio.to_thread(self._stored, check_id)

    # -- work in the background (shadow checks, batches), and closing ------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # Made on first use, so that BaseModerator.__init__ stays the one constructor.
    @functools.cached_property
    def _background(self) -> set[asyncio.Future[Any]]:
        return set()

    @functools.cached_property
    def _thread_gates(self) -> dict[str, AuthGate]:
        # For no-HTTP jobs run in a worker thread, whose plan takes a threading lock.
        return {p.name: AuthGate(threading.Lock()) for p in self._providers}

    def _in_background(self, steps: Steps[None]) -> None:
        self._spawn(run_awaiting(steps))

    async def close(self) -> None:
        """Wait for shadow checks and pending batches, then close every connection,
        and the store this moderator opened (its records flushed)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._close_providers()
        if self._redis is not None:
            await self._redis.client.aclose()
        if self._audit is not None:
            await asyncio.to_thread(self._close_store)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
