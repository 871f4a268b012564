"""Tencent IM's message before-callbacks (``C2C.CallbackBeforeSendMsg``,
``Group.CallbackBeforeSendMsg``) answered by the service's pre-send hook, and
``ContentCallback.ResultNotify`` verified and acknowledged on the same URL.

The adapter the service registers as ``tencent_chat`` (``[serve.hooks.tencent_chat]``,
``/v1/hooks/tencent_chat``): ``read`` checks ``SdkAppid``, ``Sign`` and ``RequestTime``
with ``verify_webhook`` before it looks at ``CallbackCommand``, and maps the message
body to contents once; ``answer`` words a decision as Tencent's JSON (IM-CALLBACKS 1.3,
1.4). Loaded only by the service (it imports the service's hook types).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from moderation_core import Content, ContentType, InvalidContent, Secret, dedupe_key
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

from ._webhook import (
    RESULT_NOTIFY,
    WINDOW_SECONDS,
    WebhookError,
    WebhookVerificationError,
    parse_result_notify,
    verify_webhook,
)

__all__ = ["C2C_BEFORE_SEND", "GROUP_BEFORE_SEND", "TencentHookSettings", "TencentPreSendHook"]

C2C_BEFORE_SEND: Final = "C2C.CallbackBeforeSendMsg"
GROUP_BEFORE_SEND: Final = "Group.CallbackBeforeSendMsg"
_SCENES: Final = {C2C_BEFORE_SEND: "C2C", GROUP_BEFORE_SEND: "Group"}
# ErrorCode: 0 allow (and rewrite), 1 reject, 2 discard silently; custom codes are
# passed to the sender with ErrorInfo, each scene its own range (IM-CALLBACKS 1.3, 1.4).
_ALLOW, _REJECT, _DISCARD = 0, 1, 2
_C2C_CODES: Final = range(120001, 130001)
_GROUP_CODES: Final = range(10100, 10201)
# Tencent's fixed wait for a before-callback.
PLATFORM_TIMEOUT_MS: Final = 2000
_MAX_ERROR_INFO = 200  # the reason is for a person; a bounded answer stays a quick one
_IMAGE_ORIGINAL = 1  # ImageInfoArray Type: 1 original, 2 large, 3 thumbnail


def _check_reject_code(_inst: object, _attr: object, value: int) -> None:
    if value != _REJECT and value not in _C2C_CODES and value not in _GROUP_CODES:
        raise ValueError("must be 1 or a custom code (C2C 120001-130000, group 10100-10200)")


def _check_budget_below_platform(_inst: object, attribute: Any, value: int) -> None:
    check_budget(_inst, attribute, value)
    if value >= PLATFORM_TIMEOUT_MS:
        raise ValueError(
            f"must be below Tencent's fixed {PLATFORM_TIMEOUT_MS} ms wait, or the platform "
            "gives up first and applies its own fallback"
        )


@attrs.frozen(kw_only=True)
class TencentHookSettings:
    """``[serve.hooks.tencent_chat]`` (SERVICE.md)."""

    sdkappid: int
    token: Secret | None = attrs.field(default=None, repr=False)
    budget_ms: int = attrs.field(default=1500, validator=_check_budget_below_platform)
    on_timeout: OnTimeout = "allow"
    review: ReviewAnswer = "allow"
    reject_code: int = attrs.field(default=_REJECT, validator=_check_reject_code)


def _reply(code: int, info: str = "", **extra: Any) -> dict[str, Any]:
    return {"ActionStatus": "OK", "ErrorCode": code, "ErrorInfo": info, **extra}


_ACK: Final = _reply(_ALLOW)


class TencentPreSendHook:
    """The ``tencent_chat`` pre-send hook (see the module docstring)."""

    name: ClassVar[str] = "tencent_chat"
    settings_class: ClassVar[type[Any]] = TencentHookSettings
    replay_ttl: ClassVar[float] = 2 * WINDOW_SECONDS  # the window is symmetric

    def __init__(self, settings: TencentHookSettings, environment: HookEnvironment) -> None:
        self._settings = settings
        self._images = environment.checks(ContentType.IMAGE)
        self._token = settings.token.get() if settings.token is not None else None

    @property
    def settings(self) -> TencentHookSettings:
        return self._settings

    def __repr__(self) -> str:
        return f"<TencentPreSendHook sdkappid={self._settings.sdkappid}>"

    def read(self, request: HookRequest) -> HookReply | HookMessage:
        try:
            verify_webhook(
                request.query,
                sdkappid=self._settings.sdkappid,
                token=self._token,
                now=request.received_at,
            )
        except WebhookVerificationError as exc:
            raise HookForbidden(str(exc)) from None
        command = request.query.get("CallbackCommand")
        if command == RESULT_NOTIFY:
            return self._result_notify(request)
        scene = _SCENES.get(command or "")
        if scene is None:  # other callbacks may share the URL: not ours to refuse
            return HookReply(body=_ACK, kind="ignored")
        try:
            data = _object(request.body)
        except WebhookError as exc:
            return HookReply(body=self._unreadable(scene, str(exc)), kind="reject")
        return self._message(scene, command or "", data)

    def _result_notify(self, request: HookRequest) -> HookReply:
        try:
            event = parse_result_notify(
                request.body, query=request.query, sdkappid=self._settings.sdkappid
            )
        except WebhookVerificationError as exc:
            raise HookForbidden(str(exc)) from None
        except WebhookError as exc:
            # An after-event callback: Tencent ignores the code, the text helps whoever looks.
            return HookReply(body=_reply(_REJECT, _bounded(str(exc))), kind="unreadable")
        # Acknowledged once; a replay within the window gets the same ack, unrecorded.
        # With a store, ``event`` is recorded (and deduped) there instead.
        return HookReply(
            body=_ACK, kind="ack", replay_key=event.event_id, duplicate_reply=_ACK, event=event
        )

    def _message(
        self, scene: str, command: str, data: Mapping[str, Any]
    ) -> HookReply | HookMessage:
        body = data.get("MsgBody")
        if not isinstance(body, list):
            return HookReply(body=self._unreadable(scene, "MsgBody is not a list"), kind="reject")
        try:
            contents = tuple(self._contents(body))
        except InvalidContent as exc:
            return HookReply(
                body=self._reject(scene, f"the message cannot be checked: {exc}"), kind="reject"
            )
        receiver = data.get("To_Account") if scene == "C2C" else data.get("GroupId")
        try:
            replay_key = dedupe_key(self.name, command, data)
        except (ValueError, TypeError, RecursionError):
            return HookReply(
                body=self._unreadable(scene, "the body cannot be read as JSON"), kind="reject"
            )
        return HookMessage(
            contents=contents,
            scene=scene,
            sender=_name(data.get("From_Account")),
            receiver=_name(receiver),
            source=data,
            replay_key=replay_key,
        )

    def _contents(self, body: list[Any]) -> list[Content]:
        """Text as text, custom through ``Content.from_custom``, the original image when
        a provider checks images; every other element passes. Ids are the element's
        index (``"3"``), and ``"3.1"`` for a custom element's second content."""
        contents: list[Content] = []
        for index, element in enumerate(body):
            if not isinstance(element, Mapping):
                raise InvalidContent(f"MsgBody[{index}] is not an object")
            kind, content = element.get("MsgType"), element.get("MsgContent")
            if not isinstance(content, Mapping):
                content = {}
            if kind == "TIMTextElem":
                text = _field(content, "Text", index)
                if text.strip():
                    contents.append(Content.text(text, id=str(index)))
            elif kind == "TIMCustomElem":
                contents.extend(_custom(_field(content, "Data", index), index))
            elif kind == "TIMImageElem" and self._images:
                url = _original_image(content)
                if url is not None:
                    contents.append(Content.image(url, id=str(index)))
        return contents

    def answer(self, message: HookMessage, decision: HookDecision) -> HookReply:
        scene = message.scene or "C2C"
        if decision.delivery == "discard":
            return HookReply(body=_reply(_DISCARD), kind="discard")
        if decision.delivery == "reject":
            return HookReply(body=self._reject(scene, decision.reason), kind="reject")
        if not decision.masks:
            return HookReply(body=_ACK, kind="deliver")
        rewritten = _rewrite(message.source["MsgBody"], decision.masks)
        if rewritten is None:  # masked words we cannot write back: never deliver them
            return HookReply(
                body=self._reject(scene, f"{decision.reason}; the message cannot be rewritten"),
                kind="reject",
            )
        return HookReply(body=_reply(_ALLOW, MsgBody=rewritten), kind="rewrite")

    def _reject(self, scene: str, reason: str) -> dict[str, Any]:
        code = self._settings.reject_code
        custom = _GROUP_CODES if scene == "Group" else _C2C_CODES
        if code != _REJECT and code not in custom:
            code = _REJECT  # the other scene's custom range: plain reject here
        return _reply(code, _bounded(reason))

    def _unreadable(self, scene: str, why: str) -> dict[str, Any]:
        # A before-callback we cannot read is never delivered on our word.
        return self._reject(scene, f"the callback cannot be read: {why}")


# -- reading ---------------------------------------------------------------------------


def _object(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except RecursionError:
        raise WebhookError("the body is JSON nested too deeply") from None
    except ValueError:  # also UnicodeDecodeError
        raise WebhookError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookError("the body is not a JSON object")
    return data


def _field(content: Mapping[str, Any], key: str, index: int) -> str:
    value = content.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidContent(f"MsgBody[{index}].MsgContent.{key} is not a string")
    return value


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _custom(data: str, index: int) -> list[Content]:
    if not data.strip():
        return []
    try:
        found = Content.from_custom(data)
    except InvalidContent:
        found = [Content.text(data)]  # unreadable as a custom payload: checked whole, as text
    return [attrs.evolve(c, id=f"{index}.{n}") for n, c in enumerate(found)]


def _original_image(content: Mapping[str, Any]) -> str | None:
    infos = content.get("ImageInfoArray")
    if not isinstance(infos, list):
        return None
    for info in infos:
        if isinstance(info, Mapping) and info.get("Type") == _IMAGE_ORIGINAL:
            url = info.get("URL")
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                return url
    return None


def _bounded(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_INFO else text[: _MAX_ERROR_INFO - 3] + "..."


# -- rewriting -------------------------------------------------------------------------


def _rewrite(body: list[Any], masks: Mapping[str | int, str]) -> list[Any] | None:
    """The message body with each masked text written back: a text element's ``Text``,
    or inside a custom element's ``Data``; None when a mask has nowhere to go."""
    rewritten = list(body)
    by_element: dict[int, dict[str, str]] = {}
    for content_id, masked in masks.items():
        element, _, part = str(content_id).partition(".")
        by_element.setdefault(int(element), {})[part] = masked
    for index, parts in by_element.items():
        element = body[index]
        content = dict(element["MsgContent"])
        if element["MsgType"] == "TIMTextElem":
            content["Text"] = parts[""]
        else:
            data = _rewrite_custom(content["Data"], index, parts)
            if data is None:
                return None
            content["Data"] = data
        rewritten[index] = {**element, "MsgContent": content}
    return rewritten


def _rewrite_custom(data: str, index: int, parts: Mapping[str, str]) -> str | None:
    originals = {c.id: c.value for c in _custom(data, index)}
    replacements = {originals[f"{index}.{part}"]: masked for part, masked in parts.items()}
    if data in replacements:  # the whole payload was checked as text
        return replacements[data]
    try:
        payload = json.loads(data)
    except ValueError:
        return None
    changed = _replace_strings(payload, replacements)
    if changed is payload:
        return None
    return json.dumps(changed, ensure_ascii=False, separators=(",", ":"))


def _replace_strings(value: Any, replacements: Mapping[str, str], depth: int = 0) -> Any:
    """``value`` with each string found in ``replacements`` replaced (the same object
    when nothing changed). Custom fields sit at most two levels deep; deeper is left."""
    if isinstance(value, str):
        return replacements.get(value, value)
    if depth > 3:
        return value
    if isinstance(value, dict):
        items = {k: _replace_strings(v, replacements, depth + 1) for k, v in value.items()}
        return value if all(items[k] is value[k] for k in value) else items
    if isinstance(value, list):
        listed = [_replace_strings(v, replacements, depth + 1) for v in value]
        return value if all(a is b for a, b in zip(listed, value, strict=True)) else listed
    return value
