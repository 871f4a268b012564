"""Auto-batching: concurrent single checks bound for one batch-capable provider share
batch requests. ``Batcher`` gathers an ``AsyncModerator``'s tasks, ``ThreadBatcher`` a
``Moderator``'s threads; the rules are the same (a window, a batch sent as soon as it
is full, only calls with one context together, a failed batch handed to every caller
to fall back on its own).

The thread batcher is written here rather than taken from a library: what it must do
(per-context batches bounded by the provider's item count, the caller's own thread
sending, outcomes split per caller) is the async batcher's, over threading primitives.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from ._errors import ProviderError
from ._model import CheckContext
from ._provider import Provider
from ._routing import Job, JobOutcome

__all__ = ["Batcher", "ThreadBatcher"]

Send = Callable[[Job, CheckContext, float], Coroutine[Any, Any, JobOutcome]]
SendBlocking = Callable[[Job, CheckContext, float], JobOutcome]
Spawn = Callable[[Coroutine[Any, Any, None]], None]
_Waiting = tuple[Job, float, "asyncio.Future[JobOutcome]"]


class Batcher:
    """Coalesces concurrent single checks bound for one batch-capable provider into
    batch requests: a call waits at most ``window`` seconds for company, and a batch
    goes out as soon as it is full. Only calls with the same context share a request
    (the vendor takes one scene, sender and receiver per request). ``send`` makes the
    merged call (the moderator's, without batching); ``spawn`` runs it as a task the
    moderator waits for when it closes."""

    def __init__(self, provider: Provider[Any], window: float, send: Send, spawn: Spawn) -> None:
        self._provider = provider
        self._size = provider.capabilities.batch_size
        self._window = window
        self._send_merged = send
        self._spawn = spawn
        self._waiting: dict[CheckContext, list[_Waiting]] = {}
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
            self._spawn(self._send(taken, context))

    async def _send(self, taken: list[_Waiting], context: CheckContext) -> None:
        contents = [c for job, _, _ in taken for c in job.contents]
        merged = Job(self._provider, list(range(len(contents))), contents)
        deadline = min(d for _, d, _ in taken)
        try:
            outcome = await self._send_merged(merged, context, deadline)
        except asyncio.CancelledError:
            for _, _, future in taken:
                future.cancel()
            raise
        except Exception as exc:  # the send returns provider errors; a bug reaches every caller
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


def _parts(outcome: JobOutcome, sizes: list[int]) -> list[JobOutcome]:
    """A merged call's outcome cut back into each caller's: its own results, or the
    error that failed the whole request (each caller then falls back on its own)."""
    if isinstance(outcome, ProviderError):
        return [outcome] * len(sizes)
    parts: list[JobOutcome] = []
    start = 0
    for n in sizes:
        parts.append(outcome[start : start + n])
        start += n
    return parts


class _Gathering:
    """One batch being gathered from threads: its jobs and deadlines, ``full`` once no
    other job may join, ``done`` once every caller's outcome is in ``outcomes``."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.deadlines: list[float] = []
        self.count = 0
        self.full = threading.Event()
        self.done = threading.Event()
        self.outcomes: list[JobOutcome] | None = None
        self.error: BaseException | None = None

    def add(self, job: Job, deadline: float) -> int:
        self.jobs.append(job)
        self.deadlines.append(deadline)
        self.count += len(job.contents)
        return len(self.jobs) - 1


class ThreadBatcher:
    """Coalesces single checks that threads make at the same time, bound for one
    batch-capable provider, into batch requests. The first caller of a batch (its
    leader) waits at most ``window`` seconds for company, or until the batch is full,
    then makes the merged call in its own thread (``send``: the moderator's, without
    batching) and hands each caller its part; the others wait for it. Only calls with
    the same context share a request."""

    def __init__(self, provider: Provider[Any], window: float, send: SendBlocking) -> None:
        self._provider = provider
        self._size = provider.capabilities.batch_size
        self._window = window
        self._send_merged = send
        self._lock = threading.Lock()  # for _gathering: held for no IO
        self._gathering: dict[CheckContext, _Gathering] = {}

    def submit(self, job: Job, context: CheckContext, deadline: float) -> JobOutcome:
        with self._lock:
            batch = self._gathering.get(context)
            if batch is not None and batch.count + len(job.contents) > self._size:
                self._close(context, batch)  # no room: it goes now, this job starts the next
                batch = None
            leading = batch is None
            if batch is None:
                batch = self._gathering[context] = _Gathering()
            index = batch.add(job, deadline)
            if batch.count >= self._size:
                self._close(context, batch)
        if leading:
            self._lead(batch, context)
        else:
            batch.done.wait()
        return self._outcome(batch, index, context)

    def _close(self, context: CheckContext, batch: _Gathering) -> None:
        # Under the lock: later callers start a new batch; the leader stops waiting.
        if self._gathering.get(context) is batch:
            del self._gathering[context]
        batch.full.set()

    def _lead(self, batch: _Gathering, context: CheckContext) -> None:
        try:
            batch.full.wait(self._window)
            with self._lock:
                self._close(context, batch)
            contents = [c for job in batch.jobs for c in job.contents]
            merged = Job(self._provider, list(range(len(contents))), contents)
            outcome = self._send_merged(merged, context, min(batch.deadlines))
            batch.outcomes = _parts(outcome, [len(job.contents) for job in batch.jobs])
        except BaseException as exc:  # a bug, or the leader interrupted: see _outcome
            batch.error = exc
            raise
        finally:
            with self._lock:
                self._close(context, batch)  # never leave a batch open without a leader
            batch.done.set()

    def _outcome(self, batch: _Gathering, index: int, context: CheckContext) -> JobOutcome:
        if batch.outcomes is not None:
            return batch.outcomes[index]
        if isinstance(batch.error, Exception):
            raise batch.error  # a bug reaches every caller, as in the async batcher
        # The leader was interrupted (KeyboardInterrupt, SystemExit) before the batch
        # went out: this caller sends its own job rather than wait forever.
        return self._send_merged(batch.jobs[index], context, batch.deadlines[index])
