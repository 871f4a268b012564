"""NATS JetStream helpers for the worker tests: unique names, publishing inputs in
bulk, reading every stored result, cleaning up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Sequence
from typing import Any

import attrs
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

NATS_URL = "nats://127.0.0.1:4222"


@attrs.frozen
class Names:
    """A test's own stream, subjects and consumer (a random suffix each)."""

    suffix: str = attrs.field(factory=lambda: secrets.token_hex(4))

    @property
    def stream(self) -> str:
        return f"T_{self.suffix}"

    @property
    def results(self) -> str:
        return f"{self.stream}_RESULTS"

    @property
    def dead(self) -> str:
        return f"{self.stream}_DEAD"

    @property
    def subject_in(self) -> str:
        return f"t{self.suffix}.in"

    @property
    def subject_out(self) -> str:
        return f"t{self.suffix}.out"

    @property
    def dead_letter(self) -> str:
        return f"t{self.suffix}.dead"

    def worker(self, url: str = NATS_URL, **extra: Any) -> dict[str, Any]:
        """A [worker] table for these names."""
        return {
            "url": url,
            "stream": self.stream,
            "subject_in": self.subject_in,
            "subject_out": self.subject_out,
            "dead_letter": self.dead_letter,
            "durable": f"w{self.suffix}",
            **extra,
        }


async def connect(url: str = NATS_URL) -> tuple[Client, JetStreamContext]:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    return nc, nc.jetstream(timeout=10)


def message(n: int, text: str | None = None, **extra: Any) -> bytes:
    return json.dumps({"id": f"m{n}", "contents": [text or f"hello {n}"], **extra}).encode()


async def publish_all(js: JetStreamContext, subject: str, payloads: Sequence[bytes]) -> None:
    """Publish every payload and wait for every PubAck (pipelined, not one by one)."""
    chunk = 1000
    for start in range(0, len(payloads), chunk):
        acks = [await js.publish_async(subject, p) for p in payloads[start : start + chunk]]
        await asyncio.gather(*acks)


async def stored(js: JetStreamContext, stream: str) -> int:
    try:
        return (await js.stream_info(stream)).state.messages
    except nats.js.errors.NotFoundError:
        return 0


async def wait_stored(js: JetStreamContext, stream: str, count: int, timeout: float = 30) -> int:
    """Wait until ``stream`` holds at least ``count`` messages; what it holds then."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    held = await stored(js, stream)
    while held < count and loop.time() < until:
        await asyncio.sleep(0.05)
        held = await stored(js, stream)
    return held


async def wait_created(js: JetStreamContext, stream: str, timeout: float = 10) -> None:
    """Wait until a worker has created ``stream``."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while True:
        try:
            await js.stream_info(stream)
            return
        except nats.js.errors.NotFoundError:
            if loop.time() > until:
                raise
            await asyncio.sleep(0.05)


async def read_all(js: JetStreamContext, stream: str, subject: str) -> list[Msg]:
    """Every message stored in ``stream`` (an ordered ephemeral consumer, in batches)."""
    total = await stored(js, stream)
    got: list[Msg] = []
    if not total:
        return got
    sub = await js.pull_subscribe(subject, durable=None, stream=stream)
    try:
        while len(got) < total:
            try:
                batch = await sub.fetch(min(1000, total - len(got)), timeout=2)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            for msg in batch:
                await msg.ack()
            got.extend(batch)
    finally:
        await sub.unsubscribe()
    return got


async def delete_streams(js: JetStreamContext, names: Names) -> None:
    for stream in (names.stream, names.results, names.dead):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)
