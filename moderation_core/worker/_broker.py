"""The seam between the worker loop and a broker: what NATS JetStream and RabbitMQ
both offer, in the loop's words.

The loop (``_loop.py``) knows nothing of subjects, channels or consumers; each adapter
(``_nats.py``, ``_amqp.py``) knows nothing of moderation. An adapter creates what is
absent (stream, queue, consumer, exchanges) in ``start``, reconnects by itself after a
broker restart, and raises ``BrokerError`` for what it could not do meanwhile: the
loop backs off and tries again. No message of a ``BrokerError`` carries a password.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from moderation_core._errors import ModerationError

from ._settings import NATS_SCHEMES, RABBIT_SCHEMES

if TYPE_CHECKING:
    from ._settings import WorkerSettings

__all__ = ["Broker", "BrokerError", "Delivery", "PublishRefused", "open_broker"]


class BrokerError(ModerationError):
    """The broker could not be reached or refused an operation (the message names the
    broker by its URL without password, and the operation); usually temporary."""


class PublishRefused(BrokerError):
    """The broker refused a publish for good: trying the same bytes again cannot
    succeed (over NATS ``max_payload`` or a stream's ``max_msg_size``; on RabbitMQ no
    queue bound to the routing key, or over ``max_message_size``). The loop never
    retries it: it dead-letters the input instead, or terminates it with an error log."""


class Delivery(Protocol):
    """One message as the broker handed it over, until it is settled (once)."""

    @property
    def data(self) -> bytes: ...

    @property
    def deliveries(self) -> int:
        """How many times the broker has delivered this message: 1 on the first."""
        ...

    async def ack(self) -> None:
        """Done: never deliver it again."""
        ...

    async def nak(self, delay: float | None = None) -> None:
        """Not done: deliver it again, after ``delay`` seconds when given."""
        ...

    async def term(self) -> None:
        """Never deliver it again, without success (called after dead-lettering it)."""
        ...

    async def in_progress(self) -> None:
        """Still working on it: restart the ack wait (a no-op where unsupported)."""
        ...


class Broker(Protocol):
    """One worker's connection to the broker; every worker shares the consumer."""

    async def start(self) -> None:
        """Connect, and create the stream/queue, consumer and exchanges when absent."""
        ...

    async def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        """Up to ``limit`` deliveries, waiting at most ``timeout`` seconds for the
        first; ``[]`` when none came (never raises on a timeout)."""
        ...

    async def publish(self, subject: str, data: bytes, *, msg_id: str) -> None:
        """Publish ``data`` to ``subject`` with the broker's de-duplication id
        ``msg_id``; returns once the broker confirmed it stored the message. Raises
        ``PublishRefused`` when it never can, ``BrokerError`` when not now."""
        ...

    async def publish_many(
        self, subject: str, messages: Sequence[tuple[bytes, str]]
    ) -> list[BrokerError | None]:
        """``publish`` for several ``(data, msg_id)`` at once, each confirmed on its own:
        for each, None once the broker confirmed it stored it, else the error (the loop
        then publishes that one again by ``publish``, which says whether it ever can)."""
        ...

    async def stop(self) -> None:
        """Stop fetching and close cleanly (deliveries not settled are redelivered)."""
        ...


def open_broker(settings: WorkerSettings) -> Broker:
    """The adapter for ``settings.url``'s scheme (imported only when used, so a
    worker needs only its own broker's client library)."""
    scheme = settings.url.partition("://")[0].lower()
    try:
        if scheme in NATS_SCHEMES:
            from ._nats import NatsBroker  # noqa: PLC0415 - only the broker in use is imported

            return NatsBroker(settings)
        if scheme in RABBIT_SCHEMES:
            from ._amqp import RabbitBroker  # noqa: PLC0415 - only the broker in use is imported

            return RabbitBroker(settings)
    except ImportError as exc:
        raise BrokerError(
            f"the {scheme}:// broker needs the worker extra ({exc.name} is not installed): "
            "pip install 'moderation-core[worker]'"
        ) from None
    raise BrokerError(
        f"no broker speaks {scheme}:// (use one of "
        f"{', '.join(s + '://' for s in NATS_SCHEMES + RABBIT_SCHEMES)})"
    )
