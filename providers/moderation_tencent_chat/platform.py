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

import itertools
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

import attrs
import httpx

from moderation_core import Emulator
from moderation_core.testing import TRIGGER_PATH, CallbackPlatform, TriggerEndpoint, parse_options

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


class TencentImPlatform(CallbackPlatform[_Sent, Delivery]):
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
        super().__init__(
            callback_url,
            timeout=timeout,
            clock=clock,
            transport=transport,
            async_transport=async_transport,
        )
        self.sdkappid = sdkappid
        self._token = token
        self.fallback: Fallback = fallback
        self.client_ip = client_ip
        self.opt_platform = opt_platform
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

    def obey(self, sent: _Sent, response: httpx.Response) -> Delivery:
        try:
            answer = json.loads(response.content)
        except ValueError:
            return self.fall_back(sent, "not json")
        if not isinstance(answer, dict):
            return self.fall_back(sent, "not json")
        return self._obey(sent, answer)

    def _obey(self, sent: _Sent, answer: Mapping[str, Any]) -> Delivery:
        code = answer.get("ErrorCode")
        info = answer.get("ErrorInfo", "")
        if type(code) is not int or not isinstance(info, str):
            return self.fall_back(sent, "bad answer", answer)
        if code == 0:
            body = answer.get("MsgBody", list(sent.msg_body))
            data = answer.get("CloudCustomData", sent.cloud_custom_data)
            if not isinstance(body, list) or not all(isinstance(e, Mapping) for e in body):
                return self.fall_back(sent, "bad answer", answer)
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
        return self.fall_back(sent, "bad answer", answer)

    def fall_back(self, sent: _Sent, why: str, answer: Mapping[str, Any] | None = None) -> Delivery:
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
        return self.post(self.callback(scene, sender, receiver, message, **options))

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
        return await self.apost(self.callback(scene, sender, receiver, message, **options), client)

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


def _msg_body(message: str | Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    if isinstance(message, str):
        return ({"MsgType": "TIMTextElem", "MsgContent": {"Text": message}},)
    return tuple(message)


# -- the trigger endpoint --------------------------------------------------------------


_OPTIONS: Final[Mapping[str, Callable[[str, Any], Any]]] = {
    "sdkappid": lambda _, value: int(value),
    "token": lambda _, value: None if value in ("", "none") else value,
    "timeout": lambda _, value: float(value),
    "fallback": lambda _, value: value,
    "client_ip": lambda _, value: value,
    "opt_platform": lambda _, value: value,
    "transport": lambda _, value: value,
    "async_transport": lambda _, value: value,
}


@attrs.frozen
class _Order:
    scene: Scene
    sender: str
    receiver: str
    message: str | list[Mapping[str, Any]]
    cloud_custom_data: str | None


class PlatformEmulator(TriggerEndpoint[_Order]):
    """A vendor emulator with IM's trigger endpoint beside it (``with_platform``)."""

    def __init__(self, emulator: Emulator, platform: TencentImPlatform) -> None:
        super().__init__(emulator)
        self.platform = platform

    def read_order(self, order: object) -> _Order:
        return _read_order(order)

    def carry_out(self, order: _Order) -> Mapping[str, Any]:
        data = order.cloud_custom_data
        extra = {} if data is None else {"cloud_custom_data": data}
        delivery = self.platform.send(
            order.scene, order.sender, order.receiver, order.message, **extra
        )
        return delivery.to_dict()


def with_platform(emulator: Emulator, callback_url: str, **options: Any) -> PlatformEmulator:
    """``emulator`` with a trigger endpoint: ``POST /platform/send`` plays a user
    sending a message through IM (see the module docstring); every other request goes
    to ``emulator``. ``options`` are ``TencentImPlatform``'s (strings accepted); the
    app id defaults to the emulator's."""
    parsed = parse_options(
        options, _OPTIONS, emulator="Tencent IM", callables=("clock",), label="platform option"
    )
    parsed.setdefault("sdkappid", getattr(emulator, "sdkappid", DEMO_SDKAPPID))
    return PlatformEmulator(emulator, TencentImPlatform(callback_url, **parsed))


def _read_order(order: object) -> _Order:
    if not isinstance(order, dict):
        raise ValueError("the body must be a JSON object")
    scene = order.get("scene", "C2C")
    if scene not in ("C2C", "Group"):
        raise ValueError("scene must be C2C or Group")
    sender, receiver = order.get("from"), order.get("to")
    if not isinstance(sender, str) or not isinstance(receiver, str):
        raise ValueError("from and to must be strings")
    data = order.get("cloud_custom_data")
    data = data if isinstance(data, str) else None
    message = order.get("msg_body", order.get("text"))
    if isinstance(message, str):
        return _Order(scene, sender, receiver, message, data)
    if isinstance(message, list) and all(isinstance(e, dict) for e in message):
        return _Order(scene, sender, receiver, message, data)
    raise ValueError("give text (a string) or msg_body (a list of elements)")
