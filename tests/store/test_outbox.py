"""The outbox on both databases: events sent signed, retried on a schedule read from an
injected clock, given up after 24 h, claimed by one worker at a time (row locks on
PostgreSQL), and resumed by a new process when a worker died mid-send."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from moderation_core import verify_signature
from moderation_core.store import outbox
from moderation_core.store._outbox import (
    CHECK_COMPLETED,
    OutboxDelivery,
    RetrySchedule,
    enqueue,
)
from moderation_core.testing import Clock

SECRET = "whsec-test-0123456789"
URL = "http://receiver.test/hooks/moderation"


class Receiver:
    """A webhook receiver behind httpx.MockTransport: answers ``status`` (a callable
    may change its mind), keeps every request, verifies every signature."""

    def __init__(self, clock: Clock, status: int = 200) -> None:
        self.clock = clock
        self.status = status
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        verify_signature(
            SECRET, request.headers["moderation-signature"], request.content, now=self.clock()
        )
        with self.lock:
            self.requests.append(request)
        return httpx.Response(self.status)

    def ids(self) -> list[str]:
        return [r.headers["moderation-event-id"] for r in self.requests]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def delivery(
    engine: sa.Engine,
    clock: Clock,
    receiver: Callable[[httpx.Request], httpx.Response],
    **options: object,
) -> OutboxDelivery:
    options.setdefault("draw", lambda: 0.0)
    return OutboxDelivery(
        engine,
        url=URL,
        secret=SECRET,
        clock=clock,
        transport=httpx.MockTransport(receiver),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def deliveries() -> Iterator[list[OutboxDelivery]]:
    made: list[OutboxDelivery] = []
    yield made
    for made_one in made:
        made_one.close()


def add(
    engine: sa.Engine, clock: Clock, n: int = 1, event_type: str = CHECK_COMPLETED
) -> list[str]:
    with engine.begin() as connection:
        return [
            enqueue(connection, event_type=event_type, payload={"check_id": f"c{i}"}, now=clock())
            for i in range(n)
        ]


def rows(engine: sa.Engine) -> dict[str, sa.Row[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {row.event_id: row for row in connection.execute(sa.select(outbox))}


def test_an_event_is_posted_signed_and_marked_delivered(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    receiver = Receiver(clock)
    (event_id,) = add(store_engine, clock)
    sender = delivery(store_engine, clock, receiver)
    deliveries.append(sender)
    assert sender.deliver_due() == 1
    (request,) = receiver.requests
    assert request.url == URL
    assert request.headers["moderation-event-id"] == event_id
    assert request.headers["content-type"] == "application/json"
    assert request.headers["moderation-signature"].startswith(f"t={int(clock())},v1=")
    assert json.loads(request.content) == {
        "id": event_id,
        "type": "check.completed",
        "created": int(clock()),
        "data": {"check_id": "c0"},
    }
    row = rows(store_engine)[event_id]
    assert (row.status, row.attempts, row.delivered_at) == ("delivered", 1, clock())
    assert sender.deliver_due() == 0  # delivered events are never sent again
    assert len(receiver.requests) == 1


def test_an_event_rolled_back_with_its_change_is_never_sent(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    def change_that_fails() -> None:
        with store_engine.begin() as connection:
            enqueue(connection, event_type=CHECK_COMPLETED, payload={}, now=clock())
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    receiver = Receiver(clock)
    sender = delivery(store_engine, clock, receiver)
    deliveries.append(sender)
    assert sender.deliver_due() == 0
    assert rows(store_engine) == {}


def test_failures_are_retried_on_the_schedule_then_dead_after_24_hours(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    receiver = Receiver(clock, status=503)
    created = clock()
    (event_id,) = add(store_engine, clock)
    sender = delivery(store_engine, clock, receiver)
    deliveries.append(sender)
    tried_at: list[float] = []
    for _ in range(100):  # a day of tries, each at the time the row names
        before = len(receiver.requests)
        sender.deliver_due()
        assert len(receiver.requests) == before + 1
        tried_at.append(clock() - created)
        row = rows(store_engine)[event_id]
        if row.status == "dead":
            break
        assert sender.deliver_due() == 0  # nothing is due before its time
        clock.now = row.next_attempt_at
    gaps = [b - a for a, b in itertools.pairwise(tried_at)]
    # 10 s, doubling, at most an hour apart; the last try falls on the 24 h deadline.
    assert gaps[:10] == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert set(gaps[9:-1]) == {3600}
    assert tried_at[-1] == 24 * 3600
    row = rows(store_engine)[event_id]
    assert row.status == "dead"
    assert row.attempts == len(tried_at)
    assert row.last_error == "HTTP 503"


def test_jitter_shortens_a_delay_by_at_most_its_share() -> None:
    schedule = RetrySchedule(first=10, longest=100, jitter=0.5)
    assert schedule.delay(1, 0.0) == 10
    assert schedule.delay(1, 0.999) == pytest.approx(5.005)
    assert schedule.delay(5, 0.0) == 100  # 160, capped
    assert schedule.next_attempt(0.0, 30, now=86_390.0, draw=0.0) == 86_400.0
    assert schedule.next_attempt(0.0, 31, now=86_400.0, draw=0.0) is None


def test_a_receiver_that_recovers_gets_the_event_once(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    receiver = Receiver(clock, status=500)
    (event_id,) = add(store_engine, clock)
    sender = delivery(store_engine, clock, receiver)
    deliveries.append(sender)
    sender.deliver_due()
    receiver.status = 200
    clock.advance(10)
    sender.deliver_due()
    clock.advance(3600)
    sender.deliver_due()
    assert receiver.ids() == [event_id, event_id]
    assert rows(store_engine)[event_id].status == "delivered"


def test_a_connection_error_is_retried_and_named_without_the_url(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    (event_id,) = add(store_engine, clock)
    sender = delivery(store_engine, clock, refuse)
    deliveries.append(sender)
    sender.deliver_due()
    row = rows(store_engine)[event_id]
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, clock() + 10)
    assert row.last_error == "ConnectError sending the event"


def test_an_event_nobody_delivered_for_24_hours_is_dead_without_a_send(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    (old,) = add(store_engine, clock)
    clock.advance(24 * 3600 + 1)
    (fresh,) = add(store_engine, clock)
    receiver = Receiver(clock)
    sender = delivery(store_engine, clock, receiver)
    deliveries.append(sender)
    sender.deliver_due()
    assert receiver.ids() == [fresh]
    assert rows(store_engine)[old].status == "dead"


def test_a_worker_that_died_mid_send_leaves_the_event_to_the_next_one(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    (event_id,) = add(store_engine, clock)
    dying = delivery(store_engine, clock, Receiver(clock))
    deliveries.append(dying)
    assert [e.event_id for e in dying._claim()] == [event_id]  # claimed, then the process died
    receiver = Receiver(clock)
    restarted = delivery(store_engine, clock, receiver)
    deliveries.append(restarted)
    assert restarted.deliver_due() == 0  # the lease still holds
    clock.advance(restarted.lease)
    assert restarted.deliver_due() == 1
    assert receiver.ids() == [event_id]
    row = rows(store_engine)[event_id]
    assert (row.status, row.attempts) == ("delivered", 2)


def test_a_late_result_of_a_lost_lease_changes_nothing(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    (event_id,) = add(store_engine, clock)
    slow = delivery(store_engine, clock, Receiver(clock))
    deliveries.append(slow)
    (claimed,) = slow._claim()
    clock.advance(slow.lease)
    failing = delivery(store_engine, clock, Receiver(clock, status=500))
    deliveries.append(failing)
    failing.deliver_due()  # took the event over, and failed
    slow._settle(claimed, None)  # the first worker's answer comes back too late
    row = rows(store_engine)[event_id]
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "HTTP 500")


def test_workers_polling_at_once_send_each_event_once(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    event_ids = add(store_engine, clock, 60)
    receiver = Receiver(clock)
    workers = [delivery(store_engine, clock, receiver, batch_size=7) for _ in range(4)]
    deliveries.extend(workers)
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def work(worker: OutboxDelivery) -> None:
        start.wait()
        try:
            worker.deliver_due()
        except BaseException as exc:  # reported by the assertions below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # SQLite may refuse a writer that waited too long; what it sent is still once each.
    if store_engine.dialect.name == "postgresql":
        assert errors == []
    for worker in workers:
        worker.deliver_due()
    assert Counter(receiver.ids()) == Counter(event_ids)
    assert {row.status for row in rows(store_engine).values()} == {"delivered"}


def test_postgresql_skips_rows_another_transaction_holds(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    if store_engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer")
    held, free = add(store_engine, clock, 2)
    receiver = Receiver(clock)
    sender = delivery(store_engine, clock, receiver)
    deliveries.append(sender)
    with store_engine.connect() as other:
        transaction = other.begin()
        locked = other.execute(
            sa.select(outbox.c.event_id)
            .where(outbox.c.event_id == held)
            .with_for_update(skip_locked=True)
        ).scalar_one()
        assert locked == held
        assert sender.deliver_due() == 1  # not blocked: the held row is skipped
        assert receiver.ids() == [free]
        transaction.rollback()
    assert sender.deliver_due() == 1
    assert receiver.ids() == [free, held]


def test_the_loop_delivers_when_woken_and_stops_when_told(
    store_engine: sa.Engine, clock: Clock, deliveries: list[OutboxDelivery]
) -> None:
    receiver = Receiver(clock)
    sender = delivery(store_engine, clock, receiver, poll_interval=3600.0)
    deliveries.append(sender)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop))
        await asyncio.sleep(0)
        add(store_engine, clock)
        for _ in range(500):  # an hour's poll away: only wake() can deliver it
            sender.wake()
            await asyncio.sleep(0.01)
            if receiver.requests:
                break
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert len(receiver.requests) == 1


def test_the_secret_is_not_in_the_repr(store_engine: sa.Engine, clock: Clock) -> None:
    sender = OutboxDelivery(
        store_engine, url="https://user:pw@app.example/hook?token=t0k", secret=SECRET, clock=clock
    )
    try:
        shown = repr(sender)
        for hidden in (SECRET, "pw", "t0k"):
            assert hidden not in shown
    finally:
        sender.close()
