"""Plumbing for a chat platform's emulator (a vendor that is also the IM platform whose
pre-send callback the moderation service answers): the callback posted once and held to
the platform's wait, and the trigger endpoint served beside the vendor emulator
(``moderation emulate TYPE --callback-url URL``).

What the callback looks like and what the platform does with each answer are the
vendor's: its subclass says them; both IM emulators used to write the rest again.
"""

from __future__ import annotations

import abc
import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, Protocol, TypeVar

import httpx

from moderation_core import Emulator

__all__ = ["TRIGGER_PATH", "CallbackPlatform", "TriggerEndpoint"]

TRIGGER_PATH: Final = "/platform/send"


class _Sent(Protocol):
    @property
    def request(self) -> httpx.Request: ...


SentT = TypeVar("SentT", bound=_Sent)
DeliveryT = TypeVar("DeliveryT")
OrderT = TypeVar("OrderT")


class CallbackPlatform(abc.ABC, Generic[SentT, DeliveryT]):
    """A platform's side of a pre-send callback: it posts the callback a subclass builds
    (any object with the ``request``), waits at most ``timeout`` seconds, never retries,
    and decides the message's fate from the answer: ``fall_back(sent, why)`` when there
    is none to read (``timeout``, ``connection``, ``http 500``), else ``obey(sent,
    response)``. ``transport`` / ``async_transport`` replace the network (tests);
    ``clock`` is the Unix time a subclass stamps its callbacks with."""

    def __init__(
        self,
        callback_url: str,
        *,
        timeout: float,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.callback_url = callback_url
        self.timeout = timeout
        self._clock = clock
        self._transport = transport
        self._async_transport = async_transport
        self._client: httpx.Client | None = None

    @abc.abstractmethod
    def obey(self, sent: SentT, response: httpx.Response) -> DeliveryT:
        """What the platform does given an HTTP 200 answer to ``sent``."""

    @abc.abstractmethod
    def fall_back(
        self, sent: SentT, why: str, answer: Mapping[str, Any] | None = None
    ) -> DeliveryT:
        """What the platform does when the callback failed (``why``; ``answer`` when
        there was one it could not use)."""

    def delivery(
        self, sent: SentT, response: httpx.Response | None, failure: str | None = None
    ) -> DeliveryT:
        """What the platform does given the callback's ``response`` (None, with
        ``failure`` saying why, when none came in time or there was no connection)."""
        if response is None:
            return self.fall_back(sent, failure or "timeout")
        if response.status_code != 200:
            return self.fall_back(sent, f"http {response.status_code}")
        return self.obey(sent, response)

    def post(self, sent: SentT) -> DeliveryT:
        """Send ``sent``'s callback on this platform's client, once."""
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, timeout=self.timeout)
        try:
            response = self._client.send(sent.request)
        except httpx.TimeoutException:
            return self.delivery(sent, None, "timeout")
        except httpx.TransportError:
            return self.delivery(sent, None, "connection")
        return self.delivery(sent, response)

    async def apost(self, sent: SentT, client: httpx.AsyncClient | None = None) -> DeliveryT:
        """``post`` on an ``AsyncClient`` (yours, to share connections, or one per call);
        the whole exchange is held to ``timeout``, as the platform holds it."""
        own = client is None
        http = client or httpx.AsyncClient(transport=self._async_transport, timeout=self.timeout)
        try:
            async with asyncio.timeout(self.timeout):  # no task per call, unlike wait_for
                response = await http.send(sent.request)
        except (TimeoutError, httpx.TimeoutException):
            return self.delivery(sent, None, "timeout")
        except httpx.TransportError:
            return self.delivery(sent, None, "connection")
        finally:
            if own:
                await http.aclose()
        return self.delivery(sent, response)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class TriggerEndpoint(abc.ABC, Generic[OrderT]):
    """A vendor emulator with a platform's trigger endpoint beside it: ``POST
    /platform/send`` with a JSON order plays a user sending a message (``read_order``
    checks it: a ``ValueError`` or ``TypeError`` is HTTP 400 with its text;
    ``carry_out`` answers it as JSON); every other request goes to ``emulator``."""

    path: Final = TRIGGER_PATH

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    @abc.abstractmethod
    def read_order(self, order: object) -> OrderT:
        """The order, checked (``order`` is the request's JSON)."""

    @abc.abstractmethod
    def carry_out(self, order: OrderT) -> Mapping[str, Any]:
        """Send the message ordered; what became of it, as JSON."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != self.path:
            return self.emulator(request)
        if request.method != "POST":
            return httpx.Response(405, json={"error": "POST a message to send"})
        try:
            order = self.read_order(json.loads(request.content))
        except (ValueError, TypeError) as exc:
            return httpx.Response(400, json={"error": str(exc)})
        return httpx.Response(200, json=self.carry_out(order))
