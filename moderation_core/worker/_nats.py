"""The worker's NATS JetStream adapter (nats-py).

Three streams, created when absent: ``{stream}`` holds the input subject with
work-queue retention (a message is gone once acknowledged), ``{stream}_RESULTS`` the
output subject and ``{stream}_DEAD`` the dead-letter subject, both with limits
retention. Separate streams because JetStream de-duplicates ``Nats-Msg-Id`` per
stream: a producer that sets ``Nats-Msg-Id`` on an input to its id must not make the
result, published with that same id, a "duplicate". A subject another stream already
holds is left to that stream. Every stream gets ``duplicate_window``.

One durable pull consumer, ``durable``, shared by every worker: JetStream hands each
message to one of them, redelivers it after ``ack_wait`` without an ack, and stops at
``max_deliver + 1`` deliveries (the loop dead-letters a message on that last one).
The client reconnects forever; after a broker restart the next fetch re-creates what
is missing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Sequence

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from ._broker import BrokerError, Delivery, PublishRefused
from ._settings import WorkerSettings, redacted_url

__all__ = ["NatsBroker"]

log = logging.getLogger("moderation_core.worker")

_API_TIMEOUT = 5.0  # seconds for a JetStream API call or a publish's PubAck
_RECONNECT_WAIT = 0.5  # seconds between reconnect attempts
# Raised by nats-py for a connection that is down, closed, slow or stale.
_CLIENT_ERRORS = (nats.errors.Error, OSError, asyncio.TimeoutError)
_ACK_TOKENS = 9  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
_MIN_LINGER = 0.05  # seconds: a pull request that would linger less is not sent
_NO_RESPONDERS = "503"  # the status the server answers with when no stream holds a subject
_HEADER_FORM = "NATS/1.0\r\nNats-Msg-Id: {}\r\n\r\n"  # how nats-py writes the headers
_TOO_LARGE_FOR_STREAM = 10054  # JSStreamMessageExceedsMaximumErr: over max_msg_size


def _delivered(msg: Msg) -> int:
    """How many times JetStream delivered ``msg``, read from its ack subject. The
    common form ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``
    is read here (nats-py's full metadata costs ~4 us a message); any other (a
    domain, an account hash) by nats-py."""
    tokens = msg.reply.split(".")
    if len(tokens) == _ACK_TOKENS and tokens[4].isdigit():
        return int(tokens[4]) or 1
    return msg.metadata.num_delivered or 1


class _NatsDelivery:
    """A JetStream message as a ``Delivery``."""

    __slots__ = ("_broker", "_msg", "deliveries")

    def __init__(self, msg: Msg, broker: NatsBroker) -> None:
        self._msg = msg
        self._broker = broker
        self.deliveries: int = _delivered(msg)

    @property
    def data(self) -> bytes:
        return self._msg.data

    async def ack(self) -> None:
        try:
            await self._msg.ack()
        except _CLIENT_ERRORS as exc:
            raise self._broker.error("ack", exc) from None

    async def nak(self, delay: float | None = None) -> None:
        try:
            await self._msg.nak(delay=delay)
        except _CLIENT_ERRORS as exc:
            raise self._broker.error("nak", exc) from None

    async def term(self) -> None:
        try:
            await self._msg.term()
        except _CLIENT_ERRORS as exc:
            raise self._broker.error("term", exc) from None

    async def in_progress(self) -> None:
        try:
            await self._msg.in_progress()
        except _CLIENT_ERRORS as exc:
            raise self._broker.error("in-progress ack", exc) from None


class _Confirms:
    """PubAcks for publishes sent back to back: one reply subscription, a future per
    publish, one timer for the oldest. Written here because nats-py's ``publish`` waits
    for each PubAck with a request and a timer of its own (a third of the worker's
    broker time, measured), and its ``publish_async`` never times a PubAck out and
    keeps a pending slot for good when a write fails."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout
        self._prefix = nc.new_inbox() + "."
        self._waiting: dict[str, tuple[asyncio.Future[None], float]] = {}
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._prefix + "*", cb=self._on_reply)

    @property
    def waiting(self) -> int:
        """Publishes waiting for their PubAck."""
        return len(self._waiting)

    async def publish(self, subject: str, data: bytes, headers: dict[str, str]) -> None:
        """Publish and wait for the stream's PubAck; nats-py's errors as raised."""
        await (await self.send(subject, data, headers))

    async def send(
        self, subject: str, data: bytes, headers: dict[str, str]
    ) -> asyncio.Future[None]:
        """Publish; the future of its PubAck (nats-py's errors as raised, now or by
        the future). Sends back to back share the socket's writes."""
        self._count += 1
        token = str(self._count)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiting[token] = (future, loop.time() + self._timeout)
        try:
            await self._nc.publish(subject, data, reply=self._prefix + token, headers=headers)
        except BaseException:
            self._waiting.pop(token, None)
            raise
        if self._timer is None:
            self._timer = loop.call_at(loop.time() + self._timeout, self._expire)
        return future

    async def _on_reply(self, msg: Msg) -> None:
        entry = self._waiting.pop(msg.subject[len(self._prefix) :], None)
        if entry is None or entry[0].done():
            return  # answered after its timeout
        future = entry[0]
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            future.set_exception(nats.js.errors.NoStreamResponseError())
            return
        if msg.data and b'"error"' not in msg.data:
            future.set_result(None)  # {"stream": ..., "seq": ...}: stored (or a duplicate)
            return
        try:
            reply = json.loads(msg.data)
        except ValueError as exc:
            future.set_exception(exc)
            return
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            try:  # nats-py's from_error raises the error rather than returning it
                nats.js.errors.APIError.from_error(reply["error"])
            except Exception as exc:  # handed to the publisher as raised
                future.set_exception(exc)
            else:
                future.set_exception(nats.js.errors.APIError(**reply["error"]))
        else:
            future.set_result(None)

    def _expire(self) -> None:
        """Fail every publish whose PubAck is overdue; the timer moves to the next."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiting:
            token, (future, due) = next(iter(self._waiting.items()))
            if due > now:
                self._timer = loop.call_at(due, self._expire)
                return
            del self._waiting[token]
            if not future.done():
                future.set_exception(TimeoutError(f"no PubAck within {self._timeout:g} s"))

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, {}
        for future, _ in waiting.values():
            if not future.done():
                future.set_exception(nats.errors.ConnectionClosedError())
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(*_CLIENT_ERRORS):
                await sub.unsubscribe()


class _Pull:
    """Pull requests on the shared consumer, their messages gathered by one
    subscription. Written here because nats-py's ``fetch`` waits for each message in a
    task and a timer of its own: a turn of the event loop per message, stretched by the
    checks in hand, so a batch arrived only once the previous one was done (measured).

    One request is open at a time, as nats-py's fetch does: first ``no_wait``, which the
    server answers at once with what it holds (ending it with a 404 or 408 status when
    that is less than asked); when nothing came, one for a single message that lingers
    until it comes or the request expires (408). The next ``take`` asks ``no_wait`` for
    whatever followed it; so every message delivered is taken, and none waits here
    (for the ack wait, should the worker stop) for a request still open. A 409 (the
    consumer was deleted, lost its leader) ends a request with an error."""

    def __init__(self, nc: Client, stream: str, durable: str) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._count = 0
        self._open: str | None = None  # the open request's reply subject
        self._wanted = 0  # messages it may still bring
        self._until = 0.0  # when it ends at the latest (its status may never come)
        self._got: collections.deque[Msg] = collections.deque()
        self._arrived = asyncio.Event()
        self._failure: str | None = None  # why the last request ended badly
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._inbox + ".*", cb=self._on_msg)

    def reset(self) -> None:
        """Forget the open request (after a reconnect the server has lost it)."""
        self._open = None

    async def take(self, limit: int, timeout: float) -> list[Msg]:
        """Up to ``limit`` messages, waiting at most ``timeout`` seconds for the first;
        raises nats-py's errors for a request the server failed or never answered."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        if not self._got and not self._is_open(loop.time()):
            await self._request(limit, timeout, no_wait=True)
            if not await self._wait(until, for_end=True):
                self._open = None
                raise nats.errors.TimeoutError  # no answer: is the consumer gone?
            self._raise_failure()
            if not self._got:
                linger = until - loop.time()
                if linger < _MIN_LINGER:
                    return []
                await self._request(1, linger, no_wait=False)
        while not self._got:
            self._raise_failure()
            if not self._is_open(loop.time()) or not await self._wait(until, for_end=False):
                return []
        got = self._got
        return [got.popleft() for _ in range(min(limit, len(got)))]

    def _is_open(self, now: float) -> bool:
        return self._open is not None and now < self._until

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise nats.js.errors.Error(failure)

    async def _wait(self, until: float, *, for_end: bool) -> bool:
        """Wait for the open request to end (``for_end``), else for a message or its
        end; False when ``until`` came first."""
        loop = asyncio.get_running_loop()
        while self._open is not None and (for_end or not self._got):
            left = until - loop.time()
            if left <= 0:
                return False
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                return False
        return True

    async def _request(self, limit: int, timeout: float, *, no_wait: bool) -> None:
        self._count += 1
        reply = f"{self._inbox}.{self._count}"
        request: dict[str, object] = {"batch": limit}
        if no_wait:
            request["no_wait"] = True
        else:  # ended by the server a little before the caller stops waiting
            request["expires"] = int((timeout - _MIN_LINGER / 2) * 1e9)
        self._open, self._wanted = reply, limit
        self._until = asyncio.get_running_loop().time() + timeout
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=reply)

    async def _on_msg(self, msg: Msg) -> None:
        if msg.reply:  # a message of the stream; its reply subject acknowledges it
            self._got.append(msg)
            if self._open is not None:
                self._wanted -= 1
                if self._wanted <= 0:
                    self._open = None  # every message asked for came: the request is done
            self._arrived.set()
            return
        if msg.subject != self._open:
            return  # the status of a request already over
        status = msg.headers.get("Status") if msg.headers else None
        if status in ("404", "408", "409"):
            self._open = None
            if status == "409":
                reason = msg.headers.get("Description", "") if msg.headers else ""
                self._failure = f"the server ended the pull request: 409 {reason}".strip()
            self._arrived.set()

    async def stop(self) -> None:
        """Unsubscribe. Messages gathered but not taken stay unacknowledged and return
        after the ack wait, as a crashed worker's do: a nak would not hurry them, as the
        server hands them back to this worker's request while it lingers."""
        sub, self._sub = self._sub, None
        self._got.clear()
        if sub is not None:
            with contextlib.suppress(*_CLIENT_ERRORS):
                await sub.unsubscribe()


class NatsBroker:
    """The ``Broker`` for ``nats://`` and ``tls://`` URLs."""

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._pull: _Pull | None = None
        self._ready = False  # the streams and the consumer are known to exist
        self._confirms: _Confirms | None = None
        self._closing = False

    def __repr__(self) -> str:
        return f"NatsBroker({self._settings.shown_url!r}, stream={self._settings.stream!r})"

    def error(self, what: str, exc: BaseException) -> BrokerError:
        """A BrokerError for ``what`` that failed, never showing the URL's password."""
        detail = redacted_url(str(exc)) or type(exc).__name__
        return BrokerError(
            f"NATS {self._settings.shown_url}: {what} failed ({type(exc).__name__}: {detail})"
        )

    # -- connecting and creating what is absent ------------------------------------------

    async def start(self) -> None:
        if self._nc is None or self._nc.is_closed:
            try:
                self._nc = await nats.connect(
                    self._settings.url,
                    name=f"moderation-worker {self._settings.durable}",
                    allow_reconnect=True,
                    # nats-py's first connect also retries up to this; the loop retries
                    # start() itself (and can stop meanwhile), so: once, then forever below.
                    max_reconnect_attempts=1,
                    reconnect_time_wait=_RECONNECT_WAIT,
                    connect_timeout=2,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                )
            except _CLIENT_ERRORS as exc:
                self._nc = None
                raise self.error("connect", exc) from None
            # Connected: reconnect forever from now on, so a broker restart is waited out.
            self._nc.options["max_reconnect_attempts"] = -1
            self._js = self._nc.jetstream(timeout=_API_TIMEOUT)
            confirms = _Confirms(self._nc, _API_TIMEOUT)
            try:
                await confirms.start()
            except _CLIENT_ERRORS as exc:
                raise self.error("subscribing to PubAcks", exc) from None
            self._confirms = confirms
        await self._set_up()

    async def _set_up(self) -> None:
        js = self._jetstream()
        s = self._settings
        try:
            await self._ensure_stream(js, s.stream, s.subject_in, RetentionPolicy.WORK_QUEUE)
            await self._ensure_stream(
                js, f"{s.stream}_RESULTS", s.subject_out, RetentionPolicy.LIMITS
            )
            await self._ensure_stream(js, f"{s.stream}_DEAD", s.dead_letter, RetentionPolicy.LIMITS)
            stream = await js.find_stream_name_by_subject(s.subject_in)
            await self._ensure_consumer(js, stream)
            if self._pull is None:
                assert self._nc is not None  # noqa: S101 - _jetstream() checked it
                pull = _Pull(self._nc, stream, s.durable)
                await pull.start()
                self._pull = pull
            self._pull.reset()
        except (*_CLIENT_ERRORS, nats.js.errors.Error) as exc:
            raise self.error("creating the stream and consumer", exc) from None
        self._ready = True

    async def _ensure_stream(
        self, js: JetStreamContext, name: str, subject: str, retention: RetentionPolicy
    ) -> None:
        try:
            await js.find_stream_name_by_subject(subject)
            return  # some stream holds the subject already: ours, or one set up by hand
        except nats.js.errors.NotFoundError:
            pass
        config = StreamConfig(
            name=name,
            subjects=[subject],
            retention=retention,
            storage=StorageType.FILE,
            duplicate_window=self._settings.duplicate_window,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await js.find_stream_name_by_subject(subject)  # another worker made it first

    async def _ensure_consumer(self, js: JetStreamContext, stream: str) -> None:
        s = self._settings
        try:
            info = await js.consumer_info(stream, s.durable)
        except nats.js.errors.NotFoundError:
            pass
        else:
            if info.config.ack_wait != s.ack_wait:
                log.warning(
                    "consumer %s exists with ack_wait %s s, not the configured %g s; "
                    "delete it to apply the new value",
                    s.durable,
                    info.config.ack_wait,
                    s.ack_wait,
                )
            return
        config = ConsumerConfig(
            durable_name=s.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=s.ack_wait,
            max_deliver=s.max_deliver + 1,
            filter_subject=s.subject_in,
            max_ack_pending=-1,  # each worker bounds what it holds by in_flight
        )
        try:
            await js.add_consumer(stream, config)
        except nats.js.errors.BadRequestError:
            await js.consumer_info(stream, s.durable)  # another worker made it first

    def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise BrokerError(f"NATS {self._settings.shown_url}: not connected (call start)")
        return self._js

    # -- the Broker operations -------------------------------------------------------

    async def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        if not self._ready or self._pull is None:
            await self.start()  # after a failed set-up (the broker was restarting)
        assert self._pull is not None  # noqa: S101 - start() sets it or raises
        try:
            msgs = await self._pull.take(limit, timeout)
        except (*_CLIENT_ERRORS, nats.js.errors.Error) as exc:
            self._ready = False  # set up again on the next fetch: the consumer may be gone
            raise self.error("fetch", exc) from None
        return [_NatsDelivery(msg, self) for msg in msgs]

    async def publish(self, subject: str, data: bytes, *, msg_id: str) -> None:
        # Every message in hand publishes at once: the writes share the socket's
        # flushes, and each waits only for its own PubAck (see _Confirms).
        confirms = self._confirms
        if confirms is None:
            raise BrokerError(f"NATS {self._settings.shown_url}: not connected (call start)")
        headers = {"Nats-Msg-Id": msg_id}
        # The server counts the headers too, and answers a message over max_payload by
        # closing the connection (nats-py checks the payload alone): checked here.
        size = len(data) + len(_HEADER_FORM.format(msg_id).encode())
        nc = self._nc
        try:
            if nc is not None and size > nc.max_payload:
                raise nats.errors.MaxPayloadError
            await confirms.publish(subject, data, headers)
        except nats.errors.MaxPayloadError:
            raise PublishRefused(
                f"NATS {self._settings.shown_url}: publish to {subject} refused: {size} "
                f"bytes with headers is over the server's max_payload ({self._max_payload()} "
                "bytes)"
            ) from None
        except nats.js.errors.APIError as exc:
            if exc.err_code == _TOO_LARGE_FOR_STREAM:
                raise PublishRefused(
                    f"NATS {self._settings.shown_url}: publish to {subject} refused: "
                    f"{len(data)} bytes is over the stream's max_msg_size ({exc.description})"
                ) from None
            raise self.error(f"publish to {subject}", exc) from None
        except (*_CLIENT_ERRORS, ValueError) as exc:
            raise self.error(f"publish to {subject}", exc) from None

    async def publish_many(
        self, subject: str, messages: Sequence[tuple[bytes, str]]
    ) -> list[BrokerError | None]:
        # Written back to back, then every PubAck awaited at once: no task per message.
        # Anything unusual (over max_payload, a refusal, the connection away) is left to
        # publish(), which the loop calls for that message on its own.
        confirms, nc = self._confirms, self._nc
        if confirms is None or nc is None:
            away = BrokerError(f"NATS {self._settings.shown_url}: not connected (call start)")
            return [away] * len(messages)
        results: list[BrokerError | None] = [None] * len(messages)
        sent: list[tuple[int, asyncio.Future[None]]] = []
        for index, (data, msg_id) in enumerate(messages):
            if len(data) + len(_HEADER_FORM.format(msg_id).encode()) > nc.max_payload:
                results[index] = BrokerError(f"NATS: publish to {subject} is over max_payload")
                continue
            try:
                sent.append((index, await confirms.send(subject, data, {"Nats-Msg-Id": msg_id})))
            except (*_CLIENT_ERRORS, ValueError) as exc:
                results[index] = self.error(f"publish to {subject}", exc)
        confirmed = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        for (index, _), outcome in zip(sent, confirmed, strict=True):
            if isinstance(outcome, BaseException):
                results[index] = self.error(f"publish to {subject}", outcome)
        return results

    def _max_payload(self) -> int | str:
        nc = self._nc
        return nc.max_payload if nc is not None else "unknown"

    async def stop(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        confirms, self._confirms = self._confirms, None
        self._closing = True
        if confirms is not None:
            await confirms.stop()
        pull, self._pull, self._ready = self._pull, None, False
        if nc is None or nc.is_closed:
            return
        try:
            if pull is not None:
                await pull.stop()
            # Flush the acks still buffered, then close. Not drain(): it waits for a pull
            # subscription's queue to be marked done, which fetch() never does.
            await nc.flush(timeout=int(_API_TIMEOUT))
        except _CLIENT_ERRORS as exc:
            raise self.error("flushing the last acks", exc) from None
        finally:
            await nc.close()

    # -- connection events: logged without the URL's password --------------------------

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS %s: %s", self._settings.shown_url, redacted_url(str(exc)) or exc)

    async def _on_disconnected(self) -> None:
        if self._closing:
            return
        log.warning("NATS %s: disconnected; reconnecting", self._settings.shown_url)

    async def _on_reconnected(self) -> None:
        log.info("NATS %s: reconnected", self._settings.shown_url)
        self._ready = False  # the consumer may have been lost with the server's state
        if self._pull is not None:
            self._pull.reset()  # and the open pull request was
