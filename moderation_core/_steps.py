"""Written once, run blocking or awaited: the core's IO as *step plans*.

A plan is a generator that yields *steps* - zero-argument callables that do IO (send a
request, take a lock, sleep, talk to Redis) - and receives each step's result; an
exception a step raises is thrown into the plan where it yielded, so the plan's own
``try`` blocks see it. ``run_blocking`` calls each step; ``run_awaiting`` awaits it.
A plan never calls a step itself, so one plan serves both moderators, as long as the
objects it takes steps from (locks, semaphores, HTTP and Redis clients) were made for
its mode: ``BLOCKING`` and ``AWAITING`` make the locks, semaphores and sleeps, and
releasing a lock is a plain call in both modes.

This is the providers' sans-IO pattern (``Provider.flow``) applied to the core itself:
everything here and in the plans is the whole of what differs between the modes.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar

import attrs

__all__ = [
    "AWAITING",
    "BLOCKING",
    "Gate",
    "Mode",
    "Step",
    "Steps",
    "awaiting",
    "blocking",
    "run_awaiting",
    "run_blocking",
    "single",
]

T = TypeVar("T")
S = TypeVar("S")
P = ParamSpec("P")

Step = Callable[[], Any]
Steps = Generator[Step, Any, T]


class Gate(Protocol):
    """A lock or semaphore of either mode: acquiring is a step, releasing a call."""

    def acquire(self) -> Any: ...

    def release(self) -> None: ...


def run_blocking(steps: Steps[T]) -> T:
    """Run a plan, calling each step. Written for the hot path (most plans end without
    a step, and a check takes a few): no helper call per step."""
    reply: Any = None
    error: BaseException | None = None
    step: Step | None = None
    try:
        step = steps.send(None)
        while True:
            try:
                reply = step()
            except BaseException as exc:  # the plan's except and finally blocks see it
                error = exc
            # Thrown outside the except block, so nothing the plan raises chains it.
            step = steps.send(reply) if error is None else steps.throw(error)
            reply = error = None
    except StopIteration as done:
        value: T = done.value
        return value
    finally:
        # This frame may end up on a traceback: keep no step or reply (they hold a
        # request, whose URL may carry a credential) in its locals.
        reply = error = step = None


async def run_awaiting(steps: Steps[T]) -> T:
    """Run a plan, awaiting each step (no helper call per step either)."""
    reply: Any = None
    error: BaseException | None = None
    step: Step | None = None
    try:
        while True:
            try:
                step = steps.send(reply) if error is None else steps.throw(error)
            except StopIteration as done:
                value: T = done.value
                return value
            reply = error = None
            try:
                reply = await step()
            except BaseException as exc:  # cancellation too: the plan releases its gates
                error = exc  # thrown at the loop's top, outside this except block
    finally:
        reply = error = step = None  # as in run_blocking


def single(step: Step) -> Steps[Any]:
    """A plan of one step."""
    return (yield step)


# -- the public operations, written once as plans ------------------------------------


def blocking(plan: Callable[Concatenate[S, P], Steps[T]]) -> Callable[Concatenate[S, P], T]:
    """A method that runs ``plan`` blocking; named, documented and signed like it
    (``_check`` becomes ``check``)."""

    def operation(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return run_blocking(plan(self, *args, **kwargs))

    return _presented(operation, plan)


def awaiting(
    plan: Callable[Concatenate[S, P], Steps[T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """A coroutine method that runs ``plan`` awaiting each step."""

    async def operation(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await run_awaiting(plan(self, *args, **kwargs))

    return _presented(operation, plan)


_PLAN_RETURN: Final = ("Steps[", "]")


def _presented(operation: T, plan: Callable[..., Any]) -> T:
    """``operation`` with the plan's name (without its underscore), docstring and
    parameters, and the plan's result as its return annotation, for ``help()`` and
    ``inspect.signature``."""
    signature = inspect.signature(plan)
    returns = signature.return_annotation
    head, tail = _PLAN_RETURN
    if isinstance(returns, str) and returns.startswith(head) and returns.endswith(tail):
        returns = returns[len(head) : -len(tail)]
    function: Any = operation
    function.__name__ = plan.__name__.removeprefix("_")
    function.__qualname__ = function.__name__
    function.__doc__ = plan.__doc__
    function.__module__ = plan.__module__
    function.__signature__ = signature.replace(return_annotation=returns)
    return operation


# -- the two modes' primitives -------------------------------------------------------


def _sleep_blocking(seconds: float) -> None:
    time.sleep(seconds)  # looked up per call: tests replace it


async def _sleep_awaiting(seconds: float) -> None:
    await asyncio.sleep(seconds)


def _acquire_blocking(lock: Gate, timeout: float) -> bool:
    acquire: Callable[..., bool] = lock.acquire
    return acquire(timeout=timeout)


async def _acquire_awaiting(lock: Gate, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await lock.acquire()
    except TimeoutError:
        return False
    return True


@attrs.frozen
class Mode:
    """What a plan takes steps from, made for one mode: ``lock()`` and
    ``semaphore(size)`` make gates; ``sleep(seconds)`` and ``acquire_within(lock,
    timeout)`` (True once taken, False after ``timeout`` s) are step functions."""

    asynchronous: bool
    lock: Callable[[], Gate]
    semaphore: Callable[[int], Gate]
    sleep: Callable[[float], Any]
    acquire_within: Callable[[Gate, float], Any]


BLOCKING: Final = Mode(
    False, threading.Lock, threading.BoundedSemaphore, _sleep_blocking, _acquire_blocking
)
AWAITING: Final = Mode(True, asyncio.Lock, asyncio.Semaphore, _sleep_awaiting, _acquire_awaiting)
