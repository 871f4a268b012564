"""Auto-batching: concurrent single checks bound for one batch-capable provider share
batch requests. ``Batcher`` gathers an ``AsyncModerator``'s tasks, ``ThreadBatcher`` a
``Moderator``'s threads; the rules are the same (a window, a batch sent as soon as it
is full, only calls with one context together, a failed batch handed to every caller
to fall back on its own).

A thread's batch also stops waiting out its window when every thread that checked
through the batcher lately is already in it (gathering, or waiting for a batch in
flight): nobody else is coming until a batch is answered. A pool of threads that all
check (a benchmark, a worker pool) then sends each batch as its last member arrives.

A batch whose window is over while the provider's rate limiter would still hold its
request (``ready``: seconds until the limiter's next slot) stays open that long, so
callers arriving meanwhile ride along: the request waits either way, and a fuller
batch spends fewer requests of the quota (sealed when sent, not when the window ends).

The thread batcher is written here rather than taken from a library: what it must do
(per-context batches bounded by the provider's item count, the caller's own thread
sending, outcomes split per caller) is the async batcher's, over threading primitives.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from ._errors import ProviderError
from ._model import CheckContext
from ._provider import Provider
from ._routing import Job, JobOutcome

__all__ = ["Batcher", "ThreadBatcher"]

Send = Callable[[Job, CheckContext, float], Coroutine[Any, Any, JobOutcome]]
SendBlocking = Callable[[Job, CheckContext, float], JobOutcome]
Spawn = Callable[[Coroutine[Any, Any, None]], None]
Ready = Callable[[], float]  # seconds until the provider's rate limiter has a slot
_Waiting = tuple[Job, float, "asyncio.Future[JobOutcome]"]


class Batcher:
    """Coalesces concurrent single checks bound for one batch-capable provider into
    batch requests: a call waits at most ``window`` seconds for company, and a batch
    goes out as soon as it is full. Only calls with the same context share a request
    (the vendor takes one scene, sender and receiver per request). ``send`` makes the
    merged call (the moderator's, without batching); ``spawn`` runs it as a task the
    moderator waits for when it closes; ``ready``, when the provider has a rate limit,
    how long its next slot is away (a batch stays open that long after its window)."""

    def __init__(
        self,
        provider: Provider[Any],
        window: float,
        send: Send,
        spawn: Spawn,
        ready: Ready | None = None,
    ) -> None:
        self._provider = provider
        self._size = provider.capabilities.batch_size
        self._window = window
        self._send_merged = send
        self._spawn = spawn
        self._ready = ready
        self._waiting: dict[CheckContext, list[_Waiting]] = {}
        self._timers: dict[CheckContext, asyncio.TimerHandle] = {}
        self._held: set[CheckContext] = set()  # window over, held for the limiter

    async def submit(self, job: Job, context: CheckContext, deadline: float) -> JobOutcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[JobOutcome] = loop.create_future()
        waiting = self._waiting.setdefault(context, [])
        waiting.append((job, deadline, future))
        if sum(len(j.contents) for j, _, _ in waiting) >= self._size:
            self._flush(context)
        elif context not in self._timers:
            self._timers[context] = loop.call_later(self._window, self._expire, context)
        return await future

    def _expire(self, context: CheckContext) -> None:
        """The window is over: send, or first hold the batch open once for as long as
        the limiter would hold its request (never past a caller's deadline)."""
        self._timers.pop(context, None)
        waiting = self._waiting.get(context)
        if waiting and self._ready is not None and context not in self._held:
            hold = min(self._ready(), min(d for _, d, _ in waiting) - time.monotonic())
            if hold > 0:
                self._held.add(context)
                loop = asyncio.get_running_loop()
                self._timers[context] = loop.call_later(hold, self._expire, context)
                return
        self._flush(context)

    def _flush(self, context: CheckContext) -> None:
        self._held.discard(context)
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
    other job may join, ``wake`` once its leader stops waiting out the window (full,
    or nobody else coming), ``done`` once every caller's outcome is in ``outcomes``."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.callers: list[int] = []  # their threads
        self.deadlines: list[float] = []
        self.count = 0
        self.full = threading.Event()  # no other job may join
        self.wake = threading.Event()  # the leader's window is over: full, or nobody coming
        self.done = threading.Event()
        self.outcomes: list[JobOutcome] | None = None
        self.error: BaseException | None = None

    def add(self, job: Job, deadline: float, caller: int) -> int:
        self.callers.append(caller)
        self.jobs.append(job)
        self.deadlines.append(deadline)
        self.count += len(job.contents)
        return len(self.jobs) - 1


# A thread that checked through a batcher this many seconds ago may come back for the
# next batch; one gone longer (its pool shrank, it does other work) is not waited for.
RECENT: Final = 1.0


class _Callers:
    """The threads using one batcher: inside it now, or out of it for at most
    ``RECENT`` seconds (they may come back). Used under the batcher's lock."""

    def __init__(self) -> None:
        self._left: dict[int, float] = {}  # thread -> when it last left
        self._inside: dict[int, bool] = {}  # thread inside now -> whether it is in _left
        self._back = 0  # threads inside that are in _left
        self._swept = time.monotonic()

    def enter(self, me: int) -> bool:
        """Note ``me`` in; whether every thread that checked lately is now inside, ``me``
        among them (a thread on its first check may be one of many starting). A thread
        is out once its batch is answered (``leave``), though it still has to wake."""
        known = me in self._left
        self._inside[me] = known
        self._back += known
        return known and self._back == len(self._left)

    def leave(self, me: int) -> None:
        if me not in self._inside:
            return  # its batch's leader let it out already
        self._back -= self._inside.pop(me)
        now = self._left[me] = time.monotonic()
        if now - self._swept > RECENT:
            # Forget threads gone a while, never one inside (it is counted in _back).
            self._swept = now
            self._left = {
                t: at for t, at in self._left.items() if now - at <= RECENT or t in self._inside
            }


class ThreadBatcher:
    """Coalesces single checks that threads make at the same time, bound for one
    batch-capable provider, into batch requests. The first caller of a batch (its
    leader) waits for company until the batch is full, or every thread that checked
    lately is inside, or at most ``window`` seconds (and then, as long as ``ready``
    says the rate limiter would hold the request); then it makes the merged call in
    its own thread (``send``: the moderator's, without batching) and hands each caller
    its part; the others wait for it. Only calls with the same context share a
    request."""

    def __init__(
        self,
        provider: Provider[Any],
        window: float,
        send: SendBlocking,
        ready: Ready | None = None,
    ) -> None:
        self._provider = provider
        self._size = provider.capabilities.batch_size
        self._window = window
        self._send_merged = send
        self._ready = ready
        self._lock = threading.Lock()  # for _gathering and _callers: held for no IO
        self._gathering: dict[CheckContext, _Gathering] = {}
        self._callers = _Callers()

    def submit(self, job: Job, context: CheckContext, deadline: float) -> JobOutcome:
        me = threading.get_ident()
        try:
            return self._submit(job, context, deadline, me)
        finally:
            with self._lock:
                self._callers.leave(me)

    def _submit(self, job: Job, context: CheckContext, deadline: float, me: int) -> JobOutcome:
        with self._lock:
            everyone = self._callers.enter(me)
            batch = self._gathering.get(context)
            if batch is not None and batch.count + len(job.contents) > self._size:
                self._close(context, batch)  # no room: it goes now, this job starts the next
                batch = None
            leading = batch is None
            if batch is None:
                batch = self._gathering[context] = _Gathering()
            index = batch.add(job, deadline, me)
            if batch.count >= self._size:
                self._close(context, batch)
            elif everyone:  # nobody else is coming: no window to wait out
                for gathering in self._gathering.values():
                    gathering.wake.set()
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
        batch.wake.set()

    def _lead(self, batch: _Gathering, context: CheckContext) -> None:
        try:
            batch.wake.wait(self._window)
            if not batch.full.is_set() and self._ready is not None:
                # Open while the limiter would hold the request anyway (once: the hint
                # reserves nothing, and the limiter keeps the order from here on); the
                # threads of batches answered meanwhile may join.
                with self._lock:
                    deadline = min(batch.deadlines)
                hold = min(self._ready(), deadline - time.monotonic())
                if hold > 0:
                    batch.full.wait(hold)
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
                for caller in batch.callers:  # on their way out: none is coming yet
                    self._callers.leave(caller)
            batch.done.set()

    def _outcome(self, batch: _Gathering, index: int, context: CheckContext) -> JobOutcome:
        if batch.outcomes is not None:
            return batch.outcomes[index]
        if isinstance(batch.error, Exception):
            raise batch.error  # a bug reaches every caller, as in the async batcher
        # The leader was interrupted (KeyboardInterrupt, SystemExit) before the batch
        # went out: this caller sends its own job rather than wait forever.
        return self._send_merged(batch.jobs[index], context, batch.deadlines[index])
