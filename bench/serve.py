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
WARM_UP = 0.5  # seconds of load before measuring
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

    app = bare_app() if kind == "bare" else create_app(LOCAL)
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
def server(kind: str) -> Iterator[int]:
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
        yield port
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
) -> tuple[float, float, float]:
    """requests/s, p50 ms and p99 ms of ``clients`` concurrent loops, counting only the
    requests that finished after a warm-up."""
    start = time.perf_counter() + WARM_UP
    stop_at = start + seconds
    samples: Samples = []

    def done() -> bool:
        return time.perf_counter() >= stop_at

    await asyncio.gather(*(work(done, samples) for _ in range(clients)))
    measured = [latency for finished, latency in samples if start <= finished <= stop_at]
    return (
        len(measured) / seconds,
        percentile(measured, 50) * 1000,
        percentile(measured, 99) * 1000,
    )


async def http_load(port: int, clients: int, seconds: float) -> tuple[float, float, float]:
    wire = requests_for(port)

    async def work(until: Callable[[], bool], samples: Samples) -> None:
        await one_client(port, wire, until, samples)

    return await load(work, clients, seconds)


async def library_load(clients: int, seconds: float) -> tuple[float, float, float]:
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
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per part")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="repeat; medians are shown")
    parser.add_argument("--serve", choices=["bare", "service"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_child(args.serve, args.port)
        return

    rows: dict[str, list[tuple[float, float, float]]] = {"bare": [], "service": [], "library": []}
    for _ in range(args.rounds):
        for kind in ("bare", "service"):
            with server(kind) as port:
                rows[kind].append(asyncio.run(http_load(port, args.clients, args.seconds)))
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
        print(
            f"{label:36} {median(kind, 0):8.0f} requests/s  "
            f"p50 {median(kind, 1):6.2f} ms  p99 {median(kind, 2):6.2f} ms"
        )
    ratio = median("service", 0) / median("bare", 0)
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"/v1/check / bare endpoint: {ratio:.0%}; target >= {TARGET:.0%}: {verdict}")
    if ratio < TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
