"""`moderation serve` under load: requests/s and p50/p99 latency of POST /v1/check with
the local provider at 32 concurrent HTTP clients, beside

- a bare Starlette endpoint returning a fixed JSON, on the same server stack (uvicorn,
  same options): the framework's ceiling on this machine;
- the library called in process (``AsyncModerator.check_many`` from 32 tasks): the
  work itself, without HTTP.

Each server runs in a child process, so the load generator (32 keep-alive connections
speaking HTTP/1.1 over raw asyncio streams, far lighter than an HTTP client library)
does not share its interpreter. Loopback only. Target: /v1/check >= 60% of the bare
endpoint's requests/s.

    python bench/serve.py [--seconds S] [--clients N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import httpx
from _common import free_port, percentile

TEXTS = ["hello there", "今天天气不错", "see you at 5", "加我微信 abc123456", "一起去吃饭吧"]
LOCAL = {"providers": {"local": {"type": "local"}}}
TARGET = 0.60
WARM_UP = 0.25  # seconds of load before measuring (connections open, caches warm)
Samples = list[tuple[float, float]]  # (finished at, latency), perf_counter seconds


# -- the servers (child processes) --------------------------------------------------------


def bare_app() -> object:
    from starlette.applications import Starlette  # noqa: PLC0415 - child process only
    from starlette.responses import Response  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    fixed = json.dumps({"results": [{"verdict": {"decision": "PASS", "label": "NORMAL"}}]})

    async def endpoint(request: object) -> Response:
        await request.body()  # type: ignore[attr-defined]  # read it, as /v1/check does
        return Response(fixed.encode(), media_type="application/json")

    async def healthz(request: object) -> Response:
        return Response(b'{"status": "ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/v1/check", endpoint, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def serve_child(kind: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415 - child process only

    from moderation_core.service import create_app  # noqa: PLC0415
    from moderation_core.service._run import _settled  # noqa: PLC0415

    # Both prepared as `moderation serve` prepares its app (the collector's freeze).
    app = _settled(bare_app() if kind == "bare" else create_app(LOCAL))  # type: ignore[arg-type]
    # The options `moderation serve` uses; the access log off on both sides (ours would
    # cost a JSON line per request, which a benchmark of the framework should not).
    uvicorn.run(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        server_header=False,
    )


@contextmanager
def server(kind: str) -> Iterator[tuple[int, int]]:
    """A server in a child process: (port, pid)."""
    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{kind} server did not start")
        yield port, child.pid
    finally:
        child.terminate()
        child.wait(timeout=30)


# -- the load ----------------------------------------------------------------------------


def requests_for(port: int) -> list[bytes]:
    wire = []
    for text in TEXTS:
        body = json.dumps({"contents": [text]}, ensure_ascii=False).encode()
        head = (
            f"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        wire.append(head.encode() + body)
    return wire


async def one_client(
    port: int, wire: list[bytes], until: Callable[[], bool], samples: Samples
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    try:
        while not until():
            started = time.perf_counter()
            writer.write(wire[n % len(wire)])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"server answered {status}")
            finished = time.perf_counter()
            samples.append((finished, finished - started))
            n += 1
    finally:
        writer.close()


async def load(
    work: Callable[[Callable[[], bool], Samples], Awaitable[None]],
    clients: int,
    seconds: float,
    server_pid: int | None = None,
) -> tuple[float, float, float, float]:
    """requests/s, p50 ms and p99 ms of ``clients`` concurrent loops, counting only the
    requests that finished after a warm-up; and the server's CPU microseconds per
    request over the whole run (nan without a server)."""
    cpu_before = cpu_seconds(server_pid)
    start = time.perf_counter() + WARM_UP
    stop_at = start + seconds
    samples: Samples = []

    def done() -> bool:
        return time.perf_counter() >= stop_at

    await asyncio.gather(*(work(done, samples) for _ in range(clients)))
    cpu = (cpu_seconds(server_pid) - cpu_before) / max(1, len(samples)) * 1e6
    measured = [latency for finished, latency in samples if start <= finished <= stop_at]
    return (
        len(measured) / seconds,
        percentile(measured, 50) * 1000,
        percentile(measured, 99) * 1000,
        cpu,
    )


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (Linux /proc); nan elsewhere."""
    if pid is None:
        return math.nan
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def http_load(
    port: int, pid: int, clients: int, seconds: float
) -> tuple[float, float, float, float]:
    wire = requests_for(port)

    async def work(until: Callable[[], bool], samples: Samples) -> None:
        await one_client(port, wire, until, samples)

    return await load(work, clients, seconds, pid)


async def library_load(clients: int, seconds: float) -> tuple[float, float, float, float]:
    from moderation_core import AsyncModerator  # noqa: PLC0415

    async with AsyncModerator(LOCAL) as moderator:

        async def work(until: Callable[[], bool], samples: Samples) -> None:
            n = 0
            while not until():
                started = time.perf_counter()
                await moderator.check_many([TEXTS[n % len(TEXTS)]])
                finished = time.perf_counter()
                samples.append((finished, finished - started))
                n += 1
                await asyncio.sleep(0)  # the local engine never yields: let the others run

        return await load(work, clients, seconds)


# -- the report --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.75, help="measured seconds per part")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=9, help="paired rounds; medians shown")
    parser.add_argument("--serve", choices=["bare", "service"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_child(args.serve, args.port)
        return

    # Both servers up for the whole run (an idle one costs nothing); each round measures
    # one right after the other, so a noisy neighbour hits both alike, and the ratio is
    # the median of the rounds' paired ratios.
    rows: dict[str, list[tuple[float, float, float, float]]] = {
        "bare": [],
        "service": [],
        "library": [],
    }
    with server("bare") as bare, server("service") as service:
        for _ in range(args.rounds):
            for kind, (port, pid) in (("bare", bare), ("service", service)):
                rows[kind].append(asyncio.run(http_load(port, pid, args.clients, args.seconds)))
    for _ in range(args.rounds):
        rows["library"].append(asyncio.run(library_load(args.clients, args.seconds)))

    def median(kind: str, column: int) -> float:
        return statistics.median(row[column] for row in rows[kind])

    print(
        f"POST /v1/check, local provider, {args.clients} concurrent keep-alive clients, "
        f"{args.seconds:g} s per part, {args.rounds} round(s), loopback"
    )
    labels = {
        "bare": "bare Starlette endpoint (ceiling)",
        "service": "moderation serve /v1/check",
        "library": "AsyncModerator in process",
    }
    for kind, label in labels.items():
        cpu = median(kind, 3)
        shown_cpu = f"  server CPU {cpu:5.0f} us/request" if not math.isnan(cpu) else ""
        print(
            f"{label:36} {median(kind, 0):8.0f} requests/s  "
            f"p50 {median(kind, 1):6.2f} ms  p99 {median(kind, 2):6.2f} ms{shown_cpu}"
        )
    ratios = [s[0] / b[0] for s, b in zip(rows["service"], rows["bare"], strict=True)]
    ratio = statistics.median(ratios)
    verdict = "met" if ratio >= TARGET else "MISSED"
    shown = ", ".join(f"{r:.0%}" for r in ratios)
    print(
        f"/v1/check / bare endpoint: {ratio:.0%} (rounds: {shown}); "
        f"target >= {TARGET:.0%}: {verdict}"
    )
    # The same ratio from server CPU per request: steadier on a shared machine, since
    # a neighbour's load delays a server without making its requests cost more.
    cpu_ratio = median("bare", 3) / median("service", 3)
    if not math.isnan(cpu_ratio):
        print(f"by server CPU per request: bare / /v1/check = {cpu_ratio:.0%}")
    if ratio < TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
