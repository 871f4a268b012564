"""The worker loop: fetch, check concurrently, publish the result, then acknowledge.

At least once, no loss: a delivery is acknowledged only after its result (or its dead
letter) was confirmed by the broker; a worker that dies holding messages leaves them
unacknowledged, and the broker redelivers them after the ack wait. No duplicate result:
a result is published with the input's id as the broker's de-duplication id, so the
result of a redelivered input is stored once (inside the broker's dedupe window).

Each fetched batch is evaluated at once (``AsyncModerator._evaluations``: the vendor
checks of its messages go out together, in full vendor batches), and everything in hand
(up to ``in_flight``) is in flight together. The next fetch goes out before a fetched
batch is checked, and results are published back to back (each input acknowledged once
its own result is confirmed), so neither the broker nor the checks wait on each other's
round trips.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine

import attrs

from moderation_core._async import AsyncModerator
from moderation_core._errors import InvalidContent
from moderation_core._model import Outcome

from ._broker import Broker, BrokerError, Delivery, PublishRefused
from ._messages import (
    DEAD_LETTER_QUOTE_MAX,
    DEAD_LETTER_QUOTE_MIN,
    MalformedMessage,
    WorkMessage,
    dead_letter,
    dead_letter_id,
    parse_message,
    result_message,
)
from ._settings import WorkerSettings

__all__ = ["Worker", "WorkerStats"]

log = logging.getLogger("moderation_core.worker")

Clock = Callable[[], float]

# Broker errors: wait this long, doubling up to the cap, before trying again. A few
# lines rather than a retry library: the wait must end early when a drain begins.
BACKOFF_FIRST = 0.1  # seconds
BACKOFF_CAP = 5.0
FETCH_TIMEOUT = 1.0  # seconds a fetch waits for a first message; a drain waits at most this


class Unavailable(Exception):
    """Settling a delivery was given up for now (the broker stayed away, or the worker
    is draining): it stays unacknowledged and the broker delivers it again."""


@attrs.frozen
class Unreadable:
    """A delivery settled without a check: malformed, oversized, or over max_deliver."""

    error: BaseException
    message_id: str | None


@attrs.frozen
class Evaluated:
    """A message and what the Moderator's evaluate gave: its outcome, or its error."""

    message: WorkMessage
    outcome: Outcome | Exception


Checked = Unreadable | Evaluated


@attrs.define
class WorkerStats:
    """What one worker did; the CLI logs it when it stops."""

    results: int = 0  # results published and inputs acknowledged
    dead_letters: int = 0  # inputs dead-lettered and terminated
    naks: int = 0  # inputs handed back for later (vendor outage)
    unsettled: int = 0  # inputs left to the broker's redelivery (broker away)
    refused: int = 0  # inputs terminated because the broker refused even their dead letter
    broker_errors: int = 0


class Worker:
    """One worker process's loop over ``broker``; ``stop()`` (SIGTERM) drains it."""

    def __init__(
        self,
        moderator: AsyncModerator,
        broker: Broker,
        settings: WorkerSettings,
        *,
        clock: Clock = time.monotonic,
        fetch_timeout: float = FETCH_TIMEOUT,
    ) -> None:
        self._moderator = moderator
        self._broker = broker
        self._settings = settings
        self._clock = clock
        self._fetch_timeout = fetch_timeout
        self._stopping = asyncio.Event()
        self._in_hand: dict[Delivery, float] = {}  # each delivery held, and since when
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()  # set once there is room for the next fetch
        # Fetch again once this much room is free, so fetches stay large (each is a
        # round trip) yet come before the messages in hand run out.
        self._refill = min(settings.batch, max(1, settings.in_flight // 2))
        # A dead letter quotes every input the worker reads whole, and at most a bounded
        # prefix of a larger one (see dead_letter).
        self._quote_bytes = min(settings.max_message_bytes, DEAD_LETTER_QUOTE_MAX)
        self.stats = WorkerStats()

    def stop(self) -> None:
        """Stop fetching; what is in hand is finished and acknowledged, then ``run``
        returns. Safe to call from a signal handler on the loop."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> WorkerStats:
        """Consume until ``stop()``; broker errors are waited out, never raised."""
        try:
            await self._retrying(self._broker.start, "connect")
        except Unavailable:
            return self.stats  # stopped before the broker ever answered
        keep_alive = asyncio.create_task(self._keep_alive())
        try:
            await self._consume()
            if self._in_hand:
                log.info("draining: finishing %d message(s) in hand", len(self._in_hand))
            while self._tasks:  # a batch's starter adds its messages' tasks
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            keep_alive.cancel()
            try:
                await self._broker.stop()
            except BrokerError as exc:
                log.warning("closing the broker connection failed: %s", exc)
        return self.stats

    # -- fetching ----------------------------------------------------------------------

    async def _consume(self) -> None:
        settings = self._settings
        unit = self._vendor_batch()
        backoff = BACKOFF_FIRST
        while not self.stopping:
            room = settings.in_flight - len(self._in_hand)
            if room < self._refill:
                self._room.clear()
                await self._first(self._room.wait())
                continue
            limit = min(settings.batch, room)
            if limit >= unit:
                limit -= limit % unit
            try:
                deliveries = await self._broker.fetch(limit, self._fetch_timeout)
            except BrokerError as exc:
                self.stats.broker_errors += 1
                log.warning("fetch failed (retrying in %.1f s): %s", backoff, exc)
                await self._first(asyncio.sleep(backoff))
                backoff = min(backoff * 2, BACKOFF_CAP)
                continue
            backoff = BACKOFF_FIRST
            if deliveries:
                now = self._clock()
                for delivery in deliveries:
                    self._in_hand[delivery] = now
                self._spawn(self._start(deliveries))

    def _vendor_batch(self) -> int:
        """The largest vendor batch (items per request) that fits in a fetch: fetches in
        whole multiples of it let single-item messages fill every vendor request, where
        a remainder would go alone once the batch window passed."""
        sizes = [p.capabilities.batch_size for p in self._moderator.providers]
        fitting = [n for n in sizes if 1 < n <= self._settings.batch]
        return max(fitting, default=1)

    async def _start(self, deliveries: list[Delivery]) -> None:
        """Check a fetched batch at once (one ``evaluate`` for them all, see
        ``_checked``), then publish its results together and acknowledge each input
        whose result was confirmed (``_settle_together``); anything else (a dead letter,
        a nak, a publish to try again) is settled in a task of its own. Started from a
        task so that the next fetch, which the consumer sends meanwhile, reaches the
        broker first: the client writes it from a task of its own, and checks that never
        wait (the local engine) would otherwise hold it back until the batch is done."""
        await asyncio.sleep(0)
        try:
            checked = await self._checked(deliveries)
        except Exception as exc:  # a bug, not a message's fault: all redelivered later
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            for delivery in deliveries:
                self._done(delivery, failed)
            return
        together: list[tuple[Delivery, Evaluated, bytes]] = []
        for delivery, check in zip(deliveries, checked, strict=True):
            outcome = self._publishable(check, delivery.deliveries)
            if outcome is not None and isinstance(check, Evaluated):
                together.append((delivery, check, result_message(check.message.id, outcome)))
            else:
                self._settle_alone(delivery, check)
        if together:
            await self._settle_together(together)

    def _publishable(self, check: Checked, deliveries: int) -> Outcome | None:
        """The outcome to publish when a check ends the common way (publish, then ack)."""
        if (
            isinstance(check, Evaluated)
            and isinstance(check.outcome, Outcome)
            and not self._retry_fallback(check.outcome, deliveries)
        ):
            return check.outcome
        return None

    def _settle_alone(self, delivery: Delivery, check: Checked) -> None:
        """Settle one delivery in a task of its own (``_settle``: every path, retries)."""
        task = self._spawn(self._handle(delivery, check))
        task.add_done_callback(functools.partial(self._done, delivery))

    async def _settle_together(self, together: list[tuple[Delivery, Evaluated, bytes]]) -> None:
        """Publish the results of a fetched batch back to back, then acknowledge each
        input whose result the broker confirmed, in one task (no task per message). A
        result it did not confirm goes the long way, alone: published again (``_settle``
        retries and knows a refusal), then acknowledged."""
        open_ = {delivery for delivery, _, _ in together}
        try:
            errors = await self._broker.publish_many(
                self._settings.subject_out,
                [(data, check.message.id) for _, check, data in together],
            )
            for (delivery, check, _), error in zip(together, errors, strict=True):
                if error is not None:
                    log.debug(
                        "result of %r not confirmed (%s); publishing it again",
                        check.message.id,
                        error,
                    )
                    open_.discard(delivery)  # the task releases it
                    self._settle_alone(delivery, check)
                    continue
                await self._ack(delivery, delivery.ack)
                self.stats.results += 1
                open_.discard(delivery)
                self._release(delivery)
        finally:
            # Only on a bug (or cancellation): whatever is still open is redelivered later.
            for delivery in open_:
                self.stats.unsettled += 1
                self._release(delivery)

    async def _checked(self, deliveries: list[Delivery]) -> list[Checked]:
        """Each delivery read and evaluated: the readable ones by one ``evaluate`` of
        the Moderator for them all (the vendor checks they ask for go out together, in
        full vendor batches, and the per-call work is shared), each with its outcome or
        its own error; the unreadable and the over-delivered with why."""
        settings = self._settings
        checked: list[Checked | None] = []  # None: readable, evaluated below
        readable: list[tuple[int, WorkMessage]] = []
        for delivery in deliveries:
            if delivery.deliveries > settings.max_deliver:
                # Delivered max_deliver times, never settled: the workers holding it died.
                # The broker allows one delivery more than max_deliver so that it lands here.
                why = BrokerError(
                    f"delivered {delivery.deliveries} times without being settled "
                    f"(max_deliver = {settings.max_deliver}); a worker holding it stopped "
                    "or crashed each time"
                )
                checked.append(Unreadable(why, None))
                continue
            try:
                message = parse_message(
                    delivery.data,
                    max_bytes=settings.max_message_bytes,
                    max_contents=settings.max_contents,
                )
            except MalformedMessage as exc:
                checked.append(Unreadable(exc, exc.message_id))
                continue
            readable.append((len(checked), message))
            checked.append(None)
        if readable:
            outcomes = await self._moderator._evaluations([m for _, m in readable])
            for (i, message), outcome in zip(readable, outcomes, strict=True):
                checked[i] = Evaluated(message, outcome)
        return [c for c in checked if c is not None]  # every None was replaced

    def _spawn(self, work: Coroutine[None, None, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _done(self, delivery: Delivery, task: asyncio.Future[None]) -> None:
        self._release(delivery)
        if not task.cancelled() and task.exception() is not None:
            # A bug, not a message's fault: the delivery stays unacknowledged (redelivered).
            self.stats.unsettled += 1
            log.error("a message was left unsettled", exc_info=task.exception())

    def _release(self, delivery: Delivery) -> None:
        """The delivery is settled (or left to the broker): room for the next fetch."""
        self._in_hand.pop(delivery, None)
        if self._settings.in_flight - len(self._in_hand) >= self._refill:
            self._room.set()

    async def _first(self, waiting: Awaitable[object]) -> None:
        """Wait for ``waiting`` or a stop request, whichever comes first."""
        waiter = asyncio.ensure_future(waiting)
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()

    async def _keep_alive(self) -> None:
        """Tell the broker every ack_wait/3 that messages held that long are still being
        worked on (long media checks), so it does not hand them to another worker."""
        every = self._settings.ack_wait / 3
        while True:
            await asyncio.sleep(every)
            now = self._clock()
            held = [d for d, since in list(self._in_hand.items()) if now - since >= every]
            for delivery in held:
                try:
                    await delivery.in_progress()
                except BrokerError as exc:
                    log.debug("in-progress ack failed: %s", exc)

    # -- one message -------------------------------------------------------------------

    async def _handle(self, delivery: Delivery, check: Checked) -> None:
        try:
            await self._settle(delivery, check)
        except Unavailable as exc:
            self.stats.unsettled += 1
            log.warning("message left for redelivery: %s", exc)

    async def _settle(self, delivery: Delivery, check: Checked) -> None:
        if isinstance(check, Unreadable):
            await self._dead(delivery, check.error, check.message_id)
            return
        message, outcome = check.message, check.outcome
        if isinstance(outcome, InvalidContent):  # an item the Moderator refused (empty text)
            await self._dead(delivery, outcome, message.id)
            return
        if isinstance(outcome, Exception):
            # Every provider failed (fail_mode raise), or a policy hook broke.
            await self._failed(delivery, outcome, message.id)
            return
        settings = self._settings
        if self._retry_fallback(outcome, delivery.deliveries):
            await self._nak(delivery, message.id, "every provider failed; fail_mode answered")
            return
        try:
            await self._publish(
                settings.subject_out, result_message(message.id, outcome), message.id
            )
        except PublishRefused as exc:  # never publishable: the input goes to dead letters
            await self._dead(delivery, exc, message.id)
            return
        await self._ack(delivery, delivery.ack)
        self.stats.results += 1

    def _retry_fallback(self, outcome: Outcome, deliveries: int) -> bool:
        """With on_failure = "nak", an outcome fail_mode gave (no provider answered) is
        retried later too, and published only on the last delivery."""
        return (
            self._settings.on_failure == "nak"
            and outcome.verdict is not None
            and outcome.verdict.fallback
            and deliveries < self._settings.max_deliver
        )

    async def _failed(self, delivery: Delivery, error: Exception, message_id: str) -> None:
        if delivery.deliveries >= self._settings.max_deliver:
            await self._dead(delivery, error, message_id)
            return
        await self._nak(delivery, message_id, f"{type(error).__name__}: {error}")

    async def _nak(self, delivery: Delivery, message_id: str, why: str) -> None:
        settings = self._settings
        delay = min(settings.nak_delay * 2 ** (delivery.deliveries - 1), settings.nak_max_delay)
        log.info(
            "message %r returns in %g s (delivery %d of %d): %s",
            message_id,
            delay,
            delivery.deliveries,
            settings.max_deliver,
            why,
        )
        await self._ack(delivery, lambda: delivery.nak(delay))
        self.stats.naks += 1

    async def _dead(self, delivery: Delivery, error: BaseException, message_id: str | None) -> None:
        """Publish the dead letter, then terminate the input. Should the broker refuse
        the letter for good (it is too large for it, or nothing is bound to
        ``dead_letter``), a letter quoting less is tried, then the input is terminated
        with an error log: never retried for ever, holding an in_flight slot."""
        data = delivery.data
        log.warning("message %r dead-lettered: %s: %s", message_id, type(error).__name__, error)
        msg_id = dead_letter_id(data)
        refused: PublishRefused | None = None
        for quote in (self._quote_bytes, DEAD_LETTER_QUOTE_MIN):
            letter = dead_letter(
                data,
                error,
                deliveries=delivery.deliveries,
                message_id=message_id,
                quote_bytes=quote,
            )
            try:
                await self._publish(self._settings.dead_letter, letter, msg_id)
            except PublishRefused as exc:
                refused = exc
                continue
            await self._ack(delivery, delivery.term)
            self.stats.dead_letters += 1
            return
        log.error(
            "message %r (%d bytes, sha256 %s) terminated WITHOUT a dead letter: %s: %s; "
            "the broker refused the dead letter too: %s",
            message_id,
            len(data),
            hashlib.sha256(data).hexdigest(),
            type(error).__name__,
            error,
            refused,
        )
        await self._ack(delivery, delivery.term)
        self.stats.refused += 1

    async def _publish(self, subject: str, data: bytes, msg_id: str) -> None:
        """Publish until the broker confirms. While the broker is away this waits (the
        message's ack wait keeps being extended); given up only after one ack wait of
        failures during a drain, leaving the input to be delivered again. A publish the
        broker refuses for good raises ``PublishRefused`` at once."""
        await self._retrying(
            lambda: self._broker.publish(subject, data, msg_id=msg_id), "publish", give_up=True
        )

    async def _ack(self, delivery: Delivery, settle: Callable[[], Awaitable[None]]) -> None:
        # A lost ack is harmless: the broker delivers the input again, and its result,
        # published again with the same id, is stored once.
        try:
            await settle()
        except BrokerError as exc:
            self.stats.broker_errors += 1
            log.warning("settling a message failed (it will be delivered again): %s", exc)

    async def _retrying(
        self, call: Callable[[], Awaitable[None]], what: str, *, give_up: bool = False
    ) -> None:
        backoff = BACKOFF_FIRST
        started = self._clock()
        while True:
            try:
                await call()
                return
            except PublishRefused:
                self.stats.broker_errors += 1
                raise  # the same bytes can never succeed: the caller decides
            except BrokerError as exc:
                self.stats.broker_errors += 1
                failing_for = self._clock() - started
                if give_up and self.stopping and failing_for >= self._settings.ack_wait:
                    raise Unavailable(f"{what} failed for {failing_for:.0f} s: {exc}") from None
                if not give_up and self.stopping:
                    raise Unavailable(f"{what} failed while stopping: {exc}") from None
                log.warning("%s failed (retrying in %.1f s): %s", what, backoff, exc)
                await asyncio.sleep(backoff) if give_up else await self._first(
                    asyncio.sleep(backoff)
                )
                backoff = min(backoff * 2, BACKOFF_CAP)
