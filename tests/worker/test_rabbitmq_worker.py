"""``moderation worker`` processes on the real RabbitMQ (127.0.0.1:5672), the local
provider behind them: the issue's Done-when for RabbitMQ (10,000 messages, two workers,
one SIGKILLed halfway, every result there, counted by id), the SIGTERM drain, and the
dead-letter path. Each test uses queues of its own, deleted afterwards.

RabbitMQ has no publish de-duplication: a worker killed after publishing a result and
before acknowledging its input leaves that input to be delivered again, and its result
is published again with the same ``message_id``. Readers count results by id; the
tests assert every id is there and bound the duplicates by what the killed worker could
hold (``in_flight``). Waits are bounded by counts of attempts, never asserted on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aio_pika
import attrs
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection

from moderation_core.worker import WorkerSettings
from moderation_core.worker._amqp import RabbitBroker
from tests import fake_secrets
from tests.worker.test_rabbitmq import delete_topology, rabbit_admin, rabbit_settings

ROOT = Path(__file__).resolve().parents[2]


def message(n: int, text: str | None = None) -> bytes:
    return json.dumps({"id": f"m{n}", "contents": [text or f"hello {n}"]}).encode()


LOCAL_PROVIDER = '[providers.local]\ntype = "local"\n'


def dead_vendor() -> str:
    """Tencent at a port nobody listens on, no retries: every check fails."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return (
        "[providers.tencent]\n"
        'type = "tencent_chat"\n'
        "sdkappid = 1400000000\n"
        'identifier = "admin"\n'
        f'secret_key = "{fake_secrets.TENCENT_SECRET_KEY}"\n'
        f'base_url = "http://127.0.0.1:{port}"\n'
        "retries = 0\n"
    )


def config_text(settings: WorkerSettings, providers: str = LOCAL_PROVIDER) -> str:
    worker = {
        "url": settings.url,
        "subject_in": settings.subject_in,
        "subject_out": settings.subject_out,
        "dead_letter": settings.dead_letter,
        "durable": settings.durable,
        "in_flight": settings.in_flight,
        "batch": settings.batch,
        "max_deliver": settings.max_deliver,
        "max_message_bytes": settings.max_message_bytes,
        "max_contents": settings.max_contents,
        "on_failure": settings.on_failure,
        "nak_delay": settings.nak_delay,
        "nak_max_delay": settings.nak_max_delay,
    }
    lines = [providers, "[worker]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in worker.items()]
    return "\n".join(lines) + "\n"


@attrs.define
class Reader:
    """Every message arriving on one queue, kept by ``message_id``."""

    by_id: collections.Counter[str] = attrs.field(factory=collections.Counter)
    bodies: list[dict[str, Any]] = attrs.field(factory=list)
    arrived: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def on_message(self, incoming: AbstractIncomingMessage) -> None:
        body = json.loads(incoming.body)
        assert incoming.message_id is not None
        self.by_id[incoming.message_id] += 1
        self.bodies.append(body)
        self.arrived.set()

    @property
    def distinct(self) -> int:
        return len(self.by_id)

    @property
    def duplicates(self) -> int:
        return sum(self.by_id.values()) - len(self.by_id)

    async def wait_for(self, done: Callable[[], bool], *, seconds: float = 50.0) -> None:
        """Until ``done()`` holds; fails after ``seconds`` without it (a bound on a
        hang, not a measurement)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"not done after {seconds:g} s: {self.distinct} read")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.5))


@attrs.define
class Deployment:
    """A test's queues, config file, worker processes and readers."""

    admin: AbstractRobustConnection
    channel: AbstractRobustChannel
    settings: WorkerSettings
    config: Path
    logs: Path
    processes: list[subprocess.Popen[bytes]] = attrs.field(factory=list)

    async def declare(self) -> None:
        """The topology, declared as a worker would (by the adapter itself), so inputs
        published before any worker runs are kept."""
        broker = RabbitBroker(self.settings)
        await broker.start()
        await broker.stop()

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "moderation_core.worker", "--config", str(self.config)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        self.processes.append(process)
        return process

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        return (self.logs / f"worker{self.processes.index(process)}.log").read_text()

    async def publish(self, payloads: list[bytes], *, first_id: int = 0) -> None:
        """Publish with confirms, pipelined a thousand at a time."""
        exchange = self.channel.default_exchange
        for start in range(0, len(payloads), 1000):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(body, message_id=f"in{first_id + start + i}"),
                        routing_key=self.settings.subject_in,
                    )
                    for i, body in enumerate(payloads[start : start + 1000])
                )
            )

    async def read(self, queue: str) -> Reader:
        reader = Reader()
        declared = await self.channel.declare_queue(queue, passive=True)
        await declared.consume(reader.on_message, no_ack=True)
        return reader

    async def queue_counts(self, queue: str) -> tuple[int, int]:
        """(ready messages, consumers) of ``queue``, asked of RabbitMQ now."""
        channel = await self.channel.get_underlay_channel()
        declared = await channel.queue_declare(queue, passive=True)
        assert declared.message_count is not None
        assert declared.consumer_count is not None
        return declared.message_count, declared.consumer_count

    async def settled_counts(self, queue: str, results: Reader) -> tuple[int, int]:
        """``queue_counts`` once they stop moving, as do the results read: a quorum queue
        applies acks through its Raft log, so its count may lag the acks by a moment."""
        last = None
        for _ in range(50):
            now = (*(await self.queue_counts(queue)), results.distinct)
            if now == last:
                return now[0], now[1]
            last = now
            await asyncio.sleep(0.1)
        raise AssertionError(f"the counts of {queue} never settled: {last}")

    async def wait_consumers(self, count: int, *, attempts: int = 100) -> None:
        for _ in range(attempts):
            if (await self.queue_counts(self.settings.subject_in))[1] == count:
                return
            for process in self.processes:
                assert process.poll() is None, self.log_of(process)
            await asyncio.sleep(0.2)
        raise AssertionError(f"the workers did not all consume: {self.processes}")

    async def terminate(self, process: subprocess.Popen[bytes], *, seconds: float = 30.0) -> int:
        process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(process.wait, seconds)


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    admin = await rabbit_admin()
    settings = rabbit_settings(f"t-{secrets.token_hex(5)}", in_flight=256, batch=64)
    channel = await admin.channel()
    made = Deployment(
        admin=admin,
        channel=channel,
        settings=settings,
        config=tmp_path / "moderation.toml",
        logs=tmp_path,
    )
    made.config.write_text(config_text(settings), encoding="utf-8")
    try:
        yield made
    finally:
        for process in made.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        await delete_topology(admin, made.settings)
        await admin.close()


def reconfigure(deployment: Deployment, providers: str = LOCAL_PROVIDER, **changes: Any) -> None:
    deployment.settings = attrs.evolve(deployment.settings, **changes)
    deployment.config.write_text(config_text(deployment.settings, providers), encoding="utf-8")


async def test_ten_thousand_messages_two_workers_one_killed_halfway(
    deployment: Deployment,
) -> None:
    total = 10_000
    await deployment.declare()
    results = await deployment.read(deployment.settings.subject_out)
    doomed = deployment.start_worker()
    survivor = deployment.start_worker()
    await deployment.wait_consumers(2)

    await deployment.publish([message(n) for n in range(total)])
    await results.wait_for(lambda: results.distinct >= total // 2)
    assert doomed.poll() is None, "the worker to kill stopped by itself"
    doomed.send_signal(signal.SIGKILL)  # holding up to in_flight unacknowledged messages
    assert await asyncio.to_thread(doomed.wait, 30) == -signal.SIGKILL

    await results.wait_for(lambda: results.distinct >= total)
    assert await deployment.terminate(survivor) == 0, deployment.log_of(survivor)

    assert set(results.by_id) == {f"m{n}" for n in range(total)}  # no loss
    assert all(body["id"] == f"m{int(body['id'][1:])}" for body in results.bodies)
    assert {body["outcome"]["action"] for body in results.bodies} <= {
        "ALLOW",
        "REVIEW",
        "BLOCK",
        "MASK",
    }
    # Duplicates: only inputs the killed worker had published a result for and not yet
    # acknowledged; the same message_id lets a reader drop them.
    assert results.duplicates <= deployment.settings.in_flight
    ready, consumers = await deployment.queue_counts(deployment.settings.subject_in)
    assert (ready, consumers) == (0, 0)  # every input acknowledged, nothing left over
    assert (await deployment.queue_counts(deployment.settings.dead_letter))[0] == 0


async def test_sigterm_drains_what_is_in_hand_then_exits_zero(deployment: Deployment) -> None:
    total = 3_000
    reconfigure(deployment, in_flight=64, batch=16)
    await deployment.declare()
    await deployment.publish([message(n) for n in range(total)])
    results = await deployment.read(deployment.settings.subject_out)
    first = deployment.start_worker()
    await results.wait_for(lambda: results.distinct >= 300)
    assert await deployment.terminate(first) == 0, deployment.log_of(first)
    assert "draining" in deployment.log_of(first)
    # Everything the drained worker took was acknowledged after its result, or handed
    # back unread: what remains in the queue is exactly what has no result.
    ready, consumers = await deployment.settled_counts(deployment.settings.subject_in, results)
    drained = set(results.by_id)
    assert consumers == 0
    assert ready + len(drained) == total

    second = deployment.start_worker()
    await results.wait_for(lambda: results.distinct >= total)
    assert await deployment.terminate(second) == 0, deployment.log_of(second)
    assert results.distinct == total
    assert results.duplicates == 0  # a drain leaves nothing to be published twice
    assert (await deployment.queue_counts(deployment.settings.subject_in))[0] == 0


async def test_bad_messages_are_dead_lettered_once_and_good_ones_answered(
    deployment: Deployment,
) -> None:
    reconfigure(deployment, max_message_bytes=2_000, max_contents=2, max_deliver=2)
    await deployment.declare()
    # Delivered max_deliver times and never settled (as if each worker holding it
    # died): the next delivery is dead-lettered by the loop, with an envelope.
    # (A worker of in_flight 1 each time: a stop returns what it buffered, and RabbitMQ
    # counts that return too.)
    await deployment.publish([message(0, "crashes every worker")], first_id=0)
    for held in range(1, deployment.settings.max_deliver + 1):
        broker = RabbitBroker(attrs.evolve(deployment.settings, in_flight=1))
        await broker.start()
        got: list[Any] = []
        while not got:
            got = await broker.fetch(1, 1.0)
        assert got[0].deliveries == held
        await broker.stop()  # without settling it
    bad = [
        b"not json at all",
        json.dumps({"id": "big", "contents": ["x" * 3_000]}).encode(),
        json.dumps({"id": "many", "contents": ["a", "b", "c"]}).encode(),
        json.dumps({"id": "shape", "contents": "not a list"}).encode(),
    ]
    await deployment.publish([*bad, message(1), message(2, "fine")], first_id=1)

    results = await deployment.read(deployment.settings.subject_out)
    dead = await deployment.read(deployment.settings.dead_letter)
    worker = deployment.start_worker()
    await results.wait_for(lambda: results.distinct >= 2 and dead.distinct >= 5)
    assert await deployment.terminate(worker) == 0, deployment.log_of(worker)

    assert sorted(results.by_id) == ["m1", "m2"]
    assert len(dead.bodies) == 5  # each once: terminated, never redelivered
    letters = {(body["id"], body["error"]["type"]): body for body in dead.bodies}
    # Over max_message_bytes is refused before reading it: no id is known.
    assert set(letters) == {
        (None, "MalformedMessage"),
        (None, "OversizedMessage"),
        ("many", "OversizedMessage"),
        ("shape", "MalformedMessage"),
        (None, "BrokerError"),  # not read: it may be what crashed the workers
    }
    assert letters[None, "MalformedMessage"]["data"] == "not json at all"
    assert (
        "data_base64" in letters[None, "OversizedMessage"]
        or "data" in letters[None, "OversizedMessage"]
    )
    crashed = letters[None, "BrokerError"]
    assert crashed["deliveries"] == deployment.settings.max_deliver + 1
    assert "crashes every worker" in crashed["data"]
    assert (await deployment.queue_counts(deployment.settings.subject_in))[0] == 0


async def test_a_vendor_outage_naks_with_a_delay_then_dead_letters(deployment: Deployment) -> None:
    """on_failure = "nak": a message every provider failed on goes back for later
    (through the retry queue: RabbitMQ has no delayed requeue), and on its last
    delivery to the dead letters, with the error; nothing is published as a result."""
    reconfigure(deployment, dead_vendor(), max_deliver=2, nak_delay=0.3, nak_max_delay=0.3)
    await deployment.declare()
    await deployment.publish([message(7, "vendor is down")])
    results = await deployment.read(deployment.settings.subject_out)
    dead = await deployment.read(deployment.settings.dead_letter)
    worker = deployment.start_worker()
    await dead.wait_for(lambda: dead.distinct >= 1)
    assert await deployment.terminate(worker) == 0, deployment.log_of(worker)

    assert results.distinct == 0
    [letter] = dead.bodies
    assert (letter["id"], letter["deliveries"]) == ("m7", 2)
    assert letter["error"]["type"] == "AllProvidersFailed"
    assert "returns in 0.3 s" in deployment.log_of(worker)
    assert fake_secrets.TENCENT_SECRET_KEY not in deployment.log_of(worker) + json.dumps(letter)
    assert (await deployment.queue_counts(deployment.settings.subject_in))[0] == 0
    assert (await deployment.queue_counts(f"{deployment.settings.subject_in}.retry.300ms"))[0] == 0
