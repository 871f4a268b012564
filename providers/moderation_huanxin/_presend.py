"""Easemob's pre-send callback (发送前回调) answered by the service's pre-send hook, and
the moderation result callback verified and acknowledged on the same URL.

The adapter the service registers as ``huanxin`` (``[serve.hooks.huanxin]``,
``/v1/hooks/huanxin``): ``read`` checks ``security = md5(callId + secret + timestamp)``
and the time window with ``verify_callback`` before it reads anything else, refuses a
``callId`` seen before, and maps the payload (flat, or ``{"bodies": [...]}``) to
contents once; ``answer`` words a decision as Easemob's JSON, always under the 1,000
characters Easemob accepts (IM-CALLBACKS 2.1). Loaded only by the service.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from moderation_core import Content, ContentType, InvalidContent, Secret
from moderation_core.service._hooks_runner import (
    HookDecision,
    HookEnvironment,
    HookForbidden,
    HookMessage,
    HookReply,
    HookRequest,
    OnTimeout,
    ReviewAnswer,
    check_budget,
)

from ._callback import DEFAULT_MAX_AGE, CallbackError, read_callback, verify_callback

__all__ = ["MAX_ANSWER_CHARS", "HuanxinHookSettings", "HuanxinPreSendHook"]

# Easemob treats a longer answer as an attack and applies its fallback.
MAX_ANSWER_CHARS: Final = 1000
_MAX_CODE_CHARS: Final = 200
_SCENES: Final = {"chat": "C2C", "group": "Group", "groupchat": "Group", "chatroom": "ChatRoom"}
_DELIVER: Final = {"valid": True}
_REPLAY_PREFIX: Final = "huanxin-hook:"


@attrs.frozen(kw_only=True)
class HuanxinHookSettings:
    """``[serve.hooks.huanxin]`` (SERVICE.md). Easemob signs every callback, so the
    secret is required: an unsigned pre-send hook would let anyone decide."""

    secret: Secret = attrs.field(repr=False)
    budget_ms: int = attrs.field(default=150, validator=check_budget)
    on_timeout: OnTimeout = "allow"
    review: ReviewAnswer = "allow"


def _answer_text(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _reject(reason: str) -> dict[str, Any]:
    code = reason if len(reason) <= _MAX_CODE_CHARS else reason[: _MAX_CODE_CHARS - 3] + "..."
    return {"valid": False, "code": code}


class HuanxinPreSendHook:
    """The ``huanxin`` pre-send hook (see the module docstring)."""

    name: ClassVar[str] = "huanxin"
    settings_class: ClassVar[type[Any]] = HuanxinHookSettings
    replay_ttl: ClassVar[float] = 2 * DEFAULT_MAX_AGE  # the window is symmetric

    def __init__(self, settings: HuanxinHookSettings, environment: HookEnvironment) -> None:
        self._settings = settings
        self._images = environment.checks(ContentType.IMAGE)

    @property
    def settings(self) -> HuanxinHookSettings:
        return self._settings

    def __repr__(self) -> str:
        return "<HuanxinPreSendHook>"

    def read(self, request: HookRequest) -> HookReply | HookMessage:
        try:
            # The signed fields are inside the body: it is decoded, then nothing else is
            # read until the signature and the time hold.
            verify_callback(request.body, self._settings.secret, now=request.received_at)
            data = json.loads(request.body)
        except CallbackError as exc:
            raise HookForbidden(str(exc)) from None
        replay_key = _REPLAY_PREFIX + str(data["callId"])
        payload = data.get("payload")
        if payload is None:
            return self._other(data, request, replay_key)
        try:
            contents = tuple(self._contents(payload))
        except InvalidContent as exc:
            reply = _reject(f"the message cannot be checked: {exc}")
            return HookReply(body=reply, kind="reject", replay_key=replay_key)
        chat_type = data.get("chat_type")
        return HookMessage(
            contents=contents,
            scene=_SCENES.get(chat_type) if isinstance(chat_type, str) else None,
            sender=_name(data.get("from")),
            receiver=_name(data.get("to")),
            source=data,
            replay_key=replay_key,
        )

    def _other(self, data: Mapping[str, Any], request: HookRequest, replay_key: str) -> HookReply:
        """A verified callback without a message to judge: the moderation result
        callback (read, to be sure it is one) or another event; 200 either way, as
        Easemob retries anything else."""
        kind = "ignored"
        event = None
        if data.get("eventType") == "moderation" or "moderationResult" in data:
            try:
                event = read_callback(data, self._settings.secret, now=request.received_at)
            except CallbackError as exc:
                return HookReply(body=_reject(str(exc)), kind="unreadable")
            kind = "ack"
        return HookReply(
            body=_DELIVER,
            kind=kind,
            replay_key=replay_key,
            duplicate_reply=_DELIVER,
            event=event,  # with a store, recorded (and deduped) there
        )

    def _contents(self, payload: object) -> list[Content]:
        """``txt`` as text, ``custom`` exts through ``Content.from_custom``, ``img``
        when a provider checks images; the rest passes. Ids are the body's index."""
        bodies = _bodies(payload)
        contents: list[Content] = []
        for index, body in enumerate(bodies):
            kind = body.get("type")
            if kind == "txt":
                text = body.get("msg", "")
                if not isinstance(text, str):
                    raise InvalidContent(f"payload body {index}: msg is not a string")
                if text.strip():
                    contents.append(Content.text(text, id=str(index)))
            elif kind == "custom":
                contents.extend(_custom(body, index))
            elif kind == "img" and self._images:
                url = body.get("url")
                if isinstance(url, str) and url.startswith(("http://", "https://")):
                    contents.append(Content.image(url, id=str(index)))
        return contents

    def answer(self, message: HookMessage, decision: HookDecision) -> HookReply:
        if decision.delivery != "deliver":
            # No silent drop in the answer: the rule's 消息拦截报错时显示 = 不报错 makes
            # every refusal silent, so "discard" is a refusal here.
            return HookReply(body=_reject(decision.reason), kind=decision.delivery)
        if not decision.masks:
            return HookReply(body=_DELIVER, kind="deliver")
        payload = _rewrite(message.source["payload"], decision.masks)
        if payload is None:
            reason = f"{decision.reason}; only text can be rewritten"
            return HookReply(body=_reject(reason), kind="reject")
        body = {"valid": True, "payload": payload}
        if len(_answer_text(body)) > MAX_ANSWER_CHARS:
            # Over the limit Easemob applies its fallback, which may deliver the words.
            reason = f"{decision.reason}; the rewritten message is too long to send back"
            return HookReply(body=_reject(reason), kind="reject")
        return HookReply(body=body, kind="rewrite")


def _bodies(payload: object) -> list[Mapping[str, Any]]:
    """The flat form (``{"type": "txt", "msg": ...}``) as one body, or ``bodies``."""
    if not isinstance(payload, Mapping):
        raise InvalidContent("payload is not an object")
    bodies = payload.get("bodies", [payload])
    if not isinstance(bodies, list) or not all(isinstance(b, Mapping) for b in bodies):
        raise InvalidContent("payload bodies is not a list of objects")
    return bodies


def _custom(body: Mapping[str, Any], index: int) -> list[Content]:
    exts = body.get("v2:customExts", body.get("customExts"))
    if not exts:
        return []
    data = exts if isinstance(exts, Mapping) else json.dumps(exts, ensure_ascii=False)
    try:
        found = Content.from_custom(data)
    except InvalidContent:
        found = [Content.text(json.dumps(exts, ensure_ascii=False))]
    return [attrs.evolve(c, id=f"{index}.{n}") for n, c in enumerate(found)]


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _rewrite(payload: Mapping[str, Any], masks: Mapping[str | int, str]) -> dict[str, Any] | None:
    """The payload in its own form with each masked ``msg`` replaced; None when a mask
    is for a custom message (Easemob rewrites text only by default)."""
    if any("." in str(content_id) for content_id in masks):
        return None
    if "bodies" not in payload:
        return {**payload, "msg": masks["0"]}
    bodies = [
        {**body, "msg": masks[str(index)]} if str(index) in masks else body
        for index, body in enumerate(payload["bodies"])
    ]
    return {**payload, "bodies": bodies}
