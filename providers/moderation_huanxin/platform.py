"""Easemob playing the platform: a user's message goes through the app server's pre-send
callback (发送前回调), and the platform obeys the answer as Easemob does
(IM-CALLBACKS 2.1, 2.3).

``EasemobPlatform(callback_url, secret=...)`` signs the callback as Easemob signs it
(``security = md5(callId + secret + timestamp)`` in the body), waits as long as the
rule says (200 ms by default), never retries, and applies the rule's fallback
(调用失败时默认策略: deliver by default, or block) when the answer does not come in
time, is not HTTP 200, is not JSON, has no boolean ``valid`` or is over 1,000
characters. ``send`` (and ``asend``) return a ``Delivery``: what the recipient got and
what the sender was told.

``with_platform(emulator, callback_url, **options)`` serves the same as a trigger
endpoint beside the vendor emulator: ``POST /platform/send`` with
``{"chat_type": "chat" | "groupchat" | "chatroom", "from": ..., "to": ..., "text": ...}``
(or ``"payload"``) answers the ``Delivery`` as JSON (``moderation emulate huanxin
--callback-url URL --set callback_secret=...``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import attrs
import httpx

from moderation_core import Emulator
from moderation_core.testing import TRIGGER_PATH, CallbackPlatform, TriggerEndpoint, parse_options

from ._callback import callback_signature

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_CHARS",
    "TRIGGER_PATH",
    "Delivery",
    "EasemobPlatform",
    "PlatformEmulator",
    "with_platform",
]

DEFAULT_TIMEOUT: Final = 0.2  # the rule's 等待响应时间 by default
MAX_ANSWER_CHARS: Final = 1000  # longer is treated as an attack: the callback failed
# What the sender's SDK shows (IM-CALLBACKS 2.1, the `code` field).
NO_CODE: Final = "custom logic denied"
EMPTY_CODE: Final = "Message blocked by external logic"
FAILED: Final = "custom internal error"

ChatType = Literal["chat", "group", "groupchat", "chatroom"]
Fallback = Literal["deliver", "block"]
Outcome = Literal["delivered", "rejected", "dropped"]


@attrs.frozen(kw_only=True)
class Delivery:
    """What became of one message. ``outcome``: delivered (``payload`` is what the
    recipient got, rewritten or not), rejected (the sender sees ``error``) or dropped
    (blocked with the rule's 消息拦截报错时显示 = 不报错: the sender sees nothing).
    ``fallback`` says why the rule's fallback decided (``timeout``, ``http 500``,
    ``not json``, ``connection``, ``bad answer``, ``too long``); None when the
    callback's answer did. ``answer`` is that answer."""

    outcome: Outcome
    payload: Mapping[str, Any] | None
    error: str | None = None
    fallback: str | None = None
    answer: Mapping[str, Any] | None = attrs.field(default=None, repr=False)

    @property
    def rewritten(self) -> bool:
        return self.outcome == "delivered" and self.answer is not None and "payload" in self.answer

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "payload": self.payload,
            "error": self.error,
            "fallback": self.fallback,
            "answer": self.answer,
        }


@attrs.frozen(kw_only=True)
class _Sent:
    request: httpx.Request
    payload: Mapping[str, Any]


class EasemobPlatform(CallbackPlatform[_Sent, Delivery]):
    """Easemob's side of one pre-send callback rule (see the module docstring).
    ``report_error`` is the rule's 消息拦截报错时显示 (True: 报错, the sender is told);
    ``clock`` is the Unix time the ``timestamp`` is taken from."""

    def __init__(
        self,
        callback_url: str,
        *,
        secret: str,
        appkey: str = "demo-org#demo-app",
        timeout: float = DEFAULT_TIMEOUT,
        fallback: Fallback = "deliver",
        report_error: bool = True,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if fallback not in ("deliver", "block"):
            raise ValueError(f"fallback must be deliver or block, got {fallback!r}")
        super().__init__(
            callback_url,
            timeout=timeout,
            clock=clock,
            transport=transport,
            async_transport=async_transport,
        )
        if not secret:
            raise ValueError("every Easemob callback rule has a secret; give it")
        self._secret = secret
        self.appkey = appkey
        self.fallback: Fallback = fallback
        self.report_error = report_error

    def __repr__(self) -> str:
        return f"<EasemobPlatform {self.appkey} url={self.callback_url!r}>"

    # -- sans-IO -------------------------------------------------------------------------

    def callback(
        self,
        chat_type: ChatType,
        sender: str,
        receiver: str,
        message: str | Mapping[str, Any],
        *,
        bodies: bool = False,
    ) -> _Sent:
        """The signed callback for one message (``message``: a text, or a payload such
        as ``{"type": "img", "url": ...}``); ``bodies`` sends the ``{"bodies": [...]}``
        form of older docs instead of the current flat one."""
        payload: Mapping[str, Any] = (
            {"msg": message, "type": "txt"} if isinstance(message, str) else dict(message)
        )
        if bodies and "bodies" not in payload:
            payload = {"bodies": [payload], "ext": {}}
        timestamp = int(self._clock() * 1000)
        call_id = f"{self.appkey}_{uuid.uuid4()}"
        body: dict[str, Any] = {
            "callId": call_id,
            "timestamp": timestamp,
            "chat_type": chat_type,
            "from": sender,
            "to": receiver,
            "msg_id": str(uuid.uuid4().int % 10**18),
            "payload": payload,
        }
        if chat_type != "chat":
            body["group_id"] = receiver
        body["security"] = callback_signature(call_id, self._secret, timestamp)
        request = httpx.Request(
            "POST",
            self.callback_url,
            content=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
        )
        return _Sent(request=request, payload=payload)

    def obey(self, sent: _Sent, response: httpx.Response) -> Delivery:
        try:
            text = response.content.decode()
            answer = json.loads(text)
        except ValueError:
            return self.fall_back(sent, "not json")
        if len(text) > MAX_ANSWER_CHARS:
            return self.fall_back(sent, "too long")
        if not isinstance(answer, dict) or not isinstance(answer.get("valid"), bool):
            return self.fall_back(sent, "bad answer")
        if answer["valid"]:
            payload = answer.get("payload", sent.payload)
            if not isinstance(payload, Mapping):
                return self.fall_back(sent, "bad answer", answer)
            return Delivery(outcome="delivered", payload=payload, answer=answer)
        if not self.report_error:
            return Delivery(outcome="dropped", payload=None, answer=answer)
        code = answer.get("code")
        error = NO_CODE if code is None else (EMPTY_CODE if code == "" else str(code))
        return Delivery(outcome="rejected", payload=None, error=error, answer=answer)

    def fall_back(self, sent: _Sent, why: str, answer: Mapping[str, Any] | None = None) -> Delivery:
        if self.fallback == "deliver":
            return Delivery(outcome="delivered", payload=sent.payload, fallback=why, answer=answer)
        if not self.report_error:
            return Delivery(outcome="dropped", payload=None, fallback=why, answer=answer)
        return Delivery(outcome="rejected", payload=None, error=FAILED, fallback=why, answer=answer)

    # -- IO ------------------------------------------------------------------------------

    def send(
        self,
        chat_type: ChatType,
        sender: str,
        receiver: str,
        message: str | Mapping[str, Any],
        **options: Any,
    ) -> Delivery:
        return self.post(self.callback(chat_type, sender, receiver, message, **options))

    async def asend(
        self,
        chat_type: ChatType,
        sender: str,
        receiver: str,
        message: str | Mapping[str, Any],
        *,
        client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> Delivery:
        """``send`` on an ``AsyncClient`` (yours, to share connections, or one per
        call); the whole exchange is held to ``timeout``."""
        return await self.apost(
            self.callback(chat_type, sender, receiver, message, **options), client
        )


# -- the trigger endpoint --------------------------------------------------------------

_OPTIONS: Final[Mapping[str, Callable[[str, Any], Any]]] = {
    "secret": lambda _, value: value,
    "appkey": lambda _, value: value,
    "timeout": lambda _, value: float(value),
    "fallback": lambda _, value: value,
    "report_error": lambda _, value: (
        value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    ),
    "transport": lambda _, value: value,
    "async_transport": lambda _, value: value,
}


@attrs.frozen
class _Order:
    chat_type: ChatType
    sender: str
    receiver: str
    message: str | Mapping[str, Any]
    bodies: bool


class PlatformEmulator(TriggerEndpoint[_Order]):
    """A vendor emulator with Easemob's trigger endpoint beside it (``with_platform``)."""

    def __init__(self, emulator: Emulator, platform: EasemobPlatform) -> None:
        super().__init__(emulator)
        self.platform = platform

    def read_order(self, order: object) -> _Order:
        return _read_order(order)

    def carry_out(self, order: _Order) -> Mapping[str, Any]:
        delivery = self.platform.send(
            order.chat_type, order.sender, order.receiver, order.message, bodies=order.bodies
        )
        return delivery.to_dict()


def with_platform(emulator: Emulator, callback_url: str, **options: Any) -> PlatformEmulator:
    """``emulator`` with a trigger endpoint: ``POST /platform/send`` plays a user
    sending a message through Easemob (see the module docstring); every other request
    goes to ``emulator``. ``options`` are ``EasemobPlatform``'s (strings accepted;
    ``secret`` is required); the appkey defaults to the emulator's org and app."""
    parsed = parse_options(
        options, _OPTIONS, emulator="Easemob", callables=("clock",), label="platform option"
    )
    org, app = getattr(emulator, "org_name", None), getattr(emulator, "app_name", None)
    if org and app:
        parsed.setdefault("appkey", f"{org}#{app}")
    if "secret" not in parsed:
        raise TypeError("the platform needs the callback rule's secret (option secret)")
    return PlatformEmulator(emulator, EasemobPlatform(callback_url, **parsed))


def _read_order(order: object) -> _Order:
    if not isinstance(order, dict):
        raise ValueError("the body must be a JSON object")
    chat_type = order.get("chat_type", "chat")
    if chat_type not in ("chat", "group", "groupchat", "chatroom"):
        raise ValueError("chat_type must be chat, group, groupchat or chatroom")
    sender, receiver = order.get("from"), order.get("to")
    if not isinstance(sender, str) or not isinstance(receiver, str):
        raise ValueError("from and to must be strings")
    message = order.get("payload", order.get("text"))
    if isinstance(message, str | dict):
        return _Order(chat_type, sender, receiver, message, order.get("bodies") is True)
    raise ValueError("give text (a string) or payload (an object)")
