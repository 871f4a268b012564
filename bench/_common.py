"""Shared by the benchmarks: emulators in their own processes (so the server does not
share the client's interpreter), a request recorder, and small statistics."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
# Tencent's public demo key (CONTRACTS 1.4), the emulator's default.
DEMO_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
SDKAPPID = 1400000000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator(
    provider_type: str = "tencent_chat",
    *,
    threaded: bool = False,
    far: bool = False,
    **options: Any,
) -> Iterator[str]:
    """Serve a provider's emulator, wrapped by the recorder, from a child process;
    ``far``: ahead of the client on the CPU where permitted (see ``_emulator.py``)."""
    port = free_port()
    args = [sys.executable, str(HERE / "_emulator.py"), provider_type, str(port)]
    args += ["--threads" if threaded else "--no-threads"]
    args += ["--far"] if far else []
    args += [f"{k}={v}" for k, v in options.items()]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("emulator did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


def stats(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/__bench/stats", timeout=10).json())


def reset(url: str) -> None:
    httpx.post(f"{url}/__bench/reset", timeout=10)


def tencent(name: str, url: str, **extra: Any) -> dict[str, Any]:
    """A provider table for the Tencent Chat provider pointed at an emulator."""
    return {
        "type": "tencent_chat",
        "sdkappid": SDKAPPID,
        "identifier": "admin",
        "secret_key": DEMO_KEY,
        "base_url": url,
        **extra,
    }


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


class Recorder:
    """Wraps an emulator: notes when each request arrived; answers /__bench/ itself."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        self.items = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/__bench/stats":
            with self.lock:
                arrivals = list(self.arrivals)
                items = self.items
            return httpx.Response(200, json={**window_stats(arrivals), "items": items})
        if path == "/__bench/reset":
            with self.lock:
                self.arrivals.clear()
                self.items = 0
            return httpx.Response(200, json={})
        with self.lock:
            self.arrivals.append(time.monotonic())
            try:
                body = json.loads(request.content or b"{}")
                self.items += len(body.get("Contents", [])) or 1
            except ValueError:
                self.items += 1
        return self.inner(request)  # type: ignore[no-any-return]


def window_stats(arrivals: list[float]) -> dict[str, Any]:
    """Requests, duration, and the most requests seen in any 1-second window."""
    arrivals = sorted(arrivals)
    peak, start = 0, 0
    for end, at in enumerate(arrivals):
        while at - arrivals[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return {"requests": len(arrivals), "span": span, "peak_per_1s": peak}


def cpu_seconds() -> float:
    return time.process_time()


def environment() -> str:
    return f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, pid {os.getpid()}"
