"""Serve an emulator (a function from httpx.Request to httpx.Response) over real HTTP.

A small HTTP/1.1 server on asyncio streams with keep-alive: emulators are test, demo
and benchmark tools, and this keeps them free of a web-framework dependency. By default
the emulator runs in a thread pool, so one that sleeps (a "slow answer" fault) holds a
thread, not the server; ``threaded=False`` answers inline, faster, for benchmarks of
emulators that never sleep.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from ._provider import Emulator

__all__ = ["EmulatorServer", "serve_emulator", "serving"]

log = logging.getLogger("moderation_core.emulator")

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


class EmulatorServer:
    """An emulator served on ``host:port`` (0 picks a free port) by an event loop in a
    thread of its own (so it works beside any loop the caller runs); ``url`` is where
    to point a provider's ``base_url``."""

    def __init__(
        self,
        emulator: Emulator,
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 128,
        *,
        threaded: bool = True,
    ) -> None:
        self.emulator = emulator
        self.threaded = threaded
        self._connections: set[asyncio.Task[None]] = set()
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="emulator")
        self._loop = asyncio.new_event_loop()
        # Set by the loop's own thread once run_forever returns: a Thread.join interrupted
        # by Ctrl-C can later report the thread finished while its loop still runs.
        self._loop_stopped = threading.Event()
        self._thread = threading.Thread(target=self._run_loop, name="emulator", daemon=True)
        self._thread.start()
        bind = asyncio.start_server(self._connection, host, port, limit=MAX_HEADER_BYTES)
        self._server = asyncio.run_coroutine_threadsafe(bind, self._loop).result(timeout=10)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run_loop(self) -> None:
        try:
            self._loop.run_forever()
        finally:
            self._loop_stopped.set()

    def serve_forever(self) -> None:
        """Block until interrupted (the server already runs in its thread)."""
        while not self._loop_stopped.wait(timeout=0.5):
            pass

    def stop(self) -> None:
        async def shut() -> None:
            self._server.close()
            for task in self._connections:
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

        if not self._loop.is_closed():
            if not self._loop_stopped.is_set():
                asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5)
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._loop_stopped.wait(timeout=5)
            # A loop that would not stop is left to the daemon thread, never closed under it.
            if self._loop_stopped.is_set():
                self._thread.join(timeout=5)
                self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                request, keep_alive = await self._request(head, reader)
                if self.threaded:
                    response = await self._loop.run_in_executor(self._pool, self._answer, request)
                else:
                    response = self._answer(request)
                writer.write(response)
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _request(
        self, head: bytes, reader: asyncio.StreamReader
    ) -> tuple[httpx.Request, bool]:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [tuple(line.split(":", 1)) for line in lines[1:] if ":" in line]
        pairs = [(name.strip(), value.strip()) for name, value in headers]
        lowered = {name.lower(): value for name, value in pairs}
        length = min(int(lowered.get("content-length", "0") or 0), MAX_BODY_BYTES)
        body = await reader.readexactly(length) if length else b""
        host = lowered.get("host") or f"{self.host}:{self.port}"
        keep_alive = lowered.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        return httpx.Request(
            method, f"http://{host}{target}", headers=pairs, content=body
        ), keep_alive

    def _answer(self, request: httpx.Request) -> bytes:
        try:
            response = self.emulator(request)
            content = response.read()
        except Exception:
            # Never the query string in a log line: Tencent's carries the UserSig.
            log.exception("emulator failed on %s %s", request.method, request.url.path)
            response, content = httpx.Response(500), b"emulator error"
        reason = response.reason_phrase or "OK"
        head = [f"HTTP/1.1 {response.status_code} {reason}"]
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                head.append(f"{name}: {value}")
        head.append(f"Content-Length: {len(content)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + content


def serve_emulator(
    emulator: Emulator, host: str = "127.0.0.1", port: int = 0, *, threaded: bool = True
) -> EmulatorServer:
    """Start a server (port 0 picks a free one); ``stop`` ends it. ``threaded=False``
    answers on the event loop itself: faster, for emulators that never sleep."""
    return EmulatorServer(emulator, host, port, threaded=threaded)


@contextmanager
def serving(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[EmulatorServer]:
    """Run an emulator server in a background thread for the duration of a block."""
    server = serve_emulator(emulator, host, port)
    try:
        yield server
    finally:
        server.stop()
