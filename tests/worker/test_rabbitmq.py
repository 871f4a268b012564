"""The RabbitMQ adapter (``moderation_core.worker._amqp``) against the real RabbitMQ on
127.0.0.1:5672: each test in queues of its own (random names), deleted afterwards.

RabbitMQ missing: skipped locally, a failure under ``CI=true``. Nothing here waits on
a clock for its verdict: delays are checked by where the message sits (the retry queue
and its TTL), then by its coming back.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import aiormq.exceptions
import attrs
import httpx
import pluggy
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import ChannelInvalidStateError

from moderation_core import AsyncModerator, load_config
from moderation_core.worker import BrokerError, Delivery, WorkerSettings, open_broker
from moderation_core.worker._amqp import DELIVERIES_HEADER, RabbitBroker, retry_delay_ms
from moderation_core.worker._broker import PublishRefused
from moderation_core.worker._loop import Worker
from tests.fakes import FakeVendor, fake_providers

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def rabbit_admin() -> AbstractRobustConnection:
    """A connection of the test's own, to feed inputs and read outputs."""
    try:
        return await aio_pika.connect_robust(AMQP_URL, timeout=5)
    except (OSError, aiormq.exceptions.AMQPError) as exc:
        message = f"RabbitMQ is not reachable at 127.0.0.1:5672: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def rabbit_settings(prefix: str, **overrides: Any) -> WorkerSettings:
    """Settings naming queues no other test (or parallel run) uses."""
    fields: dict[str, Any] = {
        "url": AMQP_URL,
        "subject_in": f"{prefix}.in",
        "subject_out": f"{prefix}.out",
        "dead_letter": f"{prefix}.dead",
        "durable": prefix,
        "max_deliver": 3,
        "in_flight": 64,
    }
    fields.update(overrides)
    return WorkerSettings(**fields)


async def delete_topology(admin: AbstractRobustConnection, settings: WorkerSettings) -> None:
    """Delete the queues (and exchange) a RabbitBroker may have declared for ``settings``."""
    channel = await admin.channel()
    names = [settings.subject_in, settings.subject_out, settings.dead_letter]
    names += [f"{settings.subject_in}.retry.{ms}ms" for ms in _RETRY_TTLS_USED]
    for name in names:
        await channel.queue_delete(name)
    if settings.exchange:
        await channel.exchange_delete(settings.exchange)
    await channel.close()


_RETRY_TTLS_USED = (300, 1000, 2000)


@attrs.define
class Rabbit:
    """The test's view of the broker: its settings, and helpers that act as the IM
    server (publish inputs) and as a reader of results."""

    admin: AbstractRobustConnection
    channel: AbstractChannel
    settings: WorkerSettings
    brokers: list[RabbitBroker] = attrs.field(factory=list)

    async def broker(self, **overrides: Any) -> RabbitBroker:
        settings = attrs.evolve(self.settings, **overrides) if overrides else self.settings
        broker = open_broker(settings)
        assert isinstance(broker, RabbitBroker)
        self.brokers.append(broker)
        await broker.start()
        return broker

    async def send(self, body: bytes, *, message_id: str | None = None) -> None:
        exchange = (
            await self.channel.get_exchange(self.settings.exchange)
            if self.settings.exchange
            else self.channel.default_exchange
        )
        await exchange.publish(
            aio_pika.Message(body, message_id=message_id, delivery_mode=2),
            routing_key=self.settings.subject_in,
        )

    async def count(self, queue: str) -> int:
        """Messages ready in ``queue`` (not counting unacknowledged ones)."""
        # On the underlying channel: aio-pika's robust channel answers a passive declare
        # of a queue it declared before from its cache, with the count of that time.
        channel = await self.channel.get_underlay_channel()
        declared = await channel.queue_declare(queue, passive=True)
        assert declared.message_count is not None
        return declared.message_count

    async def take(self, queue: str) -> AbstractIncomingMessage | None:
        declared = await self.channel.declare_queue(queue, passive=True)
        return await declared.get(fail=False, no_ack=True)


@pytest.fixture
async def rabbit() -> AsyncIterator[Rabbit]:
    admin = await rabbit_admin()
    settings = rabbit_settings(f"t-{secrets.token_hex(5)}")
    channel = await admin.channel()
    state = Rabbit(admin=admin, channel=channel, settings=settings)
    try:
        yield state
    finally:
        for broker in state.brokers:
            await broker.stop()
        await delete_topology(admin, state.settings)  # the test may have set an exchange
        await admin.close()


async def fetch_one(broker: RabbitBroker, *, attempts: int = 20) -> Delivery:
    """The next delivery, waiting up to ``attempts`` x 1 s (a generous bound, not a
    measurement: the test fails only if nothing ever comes)."""
    for _ in range(attempts):
        got = await broker.fetch(1, 1.0)
        if got:
            return got[0]
    raise AssertionError("no delivery came")


async def until(action: Callable[[], Awaitable[Any]], *, attempts: int = 30) -> Any:
    """``action()``'s result once it stops raising BrokerError (the broker reconnecting)."""
    for _ in range(attempts):
        try:
            return await action()
        except BrokerError:
            await asyncio.sleep(0.5)
    raise AssertionError("the broker never came back")


# -- the seam ---------------------------------------------------------------------


async def test_open_broker_picks_rabbitmq_for_amqp_urls() -> None:
    broker = open_broker(rabbit_settings("t-unused"))
    assert isinstance(broker, RabbitBroker)
    assert "guest:***@" in repr(broker)
    assert ":guest@" not in repr(broker)


async def test_publish_fetch_ack(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    for i in range(3):
        await rabbit.send(f'{{"id": "m{i}"}}'.encode(), message_id=f"m{i}")
    got: list[Delivery] = []
    while len(got) < 3:
        got += await broker.fetch(10, 5.0)
    assert sorted(d.data for d in got) == [b'{"id": "m0"}', b'{"id": "m1"}', b'{"id": "m2"}']
    assert [d.deliveries for d in got] == [1, 1, 1]
    for delivery in got:
        await delivery.ack()
    assert await broker.fetch(10, 0.2) == []

    await broker.publish(rabbit.settings.subject_out, b'{"id": "m0"}', msg_id="m0")
    result = await rabbit.take(rabbit.settings.subject_out)
    assert result is not None
    assert result.body == b'{"id": "m0"}'
    assert result.message_id == "m0"
    assert result.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert result.content_type == "application/json"

    await broker.stop()
    assert await rabbit.count(rabbit.settings.subject_in) == 0  # acked: nothing came back


async def test_an_unroutable_publish_is_refused_for_good(rabbit: Rabbit) -> None:
    # Permanent: the loop dead-letters (or terminates) the input instead of retrying.
    broker = await rabbit.broker()
    with pytest.raises(PublishRefused, match="no queue is bound") as refused:
        await broker.publish(f"{rabbit.settings.subject_in}.nowhere", b"{}", msg_id="x")
    assert "guest:guest" not in str(refused.value)
    await broker.publish(rabbit.settings.subject_out, b"{}", msg_id="x")  # still usable


async def test_publish_many_confirms_each_and_reports_each_failure(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    out = rabbit.settings.subject_out
    done = await broker.publish_many(out, [(b'{"id": "a"}', "a"), (b'{"id": "b"}', "b")])
    assert done == [None, None]  # confirmed: stored (counted once the queue shows them)
    for _ in range(50):
        if await rabbit.count(out) == 2:
            break
        await asyncio.sleep(0.1)
    assert await rabbit.count(out) == 2
    nowhere = await broker.publish_many(f"{rabbit.settings.subject_in}.nowhere", [(b"{}", "x")])
    assert [type(e) for e in nowhere] == [PublishRefused]


async def test_a_result_nobody_can_receive_is_dead_lettered_not_retried(
    rabbit: Rabbit, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    # The worker loop on RabbitMQ, its output queue deleted under it: the result is
    # unroutable for good, so the input goes to the dead letters (and is acked) rather
    # than holding a prefetch slot while its publish is retried for ever.
    cfg = load_config(fake_providers(("a", {}), deadline=1))
    settings = rabbit.settings
    broker = await rabbit.broker()
    await rabbit.channel.queue_delete(settings.subject_out)
    async with AsyncModerator(
        cfg, plugin_manager=plugin_manager, transport=httpx.MockTransport(vendor)
    ) as moderator:
        loop = Worker(moderator, broker, settings, fetch_timeout=0.2)
        task = asyncio.create_task(loop.run())
        await rabbit.send(b'{"id": "m1", "contents": ["hello"]}', message_id="m1")
        letter = None
        for _ in range(100):  # a bound on waiting, not a measurement
            letter = await rabbit.take(settings.dead_letter)
            if letter is not None:
                break
            await asyncio.sleep(0.1)
        loop.stop()
        await asyncio.wait_for(task, 30)
    assert letter is not None
    body = json.loads(letter.body)
    assert (body["id"], body["error"]["type"]) == ("m1", "PublishRefused")
    assert (loop.stats.dead_letters, loop.stats.results) == (1, 0)
    assert await rabbit.count(settings.subject_in) == 0


async def test_fetch_respects_limit_and_returns_empty_on_timeout(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    assert await broker.fetch(5, 0.1) == []
    for i in range(5):
        await rabbit.send(b"x", message_id=str(i))
    first: list[Delivery] = []
    while not first:
        first = await broker.fetch(2, 5.0)
    assert 1 <= len(first) <= 2
    rest: list[Delivery] = []
    while len(first) + len(rest) < 5:
        rest += await broker.fetch(10, 5.0)
    assert len(first) + len(rest) == 5
    for delivery in first + rest:
        await delivery.ack()


async def test_quorum_queue_with_a_delivery_limit_and_a_dead_letter_exchange(
    rabbit: Rabbit,
) -> None:
    broker = await rabbit.broker()
    assert broker.quorum  # RabbitMQ >= 3.8 here
    settings = rabbit.settings
    # Declaring with the same arguments succeeds; any other arguments would be refused.
    await rabbit.channel.declare_queue(
        settings.subject_in,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": settings.max_deliver,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": settings.dead_letter,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )


async def test_nak_without_delay_redelivers_and_counts(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    await rabbit.send(b"again", message_id="a")
    first = await fetch_one(broker)
    assert first.deliveries == 1
    await first.nak()
    second = await fetch_one(broker)
    assert (second.data, second.deliveries) == (b"again", 2)
    await second.ack()


async def test_nak_with_delay_parks_the_message_then_it_comes_back(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    await rabbit.send(b"later", message_id="l")
    first = await fetch_one(broker)
    await first.nak(2.0)
    # Parked in the 2000 ms retry queue (published and confirmed before nak returned),
    # and no longer held by the worker: the original was acked.
    retry = f"{rabbit.settings.subject_in}.retry.2000ms"
    assert await rabbit.count(retry) == 1
    back = await fetch_one(broker)
    assert back.data == b"later"
    assert back.deliveries == 2  # counted across the trip through the retry queue
    await back.ack()
    assert await rabbit.count(retry) == 0


async def test_nak_with_delay_keeps_counting_toward_max_deliver(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    await rabbit.send(b"flaky", message_id="f")
    delivery = await fetch_one(broker)
    seen = [delivery.deliveries]
    for _ in range(2):
        await delivery.nak(0.3)
        delivery = await fetch_one(broker)
        seen.append(delivery.deliveries)
    await delivery.nak()  # a plain requeue after two delayed ones
    delivery = await fetch_one(broker)
    seen.append(delivery.deliveries)
    assert seen == [1, 2, 3, 4]
    await delivery.ack()


async def test_a_message_parked_for_later_keeps_its_properties(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    exchange = rabbit.channel.default_exchange
    await exchange.publish(
        aio_pika.Message(
            b"props",
            message_id="p1",
            correlation_id="c1",
            content_type="application/json",
            headers={"trace": "abc"},
        ),
        routing_key=rabbit.settings.subject_in,
    )
    first = await fetch_one(broker)
    await first.nak(0.3)
    back = await fetch_one(broker)
    await back.ack()
    # The adapter's message (the delivery wraps it) is what a reader would see.
    message = back._message  # type: ignore[attr-defined]
    assert (message.message_id, message.correlation_id) == ("p1", "c1")
    assert message.content_type == "application/json"
    assert message.headers["trace"] == "abc"
    assert message.headers[DELIVERIES_HEADER] == 1


async def test_term_does_not_redeliver_nor_dead_letter_again(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    await rabbit.send(b"poison", message_id="p")
    delivery = await fetch_one(broker)
    await delivery.term()
    assert await broker.fetch(1, 0.3) == []
    await broker.stop()  # an unsettled message would go back to the queue here
    assert await rabbit.count(rabbit.settings.subject_in) == 0
    # The loop publishes the dead-letter envelope; the queue's own DLX adds nothing.
    assert await rabbit.count(rabbit.settings.dead_letter) == 0


async def test_settling_twice_is_a_broker_error(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    await rabbit.send(b"once", message_id="o")
    delivery = await fetch_one(broker)
    await delivery.ack()
    with pytest.raises(BrokerError, match="settled already"):
        await delivery.ack()


@pytest.mark.parametrize("max_deliver", [1, 3])
async def test_over_the_delivery_limit_rabbitmq_dead_letters_the_input(
    rabbit: Rabbit, max_deliver: int
) -> None:
    """A message returned max_deliver times comes once more (the loop dead-letters it
    then, with an envelope); returned that time too (it crashes every worker reaching
    it), the queue dead-letters it, raw."""
    broker = await rabbit.broker(max_deliver=max_deliver)
    await rabbit.send(b"crashes workers", message_id="c")
    for expected in range(1, max_deliver + 2):
        delivery = await fetch_one(broker)
        assert delivery.deliveries == expected
        await delivery.nak()  # as a worker dying with it in hand would return it
    assert await broker.fetch(1, 0.5) == []
    dead: AbstractIncomingMessage | None = None
    for _ in range(20):
        dead = await rabbit.take(rabbit.settings.dead_letter)
        if dead is not None:
            break
        await asyncio.sleep(0.1)
    assert dead is not None
    assert dead.body == b"crashes workers"
    assert dead.message_id == "c"
    assert dead.headers["x-first-death-reason"] == "delivery_limit"


async def test_unacked_messages_go_to_another_worker_when_one_leaves(rabbit: Rabbit) -> None:
    first = await rabbit.broker()
    await rabbit.send(b"in hand", message_id="h")
    held = await fetch_one(first)
    assert held.deliveries == 1
    second = await rabbit.broker()
    await first.stop()  # without settling: RabbitMQ returns it at once
    again = await fetch_one(second)
    assert (again.data, again.deliveries) == (b"in hand", 2)
    await again.ack()


async def test_stop_returns_buffered_messages_and_is_idempotent(rabbit: Rabbit) -> None:
    first = await rabbit.broker(in_flight=10)
    for i in range(10):
        await rabbit.send(b"b", message_id=str(i))
    taken = await first.fetch(3, 5.0)
    assert taken
    await first.stop()
    await first.stop()
    with pytest.raises(BrokerError, match="after stop"):
        await first.fetch(1, 0.1)
    with pytest.raises(BrokerError, match="after stop"):
        await first.publish(rabbit.settings.subject_out, b"x", msg_id="x")
    second = await rabbit.broker(in_flight=10)
    got: list[Delivery] = []
    while len(got) < 10:
        got += await second.fetch(10, 5.0)
    assert len(got) == 10
    for delivery in got:
        await delivery.ack()


async def test_restarts_with_a_full_prefetch_never_dead_letter_unprocessed_messages(
    rabbit: Rabbit,
) -> None:
    # A rolling restart stops workers whose prefetch holds messages they never started
    # on. Those must not count as failed deliveries: after more restarts than
    # max_deliver, none may have been dead-lettered by the queue's delivery limit
    # (a nack, or closing the channel, counts on a quorum queue: RabbitMQ 3.x).
    settings = rabbit.settings
    total = 10
    await (await rabbit.broker()).stop()  # the queues declared
    for i in range(total):
        await rabbit.send(f"m{i}".encode(), message_id=f"m{i}")
    for _ in range(settings.max_deliver + 2):
        broker = await rabbit.broker(in_flight=total)
        for _ in range(100):  # until RabbitMQ pushed every message to this worker
            if await rabbit.count(settings.subject_in) == 0:
                break
            await asyncio.sleep(0.05)
        assert await rabbit.count(settings.subject_in) == 0
        await broker.stop()  # SIGTERM: none of them started
    assert await rabbit.count(settings.dead_letter) == 0
    last = await rabbit.broker(in_flight=total)
    got: list[Delivery] = []
    for _ in range(20):
        got += await last.fetch(total, 1.0)
        if len(got) == total:
            break
    assert sorted(d.data for d in got) == sorted(f"m{i}".encode() for i in range(total))
    assert [d.deliveries for d in got] == [1] * total  # the restarts did not count
    for delivery in got:
        await delivery.ack()


# -- exchanges ----------------------------------------------------------------------


async def test_with_an_exchange_inputs_and_results_route_through_it(rabbit: Rabbit) -> None:
    rabbit.settings = attrs.evolve(rabbit.settings, exchange=f"{rabbit.settings.durable}.x")
    broker = await rabbit.broker()
    await rabbit.send(b"via exchange", message_id="e")
    delivery = await fetch_one(broker)
    assert delivery.data == b"via exchange"
    await broker.publish(rabbit.settings.subject_out, b"result", msg_id="e")
    await broker.publish(rabbit.settings.dead_letter, b"dead", msg_id="e")
    await delivery.ack()
    result = await rabbit.take(rabbit.settings.subject_out)
    dead = await rabbit.take(rabbit.settings.dead_letter)
    assert result is not None
    assert result.body == b"result"
    assert result.exchange == rabbit.settings.exchange
    assert dead is not None
    assert dead.body == b"dead"
    with pytest.raises(BrokerError, match="no queue is bound"):
        await broker.publish("nobody.listens", b"lost?", msg_id="e")


async def test_an_existing_exchange_of_another_type_is_used_as_it_is(rabbit: Rabbit) -> None:
    name = f"{rabbit.settings.durable}.direct"
    rabbit.settings = attrs.evolve(rabbit.settings, exchange=name)
    await rabbit.channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT, durable=True)
    broker = await rabbit.broker()
    await broker.publish(rabbit.settings.subject_out, b"r", msg_id="r")
    assert await rabbit.count(rabbit.settings.subject_out) == 1


async def test_an_existing_output_queue_is_kept_as_the_reader_declared_it(rabbit: Rabbit) -> None:
    await rabbit.channel.declare_queue(
        rabbit.settings.subject_out, durable=True, arguments={"x-max-length": 1000}
    )
    broker = await rabbit.broker()
    await broker.publish(rabbit.settings.subject_out, b"r", msg_id="r")
    assert await rabbit.count(rabbit.settings.subject_out) == 1


# -- errors -------------------------------------------------------------------------


async def test_an_input_queue_with_other_arguments_is_refused_with_the_fix(
    rabbit: Rabbit,
) -> None:
    await rabbit.channel.declare_queue(rabbit.settings.subject_in, durable=True)
    with pytest.raises(BrokerError) as caught:
        await rabbit.broker()
    message = str(caught.value)
    assert repr(rabbit.settings.subject_in) in message
    assert "other arguments" in message
    assert "delete it" in message
    assert ":guest@" not in message


async def test_an_unreachable_broker_is_a_broker_error_without_the_password() -> None:
    settings = rabbit_settings("t-nowhere", url="amqp://guest:s3cr3t-pw@127.0.0.1:1/")
    broker = open_broker(settings)
    with pytest.raises(BrokerError) as caught:
        await broker.start()
    assert "s3cr3t-pw" not in str(caught.value)
    assert "guest:***@127.0.0.1:1" in str(caught.value)
    assert "s3cr3t-pw" not in repr(broker)


async def test_refused_credentials_are_a_broker_error_without_the_password() -> None:
    await (await rabbit_admin()).close()  # skip when RabbitMQ is absent
    settings = rabbit_settings("t-badpw", url="amqp://guest:n0t-the-pw@127.0.0.1:5672/")
    with pytest.raises(BrokerError) as caught:
        await open_broker(settings).start()
    assert "n0t-the-pw" not in str(caught.value)
    assert "could not connect" in str(caught.value)
    assert caught.value.__suppress_context__  # the library's own error is not shown


# -- reconnection -------------------------------------------------------------------


def close_connections_named(name: str) -> int:
    """Close, from the server side, the connections whose client named them ``name``
    (as a broker restart would): ``rabbitmqctl close_connection``. Returns how many."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("rabbitmqctl is not installed here: cannot close a connection server-side")
    listed = subprocess.run(
        [ctl, "-q", "list_connections", "--no-table-headers", "pid", "client_properties"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip(f"rabbitmqctl cannot list connections here: {listed.stderr[:200]}")
    closed = 0
    for line in listed.stdout.splitlines():
        if f'"connection_name","{name}"' in line:
            pid = line.split("\t", 1)[0]
            subprocess.run(
                [ctl, "-q", "close_connection", pid, "test: simulated broker restart"],
                capture_output=True,
                timeout=60,
                check=True,
            )
            closed += 1
    return closed


async def test_survives_the_broker_closing_its_connection(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    await rabbit.send(b"before", message_id="b")
    held = await fetch_one(broker)
    name = f"moderation-worker {rabbit.settings.durable} pid {os.getpid()}"
    assert await asyncio.to_thread(close_connections_named, name) == 1

    # The delivery in hand was returned by RabbitMQ with the connection: its ack fails
    # loudly (never a silent success), and it comes again.
    for _ in range(50):
        try:
            held._message.channel  # type: ignore[attr-defined]  # noqa: B018
        except ChannelInvalidStateError:
            break
        await asyncio.sleep(0.1)
    with pytest.raises(BrokerError, match="closed since"):
        await held.ack()
    again: Delivery = await until(lambda: fetch_one(broker, attempts=2))
    assert (again.data, again.deliveries) == (b"before", 2)
    await again.ack()

    # Consuming and publishing work again on the restored connection.
    await rabbit.send(b"after", message_id="a")
    after: Delivery = await until(lambda: fetch_one(broker, attempts=2))
    assert after.data == b"after"
    await until(lambda: broker.publish(rabbit.settings.subject_out, b"r", msg_id="a"))
    await after.ack()
    assert await rabbit.count(rabbit.settings.subject_out) == 1


# -- pure functions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "ms"),
    [
        (0.0, 1),
        (0.3, 300),
        (1.0, 1000),
        (2.4, 2000),
        (2.6, 3000),
        (4.2, 5000),
        (5.0, 5000),
        (6.1, 7000),
        (9.0, 10000),
        (300.0, 300000),
        (137.0, 150000),
        (1.3, 1500),
    ],
)
def test_retry_delays_snap_to_a_few_steps(delay: float, ms: int) -> None:
    assert retry_delay_ms(delay) == ms


def test_retry_delays_stay_within_a_quarter() -> None:
    for tenth_ms in range(10, 3_000_000, 7_919):
        delay = tenth_ms / 10_000
        assert abs(retry_delay_ms(delay) - delay * 1000) <= 0.25 * delay * 1000 + 1
