"""``Moderator``: the core's plans (``_base``) run blocking, jobs one after another;
single checks that threads make at the same time share batch requests."""

from __future__ import annotations

import concurrent.futures
import functools
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx

from ._base import BaseModerator, Raised
from ._batching import ThreadBatcher
from ._errors import ProviderError
from ._model import CheckContext
from ._provider import Provider
from ._resilience import retrying
from ._routing import Job, JobOutcome
from ._steps import BLOCKING, Mode, Steps, blocking, run_blocking

if TYPE_CHECKING:
    from .store import StoredCheck

__all__ = ["Moderator"]


class Moderator(BaseModerator[httpx.BaseTransport, httpx.Client]):
    """Check contents against the configured providers, blocking.

    ``Moderator()`` with no config uses the offline local engine alone. One moderator
    may be shared by threads; their concurrent checks bound for a batch-capable
    provider share batch requests (``batch_window``).
    """

    _mode: ClassVar[Mode] = BLOCKING
    _pauses_collector: ClassVar[bool] = True
    _shadow_pool: concurrent.futures.ThreadPoolExecutor | None = None

    # -- checks: a route's jobs one after another, threads' single checks batched -

    check = blocking(BaseModerator._check)
    check_many = blocking(BaseModerator._check_many)

    def _open_client(self, **options: Any) -> httpx.Client:
        return httpx.Client(**options)

    def _run_jobs(self, jobs: list[Job], context: CheckContext, deadline: float) -> Any:
        return [self._run_job(job, context, deadline) for job in jobs]

    def _run_plans(self, plans: list[Steps[Any]]) -> list[Any]:
        done: list[Any] = []
        for plan in plans:
            try:
                done.append(run_blocking(plan))
            except Exception as exc:
                done.append(Raised(exc))
        return done

    def _run_job(
        self, job: Job, context: CheckContext, deadline: float, *, batch: bool = True
    ) -> JobOutcome:
        lane = self._lanes.get(job.provider.name)
        if lane is None:
            return run_blocking(self._unlaned(job, context))
        if batch and self._batchable(job, lane):
            return self._batcher(job, self._new_batcher).submit(job, context, deadline)
        try:
            if lane.retries == 0:
                return run_blocking(self._attempt(job, context, lane, deadline))
            for attempt in retrying(lane.retries, deadline):
                with attempt:
                    return run_blocking(self._attempt(job, context, lane, deadline))
        except ProviderError as exc:
            return exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _new_batcher(self, provider: Provider[Any], window: float) -> ThreadBatcher:
        limiter = self._lanes[provider.name].limiter
        ready = None if limiter is None else limiter.ready_in  # a batch held open meanwhile
        return ThreadBatcher(provider, window, functools.partial(self._run_job, batch=False), ready)

    # -- policy ------------------------------------------------------------------

    evaluate = blocking(BaseModerator._evaluate)
    mute_sender = blocking(BaseModerator._mute_sender)
    unmute_sender = blocking(BaseModerator._unmute_sender)
    muted_senders = blocking(BaseModerator._muted_senders)

    # -- the store ---------------------------------------------------------------

    def result(self, check_id: str) -> StoredCheck | None:
        """The stored check ``check_id`` (a verdict's ``check_id``): pending until the
        vendor's callback turns it final; None when unknown. ConfigError without a
        store; StoreUnavailable when its database does not answer (docs/store.md)."""
        return self._stored(check_id)

    # -- shadow checks in a thread pool, and closing -----------------------------

    def _in_background(self, steps: Steps[None]) -> None:
        if self._shadow_pool is None:
            self._shadow_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix="moderation-shadow"
            )
        self._shadow_pool.submit(run_blocking, steps)

    def close(self) -> None:
        """Wait for shadow checks, then close every connection and provider, and the
        store this moderator opened (its records flushed)."""
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=True)
            self._shadow_pool = None
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        self._close_providers()
        if self._redis is not None:
            self._redis.client.close()
        self._close_store()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
