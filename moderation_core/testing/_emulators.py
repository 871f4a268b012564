"""Plumbing every vendor emulator needs: a vendor's rate limit as a fixed window of the
clock, the faults a test injects, and ``make_emulator(**options)``'s option check.

Each emulator used to write these again; the vendor's own answers stay in its module.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from ._options import choice_option

__all__ = ["FaultQueue", "FixedWindow", "parse_options"]


class FixedWindow:
    """Requests per window of the clock (``seconds`` long, from the epoch): a fixed-window
    counter, as vendors count their quotas. ``limit`` None admits every request.

    Not locked: an emulator serving threads calls it under its own lock, together with
    whatever it reads of ``remaining``."""

    def __init__(self, limit: float | None, seconds: float = 1.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._window = -1
        self._count = 0

    def admit(self, now: float) -> bool:
        """Count one request at ``now``; whether it is within the limit."""
        if self.limit is None:
            return True
        window = int(now // self.seconds)
        if window != self._window:
            self._window, self._count = window, 0
        self._count += 1
        return self._count <= self.limit

    @property
    def remaining(self) -> int:
        """Requests left in the current window (0 without a limit)."""
        return 0 if self.limit is None else max(0, int(self.limit) - self._count)

    def reset_in(self, now: float) -> float:
        """Seconds from ``now`` to the next window."""
        return (int(now // self.seconds) + 1) * self.seconds - now


class FaultQueue:
    """The fault an emulator answers a request with: one a test injected for the next
    requests first, else the one a ``[[fault:NAME]]`` marker in the request names, else
    the emulator's standing fault. Thread-safe."""

    def __init__(self, names: Collection[str]) -> None:
        self.names = names
        self._queued: deque[str] = deque()
        self._lock = threading.Lock()

    def inject(self, fault: object, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``fault``; a ``ValueError`` names the
        faults there are when it is not one of them."""
        name = choice_option("fault", fault, self.names)
        if name is None:
            raise ValueError("inject needs a fault name")
        with self._lock:
            self._queued.extend([name] * times)

    def take(self, marker: str | None, standing: str | None = None) -> str | None:
        """The fault for one request: the next injected, else ``marker`` when it names a
        fault, else ``standing``."""
        with self._lock:
            if self._queued:
                return self._queued.popleft()
        if marker is not None and marker in self.names:
            return marker
        return standing


def parse_options(
    options: Mapping[str, Any],
    parsers: Mapping[str, Callable[[str, Any], Any]],
    *,
    emulator: str,
    callables: Iterable[str] = ("clock", "sleep"),
    label: str | None = None,
) -> dict[str, Any]:
    """``make_emulator(**options)`` parsed: each option by its parser (called with the
    name and the value, a string from ``--set`` or a Python value), each of
    ``callables`` checked callable; an unknown option is a ``TypeError`` listing the
    known ones, ``label`` naming what it is (default: ``"{emulator} emulator option"``)."""
    hooks = tuple(callables)
    parsed: dict[str, Any] = {}
    for name, value in options.items():
        if name in hooks:
            if not callable(value):
                raise TypeError(f"{name} must be callable")
            parsed[name] = value
            continue
        parser = parsers.get(name)
        if parser is None:
            known = ", ".join([*parsers, *hooks])
            what = label or f"{emulator} emulator option"
            raise TypeError(f"unknown {what} {name!r}; known: {known}")
        parsed[name] = parser(name, value)
    return parsed
