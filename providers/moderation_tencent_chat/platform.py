"""Tencent IM playing the platform: a user's message goes through the app server's
before-send callback, and the platform obeys the answer as IM does (IM-CALLBACKS 1.1-1.4).

``TencentImPlatform(callback_url, token=...)`` signs the callback as IM signs it
(``Sign = sha256(token + RequestTime)`` in the query), waits as long as IM waits (2 s,
fixed), never retries, and applies IM's fallback when the answer does not come in
time, is not HTTP 200 or is not JSON: deliver (IM's default) or drop with error
80003. ``send_c2c`` / ``send_group`` (and their ``a``-prefixed async twins) return a
``Delivery``: what the recipients got and what the sender was told.

``with_platform(emulator, callback_url, **options)`` serves the same as a trigger
endpoint beside the vendor emulator: ``POST /platform/send`` with
``{"scene": "C2C" | "Group", "from": ..., "to": ..., "text": ...}`` (or ``"msg_body"``)
answers the ``Delivery`` as JSON (``moderation emulate tencent_chat --callback-url URL``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

import attrs
import httpx

from moderation_core import Emulator

from ._webhook import webhook_sign
from .emulator import DEMO_SDKAPPID

__all__ = [
    "DEFAULT_TIMEOUT",
    "TRIGGER_PATH",
    "Delivery",
    "PlatformEmulator",
    "TencentImPlatform",
    "with_platform",
]

DEFAULT_TIMEOUT: Final = 2.0  # IM's wait for a before-callback: fixed
TRIGGER_PATH: Final = "/platform/send"
C2C_COMMAND: Final = "C2C.CallbackBeforeSendMsg"
GROUP_COMMAND: Final = "Group.CallbackBeforeSendMsg"
# What the sender's SDK is told (IM-CALLBACKS 1.3, 1.4, error codes).
C2C_REJECTED: Final = 20006
GROUP_REJECTED: Final = 10016
CALLBACK_FAILED: Final = 80003
_C2C_CUSTOM: Final = range(120001, 130001)
_GROUP_CUSTOM: Final = range(10100, 10201)

Fallback = Literal["deliver", "drop"]
Outcome = Literal["delivered", "rejected", "dropped"]
Scene = Literal["C2C", "Group"]


@attrs.frozen(kw_only=True)
class Delivery:
    """What became of one message. ``outcome``: delivered (``msg_body`` is what the
    recipients got, rewritten or not), rejected (the sender sees ``error_code`` and
    ``error_info``) or dropped (silently: the sender is told it succeeded, or 80003
    when the fallback drops). ``fallback`` says why IM's fallback decided (``timeout``,
    ``http 500``, ``not json``, ``connection``, ``bad answer``); None when the
    callback's answer did. ``answer`` is that answer."""

    outcome: Outcome
    msg_body: tuple[Mapping[str, Any], ...] | None
    cloud_custom_data: str | None = None
    error_code: int = 0
    error_info: str = ""
    fallback: str | None = None
    answer: Mapping[str, Any] | None = attrs.field(default=None, repr=False)

    @property
    def rewritten(self) -> bool:
        """Delivered with a body the callback changed."""
        return self.outcome == "delivered" and self.answer is not None and "MsgBody" in self.answer

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "msg_body": list(self.msg_body) if self.msg_body is not None else None,
            "cloud_custom_data": self.cloud_custom_data,
            "error_code": self.error_code,
            "error_info": self.error_info,
            "fallback": self.fallback,
            "answer": self.answer,
        }


@attrs.frozen(kw_only=True)
class _Sent:
    """One callback in flight: the request and what the platform holds meanwhile."""

    request: httpx.Request
    scene: Scene
    msg_body: tuple[Mapping[str, Any], ...]
    cloud_custom_data: str | None


class TencentImPlatform:
    """Tencent IM's side of the before-send callbacks (see the module docstring).
    ``transport`` / ``async_transport`` replace the network (tests); ``clock`` is the
    Unix time that ``RequestTime`` is taken from."""

    def __init__(
        self,
        callback_url: str,
        *,
        sdkappid: int = DEMO_SDKAPPID,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        fallback: Fallback = "deliver",
        client_ip: str = "127.0.0.1",
        opt_platform: str = "iOS",
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if fallback not in ("deliver", "drop"):
            raise ValueError(f"fallback must be deliver or drop, got {fallback!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.callback_url = callback_url
        self.sdkappid = sdkappid
        self._token = token
        self.timeout = timeout
        self.fallback: Fallback = fallback
        self.client_ip = client_ip
        self.opt_platform = opt_platform
        self._clock = clock
        self._transport = transport
        self._async_transport = async_transport
        self._client: httpx.Client | None = None
        self._seq = itertools.count(secrets.randbelow(1 << 16))

    def __repr__(self) -> str:
        return f"<TencentImPlatform sdkappid={self.sdkappid} url={self.callback_url!r}>"

    # -- sans-IO: the callback and what its answer means ---------------------------------

    def callback(
        self,
        scene: Scene,
        sender: str,
        receiver: str,
        message: str | Sequence[Mapping[str, Any]],
        *,
        cloud_custom_data: str | None = None,
        group_type: str = "Public",
    ) -> _Sent:
        """The signed callback IM would send for one message (``message``: a text, or a
        ``MsgBody`` list of elements)."""
        body = _msg_body(message)
        now = self._clock()
        command = C2C_COMMAND if scene == "C2C" else GROUP_COMMAND
        query = {
            "SdkAppid": str(self.sdkappid),
            "CallbackCommand": command,
            "contenttype": "json",
            "ClientIP": self.client_ip,
            "OptPlatform": self.opt_platform,
        }
        if self._token is not None:
            query["Sign"] = webhook_sign(self._token, int(now))
            query["RequestTime"] = str(int(now))
        seq = next(self._seq) & 0xFFFFFFFF
        msg_random = secrets.randbelow(1 << 32)
        payload: dict[str, Any] = {"CallbackCommand": command, "From_Account": sender}
        if scene == "C2C":
            payload |= {
                "To_Account": receiver,
                "MsgSeq": seq,
                "MsgRandom": msg_random,
                "MsgTime": int(now),
                "MsgKey": f"{seq}_{msg_random}_{int(now)}",
                "OnlineOnlyFlag": 0,
            }
        else:
            payload |= {
                "GroupId": receiver,
                "Type": group_type,
                "Operator_Account": sender,
                "Random": msg_random,
                "OnlineOnlyFlag": 0,
            }
        payload["MsgBody"] = list(body)
        if cloud_custom_data is not None:
            payload["CloudCustomData"] = cloud_custom_data
        payload["EventTime"] = int(now * 1000)
        request = httpx.Request(
            "POST",
            self.callback_url,
            params=query,
            content=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
        )
        return _Sent(
            request=request, scene=scene, msg_body=body, cloud_custom_data=cloud_custom_data
        )

    def delivery(
        self, sent: _Sent, response: httpx.Response | None, failure: str | None = None
    ) -> Delivery:
        """What IM does with the message given the callback's ``response`` (None, with
        ``failure`` saying why, when there was none in time or no connection)."""
        if response is None:
            return self._fall_back(sent, failure or "timeout")
        if response.status_code != 200:
            return self._fall_back(sent, f"http {response.status_code}")
        try:
            answer = json.loads(response.content)
        except ValueError:
            return self._fall_back(sent, "not json")
        if not isinstance(answer, dict):
            return self._fall_back(sent, "not json")
        return self._obey(sent, answer)

    def _obey(self, sent: _Sent, answer: Mapping[str, Any]) -> Delivery:
        code = answer.get("ErrorCode")
        info = answer.get("ErrorInfo", "")
        if type(code) is not int or not isinstance(info, str):
            return self._fall_back(sent, "bad answer", answer)
        if code == 0:
            body = answer.get("MsgBody", list(sent.msg_body))
            data = answer.get("CloudCustomData", sent.cloud_custom_data)
            if not isinstance(body, list) or not all(isinstance(e, Mapping) for e in body):
                return self._fall_back(sent, "bad answer", answer)
            return Delivery(
                outcome="delivered", msg_body=tuple(body), cloud_custom_data=data, answer=answer
            )
        if code == 2:  # silent discard: the sender is told it went out
            return Delivery(outcome="dropped", msg_body=None, answer=answer)
        custom = _C2C_CUSTOM if sent.scene == "C2C" else _GROUP_CUSTOM
        if code in custom:  # passed through to the sender with its text
            return Delivery(
                outcome="rejected", msg_body=None, error_code=code, error_info=info, answer=answer
            )
        if code == 1:
            rejected = C2C_REJECTED if sent.scene == "C2C" else GROUP_REJECTED
            return Delivery(outcome="rejected", msg_body=None, error_code=rejected, answer=answer)
        # Undocumented codes: IM's handling is not published; the emulator treats them
        # as a failed callback, so a test sees the fallback rather than a guess.
        return self._fall_back(sent, "bad answer", answer)

    def _fall_back(
        self, sent: _Sent, why: str, answer: Mapping[str, Any] | None = None
    ) -> Delivery:
        if self.fallback == "deliver":
            return Delivery(
                outcome="delivered",
                msg_body=sent.msg_body,
                cloud_custom_data=sent.cloud_custom_data,
                fallback=why,
                answer=answer,
            )
        return Delivery(
            outcome="dropped",
            msg_body=None,
            error_code=CALLBACK_FAILED,
            error_info="the before-send callback failed or timed out; the message is not delivered",
            fallback=why,
            answer=answer,
        )

    # -- IO ------------------------------------------------------------------------------

    def send(
        self,
        scene: Scene,
        sender: str,
        receiver: str,
        message: str | Sequence[Mapping[str, Any]],
        **options: Any,
    ) -> Delivery:
        sent = self.callback(scene, sender, receiver, message, **options)
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, timeout=self.timeout)
        try:
            response = self._client.send(sent.request)
        except httpx.TimeoutException:
            return self.delivery(sent, None, "timeout")
        except httpx.TransportError:
            return self.delivery(sent, None, "connection")
        return self.delivery(sent, response)

    async def asend(
        self,
        scene: Scene,
        sender: str,
        receiver: str,
        message: str | Sequence[Mapping[str, Any]],
        *,
        client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> Delivery:
        """``send`` on an ``AsyncClient`` (yours, to share connections, or one per call);
        the whole exchange is held to ``timeout``, as IM holds it."""
        sent = self.callback(scene, sender, receiver, message, **options)
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

    def send_c2c(
        self, sender: str, receiver: str, message: str | Sequence[Mapping[str, Any]], **options: Any
    ) -> Delivery:
        return self.send("C2C", sender, receiver, message, **options)

    def send_group(
        self, sender: str, group_id: str, message: str | Sequence[Mapping[str, Any]], **options: Any
    ) -> Delivery:
        return self.send("Group", sender, group_id, message, **options)

    async def asend_c2c(
        self, sender: str, receiver: str, message: str | Sequence[Mapping[str, Any]], **options: Any
    ) -> Delivery:
        return await self.asend("C2C", sender, receiver, message, **options)

    async def asend_group(
        self, sender: str, group_id: str, message: str | Sequence[Mapping[str, Any]], **options: Any
    ) -> Delivery:
        return await self.asend("Group", sender, group_id, message, **options)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _msg_body(message: str | Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    if isinstance(message, str):
        return ({"MsgType": "TIMTextElem", "MsgContent": {"Text": message}},)
    return tuple(message)


# -- the trigger endpoint --------------------------------------------------------------


def _parse_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Platform options as the CLI gives them (strings) or as Python values."""
    parsed: dict[str, Any] = {}
    for name, value in options.items():
        if name in ("sdkappid",):
            parsed[name] = int(value)
        elif name == "timeout":
            parsed[name] = float(value)
        elif name in ("token", "fallback", "client_ip", "opt_platform"):
            parsed[name] = None if name == "token" and value in ("", "none") else value
        elif name in ("clock", "transport", "async_transport"):
            parsed[name] = value
        else:
            raise TypeError(
                f"unknown platform option {name!r}; known: sdkappid, token, timeout, "
                "fallback, client_ip, opt_platform"
            )
    return parsed


class PlatformEmulator:
    """A vendor emulator with IM's trigger endpoint beside it (``with_platform``)."""

    def __init__(self, emulator: Emulator, platform: TencentImPlatform) -> None:
        self.emulator = emulator
        self.platform = platform

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != TRIGGER_PATH:
            return self.emulator(request)
        if request.method != "POST":
            return _error(405, "POST a message to send")
        try:
            order = json.loads(request.content)
            scene, sender, receiver, message = _order(order)
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc))
        extra = {}
        if isinstance(order.get("cloud_custom_data"), str):
            extra["cloud_custom_data"] = order["cloud_custom_data"]
        delivery = self.platform.send(scene, sender, receiver, message, **extra)
        return httpx.Response(200, json=delivery.to_dict())


def with_platform(emulator: Emulator, callback_url: str, **options: Any) -> PlatformEmulator:
    """``emulator`` with a trigger endpoint: ``POST /platform/send`` plays a user
    sending a message through IM (see the module docstring); every other request goes
    to ``emulator``. ``options`` are ``TencentImPlatform``'s (strings accepted); the
    app id defaults to the emulator's."""
    parsed = _parse_options(options)
    parsed.setdefault("sdkappid", getattr(emulator, "sdkappid", DEMO_SDKAPPID))
    return PlatformEmulator(emulator, TencentImPlatform(callback_url, **parsed))


def _order(order: object) -> tuple[Scene, str, str, str | list[Mapping[str, Any]]]:
    if not isinstance(order, dict):
        raise ValueError("the body must be a JSON object")
    scene = order.get("scene", "C2C")
    if scene not in ("C2C", "Group"):
        raise ValueError("scene must be C2C or Group")
    sender, receiver = order.get("from"), order.get("to")
    if not isinstance(sender, str) or not isinstance(receiver, str):
        raise ValueError("from and to must be strings")
    message = order.get("msg_body", order.get("text"))
    if isinstance(message, str):
        return scene, sender, receiver, message
    if isinstance(message, list) and all(isinstance(e, dict) for e in message):
        return scene, sender, receiver, message
    raise ValueError("give text (a string) or msg_body (a list of elements)")


def _error(status: int, detail: str) -> httpx.Response:
    return httpx.Response(status, json={"error": detail})
