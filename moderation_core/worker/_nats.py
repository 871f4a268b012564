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
import contextlib
import logging

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from ._broker import BrokerError, Delivery
from ._settings import WorkerSettings, redacted_url

__all__ = ["NatsBroker"]

log = logging.getLogger("moderation_core.worker")

_API_TIMEOUT = 5.0  # seconds for a JetStream API call or a publish's PubAck
_RECONNECT_WAIT = 0.5  # seconds between reconnect attempts
# Raised by nats-py for a connection that is down, closed, slow or stale.
_CLIENT_ERRORS = (nats.errors.Error, OSError, asyncio.TimeoutError)


class _NatsDelivery:
    """A JetStream message as a ``Delivery``."""

    __slots__ = ("_broker", "_msg", "deliveries")

    def __init__(self, msg: Msg, broker: NatsBroker) -> None:
        self._msg = msg
        self._broker = broker
        self.deliveries: int = msg.metadata.num_delivered or 1

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


class NatsBroker:
    """The ``Broker`` for ``nats://`` and ``tls://`` URLs."""

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
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
            if self._sub is not None:
                await self._unsubscribe()
            self._sub = await js.pull_subscribe_bind(durable=s.durable, stream=stream)
        except (*_CLIENT_ERRORS, nats.js.errors.Error) as exc:
            raise self.error("creating the stream and consumer", exc) from None

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
        if self._sub is None:
            await self.start()  # after a failed set-up (the broker was restarting)
        assert self._sub is not None  # noqa: S101 - start() sets it or raises
        try:
            msgs = await self._sub.fetch(limit, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.js.errors.FetchTimeoutError:
            return []
        except (*_CLIENT_ERRORS, nats.js.errors.Error) as exc:
            self._sub = None  # set up again on the next fetch: the consumer may be gone
            raise self.error("fetch", exc) from None
        return [_NatsDelivery(msg, self) for msg in msgs]

    async def publish(self, subject: str, data: bytes, *, msg_id: str) -> None:
        js = self._jetstream()
        try:
            await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id})
        except (*_CLIENT_ERRORS, nats.js.errors.Error) as exc:
            raise self.error(f"publish to {subject}", exc) from None

    async def stop(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        self._closing = True
        if nc is None or nc.is_closed:
            return
        try:
            await self._unsubscribe()
            # Flush the acks still buffered, then close. Not drain(): it waits for a pull
            # subscription's queue to be marked done, which fetch() never does.
            await nc.flush(timeout=int(_API_TIMEOUT))
        except _CLIENT_ERRORS as exc:
            raise self.error("flushing the last acks", exc) from None
        finally:
            await nc.close()

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(*_CLIENT_ERRORS):  # the connection is gone already
                await sub.unsubscribe()

    # -- connection events: logged without the URL's password --------------------------

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS %s: %s", self._settings.shown_url, redacted_url(str(exc)) or exc)

    async def _on_disconnected(self) -> None:
        if self._closing:
            return
        log.warning("NATS %s: disconnected; reconnecting", self._settings.shown_url)

    async def _on_reconnected(self) -> None:
        log.info("NATS %s: reconnected", self._settings.shown_url)
        self._sub = None  # the consumer may have been lost with the server's state
