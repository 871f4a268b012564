"""The NATS JetStream adapter against the real server: what it creates, publish with
de-duplication, fetch, ack, nak with delay, term, competing consumers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nats.js.api import AckPolicy, RetentionPolicy

from moderation_core import load_config
from moderation_core.worker import BrokerError, WorkerSettings, worker_settings
from moderation_core.worker._nats import NatsBroker, _Confirms
from tests.worker.nats_support import Names, connect, message, publish_all, stored


def settings(names: Names, **extra: Any) -> WorkerSettings:
    config = load_config(
        {
            "moderation": {"deadline": 0.5},
            "providers": {"local": {"type": "local"}},
            "worker": names.worker(**{"ack_wait": 1, "max_deliver": 3, **extra}),
        }
    )
    return worker_settings(config)


async def fetch_some(broker: NatsBroker, want: int, timeout: float = 10) -> list[Any]:
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    got: list[Any] = []
    while len(got) < want and loop.time() < until:
        got.extend(await broker.fetch(want - len(got), 0.5))
    return got


async def test_start_creates_streams_and_a_shared_durable_consumer(names: Names) -> None:
    s = settings(names, duplicate_window=30)
    one, two = NatsBroker(s), NatsBroker(s)
    await one.start()
    await two.start()  # a second worker finds everything in place
    nc, js = await connect()
    try:
        inputs = await js.stream_info(names.stream)
        assert inputs.config.subjects == [names.subject_in]
        assert inputs.config.retention == RetentionPolicy.WORK_QUEUE
        assert inputs.config.duplicate_window == 30
        for stream, subject in (
            (names.results, names.subject_out),
            (names.dead, names.dead_letter),
        ):
            info = await js.stream_info(stream)
            assert info.config.subjects == [subject]
        consumer = await js.consumer_info(names.stream, s.durable)
        assert consumer.config.ack_wait == 1
        assert consumer.config.max_deliver == 4  # max_deliver + 1: the loop dead-letters the last
        assert consumer.config.filter_subject == names.subject_in
        assert consumer.config.ack_policy == AckPolicy.EXPLICIT
    finally:
        await one.stop()
        await two.stop()
        await nc.close()


async def test_publish_is_confirmed_and_deduplicated_by_msg_id(names: Names) -> None:
    broker = NatsBroker(settings(names))
    await broker.start()
    nc, js = await connect()
    try:
        await broker.publish(names.subject_out, b'{"id": "a"}', msg_id="a")
        await broker.publish(names.subject_out, b'{"id": "a"}', msg_id="a")  # a redelivery's
        await broker.publish(names.subject_out, b'{"id": "b"}', msg_id="b")
        assert await stored(js, names.results) == 2
        last = await js.get_last_msg(names.results, names.subject_out)
        assert last.headers == {"Nats-Msg-Id": "b"}
    finally:
        await broker.stop()
        await nc.close()


async def test_publish_many_confirms_each_and_reports_each_failure(names: Names) -> None:
    broker = NatsBroker(settings(names))
    await broker.start()
    nc, js = await connect()
    try:
        too_big = b"x" * (nc.max_payload + 1)
        messages = [(b'{"id": "a"}', "a"), (too_big, "big"), (b'{"id": "b"}', "b")]
        first, refused, last = await broker.publish_many(names.subject_out, messages)
        assert first is None
        assert last is None
        assert isinstance(refused, BrokerError)  # left to publish(), which says why
        assert await stored(js, names.results) == 2
        again = await broker.publish_many(names.subject_out, [(b'{"id": "a"}', "a")])
        assert again == [None]  # a redelivery's result: confirmed, stored once
        assert await stored(js, names.results) == 2
        nowhere = await broker.publish_many(f"{names.subject_in}x", [(b"{}", "c")])
        assert [type(e) for e in nowhere] == [BrokerError]  # no stream listens there
    finally:
        await broker.stop()
        await nc.close()


async def test_fetch_returns_nothing_on_timeout(names: Names) -> None:
    broker = NatsBroker(settings(names))
    await broker.start()
    try:
        assert await broker.fetch(10, 0.2) == []
    finally:
        await broker.stop()


async def test_ack_removes_nak_redelivers_term_drops(names: Names) -> None:
    broker = NatsBroker(settings(names, ack_wait=30))
    await broker.start()
    nc, js = await connect()
    try:
        await publish_all(js, names.subject_in, [message(n) for n in range(3)])
        first = await fetch_some(broker, 3)
        assert [d.deliveries for d in first] == [1, 1, 1]
        by_id = {d.data: d for d in first}
        await by_id[message(0)].ack()
        await by_id[message(1)].nak(delay=0.2)
        await by_id[message(2)].term()
        again = await fetch_some(broker, 1)
        assert [(d.data, d.deliveries) for d in again] == [(message(1), 2)]
        await again[0].ack()
        assert await broker.fetch(5, 0.5) == []  # the terminated one never returns
        assert await stored(js, names.stream) == 0  # work queue: settled messages are gone
    finally:
        await broker.stop()
        await nc.close()


async def test_unacked_messages_return_after_the_ack_wait(names: Names) -> None:
    broker = NatsBroker(settings(names, ack_wait=1))
    await broker.start()
    nc, js = await connect()
    try:
        await publish_all(js, names.subject_in, [message(1)])
        (held,) = await fetch_some(broker, 1)
        await held.in_progress()  # allowed any time; restarts the wait
        (back,) = await fetch_some(broker, 1)  # never acked: delivered again
        # At least the second delivery: on a loaded machine a redelivery can land in a pull
        # request that expired on the way, which JetStream counts as one more delivery.
        assert back.data == message(1)
        assert back.deliveries >= 2
        await back.ack()
    finally:
        await broker.stop()
        await nc.close()


async def test_workers_share_the_consumer(names: Names) -> None:
    s = settings(names, ack_wait=30)
    one, two = NatsBroker(s), NatsBroker(s)
    await one.start()
    await two.start()
    nc, js = await connect()
    try:
        await publish_all(js, names.subject_in, [message(n) for n in range(20)])
        a = await one.fetch(10, 1)
        b = await fetch_some(two, 20 - len(a))
        assert len(a) + len(b) == 20
        assert {d.data for d in a}.isdisjoint({d.data for d in b})
        for d in [*a, *b]:
            await d.ack()
    finally:
        await one.stop()
        await two.stop()
        await nc.close()


async def test_unreachable_broker_is_a_broker_error_without_password(names: Names) -> None:
    broker = NatsBroker(settings(names, url="nats://user:s3cret-pw@127.0.0.1:1"))
    with pytest.raises(BrokerError) as caught:
        await broker.start()
    assert "s3cret" not in str(caught.value)
    assert "nats://user:***@127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in repr(broker)


async def test_fetch_returns_what_is_there_without_waiting_for_a_full_batch(names: Names) -> None:
    broker = NatsBroker(settings(names, ack_wait=30))
    await broker.start()
    nc, js = await connect()
    try:
        await publish_all(js, names.subject_in, [message(n) for n in range(3)])
        got = await broker.fetch(10, 5)  # the server answers no_wait with what it holds
        assert sorted(d.data for d in got) == sorted(message(n) for n in range(3))
        for d in got:
            await d.ack()
    finally:
        await broker.stop()
        await nc.close()


async def test_a_waiting_fetch_returns_the_first_arrival_and_the_next_the_rest(
    names: Names,
) -> None:
    s = settings(names, ack_wait=30)
    broker = NatsBroker(s)
    await broker.start()
    nc, js = await connect()
    try:
        waiting = asyncio.create_task(broker.fetch(5, 5))  # lingers: the stream is empty
        await asyncio.sleep(0.2)
        await publish_all(js, names.subject_in, [message(1)])
        first = await waiting
        assert [d.data for d in first] == [message(1)]
        # The lingering request asked for one message only, so nothing else was
        # delivered to it: the rest stays in the stream until the next fetch.
        await publish_all(js, names.subject_in, [message(2), message(3)])
        info = await js.consumer_info(names.stream, s.durable)
        assert (info.num_ack_pending, info.num_pending) == (1, 2)
        later = await broker.fetch(5, 5)
        assert sorted(d.data for d in later) == [message(2), message(3)]
        for d in [*first, *later]:
            await d.ack()
    finally:
        await broker.stop()
        await nc.close()


async def test_a_deleted_consumer_fails_a_fetch_and_the_next_creates_it_again(
    names: Names,
) -> None:
    s = settings(names, ack_wait=30)
    broker = NatsBroker(s)
    await broker.start()
    nc, js = await connect()
    try:
        waiting = asyncio.create_task(broker.fetch(5, 5))
        await asyncio.sleep(0.2)
        await js.delete_consumer(names.stream, s.durable)
        with pytest.raises(BrokerError, match="409 Consumer Deleted"):
            await waiting
        await publish_all(js, names.subject_in, [message(1)])
        (again,) = await fetch_some(broker, 1)  # start() made the consumer again
        assert again.data == message(1)
        await again.ack()
    finally:
        await broker.stop()
        await nc.close()


async def test_publish_where_no_stream_listens_is_a_broker_error(names: Names) -> None:
    broker = NatsBroker(settings(names))
    await broker.start()
    try:
        with pytest.raises(BrokerError, match=f"publish to {names.subject_in}x"):
            await broker.publish(f"{names.subject_in}x", b"{}", msg_id="a")
    finally:
        await broker.stop()


async def test_a_publish_never_acknowledged_times_out(names: Names) -> None:
    nc, _ = await connect()
    confirms = _Confirms(nc, timeout=0.2)
    await confirms.start()
    silent = await nc.subscribe(f"{names.subject_in}.silent")  # takes it, never answers
    try:
        with pytest.raises(TimeoutError, match=r"no PubAck within 0\.2 s"):
            await confirms.publish(f"{names.subject_in}.silent", b"{}", {"Nats-Msg-Id": "a"})
        assert confirms.waiting == 0  # nothing left behind
    finally:
        await silent.unsubscribe()
        await confirms.stop()
        await nc.close()
