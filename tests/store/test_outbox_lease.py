"""The outbox's lease over a batch (review R1 #5), on both databases: a worker sends its
claimed batch one event after another, so each event's lease is renewed just before
its POST and an event another worker took over meanwhile is skipped; and one POST,
all of it, takes at most ``timeout`` even when the receiver trickles its answer."""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from moderation_core.store import outbox
from moderation_core.store._outbox import OutboxDelivery
from moderation_core.testing import Clock
from tests.store.test_outbox import SECRET, URL, add, rows


def test_a_slow_receiver_gets_each_event_of_a_batch_once_while_another_worker_polls(
    store_engine: sa.Engine,
) -> None:
    clock = Clock()
    event_ids = add(store_engine, clock, 20)
    received: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    second: list[OutboxDelivery] = []

    def slow_receiver(request: httpx.Request) -> httpx.Response:
        # 9 s an event, under the 10 s timeout: the batch outlasts the claim's lease.
        with lock:
            received[request.headers["moderation-event-id"]] += 1
            count = received.total()
        clock.advance(9.0)
        if count == 8 and second:
            # The other worker's poll, while the first is still sending its batch.
            poll = threading.Thread(target=second[0].deliver_due)
            poll.start()
            poll.join()
        return httpx.Response(200)

    first, other = (
        OutboxDelivery(
            store_engine,
            url=URL,
            secret=SECRET,
            clock=clock,
            transport=httpx.MockTransport(slow_receiver),
            timeout=10.0,
            draw=lambda: 0.0,
        )
        for _ in range(2)
    )
    second.append(other)
    first.deliver_due()
    first.deliver_due()  # anything left behind
    assert received == collections.Counter(event_ids)  # each once: 20 POSTs, not 33
    assert {row.status for row in rows(store_engine).values()} == {"delivered"}


def test_an_event_taken_over_after_its_lease_ran_out_is_not_sent_again(
    store_engine: sa.Engine,
) -> None:
    clock = Clock()
    event_ids = add(store_engine, clock, 3)
    received: list[str] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request.headers["moderation-event-id"])
        return httpx.Response(200)

    def worker() -> OutboxDelivery:
        return OutboxDelivery(
            store_engine,
            url=URL,
            secret=SECRET,
            clock=clock,
            transport=httpx.MockTransport(receiver),
            draw=lambda: 0.0,
        )

    stalled, other = worker(), worker()
    claimed = stalled._claim()  # claimed, then the worker stalled past its lease
    assert [e.event_id for e in claimed] == event_ids
    clock.advance(stalled.lease)
    assert other.deliver_due() == 3
    assert not any(stalled._renew(event) for event in claimed)  # no longer its events
    assert received == event_ids
    with store_engine.connect() as connection:
        attempts = connection.execute(sa.select(outbox.c.attempts)).scalars().all()
    assert attempts == [2, 2, 2]


class _Trickler:
    """An HTTP server that answers a status line, then one header byte every 50 ms
    (never a whole answer for seconds): each read is quick, the whole is not."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(client,), daemon=True).start()

    def _trickle(self, client: socket.socket) -> None:
        with client:
            client.settimeout(5)
            with contextlib.suppress(OSError):
                client.recv(65536)
                client.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(100):  # five seconds, at most
                    if self._stop.is_set():
                        return
                    client.sendall(b"a")
                    time.sleep(0.05)
                client.sendall(b"\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


@pytest.fixture
def trickler() -> Iterator[_Trickler]:
    server = _Trickler()
    try:
        yield server
    finally:
        server.close()


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_timeout(
    store_engine: sa.Engine, trickler: _Trickler
) -> None:
    clock = Clock()
    (event_id,) = add(store_engine, clock)
    sender = OutboxDelivery(
        store_engine,
        url=f"http://127.0.0.1:{trickler.port}/hook",
        secret=SECRET,
        clock=clock,
        timeout=0.5,  # per phase for httpx, and for the whole POST
        draw=lambda: 0.0,
    )
    assert sender.deliver_due() == 1
    row = rows(store_engine)[event_id]
    assert trickler.connections == 1
    assert (row.status, row.attempts) == ("pending", 1)  # the answer never came in time
    assert row.last_error == "no answer within 0.5 s"
