"""Shared by the service tests (tests/service/test_*.py, the hook tests too): an app
driven in process through httpx's ASGI transport, and ``moderation serve`` run as a
real process on a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from moderation_core.service import create_app

LOOPBACK = "http://127.0.0.1"
LOCAL_ONLY: Mapping[str, Any] = {"providers": {"local": {"type": "local"}}}
START_TIMEOUT = 30.0  # seconds for a child `serve` to answer /healthz (imports, plugins)


@contextlib.asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client for ``app`` with its lifespan run around the block (the Moderator
    closes at the end, as under uvicorn)."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=LOOPBACK) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def serving_app(
    config: Mapping[str, Any] = LOCAL_ONLY, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(config, **options)) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def serve_process(
    config: Path | None, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``moderation serve`` in a child process on a free port: (base URL, process).
    Stopped with SIGTERM at the end (graceful shutdown), killed if it hangs."""
    with serve_processes(config, 1, *args, env=env) as (only,):
        yield only


@contextlib.contextmanager
def serve_processes(
    config: Path | None, count: int, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[list[tuple[str, subprocess.Popen[str]]]]:
    """``count`` serve processes with one config, started side by side."""
    started: list[tuple[str, subprocess.Popen[str]]] = []
    try:
        started.extend(_start(config, args, env) for _ in range(count))
        for url, child in started:
            _wait_until_serving(url, child)
        yield started
    finally:
        for _, child in started:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for _, child in started:
            stop(child)


def _start(
    config: Path | None, args: tuple[str, ...], env: Mapping[str, str] | None
) -> tuple[str, subprocess.Popen[str]]:
    port = free_port()
    command = [sys.executable, "-m", "moderation_core", "serve", "--port", str(port), *args]
    if config is not None:
        command += ["--config", str(config)]
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return f"http://127.0.0.1:{port}", child


def stop(child: subprocess.Popen[str], timeout: float = 20.0) -> tuple[str, str]:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        return child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.communicate()


def _wait_until_serving(url: str, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            _, err = child.communicate()
            raise AssertionError(f"serve exited with {child.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve did not answer {url}/healthz in {START_TIMEOUT} s")
