"""Auto-batching for the async moderator: concurrent single checks bound for one
batch-capable provider share batch requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from ._errors import ProviderError
from ._model import CheckContext
from ._provider import Provider
from ._routing import Job, JobOutcome

__all__ = ["Batcher"]

Send = Callable[[Job, CheckContext, float], Coroutine[Any, Any, JobOutcome]]
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
