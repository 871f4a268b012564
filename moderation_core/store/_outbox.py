"""The outbox of the app's webhook (``[serve.notify]``, docs/store.md): events written
in the same transaction as the change they announce, then POSTed, signed, until the
app's receiver takes them.

    enqueue(connection, ...)      an ``outbox`` row, status "pending", due now
    OutboxDelivery.deliver_due()  claim due rows, POST each, mark it delivered, or
                                  schedule the next try (exponential, with jitter), or
                                  "dead" once the event is ``max_age`` (24 h) old

Claiming is a lease: the claim moves ``next_attempt_at`` a ``lease`` ahead and bumps
``attempts``, and commits before anything is sent. On PostgreSQL the due rows are
selected ``FOR UPDATE SKIP LOCKED``, so workers polling at once take different rows;
on both databases the claim's UPDATE checks again, on the row as it is then, that it
is still pending and due (a row another worker claimed meanwhile is due only a lease
later; SQLite has one writer and no row locks), so one event is claimed by one worker.
A worker sends its batch one event after another, so before each POST it renews that
event's lease, a compare-and-set on ``attempts``: an event whose lease ran out and
that another worker claimed since is skipped, not sent twice. Each POST, all of it,
takes at most ``timeout`` (``asyncio.timeout``: httpx's own timeouts are per phase, and
a receiver that trickles its answer would outlast them), well inside the lease. The
result is written with the same compare-and-set, so a late one changes nothing. A
worker that dies mid-POST leaves its lease to expire: the event is sent again (at
least once), and the receiver drops the copy by ``Moderation-Event-Id``. Written by
hand, not with stamina: the schedule lives in the row and outlives the process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import httpx
import sqlalchemy as sa

from moderation_core._model import Secret
from moderation_core._signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign_webhook

from ._records import storable
from ._schema import outbox

__all__ = [
    "CHECK_COMPLETED",
    "DEFAULT_MAX_AGE",
    "REVIEW_DECIDED",
    "OutboxDelivery",
    "RetrySchedule",
    "enqueue",
    "event_body",
    "outbox_counts",
]

log = logging.getLogger("moderation_core.store.outbox")

CHECK_COMPLETED: Final = "check.completed"
REVIEW_DECIDED: Final = "review.decided"
DEFAULT_MAX_AGE: Final = 24 * 3600.0  # an event undelivered this long is "dead"
_MAX_ERROR: Final = 512  # outbox.last_error


def enqueue(
    connection: sa.Connection, *, event_type: str, payload: Mapping[str, Any], now: float
) -> str:
    """Add an event to the outbox inside the caller's transaction (it is sent only if
    that commits) and return its id, the ``Moderation-Event-Id`` (a uuid4 string).
    ``payload`` is the event's ``data``: JSON-serializable."""
    event_id = str(uuid.uuid4())
    connection.execute(
        outbox.insert().values(
            event_id=event_id,
            type=event_type,
            payload=storable(dict(payload)),  # as both databases keep text (no NUL)
            created_at=now,
            next_attempt_at=now,
            attempts=0,
            status="pending",
        )
    )
    return event_id


def outbox_counts(engine: sa.Engine) -> dict[str, int]:
    """Events waiting to be delivered (``pending``) and given up (``dead``): the
    outbox's gauges in ``/metrics``. One indexed count per status."""
    query = (
        sa.select(outbox.c.status, sa.func.count())
        .where(outbox.c.status.in_(("pending", "dead")))
        .group_by(outbox.c.status)
    )
    with engine.connect() as connection:
        found = {status: int(n) for status, n in connection.execute(query).all()}
    return {"pending": found.get("pending", 0), "dead": found.get("dead", 0)}


def event_body(event_id: str, event_type: str, created_at: float, data: Any) -> bytes:
    """The JSON the receiver gets: ``{"id", "type", "created", "data"}``, the same bytes
    on every attempt (only the signature's time changes)."""
    body = {"id": event_id, "type": event_type, "created": int(created_at), "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@attrs.frozen(kw_only=True)
class RetrySchedule:
    """When to try again after ``attempts`` failed tries: ``first`` seconds, doubling,
    at most ``longest`` apart, each delay scaled by a random factor in [1 - jitter, 1]
    (workers that failed together do not retry together). Past ``max_age`` after the
    event was created it is given up ("dead"); the last try falls on that deadline."""

    first: float = 10.0
    longest: float = 3600.0
    jitter: float = attrs.field(
        default=0.2, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    max_age: float = DEFAULT_MAX_AGE

    def delay(self, attempts: int, draw: float) -> float:
        """The wait after the ``attempts``-th failure; ``draw`` is uniform in [0, 1)."""
        base = min(self.first * 2.0 ** max(attempts - 1, 0), self.longest)
        return base * (1.0 - self.jitter * draw)

    def next_attempt(
        self, created_at: float, attempts: int, now: float, draw: float
    ) -> float | None:
        """The time of the next try, or None when the event is out of time."""
        deadline = created_at + self.max_age
        if now >= deadline:
            return None
        return min(now + self.delay(attempts, draw), deadline)


@attrs.frozen
class _Claimed:
    id: int
    event_id: str
    type: str
    payload: Any
    created_at: float
    attempts: int  # after the claim: the fencing token for the result


class OutboxDelivery:
    """Sends the outbox to one URL. ``deliver_due()`` does one pass (blocking: run it in
    a thread, never on a running event loop); ``run(stop)`` polls until ``stop`` is set,
    and ``wake()`` (thread-safe from the loop's thread) cuts a poll short when an event
    was just enqueued. ``clock`` and ``draw`` (random numbers) are injectable, so tests
    move time by hand; ``timeout`` bounds each POST, whole."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        url: str,
        secret: Secret | str,
        clock: Callable[[], float] = time.time,
        schedule: RetrySchedule | None = None,
        batch_size: int = 50,
        timeout: float = 10.0,
        poll_interval: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.url = url
        self._secret = secret if isinstance(secret, Secret) else Secret(secret)
        self.clock = clock
        self.schedule = schedule or RetrySchedule()
        self.batch_size = batch_size
        self.timeout = timeout
        self.poll_interval = poll_interval
        # A lease (renewed before each POST) outlives the POST it covers; a worker gone
        # mid-POST frees its event this late.
        self.lease = 2 * timeout + 30.0
        self._draw = draw
        self._transport = transport
        # Made once: each pass has a client of its own (on that pass's event loop).
        self._tls = httpx.create_ssl_context() if transport is None else None
        self._postgres = engine.dialect.name == "postgresql"
        self._wake: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"<OutboxDelivery to {httpx.URL(self.url).copy_with(query=None, userinfo=b'')}>"

    # -- one pass ------------------------------------------------------------------------

    def deliver_due(self) -> int:
        """Expire what is out of time, then claim and send the due events, a batch at a
        time, until none is due; the number sent (delivered or not)."""
        self._expire()
        claimed = self._claim()
        if not claimed:
            return 0
        return asyncio.run(self._deliver(claimed))

    async def _deliver(self, claimed: list[_Claimed]) -> int:
        """Send ``claimed``, then further batches while full ones come. The database is
        read and written in place: this event loop is the pass's own, in its thread."""
        sent = 0
        async with httpx.AsyncClient(
            transport=self._transport,
            verify=self._tls if self._tls is not None else True,
            timeout=self.timeout,
            follow_redirects=False,
        ) as client:
            while True:
                for event in claimed:
                    if self._renew(event):
                        await self._send(client, event)
                        sent += 1
                if len(claimed) < self.batch_size:
                    return sent
                claimed = self._claim()

    def _expire(self) -> None:
        now = self.clock()
        with self.engine.begin() as connection:
            connection.execute(
                outbox.update()
                .where(outbox.c.status == "pending")
                .where(outbox.c.created_at < now - self.schedule.max_age)
                .values(status="dead", last_error="not delivered within max_age")
            )

    def _claim(self) -> list[_Claimed]:
        """One statement takes the due rows: on SQLite it holds the one write lock
        while it picks them, on PostgreSQL its subquery skips rows another worker has
        locked, and the outer conditions are checked again on the row as it is now."""
        now = self.clock()
        due = (
            sa.select(outbox.c.id)
            .where(outbox.c.status == "pending")
            .where(outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(self.batch_size)
        )
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        claim = (
            outbox.update()
            .where(outbox.c.id.in_(due.scalar_subquery()))
            .where(outbox.c.status == "pending")
            .where(outbox.c.next_attempt_at <= now)
            .values(attempts=outbox.c.attempts + 1, next_attempt_at=now + self.lease)
            .returning(
                outbox.c.id,
                outbox.c.event_id,
                outbox.c.type,
                outbox.c.payload,
                outbox.c.created_at,
                outbox.c.attempts,
            )
        )
        with self.engine.begin() as connection:
            rows = connection.execute(claim).all()
        claimed = [_Claimed(*row) for row in rows]
        claimed.sort(key=lambda event: event.id)
        return claimed

    def _renew(self, event: _Claimed) -> bool:
        """Move the event's lease a whole ``lease`` past now, just before its POST (the
        claim's was taken for the batch, before the POSTs ahead of this one); False
        when it is no longer ours: its lease ran out and another worker claimed it."""
        with self.engine.begin() as connection:
            renewed = connection.execute(
                outbox.update()
                .where(outbox.c.id == event.id)
                .where(outbox.c.attempts == event.attempts)  # nobody re-claimed it
                .where(outbox.c.status == "pending")
                .values(next_attempt_at=self.clock() + self.lease)
            )
        if renewed.rowcount != 1:
            log.info("outbox: event %s was taken over by another worker; not sent", event.event_id)
            return False
        return True

    async def _send(self, client: httpx.AsyncClient, event: _Claimed) -> None:
        body = event_body(event.event_id, event.type, event.created_at, event.payload)
        sent_at = self.clock()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_webhook(self._secret, body, timestamp=int(sent_at)),
            EVENT_ID_HEADER: event.event_id,
            "User-Agent": "moderation-core-webhook",
        }
        error: str | None
        try:
            async with asyncio.timeout(self.timeout):  # the whole POST, not one phase
                response = await client.post(self.url, content=body, headers=headers)
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__} sending the event"
        else:
            error = None if response.is_success else f"HTTP {response.status_code}"
        self._settle(event, error)

    def _settle(self, event: _Claimed, error: str | None) -> None:
        now = self.clock()
        if error is None:
            values: dict[str, Any] = {
                "status": "delivered",
                "delivered_at": now,
                "last_error": None,
            }
        else:
            retry = self.schedule.next_attempt(event.created_at, event.attempts, now, self._draw())
            values = {"last_error": error[:_MAX_ERROR]}
            if retry is None:
                values["status"] = "dead"
                log.warning(
                    "outbox: event %s (%s) is dead after %d attempts: %s",
                    event.event_id,
                    event.type,
                    event.attempts,
                    error,
                )
            else:
                values["next_attempt_at"] = retry
        with self.engine.begin() as connection:
            connection.execute(
                outbox.update()
                .where(outbox.c.id == event.id)
                .where(outbox.c.attempts == event.attempts)  # still ours: nobody re-claimed it
                .values(**values)
            )

    # -- the loop ------------------------------------------------------------------------

    def wake(self) -> None:
        """Deliver now rather than at the next poll (call from the loop's thread)."""
        if self._wake is not None:
            self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a failing database is logged and retried at
        the next poll (events wait in the outbox meanwhile)."""
        self._wake = asyncio.Event()
        while not stop.is_set():
            self._wake.clear()
            try:
                await asyncio.to_thread(self.deliver_due)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("outbox: delivery pass failed (%s); retrying", type(exc).__name__)
            waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
            try:
                await asyncio.wait(
                    waits, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waits:
                    waiter.cancel()

    def close(self) -> None:
        """Nothing is held between passes (each has its own client); kept for callers
        that close what they made."""
