"""The RabbitMQ adapter of the worker's broker seam (``_broker.py``), on aio-pika.

Topology, created when absent and re-declared by aio-pika's robust connection after a
broker restart (docs/worker.md, "RabbitMQ")::

    [exchange or default] --subject_in--> subject_in   quorum queue, x-delivery-limit,
                                                       dead-letters to dead_letter
    [exchange or default] --subject_out--> subject_out  durable queue: results wait for
    [exchange or default] --dead_letter--> dead_letter  their reader instead of vanishing
    subject_in.retry.<ms>ms   classic queue, TTL <ms>, dead-letters back to subject_in

Choices, each for a reason:

* Deliveries are pushed (``basic.consume`` with ``basic.qos`` = ``in_flight``) into an
  asyncio queue that ``fetch`` drains: one network round trip per message with
  ``basic.get`` caps a worker at a few thousand messages/s, a consumer does not.
* A quorum queue counts deliveries (``x-delivery-count``) and enforces
  ``x-delivery-limit`` = ``max_deliver`` returns: a message delivered ``max_deliver``
  times without being settled (every worker holding it died) comes once more, and the
  loop dead-letters it with an envelope; should that delivery die too, RabbitMQ
  dead-letters the raw input (``x-first-death-reason`` = ``delivery_limit``) rather
  than let it loop. Servers before 3.8 get a classic queue: ``deliveries`` then comes
  from the ``redelivered`` flag (1, or at least 2) and only the loop's limit applies.
* ``term`` acks: rejecting would make the queue's dead-letter exchange dead-letter
  the message a second time, raw, beside the envelope the loop already published.
* RabbitMQ has no delayed requeue. ``nak(delay)`` publishes a copy (confirmed) to a
  TTL queue that dead-letters back to ``subject_in``, then acks the original: the
  delay survives a worker crash and holds no prefetch slot. The cost: a crash between
  the two steps leaves two copies (at least once; results carry ``message_id`` = the
  input id, so readers count them by id), and the quorum count restarts, so the copy
  carries the deliveries so far in a ``moderation-deliveries`` header.
* A stop hands back what is buffered but never started as a copy (with the deliveries
  so far in ``moderation-deliveries``) and an ack, not a nack: RabbitMQ 3.x counts a
  nack, and a closed channel, against ``x-delivery-limit``, so rolling restarts alone
  would dead-letter messages nobody ever checked (tested).
* No ack wait: RabbitMQ returns a worker's unacked messages the moment its connection
  drops, and otherwise only after the server's ``consumer_timeout`` (30 min by
  default), so ``in_progress`` is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Final

import aio_pika
import aiormq
import aiormq.exceptions
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    DeliveryMode,
    ExchangeType,
)
from aio_pika.exceptions import ChannelInvalidStateError, MessageProcessError
from yarl import URL

from ._broker import BrokerError, Delivery, PublishRefused

if TYPE_CHECKING:
    from ._settings import WorkerSettings

__all__ = ["RabbitBroker"]

log = logging.getLogger("moderation_core.worker")

# Header carrying the deliveries a message had before it went through a retry queue
# (the quorum queue counts again from zero for the copy that comes back).
DELIVERIES_HEADER: Final = "moderation-deliveries"
_RECONNECT_INTERVAL: Final = 1.0  # seconds between reconnection attempts (aio-pika: 5)
_CONNECT_TIMEOUT: Final = 10.0
# A publish (or declaration) waits at most this long, through a reconnection or a
# blocked connection (resource alarm), then fails: the loop retries, and a drain can end.
_PUBLISH_TIMEOUT: Final = 10.0
_QUORUM_SINCE: Final = (3, 8)  # quorum queues, x-delivery-limit and x-delivery-count
_AT_LEAST_ONCE_DLX_SINCE: Final = (3, 10)  # x-dead-letter-strategy = at-least-once
# A retry queue lives this long after its last declaration (x-expires) beyond its TTL,
# and is re-declared at half that age, so unused delays vanish and used ones stay.
_RETRY_QUEUE_SPARE: Final = 1800.0
# Delays snap to 1, 1.5, 2, 3, 5, 7 x 10^k ms so a jittered backoff declares a handful
# of retry queues, not one per value (at most 25% off the asked delay).
_DELAY_STEPS: Final = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0)


def retry_delay_ms(delay: float) -> int:
    """The retry queue TTL, in ms, that carries a ``nak(delay)``: the nearest step."""
    ms = max(1.0, delay * 1000.0)
    decade = 10.0 ** math.floor(math.log10(ms))
    nearest = min((step * decade for step in _DELAY_STEPS), key=lambda v: abs(v - ms))
    return round(nearest)


def _server_version(connection: AbstractRobustConnection) -> tuple[int, ...] | None:
    transport = connection.transport
    if transport is None:
        return None
    props = transport.connection.server_properties
    if props.get("product") != "RabbitMQ":
        return None
    raw = props.get("version")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    parts: list[int] = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit()) if part else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


class RabbitBroker:
    """One worker's connection to RabbitMQ (see the module docstring for the topology).

    Every worker consumes the same ``subject_in`` queue: RabbitMQ spreads its messages
    among them (competing consumers), ``in_flight`` at most unacknowledged each.
    """

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._url = settings.shown_url
        self._connection: AbstractRobustConnection | None = None
        self._consume_channel: AbstractRobustChannel | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._consumer_tag: str | None = None
        self._input_queue: aio_pika.abc.AbstractRobustQueue | None = None
        self._quorum = False
        self._retry_declared: dict[int, float] = {}
        self._retry_lock = asyncio.Lock()
        self._stopped = False

    def __repr__(self) -> str:
        return f"RabbitBroker({self._url!r}, queue={self._settings.subject_in!r})"

    @property
    def quorum(self) -> bool:
        """Whether the input queue is a quorum queue (the server counts deliveries)."""
        return self._quorum

    # -- errors ---------------------------------------------------------------

    def _error(self, doing: str, exc: BaseException) -> BrokerError:
        """A BrokerError naming the operation and the broker, never the password."""
        if isinstance(exc, TimeoutError):
            detail = "no answer in time (connection lost or blocked; reconnecting)"
        else:
            detail = str(exc) or type(exc).__name__
        password = URL(self._settings.url).password
        if password:
            detail = detail.replace(password, "***")
        return BrokerError(f"RabbitMQ at {self._url}: could not {doing}: {detail}")

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Connect, declare what is absent, and start consuming ``subject_in``."""
        if self._connection is not None:
            return
        settings = self._settings
        url = URL(settings.url)
        extra: dict[str, Any] = {}
        if "reconnect_interval" not in url.query:
            extra["reconnect_interval"] = _RECONNECT_INTERVAL
        try:
            self._connection = await aio_pika.connect_robust(
                settings.url,
                timeout=_CONNECT_TIMEOUT,
                client_properties={
                    "connection_name": f"moderation-worker {settings.durable} pid {os.getpid()}"
                },
                **extra,
            )
        except (TimeoutError, OSError, aiormq.exceptions.AMQPError) as exc:
            raise self._error("connect", exc) from None
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT * 3):
                await self._declare()
        except TimeoutError:
            await self._close_connection()
            raise BrokerError(
                f"RabbitMQ at {self._url}: could not declare the queues: no answer in "
                f"{_CONNECT_TIMEOUT * 3:g} s (the connection dropped?)"
            ) from None
        except BaseException:
            await self._close_connection()
            raise

    async def _declare(self) -> None:
        settings = self._settings
        connection = self._connection
        assert connection is not None  # noqa: S101 - start() set it
        version = _server_version(connection)
        self._quorum = version is not None and version >= _QUORUM_SINCE
        if not self._quorum:
            log.warning(
                "RabbitMQ at %s is %s: the input queue is a classic queue, so the server "
                "neither counts deliveries nor dead-letters a message past max_deliver "
                "(the worker's own limit still applies)",
                self._url,
                "older than 3.8" if version else "not RabbitMQ",
            )
        doing = "declare the queues"
        try:
            self._publish_channel = await connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            channel = self._consume_channel = await connection.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=settings.in_flight)
            exchange_name = settings.exchange or ""
            if settings.exchange:
                doing = f"declare the exchange {settings.exchange!r}"
                self._exchange = await self._ensure_exchange(settings.exchange)
            else:
                self._exchange = self._publish_channel.default_exchange
            for name in (settings.subject_out, settings.dead_letter):
                doing = f"declare the queue {name!r}"
                await self._ensure_queue(name, quorum=self._quorum)
            doing = f"declare the input queue {settings.subject_in!r}"
            arguments: dict[str, Any] = {
                "x-dead-letter-exchange": exchange_name,
                "x-dead-letter-routing-key": settings.dead_letter,
            }
            if self._quorum:
                arguments["x-queue-type"] = "quorum"
                arguments["x-delivery-limit"] = settings.max_deliver
                if version is not None and version >= _AT_LEAST_ONCE_DLX_SINCE:
                    # at-most-once (the default) may drop a dead letter if the target
                    # queue is unavailable; at-least-once needs reject-publish overflow.
                    arguments["x-dead-letter-strategy"] = "at-least-once"
                    arguments["x-overflow"] = "reject-publish"
            queue = await channel.declare_queue(
                settings.subject_in, durable=True, arguments=arguments
            )
            self._input_queue = queue
            if settings.exchange:
                await queue.bind(settings.exchange, routing_key=settings.subject_in)
            doing = f"consume the queue {settings.subject_in!r}"
            self._consumer_tag = await queue.consume(self._on_message, no_ack=False)
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            raise BrokerError(
                f"RabbitMQ at {self._url}: could not {doing}: it exists with other "
                f"arguments ({exc}); delete it (after draining it) so the worker declares "
                "it, or name another queue in [worker]"
            ) from None
        except (TimeoutError, OSError, aiormq.exceptions.AMQPError) as exc:
            raise self._error(doing, exc) from None

    async def _ensure_exchange(self, name: str) -> AbstractExchange:
        """The named exchange as it is when it exists (any type), else a durable topic
        exchange (plain routing keys route as on a direct one; readers may use patterns)."""
        connection = self._connection
        assert connection is not None  # noqa: S101 - start() set it
        probe = await connection.channel(publisher_confirms=False)
        try:
            await probe.declare_exchange(name, passive=True, robust=False)
        except aiormq.exceptions.ChannelNotFoundEntity:
            assert self._publish_channel is not None  # noqa: S101 - _declare set it
            return await self._publish_channel.declare_exchange(
                name, ExchangeType.TOPIC, durable=True
            )
        finally:
            with contextlib.suppress(Exception):
                await probe.close()
        assert self._publish_channel is not None  # noqa: S101 - _declare set it
        return await self._publish_channel.get_exchange(name, ensure=False)

    async def _ensure_queue(self, name: str, *, quorum: bool) -> None:
        """An output queue: kept as it is when it exists (a reader may have declared it
        with its own arguments), else created durable; bound to the exchange when set."""
        connection = self._connection
        assert connection is not None  # noqa: S101 - start() set it
        probe = await connection.channel(publisher_confirms=False)
        exists = True
        try:
            await probe.declare_queue(name, passive=True, robust=False)
        except aiormq.exceptions.ChannelNotFoundEntity:
            exists = False
        finally:
            with contextlib.suppress(Exception):
                await probe.close()
        channel = self._consume_channel
        assert channel is not None  # noqa: S101 - _declare set it
        queue: aio_pika.abc.AbstractQueue
        if not exists:
            arguments = {"x-queue-type": "quorum"} if quorum else None
            queue = await channel.declare_queue(name, durable=True, arguments=arguments)
        else:
            queue = await channel.get_queue(name, ensure=False)
        if self._settings.exchange:
            await queue.bind(self._settings.exchange, routing_key=name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._buffer.put_nowait(message)

    async def stop(self) -> None:
        """Stop consuming, hand back what was buffered but never fetched without
        counting it as a delivery (``_return_unstarted``), close the connection.
        Deliveries fetched and not settled go back to the queue (counted)."""
        if self._stopped:
            return
        self._stopped = True
        queue, tag = self._input_queue, self._consumer_tag
        if queue is not None and tag is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(queue.cancel(tag), _CONNECT_TIMEOUT)
        unstarted: list[AbstractIncomingMessage] = []
        while not self._buffer.empty():
            unstarted.append(self._buffer.get_nowait())
        live = [m for m in unstarted if self._on_live_channel(m)]
        if live:  # back to back: the confirms overlap
            await asyncio.gather(*(self._return_unstarted(m) for m in live))
        # The consuming channel first, and gracefully: its close-ok comes once it has
        # handled every ack sent on it. A connection closed at once may end the channel
        # with the last acks unread, and RabbitMQ delivers those messages again (seen:
        # a few of the originals whose copies were just returned, so twice in the queue).
        channel = self._consume_channel
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), _CONNECT_TIMEOUT)
        await self._close_connection()

    async def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), _CONNECT_TIMEOUT)

    # -- the seam -------------------------------------------------------------

    async def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        """Up to ``limit`` buffered deliveries, waiting at most ``timeout`` seconds for
        the first; ``[]`` on a timeout. Raises BrokerError when the timeout passed while
        the connection was down (it keeps reconnecting meanwhile)."""
        if self._stopped or self._connection is None:
            raise BrokerError(f"RabbitMQ at {self._url}: fetch after stop (or before start)")
        out: list[Delivery] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while len(out) < limit:
            if self._buffer.empty():
                if out:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    message = await asyncio.wait_for(self._buffer.get(), remaining)
                except TimeoutError:
                    break
            else:
                message = self._buffer.get_nowait()
            delivery = self._delivery(message)
            if delivery is not None:
                out.append(delivery)
        if not out and not self._connected():
            raise BrokerError(
                f"RabbitMQ at {self._url}: could not fetch: the connection is down (reconnecting)"
            )
        return out

    def _connected(self) -> bool:
        connection = self._connection
        return connection is not None and connection.connected.is_set()

    @staticmethod
    def _on_live_channel(message: AbstractIncomingMessage) -> bool:
        try:
            message.channel  # noqa: B018 - raises when the delivering channel is gone
        except ChannelInvalidStateError:
            # Delivered on a channel lost since (broker restart): RabbitMQ has put it
            # back in the queue already, and an ack for it could not be sent anyway.
            return False
        return True

    def _delivery_count(self, message: AbstractIncomingMessage) -> int:
        """Deliveries of ``message`` so far, this one included."""
        headers = message.headers or {}
        before = _as_int(headers.get(DELIVERIES_HEADER))
        if self._quorum and "x-delivery-count" in headers:
            count = _as_int(headers.get("x-delivery-count"))
        else:
            count = 1 if message.redelivered else 0
        return before + count + 1

    def _delivery(self, message: AbstractIncomingMessage) -> _RabbitDelivery | None:
        if not self._on_live_channel(message):
            return None
        return _RabbitDelivery(message, self, self._delivery_count(message))

    async def publish(self, subject: str, data: bytes, *, msg_id: str) -> None:
        """Publish persistently to ``subject`` (a routing key on ``exchange``, or a
        queue name on the default exchange) with ``message_id`` = ``msg_id``; returns
        once RabbitMQ confirmed it stored the message in at least one queue."""
        await self._publish(
            self._exchange_or_fail(),
            subject,
            aio_pika.Message(
                data,
                message_id=msg_id,
                delivery_mode=DeliveryMode.PERSISTENT,
                content_type="application/json",
            ),
            f"publish to {subject!r}",
        )

    async def publish_many(
        self, subject: str, messages: Sequence[tuple[bytes, str]]
    ) -> list[BrokerError | None]:
        """``publish`` for each, concurrently (aio-pika confirms each on its own)."""
        done = await asyncio.gather(
            *(self.publish(subject, data, msg_id=msg_id) for data, msg_id in messages),
            return_exceptions=True,
        )
        results: list[BrokerError | None] = []
        for outcome in done:
            if isinstance(outcome, BrokerError) or outcome is None:
                results.append(outcome)
            elif isinstance(outcome, Exception):
                results.append(self._error(f"publish to {subject!r}", outcome))
            else:
                raise outcome  # cancelled, or worse: not the message's fault
        return results

    def _exchange_or_fail(self) -> AbstractExchange:
        if self._stopped or self._exchange is None:
            raise BrokerError(f"RabbitMQ at {self._url}: publish after stop (or before start)")
        return self._exchange

    async def _publish(
        self, exchange: AbstractExchange, routing_key: str, message: aio_pika.Message, doing: str
    ) -> None:
        try:
            # The timeout covers waiting for a reconnection too (publish alone would not).
            async with asyncio.timeout(_PUBLISH_TIMEOUT):
                await exchange.publish(message, routing_key=routing_key, mandatory=True)
        except aiormq.exceptions.PublishError:
            # Permanent for this message: the loop dead-letters (or terminates) the input
            # rather than retry a publish that only an operator can make routable.
            raise PublishRefused(
                f"RabbitMQ at {self._url}: could not {doing}: no queue is bound to that "
                f"routing key on {exchange.name or 'the default exchange'!r}, so RabbitMQ "
                "returned it; bind one, or let the worker declare it (restart it)"
            ) from None
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            if "max size" not in str(exc):
                raise self._error(doing, exc) from None
            raise PublishRefused(
                f"RabbitMQ at {self._url}: could not {doing}: {len(message.body)} bytes is "
                f"over the server's max_message_size ({exc})"
            ) from None
        except (TimeoutError, OSError, RuntimeError, aiormq.exceptions.AMQPError) as exc:
            raise self._error(doing, exc) from None

    async def _retry_later(self, message: AbstractIncomingMessage, delay: float, seen: int) -> None:
        """Park a copy of ``message`` for about ``delay`` seconds in a TTL queue that
        dead-letters it back to the input queue."""
        ttl = retry_delay_ms(delay)
        name = await self._retry_queue(ttl)
        assert self._publish_channel is not None  # noqa: S101 - start() set it
        await self._publish(
            self._publish_channel.default_exchange,
            name,
            _copy(message, seen),
            "park a message for later",
        )

    async def _retry_queue(self, ttl_ms: int) -> str:
        name = f"{self._settings.subject_in}.retry.{ttl_ms}ms"
        loop = asyncio.get_running_loop()
        async with self._retry_lock:
            declared = self._retry_declared.get(ttl_ms)
            if declared is not None and loop.time() - declared < _RETRY_QUEUE_SPARE / 2:
                return name
            channel = self._publish_channel
            if channel is None or self._stopped:
                raise BrokerError(f"RabbitMQ at {self._url}: nak after stop")
            try:
                async with asyncio.timeout(_PUBLISH_TIMEOUT):
                    await channel.declare_queue(
                        name,
                        durable=True,
                        arguments={
                            "x-message-ttl": ttl_ms,
                            "x-dead-letter-exchange": "",
                            "x-dead-letter-routing-key": self._settings.subject_in,
                            "x-expires": ttl_ms + int(_RETRY_QUEUE_SPARE * 1000),
                        },
                        robust=False,
                    )
            except (TimeoutError, OSError, aiormq.exceptions.AMQPError) as exc:
                raise self._error(f"declare the retry queue {name!r}", exc) from None
            self._retry_declared[ttl_ms] = loop.time()
        return name

    async def _return_unstarted(self, message: AbstractIncomingMessage) -> None:
        """Hand back a message that was delivered to this worker but never started on
        (it waited in the prefetch buffer when the worker stopped), without counting
        that delivery: a copy carrying the deliveries before this one goes back to the
        input queue, then the original is acked. A nack, or closing the channel, would
        make a quorum queue count it (x-delivery-count, RabbitMQ 3.x), so rolling
        restarts alone could push a message past x-delivery-limit and RabbitMQ would
        dead-letter it raw, never checked. Should the copy fail, it is requeued."""
        seen = self._delivery_count(message) - 1
        try:
            assert self._publish_channel is not None  # noqa: S101 - start() set it
            await self._publish(
                self._publish_channel.default_exchange,
                self._settings.subject_in,
                _copy(message, seen),
                "return an unstarted message",
            )
        except BrokerError as exc:
            log.warning("%s; requeueing it (RabbitMQ counts that delivery)", exc)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return
        with contextlib.suppress(Exception):  # lost: RabbitMQ returns it too (a copy more)
            await message.ack()


def _copy(message: AbstractIncomingMessage, seen: int) -> aio_pika.Message:
    """A persistent copy of ``message``, its properties kept, carrying ``seen`` (its
    deliveries so far) in a header: the quorum queue counts the copy from zero."""
    headers = dict(message.headers or {})
    headers.pop("x-delivery-count", None)
    headers[DELIVERIES_HEADER] = seen
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )


def _as_int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    return 0


class _RabbitDelivery:
    """One message from the input queue, settled once."""

    __slots__ = ("_broker", "_deliveries", "_message")

    def __init__(self, message: AbstractIncomingMessage, broker: RabbitBroker, deliveries: int):
        self._message = message
        self._broker = broker
        self._deliveries = deliveries

    def __repr__(self) -> str:
        return f"<RabbitMQ delivery {self._message.message_id!r} #{self._deliveries}>"

    @property
    def data(self) -> bytes:
        return self._message.body

    @property
    def deliveries(self) -> int:
        return self._deliveries

    async def _settle(self, doing: str, action: Awaitable[None]) -> None:
        try:
            await action
        except ChannelInvalidStateError:
            raise BrokerError(
                f"RabbitMQ at {self._broker._url}: could not {doing} a message: the channel "
                "it came on closed since (connection lost), and RabbitMQ delivers it again"
            ) from None
        except MessageProcessError:
            raise BrokerError(
                f"RabbitMQ at {self._broker._url}: could not {doing} a message: it was "
                "settled already"
            ) from None
        except (OSError, RuntimeError, aiormq.exceptions.AMQPError) as exc:
            raise self._broker._error(f"{doing} a message", exc) from None

    async def ack(self) -> None:
        await self._settle("ack", self._message.ack())

    async def nak(self, delay: float | None = None) -> None:
        if delay is None or delay <= 0:
            await self._settle("requeue", self._message.nack(requeue=True))
            return
        try:
            await self._broker._retry_later(self._message, delay, self._deliveries)
        except BrokerError as exc:
            # Without the delay, rather than holding the message: back at once.
            log.warning("%s; requeueing it without the delay", exc)
            await self._settle("requeue", self._message.nack(requeue=True))
            return
        await self._settle("ack (after parking a copy)", self._message.ack())

    async def term(self) -> None:
        # An ack, not a reject: the input queue's dead-letter exchange would otherwise
        # dead-letter it again, raw, beside the envelope the loop published.
        await self._settle("terminate", self._message.ack())

    async def in_progress(self) -> None:
        """RabbitMQ has no ack wait to extend (only the server's consumer_timeout)."""
